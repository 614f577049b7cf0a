/**
 * Hostile input, the server URL: ws:// is refused for any host that is not loopback, however the
 * URL is dressed up (userinfo, trailing dots, look-alike names, backslashes), unless
 * allowInsecureServerURL; ws:// to real loopback forms and wss:// anywhere are accepted. The
 * general rule (test/service) is checked here against tricks and generated hostnames.
 */

import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { openMemoryPushDB } from "../../src/db/memory.ts";
import { PushService } from "../../src/service/push-service.ts";
import { ReliabilityLog } from "../faults/support/report.ts";

const log = new ReliabilityLog("insecure-url");
afterAll(() => log.write());

/** 1 if `fn` throws anything but the TypeError a refused URL gets (an escaped exception), else 0. */
function untyped(fn: () => unknown): number {
  try {
    fn();
    return 0;
  } catch (error) {
    return error instanceof TypeError ? 0 : 1;
  }
}

const make = (serverURL: string, allowInsecureServerURL = false) =>
  new PushService({ serverURL, db: openMemoryPushDB(), allowInsecureServerURL });

const TRICKS = [
  "ws://push.example.com/",
  "ws://127.0.0.1.evil.example/",
  "ws://localhost.evil.example/",
  "ws://127.0.0.1@evil.example/",
  "ws://127.0.0.1:80@evil.example/",
  "ws://localhost:443@evil.example/",
  "ws://evil.example\\@127.0.0.1/",
  "ws://evil.example#@127.0.0.1/",
  "ws://evil.example?@127.0.0.1/",
  "ws://localhost./",
  "ws://0.0.0.0/",
  "ws://[::ffff:7f00:1]/",
  "ws://10.0.0.1/",
  "ws://192.168.1.1/",
  "ws://[fe80::1]/",
  "WS://EVIL.EXAMPLE/",
  "ws://xn--lcalhost-4ya.example/",
];

const LOOPBACK = [
  "ws://127.0.0.1:8080/",
  "ws://localhost/",
  "ws://[::1]:9/",
  "ws://127.255.0.1/",
  "ws://2130706433/",
  "ws://LOCALHOST/",
];

describe("hostile input: ws:// server URLs", () => {
  it("refuses ws:// to every non-loopback host however it is written, unless allowInsecureServerURL", () => {
    for (const url of TRICKS) {
      expect(() => make(url), url).toThrow(/allowInsecureServerURL/);
      expect(() => make(url, true), url).not.toThrow();
    }
    for (const url of LOOPBACK) expect(() => make(url), url).not.toThrow();
    for (const url of [
      "http://127.0.0.1/",
      "https://push.example/",
      "ftp://push.example/",
      "not a url",
      "javascript:alert(1)",
    ]) {
      expect(() => make(url, true), url).toThrow(TypeError);
    }
  });

  it("refuses ws:// to generated domain names and non-loopback IPv4 addresses", () => {
    let generated = 0;
    let escaped = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.domain(),
          fc.ipV4().filter((ip) => !ip.startsWith("127.")),
          fc
            .ipV6()
            .filter((ip) => ip !== "::1" && !/^0*:?(0*:)*0*:?0*1$/.test(ip))
            .map((ip) => `[${ip}]`),
        ),
        fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
        (host, port) => {
          const url = `ws://${host}${port ? `:${port}` : ""}/`;
          const hostname = new URL(url).hostname;
          fc.pre(hostname !== "localhost" && hostname !== "[::1]" && !/^127\./.test(hostname));
          generated++;
          escaped += untyped(() => make(url)) + untyped(() => make(url.replace("ws://", "wss://")));
          expect(() => make(url), url).toThrow(/allowInsecureServerURL/);
          expect(() => make(url.replace("ws://", "wss://"))).not.toThrow();
        },
      ),
      { numRuns: 300 },
    );
    log.add({
      id: "H4",
      category: "hostile",
      title: "ws:// server URLs to non-loopback hosts (tricks + generated domains, IPv4, IPv6)",
      runs: TRICKS.length + generated,
      sent: 0,
      delivered: 0,
      duplicated: 0,
      lost: 0,
      crashes: escaped,
      notes: `all refused without allowInsecureServerURL (userinfo, trailing dot, look-alikes, backslash, 0.0.0.0, IPv4-mapped IPv6 included); ${LOOPBACK.length} loopback forms and wss:// accepted`,
    });
  });
});
