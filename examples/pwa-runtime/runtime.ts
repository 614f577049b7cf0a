/**
 * How a PWA runtime or browser shell embeds push-agent: it owns the sites' permissions and
 * history, and wires its own UI events (permission prompts, visits, shown notifications,
 * "clear site data") to the PushService. Everything push-specific stays in push-agent; this file
 * is the glue an embedder writes.
 */

import { type PushMessageEvent, PushService, type PushServiceOptions } from "push-agent";

type Permission = "granted" | "denied" | "prompt";

export interface RuntimeEvents {
  /** The runtime shows a notification for a push (here: records it). */
  showNotification(scope: string, text: string): void;
  /** A site's subscription went away without it asking: the runtime wakes the app to resubscribe. */
  subscriptionLost(scope: string): void;
}

/** The runtime's own state: permissions and visit history per site. */
export class PwaRuntime {
  readonly service: PushService;
  readonly #permissions = new Map<string, Permission>();
  readonly #visits = new Map<string, number>();
  readonly #events: RuntimeEvents;

  constructor(options: PushServiceOptions, events: RuntimeEvents) {
    this.#events = events;
    this.service = new PushService({
      ...options,
      hasPermission: (scope) => this.#permissionFor(scope) === "granted",
      quota: { lastVisit: (scope) => this.#visits.get(new URL(scope).origin) ?? Number.NEGATIVE_INFINITY },
    });
    this.service.observe("push-message", (event) => this.#onPush(event));
    this.service.observe("push-subscription-change", ({ scope }) => this.#events.subscriptionLost(scope));
  }

  start(): Promise<void> {
    return this.service.start();
  }

  stop(): Promise<void> {
    return this.service.stop();
  }

  /** The user opened a page of the site: its quota is refreshed at the next push. */
  visit(url: string): void {
    this.#visits.set(new URL(url).origin, Date.now());
  }

  /** The permission prompt was answered, or changed in the runtime's settings page. */
  async setPermission(origin: string, permission: Permission): Promise<void> {
    this.#permissions.set(origin, permission);
    await this.service.permissionChanged(origin, permission);
  }

  /** The user closed a notification the runtime showed. */
  notificationClosed(scope: string): void {
    this.service.notificationClosed(scope);
  }

  /** Settings → "Clear data for this site" (a registrable domain and its subdomains). */
  clearSiteData(site: string): Promise<void> {
    return this.service.clear({ site });
  }

  /** The runtime's daily idle job. */
  idleDaily(): Promise<void> {
    return this.service.dropExpired();
  }

  #permissionFor(scope: string): Permission {
    return this.#permissions.get(new URL(scope).origin) ?? "prompt";
  }

  /** A visible notification suspends the site's quota cost until it is closed. */
  #onPush({ scope, data }: PushMessageEvent): void {
    this.service.notificationShown(scope);
    this.#events.showNotification(scope, data?.text() ?? "");
  }
}
