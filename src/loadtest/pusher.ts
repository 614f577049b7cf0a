/**
 * The load test's application server: encrypts a push for each subscription at the requested
 * rate and POSTs it, and matches what the agents receive against what was sent. Each payload
 * starts with a sequence number; the send time stays here, keyed by it, so latency is the time
 * from the POST to the agent's push-message observer.
 *
 * The VAPID Authorization header is made once per push-service origin and reused until near its
 * expiry, as a real application server does: signing a JWT per push would triple the sender's
 * CPU cost and make it, not the server, the bottleneck.
 *
 * One timer drives the schedule: every tick adds the pushes that fell due to a backlog, and the
 * backlog is worked off by at most `concurrency` POSTs at a time. A backlog over a second's worth
 * of pushes is dropped and counted as skipped: the sender (or the server) cannot keep up.
 */

import webpush from "web-push";
import { describeError } from "../log.ts";
import { buildRequest, type VapidDetails } from "../server/send.ts";
import type { ErrorLog } from "./error-log.ts";
import { LatencyHistogram } from "./histogram.ts";
import type { PostResult, PushPoster } from "./poster.ts";
import { untilSettled } from "./settled.ts";

/** What the sender needs of a subscription: its PushSubscription.toJSON() and its scope. */
export interface PushTarget {
  scope: string;
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export interface PusherOptions {
  /** ms between two pushes to the same subscription. */
  intervalMs: number;
  payloadBytes: number;
  /** POSTs in flight at most. */
  concurrency: number;
  /** Seconds the push service may keep a push for an agent that is offline. */
  ttl: number;
  vapid: VapidDetails | null;
  poster: PushPoster;
  errors: ErrorLog;
  now: () => number;
}

interface Pending {
  sentAt: number;
  scope: string;
  /** The push service answered 2xx: the push is owed to the agent. */
  accepted: boolean;
}

const TICK_MS = 20;
/** Lifetime of a VAPID JWT (RFC 8292 caps it at 24 h); renewed an hour before it ends. */
const VAPID_LIFETIME_S = 12 * 3600;
const VAPID_RENEW_S = 3600;

export class Pusher {
  /** POSTs answered 2xx. */
  sent = 0;
  /** Pushes that reached the right agent's observer, once each. */
  received = 0;
  /** POSTs refused (non-2xx) or failed on the network. */
  failed = 0;
  /** POSTs with no answer when the drain window ended (set by finish()). */
  inFlightAtEnd = 0;
  /** Pushes the schedule asked for but the sender was too far behind to send. */
  skipped = 0;
  /** Pushes seen a second time, after their POST failed, or with an unreadable payload. */
  unexpected = 0;
  /** Pushes delivered to another subscription than the one they were sent to. */
  misrouted = 0;
  readonly latency = new LatencyHistogram();
  readonly #options: PusherOptions;
  readonly #targets: PushTarget[] = [];
  readonly #pending = new Map<number, Pending>();
  #timer: ReturnType<typeof setInterval> | null = null;
  #lastTick = 0;
  #credit = 0;
  #due = 0;
  #cursor = 0;
  #nextSeq = 1;
  #inFlight = 0;
  /** Accepted by the push service and not yet received. */
  #owed = 0;
  #finished = false;
  #settledWaiter: (() => void) | null = null;
  readonly #vapidHeaders = new Map<string, { authorization: string; expires: number }>();

  constructor(options: PusherOptions) {
    this.#options = options;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Accepted pushes not (yet) received. */
  get owed(): number {
    return this.#owed;
  }

  /** A new subscription joins the schedule. */
  add(target: PushTarget): void {
    if (!this.#finished) this.#targets.push(target);
  }

  start(): void {
    this.#lastTick = this.#options.now();
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
  }

  /** No new pushes from now on; the ones in flight carry on. */
  stopSending(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#due = 0;
  }

  /** Resolves once every POST has its answer and every accepted push arrived, or after timeoutMs. */
  drain(timeoutMs: number): Promise<void> {
    this.stopSending();
    return untilSettled(
      () => this.#settled(),
      timeoutMs,
      (wake) => {
        this.#settledWaiter = wake;
      },
    );
  }

  /**
   * Freeze the counters: POSTs still running are in flight at the end (unfinished, neither
   * failed nor lost), later answers are ignored.
   */
  finish(): void {
    this.stopSending();
    if (this.#finished) return;
    this.#finished = true;
    this.inFlightAtEnd = this.#inFlight;
  }

  /** An agent's push-message observer saw `text` for `scope` at time `at`. */
  arrived(scope: string, text: string | null, at: number): void {
    if (this.#finished) return;
    const seq = sequenceOf(text);
    const entry = this.#pending.get(seq);
    if (!entry) {
      this.unexpected++;
      return;
    }
    this.#pending.delete(seq);
    if (entry.accepted) this.#owed--;
    if (entry.scope === scope) {
      this.received++;
      this.latency.record(at - entry.sentAt);
    } else {
      this.misrouted++;
      this.#options.errors.add("a push reached another subscription than the one it was sent to");
    }
    this.#checkSettled();
  }

  #tick(): void {
    const now = this.#options.now();
    const elapsed = now - this.#lastTick;
    this.#lastTick = now;
    const count = this.#targets.length;
    if (count === 0) return;
    this.#credit += (elapsed * count) / this.#options.intervalMs;
    const whole = Math.floor(this.#credit);
    this.#credit -= whole;
    this.#due += whole;
    const cap = Math.max(this.#options.concurrency, Math.ceil((count * 1000) / this.#options.intervalMs));
    if (this.#due > cap) {
      this.skipped += this.#due - cap;
      this.#due = cap;
    }
    this.#pump();
  }

  #pump(): void {
    while (this.#due > 0 && this.#inFlight < this.#options.concurrency && this.#timer) {
      this.#due--;
      const target = this.#targets[this.#cursor++ % this.#targets.length]!;
      this.#send(target);
    }
  }

  #send(target: PushTarget): void {
    const { payloadBytes, ttl, poster, errors, now } = this.#options;
    const seq = this.#nextSeq++;
    let request: ReturnType<typeof buildRequest>;
    try {
      request = buildRequest(target, payload(seq, payloadBytes), { TTL: ttl });
      const authorization = this.#vapidAuthorization(target.endpoint);
      if (authorization) request.headers.Authorization = authorization;
    } catch (error) {
      this.failed++;
      errors.add(`cannot encrypt a push: ${describeError(error)}`);
      return;
    }
    this.#pending.set(seq, { sentAt: now(), scope: target.scope, accepted: false });
    this.#inFlight++;
    poster.post(request).then(
      (result) => this.#answered(seq, result),
      (error) => this.#refused(seq, `POST failed: ${describeError(error)}`),
    );
  }

  /** The cached `vapid t=…, k=…` header for the endpoint's origin; null without VAPID. */
  #vapidAuthorization(endpoint: string): string | null {
    const vapid = this.#options.vapid;
    if (!vapid) return null;
    const audience = new URL(endpoint).origin;
    const nowS = Math.floor(Date.now() / 1000);
    const cached = this.#vapidHeaders.get(audience);
    if (cached && cached.expires - nowS > VAPID_RENEW_S) return cached.authorization;
    const expires = nowS + VAPID_LIFETIME_S;
    const { Authorization } = webpush.getVapidHeaders(
      audience,
      vapid.subject,
      vapid.publicKey,
      vapid.privateKey,
      "aes128gcm",
      expires,
    );
    this.#vapidHeaders.set(audience, { authorization: Authorization, expires });
    return Authorization;
  }

  #answered(seq: number, result: PostResult): void {
    if (this.#finished) return;
    if (result.status < 200 || result.status > 299) {
      const body = result.body.trim().split("\n")[0];
      this.#refused(seq, `push refused: ${result.status} ${result.statusText}${body ? `: ${body}` : ""}`);
      return;
    }
    this.#inFlight--;
    this.sent++;
    const entry = this.#pending.get(seq);
    if (entry) {
      entry.accepted = true;
      this.#owed++;
    }
    this.#pump();
    this.#checkSettled();
  }

  #refused(seq: number, message: string): void {
    if (this.#finished) return;
    this.#inFlight--;
    this.failed++;
    this.#pending.delete(seq);
    this.#options.errors.add(message);
    this.#pump();
    this.#checkSettled();
  }

  #settled(): boolean {
    return this.#inFlight === 0 && this.#owed === 0;
  }

  #checkSettled(): void {
    if (this.#settledWaiter && this.#settled()) this.#settledWaiter();
  }
}

function sequenceOf(text: string | null): number {
  const colon = text?.indexOf(":") ?? -1;
  return colon > 0 ? Number(text!.slice(0, colon)) : Number.NaN;
}

/** "<seq>:" padded with dots to `bytes` (the sequence number always fits: bytes ≥ 16). */
function payload(seq: number, bytes: number): string {
  const head = `${seq}:`;
  return head.length >= bytes ? head : head + ".".repeat(bytes - head.length);
}
