/**
 * The client's bookmark on disk (Node): `{"lastId": n}` in a small JSON file, replaced
 * atomically so a crash leaves the old bookmark, at worst showing a message again.
 */

import type { LastIdStore } from "./client.ts";
import { readJSONFile, writeJSONFileAtomic } from "./json-file.ts";

export function fileLastIdStore(file: string): LastIdStore {
  return {
    async load() {
      const value = (await readJSONFile(file)) as { lastId?: unknown } | undefined;
      const lastId = value?.lastId;
      return Number.isSafeInteger(lastId) && (lastId as number) >= 0 ? (lastId as number) : 0;
    },
    save: (lastId) => writeJSONFileAtomic(file, { lastId }),
  };
}
