/**
 * Stuck observers: push-message observers that never settle, at random messages of a stream on
 * one channel. Each stuck one must be given up at observerTimeout (nack 303, logged) and the
 * channel's next message must go on, so every message reaches the app in order and is acked 100
 * once. Under fake timers; the seed is printed, SEED= replays a schedule.
 */

import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FAKE_TIMERS, fakeService, startAndSubscribe, until } from "../helpers/fake-service.ts";
import { CrashCounter, ReliabilityLog, SLOW, seededRandom, testSeed } from "./support/report.ts";

const log = new ReliabilityLog("stuck-observer");
afterAll(() => log.write());

const OBSERVER_TIMEOUT = 2_000;

beforeEach(() => {
  vi.useFakeTimers({ toFake: [...FAKE_TIMERS] });
});

afterEach(() => {
  vi.useRealTimers();
});

describe("stuck push-message observers", () => {
  it("a handler that never settles is given up at observerTimeout; the channel goes on", async () => {
    const seed = testSeed();
    const random = seededRandom(seed);
    const count = SLOW ? 1_000 : 120;
    const crashes = new CrashCounter().install();
    const harness = fakeService({ observerTimeout: OBSERVER_TIMEOUT });
    const { service, server, logger } = harness;
    try {
      const channelID = await startAndSubscribe(harness, "https://stuck.example/");
      const versions = Array.from({ length: count }, (_, i) => `m${i}`);
      const stuck = new Set(versions.filter(() => random() < 0.2));
      const received: string[] = [];
      service.observe("push-message", ({ messageId }) => {
        received.push(messageId);
        if (stuck.has(messageId)) return new Promise(() => {});
        // Well-behaved handlers take a while too, some longer than others.
        return new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 500)));
      });
      for (const version of versions) expect(server.notify(channelID, version)).toBe(true);
      await until(() => server.acks().size === count, (count + 10) * OBSERVER_TIMEOUT, 100);

      const acks = server.acks();
      const nacks = server.nacks();
      const context = `seed ${seed} (SEED=${seed} replays it)`;
      expect(received, context).toEqual(versions);
      for (const version of versions) expect(acks.get(version), `${version}, ${context}`).toEqual([100]);
      for (const version of versions) {
        expect(nacks.get(version), `${version}, ${context}`).toEqual(stuck.has(version) ? [303] : undefined);
      }
      const timeouts = logger.lines.filter(
        (l) => l.level === "error" && /did not settle within/.test(l.message),
      );
      expect(timeouts).toHaveLength(stuck.size);
      expect(crashes.total).toBe(0);

      const delivered = new Set(received).size;
      log.add({
        id: "F8",
        category: "fault",
        title: `push-message observers that never settle, at random messages of one channel (observerTimeout ${OBSERVER_TIMEOUT} ms, fake timers)`,
        runs: stuck.size,
        sent: count,
        delivered,
        duplicated: received.length - delivered,
        lost: count - delivered,
        crashes: crashes.total,
        notes: `${stuck.size} stuck handlers, each nacked 303 and given up after ${OBSERVER_TIMEOUT} ms; ${[...acks.values()].filter((c) => c[0] === 100).length} acked 100; delivered in order; seed ${seed}`,
      });
    } finally {
      crashes.uninstall();
      await service.stop();
    }
  });
});
