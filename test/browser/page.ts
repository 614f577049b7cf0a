/**
 * The page script the Chromium suite loads: a web app using the browser bundle of `push-agent`
 * with every default (IndexedDB store, the native WebSocket, WebCrypto). It exposes a small API
 * on `window.pushAgent` for the test to drive through page.evaluate. Bundled by the test with
 * "push-agent" left external as ./push-agent.js, so what runs is exactly the checked bundle.
 */

import { type ConnectFailure, PushService, type PushSubscriptionJSON } from "push-agent";

export interface ReceivedPush {
  scope: string;
  messageId: string;
  text: string | null;
}

export interface PageAPI {
  /** Start a PushService on `serverURL` and wait until it is Ready; returns the uaid. */
  start(serverURL: string): Promise<string | null>;
  subscribe(scope: string, applicationServerKey: string): Promise<PushSubscriptionJSON>;
  getSubscription(scope: string): Promise<PushSubscriptionJSON | null>;
  unsubscribe(scope: string): Promise<boolean>;
  /** Resolves with every push received so far once at least `count` have arrived. */
  received(count: number): Promise<ReceivedPush[]>;
  /** Decrypt failures seen, as "code: message" lines (expected empty). */
  decryptErrors(): string[];
  stop(): Promise<void>;
  /** Open a bare native WebSocket asking for `protocols`: did it open, with what subprotocol? */
  probe(url: string, protocols: string[]): Promise<{ opened: boolean; protocol: string; code: number }>;
  /** Start a PushService on `serverURL` and resolve with its first connection-error. */
  firstConnectionError(serverURL: string): Promise<ConnectFailure>;
}

declare global {
  interface Window {
    pushAgent: PageAPI;
  }
}

let service: PushService | null = null;
const pushes: ReceivedPush[] = [];
const decryptErrors: string[] = [];
let waiters: { count: number; resolve(pushes: ReceivedPush[]): void }[] = [];

function started(): PushService {
  if (!service) throw new Error("call pushAgent.start() first");
  return service;
}

function record(push: ReceivedPush): void {
  pushes.push(push);
  const due = waiters.filter((waiter) => pushes.length >= waiter.count);
  waiters = waiters.filter((waiter) => pushes.length < waiter.count);
  for (const waiter of due) waiter.resolve([...pushes]);
}

window.pushAgent = {
  async start(serverURL) {
    service = new PushService({ serverURL });
    service.observe("push-message", (event) => {
      record({ scope: event.scope, messageId: event.messageId, text: event.data?.text() ?? null });
    });
    service.observe("decrypt-error", (event) => {
      decryptErrors.push(`${event.error.name}: ${event.error.message}`);
    });
    await service.start();
    await service.ready();
    return service.uaid;
  },
  async subscribe(scope, applicationServerKey) {
    return (await started().subscribe({ scope, applicationServerKey })).toJSON();
  },
  async getSubscription(scope) {
    return (await started().getSubscription(scope))?.toJSON() ?? null;
  },
  unsubscribe: (scope) => started().unsubscribe(scope),
  received(count) {
    if (pushes.length >= count) return Promise.resolve([...pushes]);
    return new Promise((resolve) => waiters.push({ count, resolve }));
  },
  decryptErrors: () => [...decryptErrors],
  async stop() {
    await service?.stop();
    service = null;
  },
  probe(url, protocols) {
    return new Promise((resolve) => {
      const socket = new WebSocket(url, protocols);
      socket.onopen = () => {
        resolve({ opened: true, protocol: socket.protocol, code: 0 });
        socket.close();
      };
      socket.onclose = (event) => resolve({ opened: false, protocol: socket.protocol, code: event.code });
    });
  },
  async firstConnectionError(serverURL) {
    const failing = new PushService({ serverURL, databaseName: "connection-error" });
    const error = new Promise<ConnectFailure>((resolve) =>
      failing.observe("connection-error", (event) => resolve(event.error)),
    );
    await failing.start();
    const reason = await error;
    await failing.stop();
    return reason;
  },
};
