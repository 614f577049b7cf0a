/**
 * The Node-only entry, `push-agent/node`: what needs Node built-ins or native modules and so
 * stays out of the browser-safe main entry. For now, the durable LevelDB PushDB.
 */

export type { LevelPushDB, LevelPushDBOptions, LevelPushDBStats } from "./db/level.ts";
export { openLevelPushDB } from "./db/level.ts";
export type { PushDB, PushRecord, RecordUpdate } from "./db/push-db.ts";
