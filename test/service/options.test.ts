/**
 * PushService options: every duration, count and size has a range; a value outside it fails at
 * construction with one line that names the option, and the largest allowed durations still
 * behave (no timer overflows to 1 ms).
 */

import { afterEach, describe, expect, it, vi } from "vitest";
import { createMemoryStorage, openMemoryPushDB } from "../../src/db/memory.ts";
import { MAX_TIMER_DELAY, OPTION_RANGES, resolveOptions, timerDelay } from "../../src/service/options.ts";
import { PushService, type PushServiceOptions } from "../../src/service/push-service.ts";
import { FakeWebSocket } from "../helpers/fake-socket.ts";
import { captureLogger } from "../helpers/logger.ts";

const UAID = "5f3a4bd7a48d4a3a9b7e1d4a1c0fbb11";
const SERVER = "wss://push.example/";

type Ranged = keyof typeof OPTION_RANGES;

function build(name: string, value: unknown): () => PushService {
  return () =>
    new PushService({ serverURL: SERVER, db: openMemoryPushDB(createMemoryStorage()), [name]: value });
}

describe("option ranges", () => {
  const names = Object.keys(OPTION_RANGES) as Ranged[];

  it.each(names)("%s: the bounds are accepted, one past them is a RangeError naming it", (name) => {
    const [min, max] = OPTION_RANGES[name];
    expect(build(name, min)).not.toThrow();
    expect(build(name, max)).not.toThrow();
    const step = Number.isInteger(min) ? 1 : 0.5;
    for (const bad of [min - step, max + 1, max * 2 + 5]) {
      if (name === "wakeCheckInterval" && bad === 0) continue; // 0 means "off"
      const error = captureThrow(build(name, bad));
      expect(error, `${name} = ${bad}`).toBeInstanceOf(RangeError);
      expect(error.message).toMatch(new RegExp(`^${name} must be .*got ${bad}$`));
      expect(error.message).not.toContain("\n");
    }
  });

  it.each(names)("%s: a value of the wrong kind is a TypeError naming it", (name) => {
    for (const bad of ["1000", Number.NaN, {}, true]) {
      const error = captureThrow(build(name, bad));
      expect(error, `${name} = ${String(bad)}`).toBeInstanceOf(TypeError);
      expect(error.message.startsWith(`${name} must be`)).toBe(true);
    }
  });

  it("durations stop below 2^31 ms: the issue's requestTimeout 2^31 + 5 is refused", () => {
    for (const [, max] of Object.values(OPTION_RANGES)) expect(max).toBeLessThanOrEqual(MAX_TIMER_DELAY);
    for (const name of ["requestTimeout", "pingInterval", "retryBaseInterval", "connectTimeout"] as const) {
      expect(captureThrow(build(name, 2 ** 31 + 5)).message).toBe(
        `${name} must be from 1 to ${OPTION_RANGES[name][1]} ms, got ${2 ** 31 + 5}`,
      );
    }
    expect(() => build("requestTimeout", Number.POSITIVE_INFINITY)()).toThrow(RangeError);
  });

  it("timerDelay keeps a delay computed at run time (from what a server did) below 2^31 ms", () => {
    expect(timerDelay(2 ** 40)).toBe(MAX_TIMER_DELAY);
    expect(timerDelay(-5)).toBe(0);
    expect(timerDelay(1_500)).toBe(1_500);
  });

  it("wakeCheckInterval is 0 (off) or at least a second", () => {
    expect(build("wakeCheckInterval", 0)).not.toThrow();
    expect(captureThrow(build("wakeCheckInterval", 10)).message).toBe(
      "wakeCheckInterval must be 0 (off) or from 1000 to 3600000 ms, got 10",
    );
  });

  it("the new options have their documented defaults", () => {
    const resolved = resolveOptions({ logger: captureLogger() });
    expect(resolved.observerTimeout).toBe(300_000);
    expect(resolved.maxHeldMessages).toBe(1_000);
    expect(resolved.maxHeldBytes).toBe(4 * 1024 * 1024);
    expect(resolved.maxHandshakeFrames).toBe(1_000);
  });
});

describe("the largest durations", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("a service with every duration at its maximum becomes Ready and does not time out early", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
    FakeWebSocket.reset();
    const logger = captureLogger();
    const options: PushServiceOptions = {
      serverURL: SERVER,
      WebSocket: FakeWebSocket,
      db: openMemoryPushDB(createMemoryStorage()),
      logger,
      requestTimeout: OPTION_RANGES.requestTimeout[1],
      retryBaseInterval: OPTION_RANGES.retryBaseInterval[1],
      pingInterval: OPTION_RANGES.pingInterval[1],
      connectTimeout: OPTION_RANGES.connectTimeout[1],
      wakeCheckInterval: OPTION_RANGES.wakeCheckInterval[1],
      observerTimeout: OPTION_RANGES.observerTimeout[1],
    };
    const service = new PushService(options);
    try {
      await service.start();
      const socket = FakeWebSocket.last;
      socket.open();
      await vi.advanceTimersByTimeAsync(0);
      // The server answers 59 minutes later: no deadline has fired by then.
      await vi.advanceTimersByTimeAsync(59 * 60_000);
      expect(service.state).toBe("WaitingForHello");
      expect(FakeWebSocket.instances).toHaveLength(1);
      socket.receive({ messageType: "hello", uaid: UAID, status: 200, use_webpush: true });
      await vi.advanceTimersByTimeAsync(0);
      expect(service.state).toBe("Ready");
      expect(logger.text()).not.toMatch(/reconnecting/);
    } finally {
      await service.stop();
    }
  });
});

function captureThrow(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a throw");
}
