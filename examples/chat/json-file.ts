/**
 * JSON files that survive a crash mid-write: the new content goes to a temporary file that is
 * flushed to disk and then renamed over the old one, so a reader sees the old file or the new
 * one, never half of either. Node only.
 */

import { open, readFile, rename } from "node:fs/promises";

/** The parsed content, or undefined when the file does not exist. */
export async function readJSONFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${file} is not valid JSON`);
  }
}

/** Mode 0600: the chat server's file holds push endpoints, which are secrets. */
export async function writeJSONFileAtomic(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  const handle = await open(tmp, "w", 0o600);
  try {
    await handle.writeFile(JSON.stringify(value));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
}
