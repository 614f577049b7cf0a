/**
 * PUSH_AGENT_DECRYPT_WORKERS=N runs the fault and fuzz suites with `decryptWorkers: N`:
 * order, at-least-once and ack-after-observers must hold with decryption on worker threads too).
 * Unset, they run on the main thread as before. Child processes of the suites inherit it.
 */

const fromEnv = Number(process.env.PUSH_AGENT_DECRYPT_WORKERS ?? 0);

export const testDecryptWorkers = Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : 0;
