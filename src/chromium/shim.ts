/**
 * The script the bridge runs in every page and service worker before the site's own scripts. It
 * is a type-checked function, stringified with its configuration by shimSource(); it must not
 * reference anything outside its own body.
 *
 * It replaces the Push API's entry points (the pushManager getter, PushManager's subscribe,
 * getSubscription and permissionState, PushSubscription's members) with calls through a CDP
 * binding, and hands out objects that pass `instanceof PushSubscription` (prototype accessors are
 * patched, so Chromium's own objects, which never exist here, would still work). In a service
 * worker it also decodes the bridge's marked push data so `event.data` carries the exact bytes,
 * reports when a push event's handlers and waitUntil promises settled, and dispatches
 * `pushsubscriptionchange`.
 *
 * It holds no secret: a site gets only its own subscription's public values. The binding is
 * removed from the global scope once captured; anything the site does with the answer function
 * only affects its own promises.
 */

import type { ShimCommand, ShimMessage, ShimReply, SubscriptionValue } from "./messages.ts";

export interface ShimConfig {
  /** The Runtime.addBinding name the shim captures and removes from the global scope. */
  binding: string;
  /** The global (non-enumerable) the bridge calls through Runtime.evaluate. */
  answer: string;
  /** The prefix that marks push data the bridge encoded. */
  marker: string;
  /** True in a service worker. */
  worker: boolean;
}

/** The expression to evaluate in a page or worker. */
export function shimSource(config: ShimConfig): string {
  // A transpiler that keeps function names may call a `__name` helper inside the body.
  return `(() => { const __name = (f) => f; (${pushShim.toString()})(${JSON.stringify(config)}); })();`;
}

/** The expression that hands one command to the shim of a context (see ShimCommand). */
export function shimCommand(config: Pick<ShimConfig, "answer">, command: ShimCommand): string {
  return `globalThis[${JSON.stringify(config.answer)}](${JSON.stringify(command)})`;
}

export function pushShim(config: ShimConfig): void {
  type Accessor = (this: object) => unknown;
  type Method = (this: object, ...args: unknown[]) => unknown;
  const g = globalThis as unknown as Record<string, unknown>;
  if (Object.hasOwn(g, config.answer)) return;
  const binding = g[config.binding];
  if (typeof binding !== "function") return;
  const send = (message: ShimMessage) => (binding as (payload: string) => void)(JSON.stringify(message));
  delete g[config.binding];

  const PM = g.PushManager as typeof PushManager | undefined;
  const PS = g.PushSubscription as typeof PushSubscription | undefined;
  const NotificationCtor = g.Notification as typeof Notification | undefined;
  const permissionGetter = NotificationCtor
    ? Object.getOwnPropertyDescriptor(NotificationCtor, "permission")?.get
    : undefined;
  const readPermission = (): "granted" | "denied" | "prompt" => {
    const state = permissionGetter ? String(permissionGetter.call(NotificationCtor)) : "denied";
    return state === "granted" ? "granted" : state === "denied" ? "denied" : "prompt";
  };

  const pending = new Map<number, { resolve(value: unknown): void; reject(error: unknown): void }>();
  let nextId = 1;
  const request = (message: Record<string, unknown>): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      send({ ...message, id } as ShimMessage);
    });

  const fromBase64url = (text: string): ArrayBuffer => {
    const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  };
  const toBase64url = (bytes: Uint8Array): string => {
    let binary = "";
    for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i] as number);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };

  // Every replaced property with what it was, so a detach puts the browser's own back.
  const replaced: [object, string, PropertyDescriptor | undefined][] = [];
  const patch = (proto: object | undefined, name: string, descriptor: PropertyDescriptor) => {
    if (!proto) return;
    const own = Object.getOwnPropertyDescriptor(proto, name);
    replaced.push([proto, name, own]);
    Object.defineProperty(proto, name, {
      configurable: true,
      enumerable: own?.enumerable ?? true,
      ...descriptor,
    });
  };
  const original = (proto: object | undefined, name: string): PropertyDescriptor | undefined =>
    proto ? Object.getOwnPropertyDescriptor(proto, name) : undefined;

  // ---- subscriptions: our objects carry their values in a WeakMap; native ones pass through
  const subscriptions = new WeakMap<object, { value: SubscriptionValue; scope: string; options: object }>();
  const optionValues = new WeakMap<object, { key: ArrayBuffer | null; userVisibleOnly: boolean }>();
  const OptionsCtor = g.PushSubscriptionOptions as { prototype: object } | undefined;
  const makeSubscription = (value: SubscriptionValue, scope: string): PushSubscription => {
    const subscription = Object.create(PS ? PS.prototype : Object.prototype) as PushSubscription;
    const options = Object.create(OptionsCtor ? OptionsCtor.prototype : Object.prototype) as object;
    optionValues.set(options, {
      key: value.applicationServerKey === null ? null : fromBase64url(value.applicationServerKey),
      userVisibleOnly: value.userVisibleOnly,
    });
    subscriptions.set(subscription, { value, scope, options });
    return subscription;
  };
  const accessor = (
    proto: object | undefined,
    name: string,
    get: (self: object) => unknown,
    native: boolean,
  ) => {
    const own = original(proto, name)?.get as Accessor | undefined;
    patch(proto, name, {
      get(this: object) {
        if (native) {
          const entry = subscriptions.get(this);
          return entry ? get(entry as unknown as object) : own?.call(this);
        }
        const entry = optionValues.get(this);
        return entry ? get(entry as unknown as object) : own?.call(this);
      },
    });
  };
  type Entry = { value: SubscriptionValue; scope: string; options: object };
  type OptionEntry = { key: ArrayBuffer | null; userVisibleOnly: boolean };
  if (PS) {
    accessor(PS.prototype, "endpoint", (e) => (e as Entry).value.endpoint, true);
    accessor(PS.prototype, "expirationTime", (e) => (e as Entry).value.expirationTime, true);
    accessor(PS.prototype, "options", (e) => (e as Entry).options, true);
    const method = (name: string, fn: (entry: Entry, args: unknown[]) => unknown) => {
      const own = original(PS.prototype, name)?.value as Method | undefined;
      patch(PS.prototype, name, {
        writable: true,
        value: function (this: object, ...args: unknown[]) {
          const entry = subscriptions.get(this);
          return entry ? fn(entry, args) : own?.apply(this, args);
        },
      });
    };
    method("getKey", (entry, [name]) => {
      if (name === "p256dh") return fromBase64url(entry.value.p256dh);
      if (name === "auth") return fromBase64url(entry.value.auth);
      return null;
    });
    method("toJSON", (entry) => ({
      endpoint: entry.value.endpoint,
      expirationTime: entry.value.expirationTime,
      keys: { p256dh: entry.value.p256dh, auth: entry.value.auth },
    }));
    method("unsubscribe", (entry) =>
      request({ op: "unsubscribe", scope: entry.scope, endpoint: entry.value.endpoint }),
    );
  }
  if (OptionsCtor) {
    accessor(OptionsCtor.prototype, "applicationServerKey", (e) => (e as OptionEntry).key, false);
    accessor(OptionsCtor.prototype, "userVisibleOnly", (e) => (e as OptionEntry).userVisibleOnly, false);
  }

  // ---- which registration a PushManager belongs to
  const scopes = new WeakMap<object, string>();
  const Registration = g.ServiceWorkerRegistration as typeof ServiceWorkerRegistration | undefined;
  if (Registration && !config.worker) {
    const own = original(Registration.prototype, "pushManager")?.get as Accessor | undefined;
    if (own) {
      patch(Registration.prototype, "pushManager", {
        get(this: ServiceWorkerRegistration) {
          const manager = own.call(this) as object;
          if (manager) scopes.set(manager, this.scope);
          return manager;
        },
      });
    }
  }
  const scopeOf = (manager: object): string | null => {
    if (config.worker) return (g.registration as ServiceWorkerRegistration | undefined)?.scope ?? null;
    return scopes.get(manager) ?? null;
  };
  const noScope = () =>
    Promise.reject(new DOMException("Subscription failed - no active Service Worker", "AbortError"));

  const keyText = (key: unknown): string | null => {
    if (key === undefined || key === null) return null;
    if (typeof key === "string") return key;
    if (key instanceof ArrayBuffer) return toBase64url(new Uint8Array(key));
    if (ArrayBuffer.isView(key))
      return toBase64url(new Uint8Array(key.buffer, key.byteOffset, key.byteLength));
    throw new TypeError(
      "Failed to execute 'subscribe' on 'PushManager': The provided value is not of type '(ArrayBuffer or ArrayBufferView or DOMString)'.",
    );
  };

  if (PM) {
    const define = (name: string, fn: (this: object, ...args: unknown[]) => Promise<unknown>) =>
      patch(PM.prototype, name, { writable: true, value: fn });
    define("subscribe", function (this: object, options?: unknown) {
      const scope = scopeOf(this);
      if (!scope) return noScope();
      const given = (options ?? {}) as { applicationServerKey?: unknown; userVisibleOnly?: unknown };
      let key: string | null;
      try {
        key = keyText(given.applicationServerKey);
      } catch (error) {
        return Promise.reject(error);
      }
      return request({
        op: "subscribe",
        scope,
        key,
        userVisibleOnly: given.userVisibleOnly === true,
        permission: readPermission(),
      }).then((value) => makeSubscription(value as SubscriptionValue, scope));
    });
    define("getSubscription", function (this: object) {
      const scope = scopeOf(this);
      if (!scope) return Promise.resolve(null);
      return request({ op: "getSubscription", scope }).then((value) =>
        value ? makeSubscription(value as SubscriptionValue, scope) : null,
      );
    });
    define("permissionState", function (this: object) {
      const scope = scopeOf(this);
      if (!scope) return Promise.resolve(readPermission());
      return request({ op: "permissionState", scope, permission: readPermission() });
    });
  }

  // ---- push events (service worker): marked data decoded, handlers' settling reported
  const extensions = new WeakMap<object, Promise<unknown>[]>();
  const synthetic = new WeakSet<object>();
  const Extendable = g.ExtendableEvent as (new (type: string) => Event) | undefined;
  if (config.worker && Extendable) {
    const wait = original(Extendable.prototype, "waitUntil")?.value as Method | undefined;
    patch(Extendable.prototype, "waitUntil", {
      writable: true,
      value: function (this: object, promise: unknown) {
        const list = extensions.get(this) ?? [];
        extensions.set(this, list);
        list.push(Promise.resolve(promise));
        if (synthetic.has(this)) return undefined;
        return wait?.call(this, promise);
      },
    });
  }
  const settled = async (event: object): Promise<boolean> => {
    let ok = true;
    let seen = 0;
    for (;;) {
      const list = extensions.get(event) ?? [];
      if (list.length === seen) return ok;
      const batch = list.slice(seen);
      seen = list.length;
      for (const result of await Promise.allSettled(batch)) if (result.status === "rejected") ok = false;
    }
  };

  const DataCtor = g.PushMessageData as { prototype: object } | undefined;
  const PushEventCtor = g.PushEvent as { prototype: object } | undefined;
  const dataBytes = new WeakMap<object, Uint8Array>();
  const decoded = new WeakMap<object, { delivery: string; data: object | null }>();
  const textOf = DataCtor ? (original(DataCtor.prototype, "text")?.value as Method | undefined) : undefined;
  const dataGetter = PushEventCtor ? (original(PushEventCtor.prototype, "data")?.get as Accessor) : undefined;
  const decode = (event: object): { delivery: string; data: object | null } | null => {
    const known = decoded.get(event);
    if (known) return known;
    const raw = dataGetter?.call(event) as object | null | undefined;
    const text = raw && textOf ? String(textOf.call(raw)) : "";
    if (!text.startsWith(config.marker)) return null;
    const [delivery = "", body = "-"] = text.slice(config.marker.length).split(":");
    let data: object | null = null;
    if (body !== "-" && DataCtor) {
      data = Object.create(DataCtor.prototype) as object;
      dataBytes.set(data, new Uint8Array(fromBase64url(body)));
    }
    const result = { delivery, data };
    decoded.set(event, result);
    return result;
  };
  if (config.worker && PushEventCtor && DataCtor && dataGetter) {
    patch(PushEventCtor.prototype, "data", {
      get(this: object) {
        const result = decode(this);
        return result ? result.data : dataGetter.call(this);
      },
    });
    const dataMethod = (name: string, fn: (bytes: Uint8Array) => unknown) => {
      const own = original(DataCtor.prototype, name)?.value as Method | undefined;
      if (!own) return;
      patch(DataCtor.prototype, name, {
        writable: true,
        value: function (this: object, ...args: unknown[]) {
          const bytes = dataBytes.get(this);
          return bytes ? fn(bytes) : own.apply(this, args);
        },
      });
    };
    dataMethod("arrayBuffer", (bytes) => bytes.slice().buffer);
    dataMethod("bytes", (bytes) => bytes.slice());
    dataMethod("blob", (bytes) => new Blob([bytes.slice()]));
    dataMethod("text", (bytes) => new TextDecoder().decode(bytes));
    dataMethod("json", (bytes) => JSON.parse(new TextDecoder().decode(bytes)));
    (g.addEventListener as (type: string, fn: (event: Event) => void) => void)("push", (event) => {
      const result = decode(event);
      if (!result) return;
      // After the dispatch: every listener has run and called waitUntil by then.
      setTimeout(() => {
        void settled(event).then((ok) => send({ op: "pushDone", delivery: result.delivery, ok }));
      }, 0);
    });
  }

  // ---- pushsubscriptionchange (service worker), dispatched on the bridge's command
  let changeHandler: unknown = null;
  const nativeChangeHandler = "onpushsubscriptionchange" in g;
  if (config.worker && !nativeChangeHandler) {
    patch(g, "onpushsubscriptionchange", {
      get: () => changeHandler,
      set: (value: unknown) => {
        changeHandler = typeof value === "function" ? value : null;
      },
    });
  }
  const dispatchChange = async (old: SubscriptionValue | null): Promise<boolean> => {
    if (!Extendable) return false;
    const event = new Extendable("pushsubscriptionchange");
    synthetic.add(event);
    const scope = scopeOf({}) ?? "";
    Object.defineProperty(event, "oldSubscription", { value: old ? makeSubscription(old, scope) : null });
    Object.defineProperty(event, "newSubscription", { value: null });
    (g.dispatchEvent as (event: Event) => boolean)(event);
    if (!nativeChangeHandler && typeof changeHandler === "function") {
      (changeHandler as (event: Event) => void).call(g, event);
    }
    return settled(event);
  };

  // ---- the bridge's way in
  const errorOf = (reply: Extract<ShimReply, { ok: false }>) =>
    reply.name === "TypeError" ? new TypeError(reply.message) : new DOMException(reply.message, reply.name);
  Object.defineProperty(g, config.answer, {
    enumerable: false,
    configurable: false,
    writable: false,
    value: (command: ShimCommand): unknown => {
      if (command.op === "permission") return readPermission();
      if (command.op === "change") return dispatchChange(command.oldSubscription);
      if (command.op === "detach") {
        for (const [proto, name, own] of replaced.reverse()) {
          if (own) Object.defineProperty(proto, name, own);
          else delete (proto as Record<string, unknown>)[name];
        }
        for (const waiter of pending.values())
          waiter.reject(new DOMException("Registration failed - push service not available", "AbortError"));
        pending.clear();
        return true;
      }
      const reply = command.reply;
      const waiter = pending.get(reply.id);
      if (!waiter) return false;
      pending.delete(reply.id);
      if (reply.ok) waiter.resolve(reply.value);
      else waiter.reject(errorOf(reply));
      return true;
    },
  });

  // ---- tell the bridge; pages also report permission changes while open
  const readyScope = config.worker ? scopeOf({}) : null;
  send({ op: "ready", scope: readyScope, permission: readPermission() });
  const permissions = (g.navigator as Navigator | undefined)?.permissions;
  if (!config.worker && permissions && PM) {
    permissions.query({ name: "notifications" }).then(
      (status) =>
        status.addEventListener("change", () => send({ op: "permission", permission: readPermission() })),
      () => {},
    );
  }
}
