/**
 * Pushes and subscription changes into the site's service worker. A push becomes a trusted
 * `push` event through ServiceWorker.deliverPushMessage; its data string carries the payload in
 * a marked base64url form that the worker's shim turns back into the exact bytes (or null). A
 * stopped worker is started first and the push waits until the shim is in the new context. The
 * observer's promise (which holds PushService's ack) settles when the shim reports that the
 * event's handlers and their waitUntil promises settled; a rejected waitUntil or the deadline
 * rejects it (PushService then nacks 302 and acks). If the browser goes away first, the promise
 * never settles: the message stays unacked and the server sends it again to the next session.
 */

import { encode } from "../crypto/base64url.ts";
import type { Logger } from "../log.ts";
import type { PushMessageEvent, PushSubscriptionChangeEvent } from "../observers.ts";
import type { PushService } from "../service/push-service.ts";
import type { CdpConnection } from "./cdp.ts";
import { type Changes, withDeadline } from "./changes.ts";
import { subscriptionValue } from "./messages.ts";
import type { Permissions } from "./permissions.ts";
import type { Registration, Registrations } from "./registrations.ts";
import { originPrefix, parseScopeKey, type SiteScope } from "./scopes.ts";
import type { ShimContext, TargetSession, Targets } from "./targets.ts";

export interface DeliveryWorld {
  cdp: CdpConnection;
  service: PushService;
  targets: Targets;
  registrations: Registrations;
  permissions: Permissions;
  changes: Changes;
  logger: Logger;
  /** The prefix of marked push data (random per bridge). */
  marker: string;
  deliveryTimeout: number;
  workerStartTimeout: number;
  /** The browser context a stored scope belongs to; null when that context no longer exists. */
  contextOf(site: SiteScope): string | null;
  /** True once the bridge detached or the browser went away. */
  gone(): boolean;
}

interface Worker {
  control: TargetSession;
  registration: Registration;
  session: TargetSession;
  context: ShimContext;
}

/** Thrown to abandon a delivery without settling it (the browser went away). */
class Abandoned extends Error {}

const CONTEXT_GONE = Symbol("the worker's context went away");

export class Deliveries {
  readonly #world: DeliveryWorld;
  readonly #waiting = new Map<
    string,
    { origin: string; resolve(ok: boolean): void; reject(e: Error): void }
  >();
  #next = 0;

  constructor(world: DeliveryWorld) {
    this.#world = world;
  }

  /** The push-message observer. */
  async push(event: PushMessageEvent): Promise<void> {
    try {
      await this.#push(event);
    } catch (error) {
      if (this.#world.gone()) return new Promise<void>(() => {});
      throw error;
    }
  }

  /** A worker's shim reported that a push event settled. */
  settled(origin: string, delivery: string, ok: boolean): void {
    const waiter = this.#waiting.get(delivery);
    if (!waiter || waiter.origin !== origin) return;
    this.#waiting.delete(delivery);
    waiter.resolve(ok);
  }

  /** The browser went away: deliveries in flight are abandoned, unsettled. */
  abandon(): void {
    for (const waiter of this.#waiting.values()) waiter.reject(new Abandoned("the browser went away"));
    this.#waiting.clear();
  }

  async #push(event: PushMessageEvent): Promise<void> {
    const world = this.#world;
    const site = parseScopeKey(event.scope);
    const origin = new URL(site.scopeURL).origin;
    const worker = await this.#ready(event.scope, site, (worker) =>
      world.targets.command(worker.session, worker.context.id, { op: "permission" }),
    );
    if (!worker) return;
    const browser = worker.answer;
    const state = await world.permissions.state(
      origin,
      browser === "granted" || browser === "prompt" ? browser : "denied",
    );
    if (state !== "granted") {
      world.logger.info(`chromium: ${origin} has no notification permission (${state}); unsubscribing`);
      await world.service.permissionChanged(originPrefix(origin), state);
      return;
    }
    const delivery = (++this.#next).toString(36);
    const bytes = event.data ? encode(event.data.bytes()) : "-";
    const settled = new Promise<boolean>((resolve, reject) =>
      this.#waiting.set(delivery, { origin, resolve, reject }),
    );
    settled.catch(() => {});
    try {
      await world.cdp.send(
        "ServiceWorker.deliverPushMessage",
        {
          origin,
          registrationId: worker.registration.registrationId,
          data: `${world.marker}${delivery}:${bytes}`,
        },
        worker.control.sessionId,
      );
      const ok = await withDeadline(settled, world.deliveryTimeout, `the push handler of ${site.scopeURL}`);
      if (!ok) throw new Error(`the push handler of ${site.scopeURL} failed: a waitUntil promise rejected`);
    } finally {
      this.#waiting.delete(delivery);
    }
  }

  /** The push-subscription-change observer: pushsubscriptionchange in the scope's worker. */
  async change(event: PushSubscriptionChangeEvent): Promise<void> {
    const site = parseScopeKey(event.scope);
    const oldSubscription = event.oldSubscription ? subscriptionValue(event.oldSubscription) : null;
    await withDeadline(
      this.#ready(null, site, (worker) =>
        this.#world.targets.command(
          worker.session,
          worker.context.id,
          { op: "change", oldSubscription },
          true,
        ),
      ),
      this.#world.deliveryTimeout,
      `the pushsubscriptionchange handler of ${site.scopeURL}`,
    );
  }

  /**
   * Find (or start) the scope's shimmed worker and run `step` in its context. A worker that stops
   * meanwhile loses its context, and a command to it would wait for a restart: the step is raced
   * against the context going away and then tried again on the restarted worker.
   */
  async #ready<T>(
    key: string | null,
    site: SiteScope,
    step: (worker: Worker) => Promise<T>,
  ): Promise<(Worker & { answer: T }) | null> {
    const deadline = Date.now() + this.#world.workerStartTimeout;
    for (;;) {
      const worker = await this.#worker(key, site);
      if (!worker) return null;
      // The stop watch ends with the step, so no deliveryTimeout timer outlives a delivery.
      const stepDone = new AbortController();
      const gone = this.#world.changes
        .until(
          () => !worker.session.contexts.has(worker.context.id),
          this.#world.deliveryTimeout,
          "a worker stop",
          stepDone.signal,
        )
        .then(() => CONTEXT_GONE);
      const answer = await Promise.race([
        step(worker).catch(() => CONTEXT_GONE),
        gone.catch(() => CONTEXT_GONE),
      ]).finally(() => stepDone.abort());
      if (answer !== CONTEXT_GONE) return { ...worker, answer: answer as T };
      if (Date.now() > deadline) throw new Error(`the service worker of ${site.scopeURL} kept stopping`);
    }
  }

  /**
   * The running, shimmed worker of a scope, started if needed. null when the site has no
   * registration any more (then, given its key, the stored subscription is dropped).
   */
  async #worker(key: string | null, site: SiteScope): Promise<Worker | null> {
    const world = this.#world;
    const contextId = world.contextOf(site);
    if (contextId === null) {
      if (key) await world.service.unsubscribe(key).catch(() => false);
      return null;
    }
    if (world.cdp.root === "browser") await world.registrations.ensureControl(contextId);
    const control = await world.changes.until(
      () => world.registrations.current(contextId),
      world.workerStartTimeout,
      "the browser's service worker list",
    );
    const registration = world.registrations.find(contextId, site.scopeURL);
    if (!registration) {
      world.logger.info(`chromium: ${site.scopeURL} has no service worker any more; unsubscribing`);
      if (key) await world.service.unsubscribe(key).catch(() => false);
      return null;
    }
    const running = () => this.#running(contextId, site.scopeURL);
    let found = running();
    world.logger.debug(`chromium: worker for ${site.scopeURL} ${found ? "running" : "to start"}`);
    if (!found) {
      await world.cdp.send("ServiceWorker.startWorker", { scopeURL: site.scopeURL }, control.sessionId);
      found = await world.changes.until(
        running,
        world.workerStartTimeout,
        `the service worker of ${site.scopeURL}`,
      );
    }
    return { control, registration, ...found };
  }

  #running(contextId: string, scopeURL: string): { session: TargetSession; context: ShimContext } | null {
    const world = this.#world;
    for (const session of world.targets.sessions) {
      if (session.type !== "service_worker" || session.browserContextId !== contextId) continue;
      if (!world.registrations.isRunning(contextId, session.targetId)) continue;
      const scope = world.registrations.registrationOfTarget(contextId, session.targetId)?.scopeURL;
      for (const context of session.contexts.values()) {
        if (context.ready && (context.scope ?? scope) === scopeURL) return { session, context };
      }
    }
    return null;
  }
}
