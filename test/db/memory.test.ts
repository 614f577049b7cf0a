/** The in-memory store must pass the same contract as the durable ones. */

import { createMemoryStorage, openMemoryPushDB } from "../../src/db/memory.ts";
import { pushDBContract } from "./contract.ts";

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
