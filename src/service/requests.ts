/**
 * The reply-expecting requests of one connection (register, unregister), keyed by type and
 * channelID: a second identical request shares the first one's promise; each has a deadline of
 * requestTimeout from when it last went out; a sweep every requestTimeout finds the late ones
 * (Firefox's rule: from the first late request onwards, every later one fails too). The sweep is
 * also what notices an unanswered `{}`, so the connection decides what one tick does.
 */

import type { RegisterReply, UnregisterReply } from "../protocol/messages.ts";

export type ReplyType = "register" | "unregister";
export type Reply<T extends ReplyType> = T extends "register" ? RegisterReply : UnregisterReply;

export class RequestError extends Error {
  override name = "RequestError";
}

/** What the sweep calls every requestTimeout while it runs. */
export interface SweepTarget {
  sweep(): void;
}

interface PendingRequest {
  frame: string;
  /** When the frame last went out (or was queued): its deadline is this plus requestTimeout. */
  ctime: number;
  resolve(reply: RegisterReply | UnregisterReply): void;
  reject(error: Error): void;
  promise: Promise<RegisterReply | UnregisterReply>;
}

export class PendingRequests {
  readonly #requestTimeout: number;
  readonly #target: SweepTarget;
  /** Made with the first request, dropped with the last: an idle connection holds none. */
  #byKey: Map<string, PendingRequest> | null = null;
  #sweepTimer: ReturnType<typeof setInterval> | null = null;

  constructor(requestTimeout: number, target: SweepTarget) {
    this.#requestTimeout = requestTimeout;
    this.#target = target;
  }

  get size(): number {
    return this.#byKey?.size ?? 0;
  }

  /** The promise of an identical request already pending, if there is one. */
  existing<T extends ReplyType>(type: T, channelID: string): Promise<Reply<T>> | undefined {
    return this.#byKey?.get(requestKey(type, channelID))?.promise as Promise<Reply<T>> | undefined;
  }

  /** Track a new request (its frame is re-sent after every hello until answered) and run the sweep. */
  add<T extends ReplyType>(type: T, channelID: string, frame: string): Promise<Reply<T>> {
    const entry = deferredRequest(frame);
    this.#byKey ??= new Map();
    this.#byKey.set(requestKey(type, channelID), entry);
    this.startSweep();
    return entry.promise as Promise<Reply<T>>;
  }

  /** Settle the request a reply answers; false when no request waits for it. */
  settle(reply: RegisterReply | UnregisterReply): boolean {
    const key = requestKey(reply.type, reply.channelID);
    const request = this.#byKey?.get(key);
    if (!request) return false;
    this.#drop(key);
    request.resolve(reply);
    return true;
  }

  /** The frames to send again after a hello; their deadlines restart now. */
  framesToResend(now: number): string[] {
    const requests = this.#byKey ? [...this.#byKey.values()] : [];
    for (const request of requests) request.ctime = now;
    return requests.map((request) => request.frame);
  }

  /** Reject every request past its deadline, and every one after the first such; true if any. */
  expire(now: number): boolean {
    let timedOut = false;
    for (const [key, request] of this.#byKey ?? []) {
      if (!timedOut && now - request.ctime <= this.#requestTimeout) continue;
      timedOut = true;
      this.#drop(key);
      request.reject(new RequestError(`Request timed out: ${key}`));
    }
    return timedOut;
  }

  rejectAll(error: Error): void {
    const pending = this.#byKey ? [...this.#byKey.values()] : [];
    this.#byKey = null;
    for (const request of pending) request.reject(error);
  }

  startSweep(): void {
    if (this.#sweepTimer) return;
    this.#sweepTimer = setInterval(() => this.#target.sweep(), this.#requestTimeout);
  }

  stopSweep(): void {
    if (this.#sweepTimer) clearInterval(this.#sweepTimer);
    this.#sweepTimer = null;
  }

  /** Stop the sweep when nothing is left for it to watch. */
  stopSweepIfIdle(awaitingPingReply: boolean): void {
    if (!this.#byKey?.size && !awaitingPingReply) this.stopSweep();
  }

  /** An idle connection keeps no empty map. */
  #drop(key: string): void {
    this.#byKey?.delete(key);
    if (this.#byKey?.size === 0) this.#byKey = null;
  }
}

function requestKey(type: ReplyType, channelID: string): string {
  return `${type}|${channelID}`.toLowerCase();
}

function deferredRequest(frame: string): PendingRequest {
  let resolve!: (reply: RegisterReply | UnregisterReply) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<RegisterReply | UnregisterReply>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // The caller may never await a shared request; an unobserved rejection must not crash the host.
  promise.catch(() => {});
  return { frame, ctime: Date.now(), resolve, reject, promise };
}
