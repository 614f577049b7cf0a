/**
 * A real full disk for tests: a small tmpfs mounted in a temp directory (root only, as in CI),
 * filled with filler files until the kernel answers ENOSPC, and emptied again. `mountTmpfs`
 * says why when it cannot mount, so a suite can skip with that reason.
 */

import { execFileSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Tmpfs {
  dir: string;
  /** Fill every byte left with filler files; returns how many bytes they took. */
  fill(): number;
  /** Remove the filler files, giving the space back. */
  free(): void;
  unmount(): void;
}

export type TmpfsResult = { ok: true; tmpfs: Tmpfs } | { ok: false; reason: string };

export function mountTmpfs(size: string): TmpfsResult {
  if (process.platform !== "linux") return { ok: false, reason: "tmpfs needs Linux" };
  if (process.getuid?.() !== 0) return { ok: false, reason: "mounting a tmpfs needs root (CI runs as root)" };
  const dir = mkdtempSync(join(tmpdir(), "push-agent-tmpfs-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0700`, "tmpfs", dir], { stdio: "pipe" });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    return { ok: false, reason: `mount -t tmpfs not permitted here: ${stderr || (err as Error).message}` };
  }
  let fillers = 0;
  const fillerPath = (i: number) => join(dir, `filler-${i}`);
  return {
    ok: true,
    tmpfs: {
      dir,
      fill() {
        let bytes = 0;
        // Big chunks first, then ever smaller ones, so the last free page is taken too.
        for (const chunk of [1 << 20, 64 << 10, 4 << 10, 512, 1]) {
          for (;;) {
            const written = writeFiller(fillerPath(fillers), chunk);
            fillers++;
            bytes += written;
            if (written < chunk) break;
          }
        }
        return bytes;
      },
      free() {
        for (let i = 0; i < fillers; i++) rmSync(fillerPath(i), { force: true });
        fillers = 0;
      },
      unmount() {
        execFileSync("umount", [dir], { stdio: "pipe" });
        rmSync(dir, { recursive: true, force: true });
      },
    },
  };
}

/** Write up to `size` bytes to a new file; fewer (maybe 0) when the disk ran out. */
function writeFiller(path: string, size: number): number {
  const fd = openSync(path, "w");
  try {
    return writeSync(fd, Buffer.alloc(size));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOSPC") return 0;
    throw err;
  } finally {
    closeSync(fd);
  }
}
