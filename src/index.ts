/**
 * push-agent: the browser-safe public entry. Nothing imported from here touches a Node built-in
 * at module top level; Node-only parts live on `push-agent/node` and `push-agent/server`.
 */

export type { DecryptErrorCode, DecryptionKeys, EncryptedPush, PushHeaders } from "./crypto/decrypt.ts";
export { DecryptError, decrypt } from "./crypto/decrypt.ts";
export type { SubscriptionKeys } from "./crypto/keys.ts";
export { generateKeys } from "./crypto/keys.ts";
export type { IndexedDBPushDBOptions } from "./db/indexeddb.ts";
export { openIndexedDBPushDB } from "./db/indexeddb.ts";
export type { MemoryStorage } from "./db/memory.ts";
export { createMemoryStorage, openMemoryPushDB } from "./db/memory.ts";
export type { PushDB, PushRecord, RecordUpdate } from "./db/push-db.ts";
export { ConstraintError } from "./db/push-db.ts";
export type { PushErrorName } from "./errors.ts";
export { PushError } from "./errors.ts";
export type { Logger } from "./log.ts";
export type {
  ConnectionErrorEvent,
  DecryptErrorEvent,
  Observer,
  PushEventMap,
  PushMessageEvent,
  PushSubscriptionChangeEvent,
  PushSubscriptionModifiedEvent,
  PushTopic,
  StateChangeEvent,
} from "./observers.ts";
export type { BroadcastHandler, BroadcastPhase } from "./service/broadcasts.ts";
export type { ConnectionState } from "./service/connection-types.ts";
export type { ClearPattern, PermissionState, QuotaOptions } from "./service/lifecycle.ts";
export type { PushServiceOptions } from "./service/options.ts";
export type { PushManager } from "./service/push-service.ts";
export { PushService } from "./service/push-service.ts";
export type { SubscribeOptions } from "./service/registry.ts";
export type { PushSubscriptionJSON, PushSubscriptionOptions } from "./subscription.ts";
export { PushMessageData, PushSubscription } from "./subscription.ts";
export type { ConnectFailure, ConnectFailureKind } from "./transport/failure.ts";
export type { WebSocketConstructor, WebSocketLike } from "./transport/websocket.ts";
export { PUSH_SUBPROTOCOL } from "./transport/websocket.ts";
export type { BufferSourceLike, IDBFactoryLike, JsonWebKeyLike, TransactionDurability } from "./web-types.ts";
