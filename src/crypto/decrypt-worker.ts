/**
 * The decrypt worker thread's entry (started by worker-pool.ts): runs each job it is sent through
 * the node backend's decryptRecords, the same code as the main thread, and posts the plaintexts
 * back (transferred) or the DecryptError's code and message. It says "ready" once loaded, so the
 * pool can tell a worker that could not start from one that died while working.
 */

import { parentPort } from "node:worker_threads";
import { backend } from "./backend-node.ts";
import { DecryptError } from "./decrypt-error.ts";
import type { WorkerReply, WorkerRequest } from "./worker-messages.ts";

function reply(request: WorkerRequest): WorkerReply {
  try {
    return { id: request.id, plaintexts: backend.decryptRecords(request.job) };
  } catch (error) {
    const known = error instanceof DecryptError;
    return {
      id: request.id,
      error: { code: known ? error.code : "BAD_CRYPTO", message: known ? error.message : "Bad encryption" },
    };
  }
}

const port = parentPort;
if (port) {
  port.on("message", (request: WorkerRequest) => {
    const answer = reply(request);
    port.postMessage(
      answer,
      "plaintexts" in answer ? answer.plaintexts.map((p) => p.buffer as ArrayBuffer) : [],
    );
  });
  port.postMessage({ ready: true } satisfies WorkerReply);
}
