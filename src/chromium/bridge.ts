/**
 * The Chromium push bridge: makes the standard Push API of every page and service worker of a
 * Chromium browser work through a PushService, using only PushService's public API (subscribe,
 * getSubscription, unsubscribe, permissionChanged, observe). It never talks to the push server
 * and never decrypts anything itself.
 *
 * Owns the answers to the shim's calls (subscribe, getSubscription, permissionState, unsubscribe)
 * with Chromium's error names, the rules of who may ask for what (a call acts only on the origin
 * of the execution context it came from, on a registration that exists in that browser context),
 * off-the-record contexts, and the wiring of targets, registrations and deliveries.
 */

import { randomBytes } from "node:crypto";
import { PushError } from "../errors.ts";
import { describeError, type Logger } from "../log.ts";
import type { PushService } from "../service/push-service.ts";
import type { CdpConnection } from "./cdp.ts";
import { Changes, WaitTimeout, withDeadline } from "./changes.ts";
import { Deliveries } from "./delivery.ts";
import {
  type BrowserPermission,
  type ShimReply,
  type ShimRequest,
  type SubscriptionValue,
  subscriptionValue,
} from "./messages.ts";
import { type PermissionOptions, Permissions } from "./permissions.ts";
import { Registrations } from "./registrations.ts";
import { originPrefix, parseScopeKey, scopeKey } from "./scopes.ts";
import { type ShimCall, Targets } from "./targets.ts";

export type { PermissionDecision, PermissionOptions } from "./permissions.ts";

export interface PushBridgeOptions extends PermissionOptions {
  /** The PushService that holds the subscriptions; start() it before attaching. */
  service: PushService;
  /**
   * Give off-the-record (incognito) browser contexts push too. Default false: like Firefox's
   * private browsing, they get NotAllowedError. Playwright's browser.newContext() and
   * Target.createBrowserContext make such contexts; a test that uses them opts in here. Their
   * subscriptions are unsubscribed when the bridge detaches (the context is gone then).
   */
  allowOffTheRecord?: boolean;
  /** Allow `userVisibleOnly: false` (Firefox does). Default false: NotAllowedError, as in Chromium. */
  allowSilentPush?: boolean;
  /**
   * For a page-level connection (Electron's webContents.debugger): whether that page's session
   * is off the record (Electron: `!session.isPersistent()`). Default false.
   */
  offTheRecord?: boolean;
  /** ms a subscribe() may take before it rejects with AbortError. Default 30 000. */
  subscribeTimeout?: number;
  /** ms from handing a push to the browser until its handlers settled; then the push fails. Default 60 000. */
  deliveryTimeout?: number;
  /** ms to wait for a stopped worker to start (or the registration list). Default 15 000. */
  workerStartTimeout?: number;
  logger?: Logger;
}

export interface PushBridge {
  /** Resolves with a reason when the browser goes away (the bridge is detached then). */
  readonly closed: Promise<string>;
  /** Pages and service workers currently instrumented. */
  readonly targets: { pages: number; serviceWorkers: number };
  /** Take everything out of the browser again (shims, bindings, scripts, sessions). */
  detach(): Promise<void>;
}

const SILENT_LOGGER: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const DENIED = "Registration failed - permission denied";
const NO_WORKER = "Subscription failed - no active Service Worker";

/**
 * Attach a PushService to a browser over CDP. Resolves once every existing page and worker is
 * instrumented and new ones are caught before they run.
 */
export async function attachPushBridge(
  connection: CdpConnection,
  options: PushBridgeOptions,
): Promise<PushBridge> {
  const bridge = new ChromiumPushBridge(connection, options);
  await bridge.attach();
  return bridge;
}

class ChromiumPushBridge implements PushBridge {
  readonly closed: Promise<string>;
  readonly #cdp: CdpConnection;
  readonly #options: PushBridgeOptions;
  /**
   * Scope keys subscribed with userVisibleOnly: false (allowSilentPush) while attached: the store
   * keeps no such flag, so after a restart those subscriptions read userVisibleOnly: true again.
   */
  readonly #silent = new Set<string>();
  readonly #service: PushService;
  readonly #logger: Logger;
  readonly #changes = new Changes();
  readonly #permissions: Permissions;
  readonly #targets: Targets;
  readonly #registrations: Registrations;
  readonly #deliveries: Deliveries;
  readonly #disposers: (() => void)[] = [];
  #defaultContextId = "default";
  #ephemeral = new Set<string>();
  #gone = false;
  #resolveClosed!: (reason: string) => void;

  constructor(cdp: CdpConnection, options: PushBridgeOptions) {
    this.#cdp = cdp;
    this.#options = options;
    this.#service = options.service;
    this.#logger = options.logger ?? SILENT_LOGGER;
    this.#permissions = new Permissions(options);
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    // Random names: nothing a site could know in advance or find useful to call.
    const token = () => randomBytes(12).toString("hex");
    const shim = { binding: `_${token()}`, answer: `_${token()}`, marker: `pa${token()}:` };
    this.#targets = new Targets(cdp, {
      shim,
      rootBrowserContextId: this.#defaultContextId,
      onCall: (call) => this.#onCall(call),
      onSessionChange: (session, attached) => {
        this.#registrations.sessionChanged(session, attached);
        this.#changes.notify();
      },
      onContextChange: () => this.#changes.notify(),
      warn: (message) => this.#logger.warn(message),
      debug: (message) => this.#logger.debug(message),
    });
    this.#registrations = new Registrations(cdp, {
      onDeleted: (contextId, scopeURL) => this.#registrationDeleted(contextId, scopeURL),
      onStopped: (targetId) => this.#targets.forgetContexts(targetId),
      onChange: () => this.#changes.notify(),
    });
    this.#deliveries = new Deliveries({
      cdp,
      service: this.#service,
      targets: this.#targets,
      registrations: this.#registrations,
      permissions: this.#permissions,
      changes: this.#changes,
      logger: this.#logger,
      marker: shim.marker,
      deliveryTimeout: options.deliveryTimeout ?? 60_000,
      workerStartTimeout: options.workerStartTimeout ?? 15_000,
      contextOf: (site) => this.#contextOf(site.ephemeralContext),
      gone: () => this.#gone,
    });
  }

  get targets(): { pages: number; serviceWorkers: number } {
    let pages = 0;
    let serviceWorkers = 0;
    for (const session of this.#targets.sessions) {
      if (session.type === "page") pages++;
      else serviceWorkers++;
    }
    return { pages, serviceWorkers };
  }

  async attach(): Promise<void> {
    if (this.#cdp.root === "browser") {
      const contexts = await this.#cdp.send("Target.getBrowserContexts");
      if (typeof contexts.defaultBrowserContextId === "string")
        this.#defaultContextId = contexts.defaultBrowserContextId;
    }
    this.#disposers.push(
      this.#cdp.onEvent((event) =>
        this.#registrations.onEvent(event, (sessionId) =>
          [...this.#targets.sessions].find((s) => s.sessionId === sessionId),
        ),
      ),
      this.#cdp.onClose((reason) => this.#browserGone(reason)),
    );
    await this.#targets.start();
    // Only now: pushes that came while no browser was attached waited unacked in PushService.
    this.#disposers.push(
      this.#service.observe("push-message", (event) => this.#deliveries.push(event)),
      this.#service.observe("push-subscription-change", (event) =>
        this.#deliveries.change(event).catch((error) => {
          if (!this.#gone)
            this.#logger.warn(
              `chromium: pushsubscriptionchange for ${event.scope} failed: ${describeError(error)}`,
            );
        }),
      ),
    );
    this.#logger.info(
      `chromium: attached (${this.targets.pages} pages, ${this.targets.serviceWorkers} service workers)`,
    );
  }

  async detach(): Promise<void> {
    if (this.#gone) return;
    this.#stop("detached");
    await this.#targets.detach();
    await this.#registrations.detach();
    await this.#dropEphemeral();
  }

  #browserGone(reason: string): void {
    if (this.#gone) return;
    this.#stop(reason);
    void this.#dropEphemeral();
  }

  #stop(reason: string): void {
    this.#gone = true;
    for (const dispose of this.#disposers.splice(0)) dispose();
    this.#deliveries.abandon();
    this.#resolveClosed(reason);
  }

  /** Off-the-record contexts end with the bridge: their subscriptions end with them. */
  async #dropEphemeral(): Promise<void> {
    if (this.#ephemeral.size === 0) return;
    const subscriptions = await this.#service.subscriptions().catch(() => []);
    for (const subscription of subscriptions) {
      const site = parseScopeKey(subscription.scope);
      if (site.ephemeralContext && this.#ephemeral.has(site.ephemeralContext)) {
        await this.#service.unsubscribe(subscription.scope).catch(() => false);
      }
    }
  }

  #isOffTheRecord(browserContextId: string): boolean {
    if (this.#cdp.root === "page") return this.#options.offTheRecord === true;
    return browserContextId !== this.#defaultContextId;
  }

  /** The PushService scope for a registration in a browser context; null when push is off there. */
  #keyFor(browserContextId: string, scopeURL: string): string | null {
    if (!this.#isOffTheRecord(browserContextId)) return scopeKey(scopeURL, null);
    if (!this.#options.allowOffTheRecord) return null;
    this.#ephemeral.add(browserContextId);
    return scopeKey(scopeURL, browserContextId);
  }

  #contextOf(ephemeralContext: string | null): string | null {
    if (ephemeralContext === null) return this.#defaultContextId;
    const known = [...this.#targets.sessions].some((s) => s.browserContextId === ephemeralContext);
    return known ? ephemeralContext : null;
  }

  #registrationDeleted(browserContextId: string, scopeURL: string): void {
    const key = this.#keyFor(browserContextId, scopeURL);
    if (!key) return;
    void this.#service
      .unsubscribe(key)
      .then(
        (had) =>
          had && this.#logger.info(`chromium: ${scopeURL} unregistered its service worker; unsubscribed`),
      )
      .catch((error) =>
        this.#logger.warn(`chromium: unsubscribing ${scopeURL} failed: ${describeError(error)}`),
      );
  }

  // ---- calls from the shim

  #onCall({ session, context, message }: ShimCall): void {
    if (message.op === "pushDone") {
      if (session.type === "service_worker")
        this.#deliveries.settled(context.origin, message.delivery, message.ok);
      return;
    }
    if (message.op === "permission") {
      void this.#permissionReported(context.origin, message.permission);
      return;
    }
    if (message.op === "ready") return;
    void this.#answer(session.browserContextId, context.origin, session.type === "page", message).then(
      (reply) => this.#targets.command(session, context.id, { op: "reply", reply }).catch(() => {}),
    );
  }

  async #permissionReported(origin: string, permission: "granted" | "denied" | "prompt"): Promise<void> {
    if (this.#permissions.embedderDecides) return;
    this.#logger.info(`chromium: ${origin} notification permission is now ${permission}`);
    try {
      await this.#service.permissionChanged(originPrefix(origin), permission);
    } catch (error) {
      this.#logger.warn(`chromium: permission change for ${origin} failed: ${describeError(error)}`);
    }
  }

  async #answer(
    contextId: string,
    origin: string,
    fromPage: boolean,
    request: ShimRequest,
  ): Promise<ShimReply> {
    const id = request.id;
    try {
      return { id, ok: true, value: await this.#handle(contextId, origin, fromPage, request) };
    } catch (error) {
      if (error instanceof PushError || error instanceof DOMException) {
        return { id, ok: false, name: error.name, message: error.message };
      }
      if (error instanceof TypeError) return { id, ok: false, name: "TypeError", message: error.message };
      this.#logger.warn(`chromium: ${request.op} for ${origin} failed: ${describeError(error)}`);
      return { id, ok: false, name: "AbortError", message: "Registration failed - push service error" };
    }
  }

  async #handle(
    contextId: string,
    origin: string,
    fromPage: boolean,
    request: ShimRequest,
  ): Promise<SubscriptionValue | BrowserPermission | boolean | null> {
    // The scope names a registration of the caller's own origin; nothing else is ever touched.
    if (new URL(request.scope).origin !== origin) throw new PushError("AbortError", NO_WORKER);
    const key = this.#keyFor(contextId, request.scope);
    switch (request.op) {
      case "permissionState":
        if (!key) return "denied";
        return this.#permissions.state(origin, request.permission);
      case "getSubscription": {
        if (!key) return null;
        const subscription = await this.#service.getSubscription(key);
        return subscription ? subscriptionValue(subscription, !this.#silent.has(key)) : null;
      }
      case "unsubscribe": {
        if (!key) return false;
        const subscription = await this.#service.getSubscription(key);
        if (!subscription || subscription.endpoint !== request.endpoint) return false;
        this.#silent.delete(key);
        await this.#service
          .unsubscribe(key)
          .catch((error) =>
            this.#logger.warn(
              `chromium: the server did not confirm unsubscribing ${request.scope}: ${describeError(error)}`,
            ),
          );
        return true;
      }
      case "subscribe":
        return this.#subscribe(contextId, origin, fromPage, key, request);
    }
  }

  async #subscribe(
    contextId: string,
    origin: string,
    fromPage: boolean,
    key: string | null,
    request: Extract<ShimRequest, { op: "subscribe" }>,
  ): Promise<SubscriptionValue> {
    if (!key) throw new PushError("NotAllowedError", DENIED);
    if (!request.userVisibleOnly && !this.#options.allowSilentPush)
      throw new PushError("NotAllowedError", DENIED);
    if (!(await this.#permissions.allowsSubscribe(origin, request.permission, fromPage))) {
      throw new PushError("NotAllowedError", DENIED);
    }
    await this.#changes
      .until(
        () => this.#registrations.find(contextId, request.scope),
        5_000,
        `the registration of ${request.scope}`,
      )
      .catch(() => {
        throw new PushError("AbortError", NO_WORKER);
      });
    if (request.key === null) {
      const existing = await this.#service.getSubscription(key);
      if (existing) return subscriptionValue(existing, !this.#silent.has(key));
      throw new PushError(
        "AbortError",
        "Registration failed - missing applicationServerKey, and manifest empty or missing",
      );
    }
    try {
      const subscription = await withDeadline(
        this.#service.subscribe({
          scope: key,
          applicationServerKey: request.key,
          userVisibleOnly: request.userVisibleOnly,
        }),
        this.#options.subscribeTimeout ?? 30_000,
        "the push server",
      );
      if (!request.userVisibleOnly) this.#silent.add(key);
      return subscriptionValue(subscription, !this.#silent.has(key));
    } catch (error) {
      throw chromiumError(error);
    }
  }
}

/** PushService's errors under the names and messages Chromium's PushManager uses. */
function chromiumError(error: unknown): Error {
  if (error instanceof WaitTimeout)
    return new PushError("AbortError", "Registration failed - push service not available");
  if (!(error instanceof PushError))
    return new PushError("AbortError", "Registration failed - push service error");
  switch (error.name) {
    case "InvalidStateError":
      return new PushError(
        "InvalidStateError",
        "Registration failed - A subscription with a different applicationServerKey (or gcm_sender_id) already exists; to change the applicationServerKey, unsubscribe then resubscribe.",
      );
    case "InvalidCharacterError":
      return new PushError(
        "InvalidCharacterError",
        "The provided applicationServerKey is not encoded as base64url without padding.",
      );
    case "InvalidAccessError":
      return new PushError("InvalidAccessError", "The provided applicationServerKey is not valid.");
    default:
      return new PushError("AbortError", "Registration failed - push service error");
  }
}
