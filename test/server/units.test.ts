/**
 * The server's building blocks in isolation: token sealing (tamper-proof, key- and
 * purpose-bound), UUID forms, header clean-up and validation, VAPID header parsing, and the
 * store's read pointer.
 */

import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log.ts";
import { cleanCryptoHeader, HeaderError, parsePushHeaders } from "../../src/server/push-headers.ts";
import { MemoryStore, type Notification } from "../../src/server/store.ts";
import { TokenCodec } from "../../src/server/tokens.ts";
import { isCanonicalDashed, parseUuid } from "../../src/server/uuid.ts";
import { parseVapidHeader, VapidError, verifyVapidJwt } from "../../src/server/vapid.ts";

const UAID = "0123456789abcdef0123456789abcdef";
const CHID = "fedcba9876543210fedcba9876543210";

describe("TokenCodec", () => {
  it("round-trips v1 and v2 endpoint tokens", () => {
    const codec = new TokenCodec("secret");
    expect(codec.openEndpointToken(codec.endpointToken(UAID, CHID))).toEqual({
      uaid: UAID,
      chid: CHID,
      length: 32,
    });
    const v2 = codec.openEndpointToken(codec.endpointToken(UAID, CHID, new Uint8Array(65)));
    expect(v2?.length).toBe(64);
    expect(v2?.keyHash?.length).toBe(32);
  });

  it("makes a different token every time", () => {
    const codec = new TokenCodec(undefined);
    expect(codec.endpointToken(UAID, CHID)).not.toBe(codec.endpointToken(UAID, CHID));
  });

  it("rejects any altered token", () => {
    const codec = new TokenCodec(randomBytes(32));
    const token = Buffer.from(codec.endpointToken(UAID, CHID), "base64url");
    fc.assert(
      fc.property(fc.nat(token.length - 1), fc.integer({ min: 1, max: 255 }), (index, flip) => {
        const altered = Buffer.from(token);
        altered[index]! ^= flip;
        expect(codec.openEndpointToken(altered.toString("base64url"))).toBeNull();
      }),
    );
  });

  it("rejects tokens made with another key, garbage, and message ids used as endpoint tokens", () => {
    const codec = new TokenCodec("one");
    expect(new TokenCodec("two").openEndpointToken(codec.endpointToken(UAID, CHID))).toBeNull();
    expect(codec.openEndpointToken("$$$")).toBeNull();
    expect(codec.openEndpointToken("")).toBeNull();
    const messageId = codec.messageId({ uaid: UAID, chid: CHID, sortkey: 1 });
    expect(codec.openEndpointToken(messageId)).toBeNull();
    expect(codec.openMessageId(codec.endpointToken(UAID, CHID))).toBeNull();
  });

  it("round-trips topic and timestamp message ids", () => {
    const codec = new TokenCodec("k");
    expect(codec.openMessageId(codec.messageId({ uaid: UAID, chid: CHID, topic: "a-b_c==" }))).toEqual({
      uaid: UAID,
      chid: CHID,
      topic: "a-b_c==",
    });
    expect(
      codec.openMessageId(codec.messageId({ uaid: UAID, chid: CHID, sortkey: 1_700_000_000_123 })),
    ).toEqual({
      uaid: UAID,
      chid: CHID,
      sortkey: 1_700_000_000_123,
    });
  });
});

describe("UUIDs", () => {
  it("accepts the uuid crate's forms and normalises to 32 hex", () => {
    const dashed = "01234567-89ab-cdef-0123-456789abcdef";
    for (const form of [UAID, UAID.toUpperCase(), dashed, `{${dashed}}`, `urn:uuid:${dashed}`]) {
      expect(parseUuid(form)).toBe(UAID);
    }
    for (const bad of ["", "xyz", `${UAID}0`, "01234567-89ab-cdef-0123-456789abcdeg"])
      expect(parseUuid(bad)).toBeNull();
  });

  it("requires register channelIDs in lower-case dashed form", () => {
    expect(isCanonicalDashed("01234567-89ab-cdef-0123-456789abcdef")).toBe(true);
    expect(isCanonicalDashed("01234567-89AB-cdef-0123-456789abcdef")).toBe(false);
    expect(isCanonicalDashed(UAID)).toBe(false);
  });
});

describe("push headers", () => {
  it("removes quotes and padding before , ; or the end", () => {
    expect(cleanCryptoHeader('keyid="a";salt="XZw-Aw=="')).toBe("keyid=a;salt=XZw-Aw");
    expect(cleanCryptoHeader("dh=abc=,p256ecdsa=def==")).toBe("dh=abc,p256ecdsa=def");
  });

  const headers = (values: Record<string, string>) => (name: string) => values[name];

  it("checks TTL before encryption, and encryption before negative TTL and Topic", () => {
    const errno = (values: Record<string, string>, hasData = true) => {
      try {
        parsePushHeaders(headers(values), hasData);
        return 0;
      } catch (err) {
        return (err as HeaderError).errno;
      }
    };
    expect(errno({ "content-encoding": "nope" })).toBe(111);
    expect(errno({ ttl: "-1", "content-encoding": "nope" })).toBe(110);
    expect(errno({ ttl: "-1", topic: "!", "content-encoding": "aes128gcm" })).toBe(114);
    expect(errno({ ttl: "1", topic: "!" }, false)).toBe(113);
    expect(
      errno({ ttl: "1", "content-encoding": "aesgcm", encryption: "salt=a", "encryption-key": "x" }),
    ).toBe(110);
    expect(errno({ ttl: "1" }, false)).toBe(0);
  });

  it("passes only the encryption headers that were sent", () => {
    const parsed = parsePushHeaders(headers({ ttl: "5", "content-encoding": "aes128gcm" }), true);
    expect(parsed).toEqual({ ttl: 5, topic: undefined, notificationHeaders: { encoding: "aes128gcm" } });
    expect(() => parsePushHeaders(headers({}), false)).toThrow(HeaderError);
  });
});

describe("VAPID header parsing", () => {
  const key = Buffer.concat([Buffer.from([4]), randomBytes(64)]).toString("base64url");

  it("reads the three schemes", () => {
    expect(parseVapidHeader(`vapid t=a.b.c, k=${key}`, undefined)).toMatchObject({
      scheme: "vapid",
      token: "a.b.c",
    });
    expect(parseVapidHeader("WebPush a.b.c", `dh=x;p256ecdsa=${key}`)).toMatchObject({
      scheme: "webpush",
      token: "a.b.c",
    });
    expect(parseVapidHeader("bearer a.b.c", `p256ecdsa="${key}="`)).toMatchObject({ scheme: "bearer" });
    expect(parseVapidHeader(undefined, undefined)).toBeUndefined();
  });

  it("rejects other schemes and malformed keys", () => {
    expect(() => parseVapidHeader("Basic abc", undefined)).toThrow(VapidError);
    expect(() => parseVapidHeader("vapid", undefined)).toThrow(VapidError);
    expect(() => parseVapidHeader("vapid t=a.b.c,k=AAAA", undefined)).toThrow(VapidError);
    expect(() => parseVapidHeader("WebPush a.b.c", "dh=abc")).toThrow(VapidError);
  });

  it("rejects a claimed key that is not on P-256 before checking the signature", () => {
    const offCurve = new Uint8Array(65);
    offCurve[0] = 4;
    offCurve[64] = 1;
    const head = Buffer.from(JSON.stringify({ alg: "ES256", typ: "JWT" })).toString("base64url");
    const vapid = { scheme: "vapid" as const, token: `${head}.e30.${"A".repeat(86)}`, publicKey: offCurve };
    expect(() => verifyVapidJwt(vapid, "http://127.0.0.1", 0)).toThrow("not on the P-256 curve");
  });
});

describe("MemoryStore", () => {
  const note = (sortkey: number, extra: Partial<Notification> = {}): Notification => ({
    chid: CHID,
    version: `v${sortkey}`,
    ttl: 60,
    timestamp: 0,
    sortkey,
    ...extra,
  });

  it("reads batches after the pointer and forgets what the pointer passed", () => {
    const store = new MemoryStore(1000, silentLogger);
    store.addUser(UAID).channels.add(CHID);
    for (let i = 1; i <= 12; i++) store.save(UAID, note(i));
    expect(store.fetchTimestampMessages(UAID).map((n) => n.sortkey)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(store.fetchTimestampMessages(UAID, 10).map((n) => n.sortkey)).toEqual([11, 12]);
    store.incrementStorage(UAID, 10);
    expect(store.counts().storedMessages).toBe(2);
    expect(store.fetchTimestampMessages(UAID).map((n) => n.sortkey)).toEqual([11, 12]);
  });

  it("refuses messages for unknown channels and bounds each user's storage", () => {
    const store = new MemoryStore(3, silentLogger);
    expect(store.save(UAID, note(1))).toBeUndefined();
    store.addUser(UAID).channels.add(CHID);
    for (let i = 1; i <= 5; i++) store.save(UAID, note(i));
    expect(store.fetchTimestampMessages(UAID).map((n) => n.sortkey)).toEqual([3, 4, 5]);
  });

  it("sweeps expired messages", () => {
    const store = new MemoryStore(10, silentLogger);
    store.addUser(UAID).channels.add(CHID);
    store.save(UAID, note(1, { ttl: 10 }));
    store.save(UAID, note(2, { ttl: 10, topic: "t" }));
    store.save(UAID, note(3, { ttl: 100 }));
    expect(store.sweepExpired(10)).toBe(2);
    expect(store.counts().storedMessages).toBe(1);
  });
});
