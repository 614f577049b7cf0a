/**
 * Every page and service worker of the browser, reached and instrumented before its own scripts
 * run: auto-attach with waitForDebuggerOnStart (flat sessions), the targets that already existed
 * at attach, and per session Runtime.enable → addBinding → (pages) addScriptToEvaluateOnNewDocument
 * → evaluate → runIfWaitingForDebugger. The shim goes again into every new execution context (a
 * stopped worker the browser starts again keeps its target and session, but gets a new context).
 *
 * Owns: which session is which target (type, browser context), which execution context belongs to
 * which origin and has the shim, and handing binding calls up with the origin the *browser* says
 * the calling context has. Detach takes all of it back out.
 */

import type { CdpConnection, CdpEvent } from "./cdp.ts";
import { parseShimMessage, type ShimCommand, type ShimMessage } from "./messages.ts";
import { type ShimConfig, shimCommand, shimSource } from "./shim.ts";

export type TargetType = "page" | "service_worker";

/** One execution context with the shim in it. */
export interface ShimContext {
  id: number;
  origin: string;
  /** The shim said it is in (its "ready" message arrived). */
  ready: boolean;
  /** A worker's registration scope as its shim read it (null in pages or when unreadable). */
  scope: string | null;
}

/** One attached page or service worker. `sessionId` undefined is the root session (Electron). */
export interface TargetSession {
  sessionId: string | undefined;
  targetId: string;
  type: TargetType;
  url: string;
  browserContextId: string;
  contexts: Map<number, ShimContext>;
  scriptId: string | null;
  /** The binding is added: contexts created from now on get the shim when they appear. */
  bound: boolean;
}

/** A call from a shim, with where it came from. */
export interface ShimCall {
  session: TargetSession;
  context: ShimContext;
  message: ShimMessage;
}

export interface TargetsOptions {
  /** Shim configuration (binding and answer names, data marker); `worker` is set per target. */
  shim: Omit<ShimConfig, "worker">;
  /** The browser context an Electron (page-root) connection is in. */
  rootBrowserContextId: string;
  onCall(call: ShimCall): void;
  onSessionChange(session: TargetSession, attached: boolean): void;
  /** A context's shim said ready, or a context went away. */
  onContextChange(session: TargetSession): void;
  warn(message: string): void;
  debug(message: string): void;
}

const FILTER = [{ type: "page" }, { type: "service_worker" }];

export class Targets {
  readonly #cdp: CdpConnection;
  readonly #options: TargetsOptions;
  readonly #sessions = new Map<string, TargetSession>();
  readonly #sources: Record<TargetType, string>;
  #stopListening: (() => void) | null = null;
  #detached = false;

  constructor(cdp: CdpConnection, options: TargetsOptions) {
    this.#cdp = cdp;
    this.#options = options;
    this.#sources = {
      page: shimSource({ ...options.shim, worker: false }),
      service_worker: shimSource({ ...options.shim, worker: true }),
    };
  }

  get sessions(): Iterable<TargetSession> {
    return this.#sessions.values();
  }

  /** Start attaching: what exists now and everything that starts later. */
  async start(): Promise<void> {
    this.#stopListening = this.#cdp.onEvent((event) => this.#onEvent(event));
    const autoAttach = { autoAttach: true, waitForDebuggerOnStart: true, flatten: true, filter: FILTER };
    if (this.#cdp.root === "page") {
      const info = (await this.#cdp.send("Target.getTargetInfo")).targetInfo as {
        targetId?: string;
        url?: string;
      };
      await this.#attached(
        undefined,
        {
          targetId: info?.targetId ?? "root",
          type: "page",
          url: info?.url ?? "",
          browserContextId: this.#options.rootBrowserContextId,
        },
        false,
      );
      await this.#cdp.send("Target.setAutoAttach", autoAttach);
      return;
    }
    await this.#cdp.send("Target.setAutoAttach", autoAttach);
    const { targetInfos } = (await this.#cdp.send("Target.getTargets")) as { targetInfos: TargetInfo[] };
    const mine = new Set([...this.#sessions.values()].map((s) => s.targetId));
    await Promise.all(
      targetInfos
        .filter(
          (info) => (info.type === "page" || info.type === "service_worker") && !mine.has(info.targetId),
        )
        .map((info) =>
          this.#cdp.send("Target.attachToTarget", { targetId: info.targetId, flatten: true }).catch(() => {}),
        ),
    );
  }

  /** A worker stopped: forget its contexts, so nothing is sent to them (it would wait for a restart). */
  forgetContexts(targetId: string): void {
    for (const session of this.#sessions.values()) {
      if (session.targetId !== targetId || session.contexts.size === 0) continue;
      session.contexts.clear();
      this.#options.onContextChange(session);
    }
  }

  /** Send a command to one context's shim; resolves with its value (by value). */
  async command(
    session: TargetSession,
    contextId: number,
    command: ShimCommand,
    awaitPromise = false,
  ): Promise<unknown> {
    const result = await this.#cdp.send(
      "Runtime.evaluate",
      { expression: shimCommand(this.#options.shim, command), contextId, returnByValue: true, awaitPromise },
      session.sessionId,
    );
    const remote = result.result as { value?: unknown } | undefined;
    if (result.exceptionDetails) throw new Error("the shim threw");
    return remote?.value;
  }

  /** Take everything back out: shims restore the browser's Push API, bindings, scripts, sessions. */
  async detach(): Promise<void> {
    if (this.#detached) return;
    this.#detached = true;
    const send = (method: string, params: Record<string, unknown>, sessionId?: string) =>
      this.#cdp.send(method, params, sessionId).catch(() => ({}));
    await send("Target.setAutoAttach", { autoAttach: false, waitForDebuggerOnStart: false, flatten: true });
    await Promise.all(
      [...this.#sessions.values()].map(async (session) => {
        for (const context of session.contexts.values()) {
          await this.command(session, context.id, { op: "detach" }).catch(() => {});
        }
        await send("Runtime.removeBinding", { name: this.#options.shim.binding }, session.sessionId);
        if (session.scriptId) {
          await send(
            "Page.removeScriptToEvaluateOnNewDocument",
            { identifier: session.scriptId },
            session.sessionId,
          );
        }
        if (session.sessionId) await send("Target.detachFromTarget", { sessionId: session.sessionId });
      }),
    );
    this.#stopListening?.();
    this.#sessions.clear();
  }

  #onEvent(event: CdpEvent): void {
    if (this.#detached) return;
    const { method, params } = event;
    if (method === "Target.attachedToTarget") {
      const info = params.targetInfo as TargetInfo;
      const sessionId = params.sessionId as string;
      const waiting = params.waitingForDebugger === true;
      if (info.type !== "page" && info.type !== "service_worker") {
        if (waiting) void this.#cdp.send("Runtime.runIfWaitingForDebugger", {}, sessionId).catch(() => {});
        return;
      }
      void this.#attached(
        sessionId,
        {
          targetId: info.targetId,
          type: info.type,
          url: info.url,
          browserContextId: info.browserContextId ?? this.#options.rootBrowserContextId,
        },
        waiting,
      );
      return;
    }
    if (method === "Target.detachedFromTarget") {
      const session = this.#sessions.get(String(params.sessionId));
      if (!session) return;
      this.#sessions.delete(String(params.sessionId));
      this.#options.onSessionChange(session, false);
      return;
    }
    const session = this.#sessions.get(event.sessionId ?? "");
    if (!session) return;
    if (method === "Runtime.executionContextCreated")
      this.#contextCreated(session, params.context as ContextDescription);
    else if (method === "Runtime.executionContextDestroyed") {
      if (session.contexts.delete(Number(params.executionContextId))) this.#options.onContextChange(session);
    } else if (method === "Runtime.executionContextsCleared") {
      session.contexts.clear();
      this.#options.onContextChange(session);
    } else if (method === "Runtime.bindingCalled") this.#bindingCalled(session, params);
    else if (method === "Target.targetInfoChanged") {
      const info = params.targetInfo as TargetInfo | undefined;
      if (info?.targetId === session.targetId) session.url = info.url;
    }
  }

  async #attached(
    sessionId: string | undefined,
    target: { targetId: string; type: TargetType; url: string; browserContextId: string },
    waiting: boolean,
  ): Promise<void> {
    const duplicate = [...this.#sessions.values()].some((s) => s.targetId === target.targetId);
    if (duplicate && sessionId) {
      await this.#cdp.send("Target.detachFromTarget", { sessionId }).catch(() => {});
      return;
    }
    const session: TargetSession = {
      sessionId,
      ...target,
      contexts: new Map(),
      scriptId: null,
      bound: false,
    };
    this.#sessions.set(sessionId ?? "", session);
    const source = this.#sources[target.type];
    const send = (method: string, params: Record<string, unknown> = {}) =>
      this.#cdp.send(method, params, sessionId);
    // Pipelined, not one after another: a page held at its start may answer some commands (the
    // new-document script) only once it runs, so only what the shim needs is awaited before the
    // target is let go. Runtime first: a binding added before Runtime.enable was missing in later
    // documents. Runtime.enable answers after it reported every existing context.
    const enabled = send("Runtime.enable");
    const bound = send("Runtime.addBinding", { name: this.#options.shim.binding });
    const script = target.type === "page" ? send("Page.addScriptToEvaluateOnNewDocument", { source }) : null;
    try {
      await Promise.all([enabled, bound]);
      session.bound = true;
      await Promise.all(
        [...session.contexts.keys()].map((contextId) =>
          send("Runtime.evaluate", { expression: source, contextId }).catch(() => {}),
        ),
      );
    } catch (error) {
      // A target that closed while being set up; the detach event removes it.
      if (!this.#detached)
        this.#options.warn(`chromium: could not instrument ${target.type} ${target.url}: ${String(error)}`);
    } finally {
      if (waiting) await send("Runtime.runIfWaitingForDebugger").catch(() => {});
    }
    void script?.then(
      (added) => {
        session.scriptId = typeof added.identifier === "string" ? added.identifier : null;
      },
      () => {},
    );
    if (this.#sessions.get(sessionId ?? "") === session) this.#options.onSessionChange(session, true);
  }

  #contextCreated(session: TargetSession, description: ContextDescription): void {
    if (session.type === "page" && description.auxData?.isDefault !== true) return;
    const origin = originOf(description.origin) ?? originOf(session.url);
    if (!origin) return;
    session.contexts.set(description.id, { id: description.id, origin, ready: false, scope: null });
    this.#options.debug(
      `chromium: new context in ${session.type} ${origin}${session.bound ? "" : " (before the binding)"}`,
    );
    if (!session.bound) return;
    // Idempotent: a document that ran the new-document script already has the shim.
    const installed = this.#cdp
      .send(
        "Runtime.evaluate",
        { expression: this.#sources[session.type], contextId: description.id },
        session.sessionId,
      )
      .catch(() => {});
    // A stopped worker the browser starts again waits for the debugger on its kept session.
    if (session.type === "service_worker") {
      void installed.then(() =>
        this.#cdp.send("Runtime.runIfWaitingForDebugger", {}, session.sessionId).catch(() => {}),
      );
    }
  }

  #bindingCalled(session: TargetSession, params: Record<string, unknown>): void {
    if (params.name !== this.#options.shim.binding) return;
    const context = session.contexts.get(Number(params.executionContextId));
    if (!context) return;
    const message = parseShimMessage(params.payload);
    if (!message) {
      this.#options.warn(`chromium: ignored a malformed call from ${context.origin}`);
      return;
    }
    if (message.op === "ready") {
      context.ready = true;
      context.scope =
        session.type === "service_worker" && message.scope && originOf(message.scope) === context.origin
          ? message.scope
          : null;
      this.#options.onContextChange(session);
    }
    this.#options.onCall({ session, context, message });
  }
}

interface TargetInfo {
  targetId: string;
  type: string;
  url: string;
  browserContextId?: string;
}

interface ContextDescription {
  id: number;
  origin?: string;
  auxData?: { isDefault?: boolean; type?: string };
}

/** An http(s) origin, or null for opaque and non-web origins (about:blank, data:, chrome:). */
export function originOf(url: string | undefined): string | null {
  if (!url) return null;
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.origin : null;
  } catch {
    return null;
  }
}
