/**
 * CdpConnection adapters for what embedders and test frameworks already hold:
 *
 * - puppeteer-core's `Browser`: its CDPSession is one browser-level session whose API has no way
 *   to address a child (flat) session. Chromium
 *   insists on flat sessions for browser-level auto-attach, so fromSession() keeps auto-attach
 *   flat (it pauses new targets and announces them), attaches a second, non-flat session to each
 *   target (commands and events travel as Target.sendMessageToTarget / receivedMessageFromTarget
 *   on the one session), and releases the pause by detaching the flat session once the shim is in.
 *   A non-flat session ends when its page moves to another renderer process (a cross-site
 *   navigation); the adapter attaches again and the bridge instruments the page again, so there
 *   the shim arrives a moment after the new document started (scripts that call the Push API in
 *   their first moments may still see the browser's own). A plain CDP WebSocket (connectCdp)
 *   has flat sessions, which survive the move: prefer it where the browser's endpoint is known.
 *
 * - Playwright: `browser.newBrowserCDPSession()` has the same one-session API, but with a second,
 *   non-flat session attached to its pages, Playwright's own navigations never finished (observed
 *   with playwright-core 1.65 and Chromium 156: page.goto timed out). So no adapter for it: launch
 *   with `launchPersistentContext(userDataDir, { args: ["--remote-debugging-port=0"] })` and
 *   connect with `connectCdp(await devToolsURL(userDataDir))` (cdp.ts).
 *
 * - Electron's `webContents.debugger`: a page-level transport with flat sessions (sendCommand's
 *   sessionId, the 'message' event's sessionId). What Electron reaches (from its docs, Electron
 *   35+): the debugger belongs to one webContents, so the root is that page and service workers
 *   arrive only as the page's auto-attached children (Chromium attaches the workers related to the
 *   page's frames). ServiceWorker.deliverPushMessage and startWorker work on that page's session
 *   for any registration of its storage partition. `session.serviceWorkers` (getAllRunning,
 *   'running-status-changed', startWorkerForScope, ServiceWorkerMain) and service-worker preload
 *   scripts (`session.registerPreloadScript({ type: "service-worker" })`) give no CDP session for a
 *   worker, so an app covers a site's worker by keeping a window of that site (it may be hidden)
 *   with the bridge attached to its webContents; a worker no attached window relates to cannot
 *   get the shim, and the bridge cannot confirm a push to it (it times out, see delivery.ts).
 *   Browser-level commands (Target.getBrowserContexts, Browser.*) are not available there.
 */

import type { CdpConnection, CdpEvent } from "./cdp.ts";
import { CdpCommandError, CdpError } from "./cdp.ts";

/** The part of puppeteer's and Playwright's CDPSession the adapter uses. */
export interface SessionLike {
  send(method: string, params?: Record<string, unknown>): Promise<unknown>;
  on(event: string, listener: (params: Record<string, unknown>) => void): unknown;
  off?(event: string, listener: (params: Record<string, unknown>) => void): unknown;
  detach?(): Promise<void>;
}

/**
 * What the adapter needs of puppeteer-core's Browser. Its CDPSession's event map is typed per
 * event name; the adapter only listens to a few Target events, so the session is taken as is.
 */
export interface PuppeteerBrowser {
  target(): { createCDPSession(): Promise<object> };
  on(event: "disconnected", listener: () => void): unknown;
  off?(event: "disconnected", listener: () => void): unknown;
}

/** What the adapter needs of Electron's `webContents.debugger`. */
export interface ElectronDebugger {
  isAttached(): boolean;
  attach(protocolVersion?: string): void;
  detach(): void;
  sendCommand(method: string, params?: Record<string, unknown>, sessionId?: string): Promise<unknown>;
  /** 'message' (event, method, params, sessionId) and 'detach' (event, reason), as Electron emits them. */
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  removeListener(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** A puppeteer-core Browser: a new browser-level CDP session of its own (detached on close). */
export async function fromPuppeteer(browser: PuppeteerBrowser): Promise<CdpConnection> {
  const session = (await browser.target().createCDPSession()) as SessionLike;
  const connection = fromSession(session);
  const gone = () => connection.closeWith("the browser disconnected");
  browser.on("disconnected", gone);
  connection.onClose(() => browser.off?.("disconnected", gone));
  return connection;
}

/** Electron's webContents.debugger, attached here if it is not yet (and then detached on close). */
export function fromElectron(debuggerApi: ElectronDebugger): CdpConnection {
  const attachedHere = !debuggerApi.isAttached();
  if (attachedHere) debuggerApi.attach("1.3");
  const listeners = new Set<(event: CdpEvent) => void>();
  const closeListeners = new Set<(reason: string) => void>();
  let closed: string | null = null;
  const onMessage = (
    _event: unknown,
    method: string,
    params: Record<string, unknown>,
    sessionId?: string,
  ) => {
    const event: CdpEvent = sessionId
      ? { method, params: params ?? {}, sessionId }
      : { method, params: params ?? {} };
    for (const listener of [...listeners]) listener(event);
  };
  const onDetach = (_event: unknown, reason: string) => {
    if (closed) return;
    closed = `the debugger detached: ${reason}`;
    for (const listener of [...closeListeners]) listener(closed);
  };
  debuggerApi.on("message", onMessage as unknown as (...args: unknown[]) => void);
  debuggerApi.on("detach", onDetach as unknown as (...args: unknown[]) => void);
  return {
    root: "page",
    async send(method, params = {}, sessionId) {
      if (closed) throw new CdpError("closed", `${method}: ${closed}`);
      try {
        return ((await debuggerApi.sendCommand(method, params, sessionId)) ?? {}) as Record<string, unknown>;
      } catch (error) {
        throw new CdpCommandError(method, 0, error instanceof Error ? error.message : String(error));
      }
    },
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onClose(listener) {
      closeListeners.add(listener);
      return () => closeListeners.delete(listener);
    },
    async close() {
      debuggerApi.removeListener("message", onMessage as unknown as (...args: unknown[]) => void);
      debuggerApi.removeListener("detach", onDetach as unknown as (...args: unknown[]) => void);
      if (attachedHere && debuggerApi.isAttached()) debuggerApi.detach();
    },
  };
}

interface Pending {
  method: string;
  resolve(result: Record<string, unknown>): void;
  reject(error: Error): void;
}

/** A CdpConnection over one browser-level session that cannot address child sessions. */
export function fromSession(session: SessionLike): CdpConnection & { closeWith(reason: string): void } {
  const listeners = new Set<(event: CdpEvent) => void>();
  const closeListeners = new Set<(reason: string) => void>();
  const pending = new Map<number, Pending>();
  /** Targets the adapter is attaching non-flat: their attachedToTarget event is the one to pass on. */
  const attaching = new Map<string, { flatSessionId: string | null; waiting: boolean }>();
  /** Non-flat session → the flat auto-attached session that keeps its target paused. */
  const holding = new Map<string, string>();
  const flatSessions = new Set<string>();
  let nextId = 1;
  let closed: string | null = null;

  const emit = (event: CdpEvent) => {
    for (const listener of [...listeners]) listener(event);
  };

  const reattach = (targetId: string, flatSessionId: string | null, waiting: boolean) => {
    attaching.set(targetId, { flatSessionId, waiting });
    return session
      .send("Target.attachToTarget", { targetId, flatten: false })
      .finally(() => attaching.delete(targetId));
  };

  const handlers: Record<string, (params: Record<string, unknown>) => void> = {
    "Target.attachedToTarget": (params) => {
      const sessionId = String(params.sessionId);
      const info = params.targetInfo as { targetId: string };
      const mine = attaching.get(info.targetId);
      if (mine) {
        if (mine.flatSessionId) holding.set(sessionId, mine.flatSessionId);
        emit({ method: "Target.attachedToTarget", params: { ...params, waitingForDebugger: mine.waiting } });
        return;
      }
      // An auto-attached flat session: reach the target non-flat, keep the flat one only as the pause.
      flatSessions.add(sessionId);
      const waiting = params.waitingForDebugger === true;
      void reattach(info.targetId, sessionId, waiting).then(
        () => {
          if (!waiting) void session.send("Target.detachFromTarget", { sessionId }).catch(() => {});
        },
        () => void session.send("Target.detachFromTarget", { sessionId }).catch(() => {}),
      );
    },
    "Target.detachedFromTarget": (params) => {
      const sessionId = String(params.sessionId);
      if (flatSessions.delete(sessionId)) return;
      const flat = holding.get(sessionId);
      holding.delete(sessionId);
      if (flat) void session.send("Target.detachFromTarget", { sessionId: flat }).catch(() => {});
      emit({ method: "Target.detachedFromTarget", params });
      // A non-flat session does not survive its page moving to another renderer process (a
      // cross-site navigation): attach again while the target lives; the bridge instruments anew.
      if (!closed && typeof params.targetId === "string")
        void reattach(params.targetId, null, false).catch(() => {});
    },
    "Target.receivedMessageFromTarget": (params) => {
      let message: {
        id?: number;
        method?: string;
        params?: Record<string, unknown>;
        result?: Record<string, unknown>;
        error?: { code?: number; message?: string };
      };
      try {
        message = JSON.parse(String(params.message));
      } catch {
        return;
      }
      if (typeof message.id === "number") {
        const waiter = pending.get(message.id);
        if (!waiter) return;
        pending.delete(message.id);
        if (message.error)
          waiter.reject(
            new CdpCommandError(waiter.method, message.error.code ?? 0, message.error.message ?? "error"),
          );
        else waiter.resolve(message.result ?? {});
        return;
      }
      if (typeof message.method === "string") {
        emit({ method: message.method, params: message.params ?? {}, sessionId: String(params.sessionId) });
      }
    },
    "Target.targetInfoChanged": (params) => emit({ method: "Target.targetInfoChanged", params }),
  };
  for (const [event, handler] of Object.entries(handlers)) session.on(event, handler);

  const sendToChild = (method: string, params: Record<string, unknown>, sessionId: string) => {
    const id = nextId++;
    const reply = new Promise<Record<string, unknown>>((resolve, reject) =>
      pending.set(id, { method, resolve, reject }),
    );
    session
      .send("Target.sendMessageToTarget", { sessionId, message: JSON.stringify({ id, method, params }) })
      .catch((error: unknown) => {
        const waiter = pending.get(id);
        pending.delete(id);
        waiter?.reject(
          new CdpCommandError(method, 0, error instanceof Error ? error.message : String(error)),
        );
      });
    return reply;
  };

  const connection = {
    root: "browser" as const,
    async send(method: string, params: Record<string, unknown> = {}, sessionId?: string) {
      if (closed) throw new CdpError("closed", `${method}: ${closed}`);
      if (sessionId) {
        const flat = holding.get(sessionId);
        if (method !== "Runtime.runIfWaitingForDebugger" || !flat)
          return sendToChild(method, params, sessionId);
        // The pause is the flat session's: detaching it lets the target run. The page may answer
        // on the non-flat session only later, or never (its renderer may be replaced meanwhile).
        holding.delete(sessionId);
        void sendToChild(method, params, sessionId).catch(() => {});
        await session.send("Target.detachFromTarget", { sessionId: flat }).catch(() => {});
        return {};
      }
      try {
        if (method === "Target.attachToTarget")
          return (await reattach(String(params.targetId), null, false)) as Record<string, unknown>;
        return ((await session.send(method, params)) ?? {}) as Record<string, unknown>;
      } catch (error) {
        if (error instanceof CdpError) throw error;
        throw new CdpCommandError(method, 0, error instanceof Error ? error.message : String(error));
      }
    },
    onEvent(listener: (event: CdpEvent) => void) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onClose(listener: (reason: string) => void) {
      closeListeners.add(listener);
      return () => closeListeners.delete(listener);
    },
    closeWith(reason: string) {
      if (closed) return;
      closed = reason;
      for (const waiter of pending.values())
        waiter.reject(new CdpError("closed", `${waiter.method}: ${reason}`));
      pending.clear();
      for (const listener of [...closeListeners]) listener(reason);
    },
    async close() {
      for (const [event, handler] of Object.entries(handlers)) session.off?.(event, handler);
      await session.detach?.().catch(() => {});
      connection.closeWith("closed");
    },
  };
  return connection;
}
