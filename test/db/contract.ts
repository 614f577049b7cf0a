/**
 * The PushDB contract as a reusable vitest suite: every store (IndexedDB, LevelDB, an
 * embedder's own) must pass it. `open` gives a fresh empty store; `reopen` opens the same
 * storage again after the suite closed the previous handle; `cleanup` closes whatever is still
 * open and removes the storage.
 */

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { PushDB, PushRecord } from "../../src/db/push-db.ts";
import { bytes, makeRecord, sampleJwk } from "./records.ts";

export interface PushDBHarness {
  db: PushDB;
  reopen(): Promise<PushDB>;
  cleanup(): Promise<void>;
}

const byChannel = (a: PushRecord, b: PushRecord) => a.channelID.localeCompare(b.channelID);
const channelIDs = (records: PushRecord[]) => records.map((r) => r.channelID).sort();

export function pushDBContract(name: string, open: () => Promise<PushDBHarness>): void {
  describe(`PushDB contract: ${name}`, () => {
    let harness: PushDBHarness;
    let db: PushDB;

    beforeEach(async () => {
      harness = await open();
      db = harness.db;
    });

    afterEach(async () => {
      await harness.cleanup();
    });

    async function reopen(): Promise<PushDB> {
      await db.close();
      db = await harness.reopen();
      return db;
    }

    describe("records", () => {
      it("finds a record by channelID and by scope, and nothing for unknown keys", async () => {
        const record = makeRecord(1);
        await db.put(record);
        expect(await db.getByChannelID("channel-1")).toStrictEqual(record);
        expect(await db.getByScope(record.scope)).toStrictEqual(record);
        expect(await db.getByChannelID("channel-2")).toBeUndefined();
        expect(await db.getByScope("https://unknown.example.com/")).toBeUndefined();
      });

      it("rejects a second channelID for a scope with ConstraintError and keeps the first", async () => {
        const first = makeRecord(1);
        await db.put(first);
        const clash = makeRecord(2, { scope: first.scope });
        await expect(db.put(clash)).rejects.toMatchObject({ name: "ConstraintError" });
        expect(await db.getByChannelID("channel-2")).toBeUndefined();
        expect(await db.getByScope(first.scope)).toStrictEqual(first);
      });

      it("lets exactly one of two concurrent puts claim a scope", async () => {
        const scope = "https://contested.example.com/";
        const results = await Promise.allSettled([
          db.put(makeRecord(1, { scope })),
          db.put(makeRecord(2, { scope })),
        ]);
        const failures = results.filter((r) => r.status === "rejected");
        expect(failures).toHaveLength(1);
        expect(failures[0]).toMatchObject({ reason: { name: "ConstraintError" } });
        expect(await db.getAll()).toHaveLength(1);
        expect((await db.getByScope(scope))?.scope).toBe(scope);
      });

      it("replaces a record by channelID and moves the scope index with it", async () => {
        await db.put(makeRecord(1));
        const moved = makeRecord(1, { scope: "https://moved.example.com/", pushCount: 3 });
        await db.put(moved);
        expect(await db.getByChannelID("channel-1")).toStrictEqual(moved);
        expect(await db.getByScope("https://moved.example.com/")).toStrictEqual(moved);
        expect(await db.getByScope(makeRecord(1).scope)).toBeUndefined();
        // The old scope is free for another subscription.
        await db.put(makeRecord(2, { scope: makeRecord(1).scope }));
        expect((await db.getByScope(makeRecord(1).scope))?.channelID).toBe("channel-2");
      });

      it("re-puts the same record idempotently", async () => {
        await db.put(makeRecord(1));
        await db.put(makeRecord(1));
        expect(await db.getAll()).toHaveLength(1);
      });

      it("rejects an invalid record with TypeError and stores nothing", async () => {
        await expect(db.put(makeRecord(1, { scope: "" }))).rejects.toBeInstanceOf(TypeError);
        await expect(db.put(makeRecord(2, { quota: -1 }))).rejects.toBeInstanceOf(TypeError);
        await expect(db.put(makeRecord(3, { channelID: "" }))).rejects.toBeInstanceOf(TypeError);
        expect(await db.getAll()).toEqual([]);
      });

      it("lists every record, and only unexpired ones (quota 0 out, Infinity in)", async () => {
        await db.put(makeRecord(1, { quota: 16 }));
        await db.put(makeRecord(2, { quota: 0 }));
        await db.put(makeRecord(3, { quota: Number.POSITIVE_INFINITY, systemRecord: true }));
        await db.put(makeRecord(4, { quota: 1 }));
        expect(channelIDs(await db.getAll())).toEqual(["channel-1", "channel-2", "channel-3", "channel-4"]);
        expect(channelIDs(await db.getAllUnexpired())).toEqual(["channel-1", "channel-3", "channel-4"]);
      });

      it("hands out copies: changing a returned record changes nothing stored", async () => {
        await db.put(makeRecord(1));
        const got = (await db.getByChannelID("channel-1"))!;
        got.pushCount = 99;
        got.recentMessageIDs.push("m1");
        got.p256dhPublicKey!.fill(0);
        expect(await db.getByChannelID("channel-1")).toStrictEqual(makeRecord(1));
      });

      it("stores many concurrent puts", async () => {
        const records = Array.from({ length: 40 }, (_, n) => makeRecord(n));
        await Promise.all(records.map((r) => db.put(r)));
        expect((await db.getAll()).sort(byChannel)).toStrictEqual(records.sort(byChannel));
      });
    });

    describe("update", () => {
      it("persists the change and resolves the new record", async () => {
        await db.put(makeRecord(1));
        const updated = await db.update("channel-1", (r) => ({
          ...r,
          pushCount: r.pushCount + 1,
          lastPush: 1_700_000_123_456,
          recentMessageIDs: ["m1", ...r.recentMessageIDs],
        }));
        expect(updated).toMatchObject({ pushCount: 1, recentMessageIDs: ["m1"] });
        expect(await db.getByChannelID("channel-1")).toStrictEqual(
          makeRecord(1, { pushCount: 1, lastPush: 1_700_000_123_456, recentMessageIDs: ["m1"] }),
        );
      });

      it("resolves null and leaves the record unchanged when fn returns null", async () => {
        await db.put(makeRecord(1));
        const result = await db.update("channel-1", (r) => {
          r.pushCount = 7; // mutating the argument must not leak into the store on abort
          return null;
        });
        expect(result).toBeNull();
        expect(await db.getByChannelID("channel-1")).toStrictEqual(makeRecord(1));
      });

      it("resolves undefined for an unknown channelID without calling fn", async () => {
        let called = false;
        const result = await db.update("nope", (r) => {
          called = true;
          return r;
        });
        expect(result).toBeUndefined();
        expect(called).toBe(false);
        expect(await db.getAll()).toEqual([]);
      });

      it("rejects and changes nothing when fn throws", async () => {
        await db.put(makeRecord(1));
        const boom = new Error("boom");
        await expect(
          db.update("channel-1", () => {
            throw boom;
          }),
        ).rejects.toBe(boom);
        expect(await db.getByChannelID("channel-1")).toStrictEqual(makeRecord(1));
        // The store still works after a failed update.
        await db.update("channel-1", (r) => ({ ...r, pushCount: 1 }));
        expect((await db.getByChannelID("channel-1"))?.pushCount).toBe(1);
      });

      it("rejects an update into another record's scope with ConstraintError", async () => {
        await db.put(makeRecord(1));
        await db.put(makeRecord(2));
        const taken = makeRecord(2).scope;
        await expect(db.update("channel-1", (r) => ({ ...r, scope: taken }))).rejects.toMatchObject({
          name: "ConstraintError",
        });
        expect(await db.getByChannelID("channel-1")).toStrictEqual(makeRecord(1));
        expect((await db.getByScope(taken))?.channelID).toBe("channel-2");
      });

      it("moves the scope index when an update changes the scope", async () => {
        await db.put(makeRecord(1));
        const scope = "https://new-scope.example.com/";
        await db.update("channel-1", (r) => ({ ...r, scope }));
        expect((await db.getByScope(scope))?.channelID).toBe("channel-1");
        expect(await db.getByScope(makeRecord(1).scope)).toBeUndefined();
        await db.put(makeRecord(2, { scope: makeRecord(1).scope }));
        expect((await db.getByScope(makeRecord(1).scope))?.channelID).toBe("channel-2");
      });

      it("moves the record when an update changes its channelID", async () => {
        await db.put(makeRecord(1));
        const moved = await db.update("channel-1", (r) => ({ ...r, channelID: "channel-1b" }));
        expect(moved?.channelID).toBe("channel-1b");
        expect(await db.getByChannelID("channel-1")).toBeUndefined();
        expect(await db.getByChannelID("channel-1b")).toStrictEqual(
          makeRecord(1, { channelID: "channel-1b" }),
        );
        expect((await db.getByScope(makeRecord(1).scope))?.channelID).toBe("channel-1b");
        expect(channelIDs(await db.getAll())).toEqual(["channel-1b"]);
      });

      it("does not lose increments under 50 concurrent updates", async () => {
        await db.put(makeRecord(1));
        const increment = (r: PushRecord) => ({ ...r, pushCount: r.pushCount + 1 });
        await Promise.all(Array.from({ length: 50 }, () => db.update("channel-1", increment)));
        expect((await db.getByChannelID("channel-1"))?.pushCount).toBe(50);
      });

      it("orders a put, updates and a delete on one key as issued", async () => {
        const increment = (r: PushRecord) => ({ ...r, pushCount: r.pushCount + 1 });
        const put = db.put(makeRecord(1));
        const first = db.update("channel-1", increment);
        const removed = db.delete("channel-1");
        const afterDelete = db.update("channel-1", increment);
        await put;
        expect((await first)?.pushCount).toBe(1);
        expect((await removed)?.pushCount).toBe(1);
        expect(await afterDelete).toBeUndefined();
        expect(await db.getByChannelID("channel-1")).toBeUndefined();
      });
    });

    describe("delete and clearIf", () => {
      it("deletes and returns the record, freeing its scope", async () => {
        const record = makeRecord(1);
        await db.put(record);
        expect(await db.delete("channel-1")).toStrictEqual(record);
        expect(await db.getByChannelID("channel-1")).toBeUndefined();
        expect(await db.getByScope(record.scope)).toBeUndefined();
        await db.put(makeRecord(2, { scope: record.scope }));
        expect((await db.getByScope(record.scope))?.channelID).toBe("channel-2");
      });

      it("resolves undefined when deleting an unknown channelID", async () => {
        expect(await db.delete("nope")).toBeUndefined();
      });

      it("clearIf removes and returns the matching records only", async () => {
        for (const n of [1, 2, 3, 4]) await db.put(makeRecord(n, { systemRecord: n % 2 === 0 }));
        const removed = await db.clearIf((r) => !r.systemRecord);
        expect(removed.sort(byChannel)).toStrictEqual([makeRecord(1), makeRecord(3)]);
        expect(channelIDs(await db.getAll())).toEqual(["channel-2", "channel-4"]);
        expect(await db.getByScope(makeRecord(1).scope)).toBeUndefined();
        expect(await db.clearIf(() => false)).toEqual([]);
        expect(channelIDs(await db.clearIf(() => true))).toEqual(["channel-2", "channel-4"]);
        expect(await db.getAll()).toEqual([]);
      });

      it("clearIf sees writes issued just before it", async () => {
        const puts = [1, 2, 3].map((n) => db.put(makeRecord(n)));
        const removed = await db.clearIf(() => true);
        await Promise.all(puts);
        expect(channelIDs(removed)).toEqual(["channel-1", "channel-2", "channel-3"]);
        expect(await db.getAll()).toEqual([]);
      });
    });

    describe("uaid and broadcasts", () => {
      it("stores, replaces and clears the uaid", async () => {
        expect(await db.getUAID()).toBeNull();
        await db.setUAID("5f8c2a4d0b1e4c3f9a7d6e5b4c3a2f1e");
        expect(await db.getUAID()).toBe("5f8c2a4d0b1e4c3f9a7d6e5b4c3a2f1e");
        await db.setUAID("0123456789abcdef0123456789abcdef");
        expect(await db.getUAID()).toBe("0123456789abcdef0123456789abcdef");
        await db.setUAID(null);
        expect(await db.getUAID()).toBeNull();
      });

      it("stores broadcast versions by id", async () => {
        expect(await db.getBroadcasts()).toEqual({});
        await db.setBroadcast("remote-settings/monitor_changes", '"1700000000000"');
        await db.setBroadcast("other", "v1");
        await db.setBroadcast("other", "v2");
        expect(await db.getBroadcasts()).toEqual({
          "remote-settings/monitor_changes": '"1700000000000"',
          other: "v2",
        });
      });

      it("keeps uaid and broadcasts apart from records", async () => {
        await db.setUAID("abc");
        await db.setBroadcast("b", "1");
        await db.put(makeRecord(1));
        expect(channelIDs(await db.clearIf(() => true))).toEqual(["channel-1"]);
        expect(await db.getUAID()).toBe("abc");
        expect(await db.getBroadcasts()).toEqual({ b: "1" });
      });
    });

    describe("values", () => {
      it("round-trips binary fields and the JWK byte-exact, also from views into larger buffers", async () => {
        const backing = bytes(200, 9);
        const record = makeRecord(1, {
          p256dhPublicKey: backing.subarray(10, 75),
          authenticationSecret: backing.subarray(100, 116),
          appServerKey: backing.subarray(120, 185),
        });
        await db.put(record);
        const got = (await db.getByChannelID("channel-1"))!;
        expect(got.p256dhPublicKey).toBeInstanceOf(Uint8Array);
        expect(got.p256dhPublicKey).toStrictEqual(new Uint8Array(backing.subarray(10, 75)));
        expect(got.authenticationSecret).toStrictEqual(new Uint8Array(backing.subarray(100, 116)));
        expect(got.appServerKey).toStrictEqual(new Uint8Array(backing.subarray(120, 185)));
        expect(got.p256dhPrivateKey).toStrictEqual(sampleJwk);
      });

      it("round-trips null keys (SimplePush records) and a legacy version", async () => {
        const record = makeRecord(1, {
          p256dhPublicKey: null,
          p256dhPrivateKey: null,
          authenticationSecret: null,
          appServerKey: null,
          version: 42,
        });
        await db.put(record);
        expect(await db.getByChannelID("channel-1")).toStrictEqual(record);
      });

      it("round-trips an Infinity quota", async () => {
        await db.put(makeRecord(1, { quota: Number.POSITIVE_INFINITY }));
        expect((await db.getByChannelID("channel-1"))?.quota).toBe(Number.POSITIVE_INFINITY);
        const updated = await db.update("channel-1", (r) => ({ ...r, pushCount: r.pushCount + 1 }));
        expect(updated?.quota).toBe(Number.POSITIVE_INFINITY);
        expect((await db.getAllUnexpired())[0]?.quota).toBe(Number.POSITIVE_INFINITY);
      });
    });

    describe("persistence", () => {
      it("keeps records, the scope index, uaid and broadcasts across close and reopen", async () => {
        const records = [
          makeRecord(1, { appServerKey: Uint8Array.of(4, ...bytes(64, 77)) }),
          makeRecord(2, { quota: Number.POSITIVE_INFINITY, systemRecord: true }),
          makeRecord(3, { quota: 0 }),
        ];
        for (const record of records) await db.put(record);
        await db.update("channel-1", (r) => ({ ...r, pushCount: 5, recentMessageIDs: ["m5", "m4"] }));
        await db.delete("channel-3");
        await db.setUAID("persisted-uaid");
        await db.setBroadcast("b1", "v7");

        const reopened = await reopen();
        const expected = [
          makeRecord(1, { ...records[0], pushCount: 5, recentMessageIDs: ["m5", "m4"] }),
          records[1]!,
        ];
        expect((await reopened.getAll()).sort(byChannel)).toStrictEqual(expected);
        expect(await reopened.getByScope(records[1]!.scope)).toStrictEqual(records[1]);
        expect(await reopened.getByScope(records[2]!.scope)).toBeUndefined();
        expect(channelIDs(await reopened.getAllUnexpired())).toEqual(["channel-1", "channel-2"]);
        expect(await reopened.getUAID()).toBe("persisted-uaid");
        expect(await reopened.getBroadcasts()).toEqual({ b1: "v7" });
        // The reopened index still enforces scope uniqueness.
        await expect(reopened.put(makeRecord(9, { scope: records[0]!.scope }))).rejects.toMatchObject({
          name: "ConstraintError",
        });
      });
    });
  });
}
