/**
 * The chat client, built on push-agent the way an app uses the package. It subscribes with the
 * app server's VAPID key, posts the subscription, and treats every push as a hint: it fetches the
 * messages newer than the last id it has, so missed, collapsed, duplicated or late pushes cost
 * nothing but a fetch. The last id is kept with the push store, so a restarted client shows
 * nothing twice.
 */

import { type Logger, type PushDB, PushError, type PushMessageEvent, PushService } from "push-agent";
import {
  type ChatMessage,
  describeError,
  isMessage,
  isNickname,
  type MessagesPage,
  mentions,
  type PushHint,
  parseHint,
  withTimeout,
} from "./shared.ts";

export interface ReceivedMessage extends ChatMessage {
  /** Sent by this client's nickname (from here or another device). */
  mine: boolean;
  /** Someone else's message naming this client's nickname, with or without "@". */
  mentionsMe: boolean;
}

/** Where the client keeps its bookmark; in a browser, e.g. localStorage. */
export interface LastIdStore {
  load(): Promise<number>;
  save(lastId: number): Promise<void>;
}

export interface ChatClientOptions {
  /** The chat app server, e.g. http://127.0.0.1:8000. */
  appServerURL: string;
  /** The push server; default Mozilla's, wss://push.services.mozilla.com/. */
  pushServerURL?: string;
  nickname: string;
  /**
   * Where the push subscription lives; one of three. Node: `stateDir`, a folder for the durable
   * push store (LevelDB) and the last id. Elsewhere: `db` (any PushDB, which the caller closes)
   * or `indexedDB` (a browser's, or fake-indexeddb), with a `lastIdStore` to survive restarts.
   */
  stateDir?: string;
  db?: PushDB;
  indexedDB?: IDBFactory;
  lastIdStore?: LastIdStore;
  /** Each new message once, in id order. A throw stops this round; the message comes again next time. */
  onMessage(message: ReceivedMessage): void | Promise<void>;
  /** Every push as it arrives: the hint, or null if the payload was not one. */
  onPush?(hint: PushHint | null): void;
  /** ms for connecting to the push server and for each request to the app server. Default 15 000. */
  timeout?: number;
  logger?: Logger;
}

export interface ChatClient {
  readonly nickname: string;
  /** The id of the newest message delivered to onMessage. */
  readonly lastId: number;
  /** Post a message; it comes back through onMessage like everyone else's. */
  send(text: string): Promise<number>;
  /** Fetch what is new now, push or not. */
  sync(): Promise<void>;
  /** Resolves once the message with this id (or a newer one) was delivered. */
  waitFor(id: number): Promise<void>;
  /** Remove the subscription from the app server and the push server, then close. */
  leave(): Promise<void>;
  /** Disconnect; the subscription stays, pushes wait at the push server. */
  close(): Promise<void>;
}

export async function createChatClient(options: ChatClientOptions): Promise<ChatClient> {
  if (!isNickname(options.nickname)) throw new TypeError("nickname must be 1-32 letters, digits, _ or -");
  const client = new Client(options);
  try {
    await client.open();
  } catch (error) {
    await client.close().catch(() => {});
    throw error;
  }
  return client;
}

class Client implements ChatClient {
  readonly nickname: string;
  readonly #options: ChatClientOptions;
  /** The app server's URL doubles as the subscription's scope. */
  readonly #base: string;
  readonly #timeout: number;
  #service: PushService | null = null;
  /** The LevelDB store opened for `stateDir`: ours to close. */
  #ownDB: PushDB | null = null;
  #lastIdStore: LastIdStore = memoryLastIdStore();
  #lastId = 0;
  #endpoint: string | null = null;
  #syncing: Promise<void> | null = null;
  #syncAgain = false;
  #waiters: { id: number; resolve(): void; reject(error: Error): void }[] = [];
  #closed = false;

  constructor(options: ChatClientOptions) {
    this.nickname = options.nickname;
    this.#options = options;
    this.#base = new URL(options.appServerURL).href.replace(/\/?$/, "/");
    this.#timeout = options.timeout ?? 15_000;
  }

  get lastId(): number {
    return this.#lastId;
  }

  async open(): Promise<void> {
    const { stateDir, db, indexedDB } = this.#options;
    if (stateDir) await this.#openStateDir(stateDir);
    else if (!db && !indexedDB) throw new TypeError("pass stateDir, db or indexedDB");
    if (this.#options.lastIdStore) this.#lastIdStore = this.#options.lastIdStore;
    this.#lastId = await this.#lastIdStore.load();

    const service = new PushService({
      serverURL: this.#options.pushServerURL,
      db: this.#ownDB ?? db,
      indexedDB,
      logger: this.#options.logger,
    });
    this.#service = service;
    // Observed before start: pushes stored while we were away wait for this observer.
    service.observe("push-message", (event) => this.#onPush(event));
    service.observe("push-subscription-change", ({ scope }) => {
      if (scope === this.#base && !this.#closed) {
        this.#subscribe().catch((error) => this.#warn(`resubscribing failed: ${describeError(error)}`));
      }
    });
    await service.start();
    await withTimeout(service.ready(), this.#timeout, "could not connect to the push server");
    await this.#subscribe();
    // Catch up now: pushes may have been missed (TTL expired, or dropped by the push server).
    await this.sync().catch((error) => this.#warn(`fetching messages failed: ${describeError(error)}`));
  }

  /** Node only, hence the dynamic imports: this module also runs in a browser with `indexedDB`. */
  async #openStateDir(stateDir: string): Promise<void> {
    const [{ openLevelPushDB }, { join }, { fileLastIdStore }] = await Promise.all([
      import("push-agent/node"),
      import("node:path"),
      import("./last-id-file.ts"),
    ]);
    this.#ownDB = await openLevelPushDB(join(stateDir, "push-db"));
    this.#lastIdStore = fileLastIdStore(join(stateDir, "last-id.json"));
  }

  /** Subscribe (or reuse the subscription) with the server's current key, and tell the server. */
  async #subscribe(): Promise<void> {
    const service = this.#service!;
    const { publicKey } = ((await this.#request("GET", "vapid-public-key")) ?? {}) as { publicKey?: unknown };
    if (typeof publicKey !== "string") throw new Error("the app server sent no VAPID public key");
    const options = { scope: this.#base, applicationServerKey: publicKey };
    let subscription: Awaited<ReturnType<PushService["subscribe"]>>;
    try {
      subscription = await service.subscribe(options);
    } catch (error) {
      if (!(error instanceof PushError && error.name === "InvalidStateError")) throw error;
      // The app server changed its VAPID key: the old endpoint only takes the old key's pushes.
      await service.unsubscribe(this.#base);
      subscription = await service.subscribe(options);
    }
    // Posted every time: cheap, idempotent, and repairs a server that lost its subscribers.
    await this.#request("POST", "subscriptions", {
      nickname: this.nickname,
      subscription: subscription.toJSON(),
    });
    this.#endpoint = subscription.endpoint;
  }

  async #onPush(event: PushMessageEvent): Promise<void> {
    if (event.scope !== this.#base) return;
    const hint = parseHint(event.data?.text());
    this.#options.onPush?.(hint);
    // The hint only saves a request; without one (or with a bad one) we fetch anyway.
    if (hint && hint.latest <= this.#lastId) return;
    // A failed fetch is not the push's fault: the next push or start fetches from lastId again.
    await this.sync().catch((error) => this.#warn(`fetching messages failed: ${describeError(error)}`));
  }

  /** One fetch loop at a time; a push arriving during one asks for one more round. */
  sync(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#syncing) {
      this.#syncAgain = true;
      return this.#syncing;
    }
    this.#syncing = (async () => {
      do {
        this.#syncAgain = false;
        await this.#fetchNew();
      } while (this.#syncAgain && !this.#closed);
    })().finally(() => {
      this.#syncing = null;
    });
    return this.#syncing;
  }

  async #fetchNew(): Promise<void> {
    const before = this.#lastId;
    try {
      for (;;) {
        const page = parsePage(await this.#request("GET", `messages?after=${this.#lastId}`));
        if (page.latest < this.#lastId) {
          // The server's ids went back: it lost its history (a memory-only server restarted).
          this.#warn(`the app server restarted without its history; starting over`);
          this.#lastId = 0;
          continue;
        }
        for (const message of page.messages) await this.#deliver(message);
        if (page.messages.length === 0 || this.#lastId >= page.latest || this.#closed) return;
      }
    } finally {
      if (this.#lastId !== before) await this.#lastIdStore.save(this.#lastId);
      this.#releaseWaiters();
    }
  }

  async #deliver(message: ChatMessage): Promise<void> {
    if (message.id <= this.#lastId || this.#closed) return;
    const mine = message.from.toLowerCase() === this.nickname.toLowerCase();
    await this.#options.onMessage({
      ...message,
      mine,
      mentionsMe: !mine && mentions(message.text, this.nickname),
    });
    this.#lastId = message.id;
  }

  async send(text: string): Promise<number> {
    const { id } = (await this.#request("POST", "messages", { from: this.nickname, text })) as { id: number };
    return id;
  }

  waitFor(id: number): Promise<void> {
    if (this.#lastId >= id) return Promise.resolve();
    if (this.#closed) return Promise.reject(new Error(`${this.nickname}'s client is closed`));
    return new Promise((resolve, reject) => this.#waiters.push({ id, resolve, reject }));
  }

  #releaseWaiters(): void {
    const waiting = this.#waiters;
    this.#waiters = waiting.filter((waiter) => waiter.id > this.#lastId);
    for (const waiter of waiting) if (waiter.id <= this.#lastId) waiter.resolve();
  }

  async leave(): Promise<void> {
    if (this.#endpoint) {
      await this.#request("DELETE", "subscriptions", { endpoint: this.#endpoint });
      await this.#service?.unsubscribe(this.#base);
    }
    await this.close();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#service?.stop();
    await this.#syncing?.catch(() => {});
    await this.#ownDB?.close();
    for (const waiter of this.#waiters.splice(0))
      waiter.reject(new Error(`${this.nickname}'s client closed`));
  }

  async #request(method: string, path: string, body?: unknown): Promise<unknown> {
    const response = await fetch(new URL(path, this.#base), {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(this.#timeout),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} /${path} answered ${response.status} ${text}`);
    return text === "" ? null : JSON.parse(text);
  }

  #warn(message: string): void {
    (this.#options.logger ?? console).warn(`chat ${this.nickname}: ${message}`);
  }
}

function parsePage(value: unknown): MessagesPage {
  const page = value as Partial<MessagesPage> | null;
  if (
    !Number.isSafeInteger(page?.latest) ||
    !Array.isArray(page?.messages) ||
    !page.messages.every(isMessage)
  ) {
    throw new Error("the app server sent a malformed page of messages");
  }
  return { latest: page.latest!, messages: [...page.messages].sort((a, b) => a.id - b.id) };
}

function memoryLastIdStore(): LastIdStore {
  let lastId = 0;
  return {
    load: async () => lastId,
    save: async (id) => {
      lastId = id;
    },
  };
}
