/** The wall-clock wake check: one shared timer per interval, gone when the last detector stops. */

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { WAKE_SLACK, WakeDetector } from "../../src/service/wake.ts";
import { ScriptedServer } from "../helpers/scripted-server.ts";
import { newService } from "../helpers/service.ts";

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "Date"] });
});

afterEach(() => {
  vi.useRealTimers();
});

describe("WakeDetector", () => {
  it("shares one timer among detectors of the same interval and leaves none once all stop", () => {
    const detectors = Array.from({ length: 50 }, () => new WakeDetector(10_000, () => {}));
    const other = new WakeDetector(20_000, () => {});
    for (const detector of detectors) detector.start();
    other.start();
    expect(vi.getTimerCount()).toBe(2);
    expect(WakeDetector.activeTimers).toBe(2);
    for (const detector of detectors.slice(1)) detector.stop();
    expect(vi.getTimerCount()).toBe(2);
    detectors[0]!.stop();
    other.stop();
    other.stop();
    expect(vi.getTimerCount()).toBe(0);
    expect(WakeDetector.activeTimers).toBe(0);
    new WakeDetector(0, () => {}).start();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("tells every started detector of a clock jump, and only those started before it", () => {
    const gaps: [string, number][] = [];
    const a = new WakeDetector(10_000, (gap) => gaps.push(["a", gap]));
    const b = new WakeDetector(10_000, (gap) => gaps.push(["b", gap]));
    const stopped = new WakeDetector(10_000, (gap) => gaps.push(["stopped", gap]));
    a.start();
    b.start();
    stopped.start();
    vi.advanceTimersByTime(600_000);
    expect(gaps).toEqual([]);
    stopped.stop();
    // An hour asleep: the clock jumps, the timer has not run.
    vi.setSystemTime(Date.now() + 3_600_000);
    const late = new WakeDetector(10_000, (gap) => gaps.push(["late", gap]));
    late.start();
    vi.advanceTimersByTime(10_000);
    expect(gaps).toEqual([
      ["a", 3_610_000],
      ["b", 3_610_000],
    ]);
    // A jump just within the slack is no sleep.
    gaps.length = 0;
    vi.setSystemTime(Date.now() + WAKE_SLACK - 1);
    vi.advanceTimersByTime(10_000);
    expect(gaps).toEqual([]);
    for (const detector of [a, b, late]) detector.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("PushService and the shared wake check", () => {
  it("services share one wake-check timer and leave none behind once all have stopped", async () => {
    vi.useRealTimers();
    const server = await ScriptedServer.start();
    try {
      const services = Array.from({ length: 3 }, () => newService(server.url).service);
      for (const service of services) {
        await service.start();
        const connection = await server.nextConnection();
        await connection.acceptHello(`5f3a4bd7a48d4a3a9b7e1d4a1c0fbb1${services.indexOf(service)}`);
        await service.ready();
      }
      expect(WakeDetector.activeTimers).toBe(1);
      await services[0]!.stop();
      expect(WakeDetector.activeTimers).toBe(1);
      await Promise.all(services.slice(1).map((service) => service.stop()));
      expect(WakeDetector.activeTimers).toBe(0);
    } finally {
      await server.close();
    }
  });
});
