/**
 * The scenario layer's user-agent level: a real PushService with an in-memory store, so a
 * scenario can run what a browser does (hello with the stored uaid, keys, real decryption, acks,
 * reconnects) and wait for what the app would see. Its pushes are queued per scope until a
 * scenario asks for them. stop()/start() keep the store: a restart, as after a browser restart.
 */

import { openMemoryPushDB } from "../db/memory.ts";
import type { PushDB } from "../db/push-db.ts";
import type { Logger } from "../log.ts";
import { PushService } from "../service/push-service.ts";
import type { WebSocketConstructor } from "../transport/websocket.ts";
import type { UserAgent, UserAgentPush } from "./scenario-types.ts";

export interface UserAgentOptions {
  serverURL: string;
  allowInsecureServerURL: boolean;
  WebSocket: WebSocketConstructor;
  logger: Logger;
  vapidPublicKey: string;
  connectTimeoutMs: number;
}

export class ServiceUserAgent implements UserAgent {
  readonly #options: UserAgentOptions;
  readonly #db: PushDB = openMemoryPushDB();
  readonly #queues = new Map<string, UserAgentPush[]>();
  readonly #waiters = new Map<string, (push: UserAgentPush) => void>();
  readonly #service: PushService;

  constructor(options: UserAgentOptions) {
    this.#options = options;
    this.#service = this.#create();
  }

  get service(): PushService {
    return this.#service;
  }

  get uaid(): string | null {
    return this.#service.uaid;
  }

  async start(): Promise<void> {
    await this.#service.start();
    const ready = this.#service.ready();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`not connected within ${this.#options.connectTimeoutMs} ms`)),
        this.#options.connectTimeoutMs,
      );
    });
    try {
      await Promise.race([ready, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async stop(): Promise<void> {
    await this.#service.stop();
  }

  async subscribe(scope: string, options: { vapid?: boolean } = {}) {
    const subscription = await this.#service.subscribe({
      scope,
      applicationServerKey: options.vapid ? this.#options.vapidPublicKey : null,
    });
    return subscription.toJSON();
  }

  unsubscribe(scope: string): Promise<boolean> {
    return this.#service.unsubscribe(scope);
  }

  expectPush(scope: string, timeoutMs: number): Promise<UserAgentPush | null> {
    const queued = this.#queues.get(scope)?.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(scope);
        resolve(null);
      }, timeoutMs);
      this.#waiters.set(scope, (push) => {
        clearTimeout(timer);
        this.#waiters.delete(scope);
        resolve(push);
      });
    });
  }

  #create(): PushService {
    const options = this.#options;
    const service = new PushService({
      serverURL: options.serverURL,
      allowInsecureServerURL: options.allowInsecureServerURL,
      db: this.#db,
      WebSocket: options.WebSocket,
      logger: options.logger,
    });
    service.observe("push-message", ({ scope, data }) => {
      const bytes = data ? data.bytes() : null;
      const push: UserAgentPush = { scope, bytes, text: data ? data.text() : null };
      const waiter = this.#waiters.get(scope);
      if (waiter) {
        waiter(push);
        return;
      }
      let queue = this.#queues.get(scope);
      if (!queue) {
        queue = [];
        this.#queues.set(scope, queue);
      }
      queue.push(push);
    });
    return service;
  }
}
