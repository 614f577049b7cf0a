/**
 * What crosses between the decrypt pool (worker-pool.ts) and its threads (decrypt-worker.ts),
 * and the thread limit the `decryptWorkers` option shares with the pool. No Node imports: the
 * options module reads the limit in every runtime.
 */

import type { DecryptJob } from "./backend.ts";
import type { DecryptErrorCode } from "./decrypt-error.ts";

/** The most threads a pool may have: decryption is CPU-bound, more than the cores only queues. */
export const MAX_DECRYPT_WORKERS = 16;

export interface WorkerRequest {
  id: number;
  /** The private key reduced to what the backend reads (kty, crv, d). */
  job: DecryptJob;
}

export type WorkerReply =
  | { ready: true }
  | { id: number; plaintexts: Uint8Array[] }
  | { id: number; error: { code: DecryptErrorCode; message: string } };
