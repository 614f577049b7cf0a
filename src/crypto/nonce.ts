/** The per-record nonce of RFC 8188 §2.3, shared by both backends. */

/**
 * nonce = base XOR seq, seq as a big-endian integer over the last bytes. Only the low 48 bits
 * are ever non-zero: a payload with 2^48 records of at least 17 bytes cannot exist in memory.
 */
export function recordNonce(base: Uint8Array, seq: number): Uint8Array {
  // A copy, never base.slice(): on a Node Buffer that is a view and would corrupt the base nonce.
  const nonce = new Uint8Array(base);
  let rest = seq;
  for (let i = nonce.length - 1; i >= nonce.length - 6 && rest > 0; i--) {
    nonce[i]! ^= rest & 0xff;
    rest = Math.floor(rest / 256);
  }
  return nonce;
}
