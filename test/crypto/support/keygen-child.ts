/**
 * The child process of the key-generation hang test (keygen-hang.test.ts): calls the public generateKeys()
 * N times while keeping a few thousand short strings alive (what made Node 20 deadlock inside a
 * GC when keys were exported as JWK), checks every result, and prints `done <n>` on success.
 *
 * Run: node --import tsx --conditions=push-agent-source keygen-child.ts <iterations>
 */

import { writeSync } from "node:fs";
import { generateKeys } from "../../../src/crypto/keys.ts";

const iterations = Number(process.argv[2]);
if (!Number.isInteger(iterations) || iterations <= 0) {
  writeSync(2, "usage: keygen-child.ts <iterations>\n");
  process.exit(2);
}

const LIVE_STRINGS = 4096;
const live: string[] = new Array(LIVE_STRINGS);
let previous = "";
for (let i = 0; i < iterations; i++) {
  const keys = await generateKeys();
  const d = keys.privateKey.d ?? "";
  if (keys.publicKey.length !== 65 || d.length !== 43 || keys.authSecret.length !== 16 || d === previous) {
    writeSync(2, `bad keys at iteration ${i}\n`);
    process.exit(1);
  }
  previous = d;
  // The key's own short strings kept alive in a rolling window: the pattern that reproduced the
  // deadlock with the JWK export (it hung within a few thousand iterations, every run).
  live[(2 * i) % LIVE_STRINGS] = d;
  live[(2 * i + 1) % LIVE_STRINGS] = keys.privateKey.x ?? "";
  if (i % 10_000 === 0) writeSync(1, `progress ${i}\n`);
}
writeSync(1, `done ${iterations} ${live.filter(Boolean).length}\n`);
