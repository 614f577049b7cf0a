/** Types for the http_ece test dependency (it ships none): only what the tests call. */
declare module "http_ece" {
  import type { ECDH } from "node:crypto";

  export interface EceParams {
    version?: "aes128gcm" | "aesgcm";
    dh?: string | Buffer;
    privateKey?: ECDH;
    salt?: string | Buffer;
    authSecret?: string | Buffer;
    rs?: number;
    pad?: number;
    keyid?: string | Buffer;
  }
  export function encrypt(buffer: Buffer, params: EceParams): Buffer;
  export function decrypt(buffer: Buffer, params: EceParams): Buffer;
}
