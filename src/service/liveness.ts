/**
 * Liveness of one connection's socket: the `{}` ping after pingInterval of inbound silence (never
 * closer than autoconnect's 45 s floor), the probe that checks a socket at once (a WebSocket ping
 * where the runtime has one, else a `{}` if the floor allows, else a reconnect), the watch on the
 * server's own WebSocket pings, and the wall-clock wake hook. It owns those timers only; the
 * socket, the state and reconnecting stay with the connection, reached through LivenessHost.
 */

import type { Logger } from "../log.ts";
import { PING_FRAME } from "../protocol/messages.ts";
import type { Transport } from "../transport/websocket.ts";
import { WakeDetector } from "./wake.ts";

/**
 * autoconnect closes a connection (1011 "SM", ExcessivePing) whose `{}` pings come less than
 * 45 s apart, so no `{}` ping goes out sooner than this after the previous one on a socket.
 */
export const MIN_PING_INTERVAL = 45_000;

/** What liveness sends on a socket: a text frame, or a WebSocket ping (false where there is none). */
export type LivenessSocket = Pick<Transport, "send" | "ping">;

/** What liveness may ask of the connection it watches. */
export interface LivenessHost {
  /** The connection is Ready (the handshake is done). */
  readonly isReady: boolean;
  /** The current socket (open or opening), null between sockets. */
  readonly socket: LivenessSocket | null;
  /** Check the connection at once (the connection's public probe). */
  probe(why: string): void;
  /** Close and reconnect after the backoff. */
  reconnect(): void;
  /** Close and reconnect at once with the backoff reset. */
  reconnectNow(): void;
  /** Run the timeout sweep, which also notices an unanswered `{}`. */
  startSweep(): void;
}

export interface LivenessOptions {
  requestTimeout: number;
  pingInterval: number;
  /** ms between wall-clock checks for a sleep; 0 disables. */
  wakeCheckInterval?: number;
  logger: Logger;
}

export class Liveness {
  readonly #host: LivenessHost;
  readonly #options: LivenessOptions;
  /** pingInterval raised to the 45 s floor. */
  readonly #pingInterval: number;
  /** When the outstanding `{}` went out; 0 when none waits for an answer. */
  #pingAwaitingReplySince = 0;
  /** When the last `{}` went out on the current socket (0: none yet): the 45 s floor. */
  #lastPingSentAt = 0;
  #pingTimer: ReturnType<typeof setTimeout> | null = null;
  /** Set while a probe waits for any answer. */
  #probeTimer: ReturnType<typeof setTimeout> | null = null;
  /** Server WebSocket pings seen on this socket: their period, once two were seen. */
  #lastServerPingAt = 0;
  #serverPingPeriod = 0;
  #serverPingTimer: ReturnType<typeof setTimeout> | null = null;
  readonly #wake: WakeDetector;

  constructor(options: LivenessOptions, host: LivenessHost) {
    this.#options = options;
    this.#host = host;
    this.#wake = new WakeDetector(options.wakeCheckInterval ?? 0, (gap) =>
      host.probe(`the clock jumped ${Math.round(gap / 1000)} s (woke up?)`),
    );
    this.#pingInterval = Math.max(options.pingInterval, MIN_PING_INTERVAL);
    if (options.pingInterval < MIN_PING_INTERVAL) {
      options.logger.warn(
        `push: pingInterval ${options.pingInterval} ms is below autoconnect's ${MIN_PING_INTERVAL} ms floor for {} pings; pinging after ${MIN_PING_INTERVAL} ms of silence (the reconnect backoff still caps at ${options.pingInterval} ms)`,
      );
    }
  }

  /** Watch the wall clock for a sleep (from the first connect until shutdown). */
  startWakeWatch(): void {
    this.#wake.start();
  }

  stopWakeWatch(): void {
    this.#wake.stop();
  }

  /** A `{}` went out and waits for an answer: the sweep keeps running for it. */
  get awaitingPingReply(): boolean {
    return this.#pingAwaitingReplySince !== 0;
  }

  /** The outstanding `{}` has had no answer for longer than requestTimeout. */
  pingReplyOverdue(now: number): boolean {
    return (
      this.#pingAwaitingReplySince !== 0 && now - this.#pingAwaitingReplySince > this.#options.requestTimeout
    );
  }

  /** The socket is gone: every timer of the old socket stops, and the floor starts afresh. */
  reset(): void {
    this.#pingAwaitingReplySince = 0;
    this.#lastPingSentAt = 0;
    this.#clearProbe();
    this.#clearServerPingWatch();
    this.#clearPingTimer();
  }

  /** A Ready socket is checked: a WebSocket ping, else a `{}` if the floor allows, else reconnect. */
  probeReady(why: string, socket: LivenessSocket): void {
    if (this.#probeTimer) return;
    const { logger, requestTimeout } = this.#options;
    const sent = socket.ping() || this.#sendPingNowIfAllowed();
    if (!sent) {
      logger.info(`push: ${why}; a {} ping went out under ${MIN_PING_INTERVAL} ms ago, so reconnecting`);
      this.#host.reconnectNow();
      return;
    }
    logger.debug(`push: ${why}; checking the connection`);
    this.#probeTimer = setTimeout(() => {
      this.#probeTimer = null;
      logger.info(`push: no answer within ${requestTimeout} ms after ${why}; reconnecting`);
      this.#host.reconnectNow();
    }, requestTimeout);
  }

  /** Any text frame at all answers an outstanding `{}`, even one that does not parse. */
  textReceived(): void {
    this.#pingAwaitingReplySince = 0;
    this.#alive();
  }

  /**
   * A WebSocket ping or pong frame (Node `ws`). Server pings come every auto_ping_interval; once
   * two were seen, their absence for 1.5 periods plus requestTimeout triggers a probe, which
   * finds a dead socket long before pingInterval (30 min by default) would.
   */
  controlReceived(kind: "ping" | "pong"): void {
    if (kind === "ping") {
      const now = Date.now();
      if (this.#lastServerPingAt) this.#serverPingPeriod = now - this.#lastServerPingAt;
      this.#lastServerPingAt = now;
    }
    this.#alive();
  }

  /** The next `{}` after pingInterval of silence, and never sooner than the floor after the last one. */
  armPing(): void {
    this.#clearPingTimer();
    const sinceLast = this.#lastPingSentAt ? Date.now() - this.#lastPingSentAt : Number.POSITIVE_INFINITY;
    const delay = Math.max(this.#pingInterval, MIN_PING_INTERVAL - sinceLast);
    this.#pingTimer = setTimeout(() => this.#sendPing(), delay);
  }

  /** Anything from the server proves the socket alive: a probe is answered, the ping watch re-armed. */
  #alive(): void {
    this.#clearProbe();
    this.#armServerPingWatch();
  }

  #clearProbe(): void {
    if (this.#probeTimer) clearTimeout(this.#probeTimer);
    this.#probeTimer = null;
  }

  #sendPingNowIfAllowed(): boolean {
    const socket = this.#host.socket;
    if (!socket) return false;
    if (this.#lastPingSentAt && Date.now() - this.#lastPingSentAt < MIN_PING_INTERVAL) return false;
    this.#clearPingTimer();
    this.#lastPingSentAt = Date.now();
    return socket.send(PING_FRAME);
  }

  #armServerPingWatch(): void {
    if (this.#serverPingTimer) clearTimeout(this.#serverPingTimer);
    this.#serverPingTimer = null;
    if (!this.#serverPingPeriod || !this.#host.isReady) return;
    const deadline = Math.round(this.#serverPingPeriod * 1.5 + this.#options.requestTimeout);
    this.#serverPingTimer = setTimeout(() => {
      this.#serverPingTimer = null;
      this.#host.probe(`no server ping for ${deadline} ms`);
    }, deadline);
  }

  #clearServerPingWatch(): void {
    if (this.#serverPingTimer) clearTimeout(this.#serverPingTimer);
    this.#serverPingTimer = null;
    this.#lastServerPingAt = 0;
    this.#serverPingPeriod = 0;
  }

  #clearPingTimer(): void {
    if (this.#pingTimer) clearTimeout(this.#pingTimer);
    this.#pingTimer = null;
  }

  #sendPing(): void {
    this.#pingTimer = null;
    const socket = this.#host.socket;
    if (!socket) return;
    this.#host.startSweep();
    this.#pingAwaitingReplySince = Date.now();
    this.#lastPingSentAt = this.#pingAwaitingReplySince;
    if (!socket.send(PING_FRAME)) this.#host.reconnect();
  }
}
