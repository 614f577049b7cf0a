/**
 * The one error type decryption rejects with. Codes mirror Firefox's PushCrypto error codes, so a
 * caller can map each to its console message and ack code (every one of them acks 101).
 */

export type DecryptErrorCode =
  | "BAD_ENCODING_HEADER"
  | "BAD_CRYPTO_KEY_HEADER"
  | "BAD_ENCRYPTION_HEADER"
  | "BAD_ENCRYPTION_KEY_HEADER"
  | "BAD_DH_PARAM"
  | "BAD_SALT_PARAM"
  | "BAD_RS_PARAM"
  | "BAD_PADDING"
  | "BAD_CRYPTO"
  | "BAD_DATA";

export class DecryptError extends Error {
  override readonly name = "DecryptError";
  readonly code: DecryptErrorCode;
  constructor(code: DecryptErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export const badCrypto = (message = "Bad encryption", cause?: unknown) =>
  new DecryptError("BAD_CRYPTO", message, { cause });
export const badSenderKey = (cause?: unknown) =>
  new DecryptError("BAD_DH_PARAM", "Invalid sender public key", { cause });
