/** The in-memory store must pass the same contract as the durable ones, packed keys or not. */

import { describe, expect, it } from "vitest";
import { generateKeys } from "../../src/crypto/keys.ts";
import { createMemoryStorage, openMemoryPushDB } from "../../src/db/memory.ts";
import type { PushRecord } from "../../src/db/push-db.ts";
import { pushDBContract } from "./contract.ts";
import { bytes, makeRecord } from "./records.ts";

pushDBContract("memory", async () => {
  const storage = createMemoryStorage();
  let db = openMemoryPushDB(storage);
  return {
    db,
    reopen: async () => {
      db = openMemoryPushDB(storage);
      return db;
    },
    cleanup: async () => {
      await db.close();
    },
  };
});

/** The store's packed key string, or null when the record keeps its keys as given. */
function packedKeysOf(stored: PushRecord): string | null {
  const keys = (stored as unknown as { keys: unknown }).keys;
  return typeof keys === "string" ? keys : null;
}

describe("memory store: packed key material", () => {
  async function freshRecord(n: number): Promise<PushRecord> {
    const keys = await generateKeys();
    return makeRecord(n, {
      p256dhPublicKey: keys.publicKey,
      p256dhPrivateKey: keys.privateKey,
      authenticationSecret: keys.authSecret,
      appServerKey: bytes(65, n),
      recentMessageIDs: ["m2", "m1"],
    });
  }

  it("keeps generated keys packed and hands them out exactly as they went in", async () => {
    const storage = createMemoryStorage();
    const db = openMemoryPushDB(storage);
    const record = await freshRecord(1);
    await db.put(record);
    // Packed: one string of public key, auth secret and scalar; the stored record still reads whole.
    const stored = storage.records.get("channel-1")!;
    expect(packedKeysOf(stored)).toHaveLength(65 + 16 + 32);
    expect(stored.p256dhPrivateKey).toStrictEqual(record.p256dhPrivateKey);
    expect(stored.authenticationSecret).toStrictEqual(record.authenticationSecret);
    const got = (await db.getByChannelID("channel-1"))!;
    expect(got).toStrictEqual(record);
    expect(Object.keys(got.p256dhPrivateKey!)).toEqual(["kty", "crv", "d", "x", "y"]);
    got.p256dhPublicKey!.fill(0);
    got.authenticationSecret!.fill(0);
    got.p256dhPrivateKey!.d = "changed";
    expect(await db.getByChannelID("channel-1")).toStrictEqual(record);
    // Reopened, updated, listed, deleted: the same record every way out.
    const reopened = openMemoryPushDB(storage);
    const updated = await reopened.update("channel-1", (r) => ({ ...r, pushCount: 1 }));
    expect(updated).toStrictEqual({ ...record, pushCount: 1 });
    expect(await reopened.getAll()).toStrictEqual([{ ...record, pushCount: 1 }]);
    expect(await reopened.delete("channel-1")).toStrictEqual({ ...record, pushCount: 1 });
  });

  it("keeps key material of any other shape as given", async () => {
    const storage = createMemoryStorage();
    const db = openMemoryPushDB(storage);
    const base = await freshRecord(2);
    const jwk = base.p256dhPrivateKey!;
    const variants: PushRecord[] = [
      // x that is not the public key's, d with padding, extra fields, another order
      { ...base, channelID: "a", scope: "https://a.example/", p256dhPrivateKey: { ...jwk, x: jwk.y } },
      { ...base, channelID: "b", scope: "https://b.example/", p256dhPrivateKey: { ...jwk, d: `${jwk.d}=` } },
      { ...base, channelID: "c", scope: "https://c.example/", p256dhPrivateKey: { ...jwk, ext: true } },
      {
        ...base,
        channelID: "d",
        scope: "https://d.example/",
        p256dhPrivateKey: { x: jwk.x, y: jwk.y, d: jwk.d, kty: jwk.kty, crv: jwk.crv },
      },
      { ...base, channelID: "e", scope: "https://e.example/", authenticationSecret: bytes(12, 3) },
    ];
    for (const record of variants) await db.put(record);
    for (const record of variants) {
      expect(packedKeysOf(storage.records.get(record.channelID)!)).toBeNull();
      const got = (await db.getByChannelID(record.channelID))!;
      expect(got).toStrictEqual(record);
      expect(Object.keys(got.p256dhPrivateKey!)).toEqual(Object.keys(record.p256dhPrivateKey!));
    }
  });
});
