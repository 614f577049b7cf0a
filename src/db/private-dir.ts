/**
 * Directories that hold secrets (the LevelDB client store: private keys and auth secrets; the
 * server state: the token secret) are private to the user: the directory 0700, the files 0600.
 *
 * LevelDB creates its files with mode 0644 and offers no option for it, and changing the
 * process umask around an asynchronous open would change it for every file the process creates
 * meanwhile. So the directory is what keeps others out (without x on it nobody else reaches a
 * file inside), and the files found right after an open are narrowed to 0600 as well. An
 * existing directory with a wider mode is tightened, not refused: it is ours to use.
 */

import { chmod, mkdir, readdir, stat } from "node:fs/promises";
import { join } from "node:path";

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Create `location` (and missing parents) as 0700, or tighten an existing one to 0700. */
export async function makePrivateDir(location: string): Promise<void> {
  await mkdir(location, { recursive: true, mode: PRIVATE_DIR_MODE });
  const { mode } = await stat(location);
  if ((mode & 0o777) !== PRIVATE_DIR_MODE) await chmod(location, PRIVATE_DIR_MODE);
}

/** Narrow every plain file directly in `location` to 0600 (LevelDB made them 0644). */
export async function makeFilesPrivate(location: string): Promise<void> {
  for (const entry of await readdir(location, { withFileTypes: true })) {
    if (entry.isFile()) await chmod(join(location, entry.name), PRIVATE_FILE_MODE).catch(() => {});
  }
}
