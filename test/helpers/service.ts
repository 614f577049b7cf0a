/**
 * Shared set-up for service tests: a PushService on a fresh fake IndexedDB, with a logger that
 * keeps every line so tests can assert on what was (and was not) logged.
 */

// idb checks instanceof against the global IDB classes: install fake-indexeddb's as globals.
import "fake-indexeddb/auto";
import { IDBFactory } from "fake-indexeddb";
import { PushService, type PushServiceOptions } from "../../src/service/push-service.ts";
import { captureLogger } from "./logger.ts";

export { captureLogger };

export function newService(serverURL: string, options: PushServiceOptions = {}) {
  const indexedDB = options.indexedDB ?? new IDBFactory();
  const logger = captureLogger();
  const service = new PushService({ serverURL, indexedDB, logger, ...options });
  return { service, indexedDB, logger };
}

/** Resolve with the next event of `topic`. */
export function nextEvent<T>(subscribe: (fn: (event: T) => void) => () => void): Promise<T> {
  return new Promise((resolve) => {
    const dispose = subscribe((event) => {
      dispose();
      resolve(event);
    });
  });
}
