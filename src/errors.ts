/**
 * Typed errors of the public API. Names follow what a W3C Push API user expects
 * (DOMException names), so `err.name === "InvalidStateError"` works the same as in a browser.
 */

export type PushErrorName =
  | "InvalidStateError"
  | "InvalidAccessError"
  | "InvalidCharacterError"
  | "AbortError"
  | "NotAllowedError"
  | "NotSupportedError"
  | "TimeoutError";

/** Base class: every error push-agent rejects with for API misuse or failed requests. */
export class PushError extends Error {
  override readonly name: PushErrorName;
  constructor(name: PushErrorName, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = name;
  }
}

export const invalidState = (message: string) => new PushError("InvalidStateError", message);
export const invalidAccess = (message: string) => new PushError("InvalidAccessError", message);
export const abort = (message: string, cause?: unknown) => new PushError("AbortError", message, { cause });
