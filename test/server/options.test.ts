/**
 * createPushServer's options: every number has a range (OPTION_RANGES); inside it the value is
 * kept, outside it (or of the wrong type) resolveOptions throws one RangeError/TypeError line
 * naming the option. Durations stay below 2^31 ms, where a Node timer would fire after 1 ms.
 * The property test walks the whole space; a server with the extreme allowed values starts.
 */

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  MAX_DURATION_MS,
  OPTION_RANGES,
  type PushServerOptions,
  resolveOptions,
} from "../../src/server/options.ts";
import { connectHello, startServer, TestClient } from "./helpers.ts";

type NumberOption = keyof typeof OPTION_RANGES;
const NAMES = Object.keys(OPTION_RANGES) as NumberOption[];

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a throw");
}

describe("ranges", () => {
  it("keeps every duration below 2^31 ms", () => {
    for (const name of [
      "handshakeTimeout",
      "autoPingInterval",
      "autoPingTimeout",
      "megaphonePollInterval",
      "stateRetryInterval",
    ] as const) {
      expect(OPTION_RANGES[name].max).toBe(MAX_DURATION_MS);
      const error = thrown(() => resolveOptions({ [name]: 2 ** 31 + 5 }));
      expect(error).toBeInstanceOf(RangeError);
      expect(error.message).toBe(`${name} must be a number 1-2147483647, got 2147483653`);
    }
  });

  it.each([
    [{ port: -1 }, RangeError, /^port must be a whole number 0-65535, got -1$/],
    [{ port: 80.5 }, RangeError, /^port must be a whole number/],
    [{ msgLimit: 0 }, RangeError, /^msgLimit must be a whole number 1-2147483647, got 0$/],
    [{ maxDataBytes: 2 ** 20 + 1 }, RangeError, /^maxDataBytes must be a whole number 1-1048576/],
    [{ maxStoredPerUser: Number.POSITIVE_INFINITY }, RangeError, /^maxStoredPerUser must be/],
    [{ maxUnackedDirect: 100_001 }, RangeError, /^maxUnackedDirect must be a whole number 1-100000/],
    [{ minPingInterval: -1 }, RangeError, /^minPingInterval must be a number 0-2147483647/],
    [{ handshakeTimeout: Number.NaN }, TypeError, /^handshakeTimeout must be a number, got NaN$/],
    [{ autoPingInterval: "300000" }, TypeError, /^autoPingInterval must be a number, got "300000"$/],
    [{ host: "" }, RangeError, /^host must not be empty$/],
    [{ host: 8080 }, TypeError, /^host must be a string, got 8080$/],
    [{ echoSubprotocol: "yes" }, TypeError, /^echoSubprotocol must be a boolean/],
    [{ endpointURL: "ftp://x/" }, RangeError, /^endpointURL must be http\(s\)$/],
    [{ megaphoneURL: "not a url" }, RangeError, /^megaphoneURL is not a valid URL$/],
    [{ broadcasts: { a: 1 } }, TypeError, /^broadcasts\.a must be a string version$/],
    [{ cryptoKey: 42 }, TypeError, /^cryptoKey must be a string or a Uint8Array/],
    [{ now: 5 }, TypeError, /^now must be a function/],
    [{ logger: { info() {} } }, TypeError, /^logger must have debug, info, warn and error methods$/],
  ] as [Record<string, unknown>, typeof Error, RegExp][])(
    "refuses %j with one line",
    (options, type, message) => {
      const error = thrown(() => resolveOptions(options as PushServerOptions));
      expect(error).toBeInstanceOf(type);
      expect(error.message).toMatch(message);
      expect(error.message).not.toContain("\n");
    },
  );

  it("keeps any value inside every range and refuses any outside, naming the option", () => {
    const value = (name: NumberOption) => {
      const { min, max, integer } = OPTION_RANGES[name];
      const inside = integer ? fc.integer({ min, max }) : fc.double({ min, max, noNaN: true });
      const outside = fc.oneof(
        fc.double({ min: max, max: Number.MAX_VALUE, noNaN: true, minExcluded: true }),
        fc.double({ min: -Number.MAX_VALUE, max: min, noNaN: true, maxExcluded: true }),
        fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
        ...(integer ? [fc.double({ min, max, noNaN: true }).filter((v) => !Number.isInteger(v))] : []),
      );
      return fc.record({ name: fc.constant(name), value: fc.oneof(inside, outside) });
    };
    fc.assert(
      fc.property(fc.oneof(...NAMES.map(value)), ({ name, value }) => {
        const { min, max, integer } = OPTION_RANGES[name];
        const allowed = value >= min && value <= max && (!integer || Number.isInteger(value));
        if (allowed) {
          expect(resolveOptions({ [name]: value })[name]).toBe(value);
        } else {
          const error = thrown(() => resolveOptions({ [name]: value }));
          expect(error.name).toMatch(/^(RangeError|TypeError)$/);
          expect(error.message.startsWith(`${name} must be`)).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("starts with the largest allowed values of every duration and count", async () => {
    const extremes: PushServerOptions = {};
    for (const name of NAMES) {
      if (name !== "port" && name !== "endpointPort")
        Object.assign(extremes, { [name]: OPTION_RANGES[name].max });
    }
    const server = await startServer(extremes);
    // A timer overflowed past 2^31 ms would fire at once: the idle socket would be closed 1011.
    const idle = await TestClient.connect(server.url);
    const { client } = await connectHello(server);
    await client.subscribe();
    await client.barrier();
    expect(await idle.hello()).toMatchObject({ messageType: "hello", status: 200 });
    expect(server.stats().connections).toBe(2);
  });
});
