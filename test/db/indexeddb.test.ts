/**
 * The IndexedDB store on fake-indexeddb: the PushDB contract plus what is specific to it
 * (factory injection, database names, compact binary storage).
 */

import {
  IDBCursor,
  IDBCursorWithValue,
  IDBDatabase,
  IDBFactory,
  IDBIndex,
  IDBObjectStore,
  IDBOpenDBRequest,
  IDBRequest,
  IDBTransaction,
} from "fake-indexeddb";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { openIndexedDBPushDB } from "../../src/db/indexeddb.ts";
import type { PushDB } from "../../src/db/push-db.ts";
import { pushDBContract } from "./contract.ts";
import { bytes, makeRecord } from "./records.ts";

// idb recognises IndexedDB objects by the global classes, as a browser has them; install
// fake-indexeddb's classes but not a global `indexedDB`, so every factory is an explicit one.
const idbClasses = {
  IDBFactory,
  IDBCursor,
  IDBCursorWithValue,
  IDBDatabase,
  IDBIndex,
  IDBObjectStore,
  IDBOpenDBRequest,
  IDBRequest,
  IDBTransaction,
};
beforeAll(() => {
  Object.assign(globalThis, idbClasses);
});
afterAll(() => {
  for (const name of Object.keys(idbClasses)) Reflect.deleteProperty(globalThis, name);
});

pushDBContract("IndexedDB (fake-indexeddb)", async () => {
  // A fresh factory per test isolates tests; reopen uses the same one, like a page reload.
  const factory = new IDBFactory();
  let current = await openIndexedDBPushDB({ indexedDB: factory });
  return {
    db: current,
    reopen: async () => {
      current = await openIndexedDBPushDB({ indexedDB: factory });
      return current;
    },
    cleanup: () => current.close(),
  };
});

describe("openIndexedDBPushDB", () => {
  const opened: PushDB[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((db) => db.close()));
  });

  it("rejects with a clear message when the runtime has no IndexedDB and none is passed", async () => {
    expect((globalThis as { indexedDB?: unknown }).indexedDB).toBeUndefined();
    await expect(openIndexedDBPushDB()).rejects.toThrow(/No IndexedDB.*options\.indexedDB/);
  });

  it("explains what is missing when idb cannot recognise the factory's objects", async () => {
    Reflect.deleteProperty(globalThis, "IDBFactory");
    try {
      await expect(openIndexedDBPushDB({ indexedDB: new IDBFactory() })).rejects.toThrow(
        /global IDBFactory.*fake-indexeddb\/auto/,
      );
    } finally {
      Object.assign(globalThis, { IDBFactory });
    }
  });

  it("uses the global factory when there is one", async () => {
    const factory = new IDBFactory();
    const global = globalThis as { indexedDB?: IDBFactory };
    global.indexedDB = factory;
    try {
      const db = await openIndexedDBPushDB();
      opened.push(db);
      await db.setUAID("from-global");
      expect(await factory.databases()).toEqual([{ name: "pushapi", version: 1 }]);
    } finally {
      delete global.indexedDB;
    }
  });

  it("keeps stores with different names apart on one factory", async () => {
    const factory = new IDBFactory();
    const a = await openIndexedDBPushDB({ indexedDB: factory, name: "service-a" });
    const b = await openIndexedDBPushDB({ indexedDB: factory, name: "service-b" });
    opened.push(a, b);
    await a.put(makeRecord(1));
    await a.setUAID("uaid-a");
    await b.put(makeRecord(2, { scope: makeRecord(1).scope }));
    expect((await a.getAll()).map((r) => r.channelID)).toEqual(["channel-1"]);
    expect((await b.getAll()).map((r) => r.channelID)).toEqual(["channel-2"]);
    expect(await b.getUAID()).toBeNull();
  });

  it("stores only the bytes of a view, not its whole backing buffer", async () => {
    const db = await openIndexedDBPushDB({ indexedDB: new IDBFactory() });
    opened.push(db);
    const backing = bytes(4096, 3);
    await db.put(makeRecord(1, { authenticationSecret: backing.subarray(50, 66) }));
    const secret = (await db.getByChannelID("channel-1"))?.authenticationSecret;
    expect(secret?.buffer.byteLength).toBe(16);
    expect(secret?.byteOffset).toBe(0);
  });
});
