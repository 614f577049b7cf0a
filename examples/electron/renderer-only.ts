/**
 * Web Push in an Electron renderer, with no main-process part: a plain PushService in the page,
 * on the defaults a browser renderer has (IndexedDB store, native WebSocket, WebCrypto). Works
 * with contextIsolation and sandbox on, because it needs no Node API.
 *
 * Pushes arrive only while this renderer is alive; let one window own the service (two windows
 * of the same session share the IndexedDB store and would fight over one connection).
 */

import { PushService, type PushServiceOptions, type PushSubscriptionJSON } from "push-agent";

export interface RendererPushMessage {
  scope: string;
  messageId: string;
  /** The decrypted payload as UTF-8 text; null for a push without payload. */
  text: string | null;
}

export interface RendererPushOptions {
  /** The autopush server; default Mozilla's. */
  serverURL?: string;
  /**
   * Called for every push. The push is acknowledged once the returned promise settles; if it
   * rejects, the server is told the app failed to handle it.
   */
  onMessage(message: RendererPushMessage): void | Promise<void>;
  /** Anything else for the PushService (timeouts, logger, a different IndexedDB name, …). */
  serviceOptions?: Omit<PushServiceOptions, "serverURL">;
}

export interface RendererPush {
  service: PushService;
  subscribe(scope: string, applicationServerKey?: string): Promise<PushSubscriptionJSON>;
  getSubscription(scope: string): Promise<PushSubscriptionJSON | null>;
  unsubscribe(scope: string): Promise<boolean>;
  stop(): Promise<void>;
}

export async function startPushInRenderer(options: RendererPushOptions): Promise<RendererPush> {
  const service = new PushService({
    ...options.serviceOptions,
    ...(options.serverURL ? { serverURL: options.serverURL } : {}),
  });
  service.observe("push-message", (event) =>
    options.onMessage({ scope: event.scope, messageId: event.messageId, text: event.data?.text() ?? null }),
  );
  // Resolves once IndexedDB is open; the connection comes up (and retries) in the background.
  await service.start();

  // Closing or reloading the window: close the socket and the store before the page goes.
  const onPageHide = () => void service.stop();
  globalThis.addEventListener?.("pagehide", onPageHide);
  // The page's network state: offline closes the socket until online, which reconnects at once.
  const onOnline = () => service.setOnline(true);
  const onOffline = () => service.setOnline(false);
  globalThis.addEventListener?.("online", onOnline);
  globalThis.addEventListener?.("offline", onOffline);

  return {
    service,
    subscribe: async (scope, applicationServerKey) =>
      (await service.subscribe({ scope, applicationServerKey: applicationServerKey ?? null })).toJSON(),
    getSubscription: async (scope) => (await service.getSubscription(scope))?.toJSON() ?? null,
    unsubscribe: (scope) => service.unsubscribe(scope),
    stop: async () => {
      globalThis.removeEventListener?.("pagehide", onPageHide);
      globalThis.removeEventListener?.("online", onOnline);
      globalThis.removeEventListener?.("offline", onOffline);
      await service.stop();
    },
  };
}
