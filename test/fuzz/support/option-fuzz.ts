/**
 * Option fuzz: PushService options over their whole space. Values outside the documented ranges
 * must be refused at construction with one line naming the option; every combination of allowed
 * values drives a service against a scripted autopush (FakeAutopush) for a simulated day under
 * fake timers, with drops and pushes at random times. The server always answers in time, so no
 * combination may make the client open more connections or send more frames per hour than the
 * server's own events explain, leave a ready() unsettled, or leave a push unacked at the end.
 */

import fc from "fast-check";
import { expect, vi } from "vitest";
import { OPTION_RANGES } from "../../../src/service/options.ts";
import type { PushServiceOptions } from "../../../src/service/push-service.ts";
import { CrashCounter } from "../../faults/support/report.ts";
import { FakeAutopush } from "../../helpers/fake-autopush.ts";
import { FAKE_TIMERS, fakeService, startAndSubscribe, until } from "../../helpers/fake-service.ts";

const HOUR = 3_600_000;
const DAY_HOURS = 24;
/** autoconnect's floor between `{}` pings: at most this many per hour on one socket, plus one. */
const PINGS_PER_HOUR = Math.ceil(HOUR / 45_000);

type Ranged = keyof typeof OPTION_RANGES;

/** Edges, defaults-ish values and anything in between, integers and fractions where allowed. */
function inRange(name: Ranged): fc.Arbitrary<number> {
  const [min, max] = OPTION_RANGES[name];
  const whole = fc.oneof(fc.constantFrom(min, max, Math.min(max, min + 1)), fc.integer({ min, max }));
  const fractional = name.endsWith("Timeout") || name.endsWith("Interval");
  if (!fractional || name === "wakeCheckInterval") return whole;
  return fc.oneof(whole, fc.double({ min, max, noNaN: true }));
}

export const optionsArb: fc.Arbitrary<PushServiceOptions> = fc.record(
  {
    requestTimeout: inRange("requestTimeout"),
    retryBaseInterval: inRange("retryBaseInterval"),
    pingInterval: inRange("pingInterval"),
    connectTimeout: inRange("connectTimeout"),
    // A check every second is 86,400 timer runs a day: allowed, and drawn, but not most of the time.
    wakeCheckInterval: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(0, 10_000, OPTION_RANGES.wakeCheckInterval[1]) },
      { weight: 1, arbitrary: inRange("wakeCheckInterval") },
    ),
    observerTimeout: inRange("observerTimeout"),
    maxRecentMessageIDs: inRange("maxRecentMessageIDs"),
    maxHeldMessages: fc.oneof(fc.integer({ min: 0, max: 20 }), inRange("maxHeldMessages")),
    maxHeldBytes: inRange("maxHeldBytes"),
    maxHandshakeFrames: inRange("maxHandshakeFrames"),
    quotaUpdateDelay: inRange("quotaUpdateDelay"),
  },
  { requiredKeys: [] },
);

interface DayEvent {
  at: number;
  kind: "drop" | "push";
}

export interface DayPlan {
  options: PushServiceOptions;
  /** ms the server takes for every answer, before it is bounded by the client's deadlines. */
  latency: number;
  /** The app observes push-message from this hour on (0: from the start); earlier pushes are held. */
  observerFromHour: number;
  events: DayEvent[];
}

const eventArb = (kind: DayEvent["kind"]) =>
  fc.integer({ min: 60_000, max: (DAY_HOURS - 1) * HOUR - 1 }).map((at) => ({ at, kind }));

export const dayPlanArb: fc.Arbitrary<DayPlan> = fc.record({
  options: optionsArb,
  latency: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5_000 })),
  observerFromHour: fc.constantFrom(0, 0, 2),
  events: fc
    .tuple(fc.array(eventArb("drop"), { maxLength: 30 }), fc.array(eventArb("push"), { maxLength: 120 }))
    .map(([drops, pushes]) => [...drops, ...pushes].sort((a, b) => a.at - b.at)),
});

export interface DayStats {
  runs: number;
  hours: number;
  pushes: number;
  /** Distinct pushes the app received. */
  delivered: number;
  /** Deliveries beyond the first of a push (a re-send after a drop before the ack went out). */
  duplicated: number;
  connections: number;
  maxConnectionsPerHour: number;
  maxFramesPerHour: number;
  maxReadyWait: number;
  crashes: number;
}

export function emptyDayStats(): DayStats {
  return {
    runs: 0,
    hours: 0,
    pushes: 0,
    delivered: 0,
    duplicated: 0,
    connections: 0,
    maxConnectionsPerHour: 0,
    maxFramesPerHour: 0,
    maxReadyWait: 0,
    crashes: 0,
  };
}

const hourOf = (at: number) => Math.floor(at / HOUR);

/** One simulated day; throws (an expect) on the first broken bound. */
export async function runDay(plan: DayPlan, stats: DayStats): Promise<void> {
  vi.useFakeTimers({ toFake: [...FAKE_TIMERS], now: 0 });
  const crashes = new CrashCounter().install();
  const { options } = plan;
  const requestTimeout = options.requestTimeout ?? 10_000;
  const connectTimeout = options.connectTimeout ?? 20_000;
  // The server answers, and in time: within half of the shorter client deadline.
  const latency = Math.min(plan.latency, Math.floor(Math.min(requestTimeout, connectTimeout) / 2));
  const server = new FakeAutopush({ latency });
  const harness = fakeService(options, server);
  const { service } = harness;
  const delivered = new Set<string>();
  let deliveries = 0;
  const readyWaits: number[] = [];
  try {
    const channelID = await startAndSubscribe(harness, "https://options.example/");
    const observe = () =>
      service.observe("push-message", ({ messageId }) => {
        deliveries++;
        delivered.add(messageId);
      });
    if (plan.observerFromHour === 0) observe();
    let observing = plan.observerFromHour === 0;
    let pushes = 0;
    const waits: Promise<void>[] = [];
    const schedule = [...plan.events, { at: (DAY_HOURS - 1) * HOUR, kind: "drop" as const }];
    for (const event of schedule) {
      if (!observing && event.at >= plan.observerFromHour * HOUR) {
        await vi.advanceTimersByTimeAsync(plan.observerFromHour * HOUR - Date.now());
        observe();
        observing = true;
      }
      await vi.advanceTimersByTimeAsync(Math.max(0, event.at - Date.now()));
      if (event.kind === "push") {
        server.notify(channelID, `v${pushes++}`);
        continue;
      }
      server.drop();
      const since = Date.now();
      waits.push(service.ready().then(() => void readyWaits.push(Date.now() - since)));
    }
    await vi.advanceTimersByTimeAsync(DAY_HOURS * HOUR - Date.now());
    const where = `${JSON.stringify(plan.options)}, latency ${latency} ms`;
    // The last drop was at 23:00 and a backoff is at most an hour: by 25:00 all is settled.
    await until(
      () => readyWaits.length === waits.length && service.state === "Ready" && server.unacked.size === 0,
      2 * HOUR - 1,
      1_000,
    ).catch(() => {});
    expect(readyWaits.length, `ready() calls that never settled, ${where}`).toBe(waits.length);
    expect(service.state, where).toBe("Ready");
    expect(server.unacked.size, `pushes never acked, ${where}`).toBe(0);
    const drops = schedule.filter((e) => e.kind === "drop").map((e) => e.at);
    expect(delivered.size, where).toBe(pushes);
    const perHour = checkHours(server, drops, where);
    expect(crashes.total, String(crashes.errors.at(-1))).toBe(0);

    stats.runs++;
    stats.hours += DAY_HOURS;
    stats.pushes += pushes;
    stats.delivered += delivered.size;
    stats.duplicated += deliveries - delivered.size;
    stats.connections += server.sockets.length;
    stats.maxConnectionsPerHour = Math.max(stats.maxConnectionsPerHour, perHour.connections);
    stats.maxFramesPerHour = Math.max(stats.maxFramesPerHour, perHour.frames);
    stats.maxReadyWait = Math.max(stats.maxReadyWait, ...readyWaits);
  } finally {
    crashes.uninstall();
    stats.crashes += crashes.total;
    await service.stop();
    vi.useRealTimers();
  }
}

/**
 * Per hour: connections only for drops (this hour's, or the last hour's whose backoff ran into
 * this one) plus the first; one hello per connection; `{}` pings within autoconnect's floor; one
 * register for the day. Acks (and at most one nack each) never outnumber, up to any hour, twice
 * the notifications the server sent until then: held messages are acked when the app observes.
 */
function checkHours(
  server: FakeAutopush,
  drops: number[],
  where: string,
): { connections: number; frames: number } {
  expect(server.framesOf("hello").length, `hellos, ${where}`).toBe(server.sockets.length);
  let maxConnections = 0;
  let maxFrames = 0;
  let acksSoFar = 0;
  for (let hour = 0; hour <= DAY_HOURS; hour++) {
    const inHour = (at: number) => hourOf(at) === hour;
    const connections = server.sockets.filter((s) => inHour(s.openedAt)).length;
    const dropsNear = drops.filter((at) => inHour(at) || hourOf(at) === hour - 1).length;
    const frames = server.sent.filter((s) => inHour(s.at));
    const count = (type: string | undefined) => frames.filter((s) => s.frame.messageType === type).length;
    const notificationsSoFar = server.notificationTimes.filter((at) => hourOf(at) <= hour).length;
    const acks = count("ack") + count("nack");
    acksSoFar += acks;
    const label = `hour ${hour}, ${where}`;
    expect(connections, `connections in ${label}`).toBeLessThanOrEqual(dropsNear + (hour === 0 ? 1 : 0));
    // A socket opened in the last instant of an hour says hello in the next.
    expect(count("hello"), `hellos in ${label}`).toBeLessThanOrEqual(connections + 1);
    expect(count(undefined), `pings in ${label}`).toBeLessThanOrEqual(PINGS_PER_HOUR + connections);
    expect(acksSoFar, `acks up to ${label}`).toBeLessThanOrEqual(2 * notificationsSoFar);
    expect(frames.length - acks, `other frames in ${label}`).toBeLessThanOrEqual(
      2 * connections + 1 + PINGS_PER_HOUR + (hour === 0 ? 1 : 0),
    );
    maxConnections = Math.max(maxConnections, connections);
    maxFrames = Math.max(maxFrames, frames.length);
  }
  return { connections: maxConnections, frames: maxFrames };
}

/** Anything at all for one option: in range or not, numbers or not. */
export const anyValueArb = fc.record({
  name: fc.constantFrom(...(Object.keys(OPTION_RANGES) as Ranged[])),
  value: fc.oneof(
    fc.double(),
    fc.integer(),
    fc.constantFrom(2 ** 31 + 5, 2 ** 31, 2 ** 31 - 1, -1, 0, 0.5, Number.MAX_SAFE_INTEGER, -0),
    fc.string({ maxLength: 6 }),
    fc.boolean(),
    fc.constant({}),
  ),
});
