/**
 * The service worker registrations of each browser context, as the ServiceWorker domain reports
 * them (registrationId ↔ scope URL, versions with their running status and target). The domain
 * lives on page sessions, so each browser context gets one page session as its "control" session
 * (any page of that context; a background about:blank target when it has none). Registration ids
 * change across browser restarts: everything above maps by scope.
 */

import type { CdpConnection, CdpEvent } from "./cdp.ts";
import type { TargetSession } from "./targets.ts";

export interface Registration {
  registrationId: string;
  scopeURL: string;
  isDeleted: boolean;
}

export interface WorkerVersion {
  versionId: string;
  registrationId: string;
  runningStatus: string;
  status: string;
  targetId?: string;
}

interface ContextState {
  control: TargetSession | null;
  /** A target the bridge created because the context had no page; closed on detach. */
  ownTarget: string | null;
  registrations: Map<string, Registration>;
  versions: Map<string, WorkerVersion>;
  /** The first workerRegistrationUpdated after enable arrived: the list is complete. */
  listed: boolean;
}

export interface RegistrationsOptions {
  /** Called when a registration is reported deleted (unregistered, site data cleared). */
  onDeleted(browserContextId: string, scopeURL: string): void;
  /** A worker target stopped: its execution context is gone (a restart brings a new one). */
  onStopped(targetId: string): void;
  /** Something changed that a waiter may be waiting for. */
  onChange(): void;
}

export class Registrations {
  readonly #cdp: CdpConnection;
  readonly #options: RegistrationsOptions;
  readonly #contexts = new Map<string, ContextState>();

  constructor(cdp: CdpConnection, options: RegistrationsOptions) {
    this.#cdp = cdp;
    this.#options = options;
  }

  /** A page session came or went: contexts without a control session take this one. */
  sessionChanged(session: TargetSession, attached: boolean): void {
    if (session.type !== "page") return;
    const state = this.#state(session.browserContextId);
    if (attached && !state.control) {
      state.control = session;
      void this.#cdp.send("ServiceWorker.enable", {}, session.sessionId).catch(() => {});
      return;
    }
    if (!attached && state.control === session) {
      state.control = null;
      state.listed = false;
    }
  }

  /** Route ServiceWorker events from control sessions into their context's state. */
  onEvent(event: CdpEvent, sessionOf: (sessionId: string | undefined) => TargetSession | undefined): void {
    if (!event.method.startsWith("ServiceWorker.")) return;
    const session = sessionOf(event.sessionId);
    if (!session) return;
    const state = this.#contexts.get(session.browserContextId);
    if (!state || state.control !== session) return;
    if (event.method === "ServiceWorker.workerRegistrationUpdated") {
      for (const registration of event.params.registrations as Registration[]) {
        state.registrations.set(registration.registrationId, registration);
        if (registration.isDeleted) {
          state.registrations.delete(registration.registrationId);
          if (!this.find(session.browserContextId, registration.scopeURL)) {
            this.#options.onDeleted(session.browserContextId, registration.scopeURL);
          }
        }
      }
      state.listed = true;
    } else if (event.method === "ServiceWorker.workerVersionUpdated") {
      for (const reported of event.params.versions as WorkerVersion[]) {
        // A stopped version is reported without its target; the target (and session) stay.
        const targetId = reported.targetId ?? state.versions.get(reported.versionId)?.targetId;
        const version = targetId ? { ...reported, targetId } : reported;
        if (version.status === "redundant") state.versions.delete(version.versionId);
        else state.versions.set(version.versionId, version);
        if (targetId && version.runningStatus !== "running" && version.runningStatus !== "starting") {
          this.#options.onStopped(targetId);
        }
      }
    }
    this.#options.onChange();
  }

  /** The live registration of this scope, if the browser reported one. */
  find(browserContextId: string, scopeURL: string): Registration | undefined {
    const state = this.#contexts.get(browserContextId);
    for (const registration of state?.registrations.values() ?? []) {
      if (registration.scopeURL === scopeURL && !registration.isDeleted) return registration;
    }
    return undefined;
  }

  /** True once the context's complete registration list arrived. */
  listed(browserContextId: string): boolean {
    return this.#contexts.get(browserContextId)?.listed ?? false;
  }

  /**
   * Whether the browser reports this worker target running. A stopped worker keeps its target
   * and session but not its execution context, and commands to it wait until it runs again.
   */
  isRunning(browserContextId: string, targetId: string): boolean {
    const state = this.#contexts.get(browserContextId);
    for (const version of state?.versions.values() ?? []) {
      if (version.targetId === targetId && version.runningStatus === "running") return true;
    }
    return false;
  }

  /** The registration an attached worker target belongs to, from the version reports. */
  registrationOfTarget(browserContextId: string, targetId: string): Registration | undefined {
    const state = this.#contexts.get(browserContextId);
    for (const version of state?.versions.values() ?? []) {
      if (version.targetId === targetId) return state?.registrations.get(version.registrationId);
    }
    return undefined;
  }

  /** The context's control session once its registration list is complete; null until then. */
  current(browserContextId: string): TargetSession | null {
    const state = this.#contexts.get(browserContextId);
    return state?.listed ? state.control : null;
  }

  /** A context without any page gets a background about:blank page to be its control session. */
  async ensureControl(browserContextId: string): Promise<void> {
    const state = this.#state(browserContextId);
    if (state.control) return;
    if (!state.ownTarget) {
      const created = await this.#cdp.send("Target.createTarget", {
        url: "about:blank",
        browserContextId,
        background: true,
      });
      state.ownTarget = String(created.targetId);
    }
  }

  /** Close the pages the bridge opened itself. */
  async detach(): Promise<void> {
    for (const state of this.#contexts.values()) {
      if (state.control)
        await this.#cdp.send("ServiceWorker.disable", {}, state.control.sessionId).catch(() => {});
      if (state.ownTarget)
        await this.#cdp.send("Target.closeTarget", { targetId: state.ownTarget }).catch(() => {});
    }
    this.#contexts.clear();
  }

  #state(browserContextId: string): ContextState {
    let state = this.#contexts.get(browserContextId);
    if (!state) {
      state = {
        control: null,
        ownTarget: null,
        registrations: new Map(),
        versions: new Map(),
        listed: false,
      };
      this.#contexts.set(browserContextId, state);
    }
    return state;
  }
}
