/**
 * One runtime's share of `npm run bench -- --runtimes`: run under that Node binary (with tsx),
 * it runs the named benches (decrypt, peers) in this process's Node and hands back their figures
 * with the runtime's versions and the ECDH path the library chose. The peer bench's own workers
 * and servers are started with this same binary (process.execPath).
 */

import { backend } from "../src/crypto/backend-node.ts";
import { benchDecrypt } from "./decrypt.ts";
import { benchPeers } from "./peers.ts";
import { finish } from "./support.ts";

export interface RuntimeResult {
  node: string;
  openssl: string;
  ecdhPath: string;
  results: Record<string, Record<string, number>>;
}

const BENCHES: Record<string, () => Promise<Record<string, number>>> = {
  decrypt: benchDecrypt,
  peers: benchPeers,
};

const names = process.argv.slice(2);
const result: RuntimeResult = {
  node: process.version,
  openssl: process.versions.openssl ?? "unknown",
  ecdhPath: backend.ecdhPath,
  results: {},
};
for (const name of names.length > 0 ? names : Object.keys(BENCHES)) {
  const bench = BENCHES[name];
  if (!bench) throw new Error(`runtime-child: unknown bench ${name}`);
  result.results[name] = await bench();
  console.error(`  ${process.version}: ${name} done`);
}
finish(result);
