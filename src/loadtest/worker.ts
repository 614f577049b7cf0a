/**
 * A load-test worker process: waits for its share of the plan from the parent (workers.ts),
 * runs it, streams progress, sends its data and exits. A "stop" message (the parent's Ctrl+C)
 * ends the run early; the data still goes back.
 */

import { describeError } from "../log.ts";
import { type ParentMessage, runShare, type WorkerMessage } from "./workers.ts";

const controller = new AbortController();
const send = (message: WorkerMessage) => process.send?.(message);

process.on("message", (message: ParentMessage) => {
  if (message.type === "stop") {
    controller.abort();
    return;
  }
  runShare(message.config, message.worker, message.workers, {
    signal: controller.signal,
    onProgress: (progress) => send({ type: "progress", progress }),
  }).then(
    (data) => send({ type: "done", data }),
    (error) => send({ type: "failed", message: describeError(error) }),
  );
});
// Ctrl+C reaches the whole process group: the parent's stop message does the stopping.
process.on("SIGINT", () => controller.abort());
process.on("disconnect", () => {
  controller.abort();
  setTimeout(() => process.exit(0), 2_000).unref();
});
