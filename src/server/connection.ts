/**
 * What the hub needs from a user agent connection, apart from how session.ts implements it: the
 * hub routes pushes to connections and session.ts depends on the hub, so the type both sides
 * share lives here and neither file imports the other's module for it.
 */

import type { Notification } from "./store.ts";

/** Why the server closes a socket; session.ts maps each kind to autopush's code and reason. */
export type CloseKind =
  | "sm"
  | "json"
  | "handshakeTimeout"
  | "pongTimeout"
  | "unsupported"
  | "reset"
  | "shutdown";

export interface Connection {
  /** Close with autopush's code and reason for `kind`. */
  close(kind: CloseKind): void;
  /** Hand a push to this live connection; false when it cannot take it (closing, or too many unacked). */
  deliverDirect(n: Notification): boolean;
  /** A message was stored for this uaid: deliver it now if idle, else after the pending acks. */
  checkStorageNudge(): void;
}
