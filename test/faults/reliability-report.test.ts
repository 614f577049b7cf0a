/**
 * The RELIABILITY.md generator: a figure a run did not count (null) is printed as "not measured",
 * never as 0, and is left out of the totals with a note, so a reader never takes a missing count
 * for a clean one.
 */

import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { render } from "../../scripts/reliability-report.ts";
import { CrashCounter, type ReliabilityFile, type ReliabilityRow } from "./support/report.ts";

function suite(rows: ReliabilityRow[]): ReliabilityFile {
  return {
    suite: "t",
    mode: "default",
    finishedAt: "2026-12-04T18:00:00.000Z",
    node: "v20",
    platform: "linux x64",
    cpu: "cpu",
    cores: 2,
    rows,
  };
}

const counted: ReliabilityRow = {
  id: "F1",
  category: "fault",
  title: "counted",
  runs: 2,
  sent: 10,
  delivered: 10,
  duplicated: 1,
  lost: 0,
  crashes: 0,
};

describe("reliability report", () => {
  it('prints "not measured" for a null figure and leaves it out of the totals', () => {
    const unmeasured: ReliabilityRow = {
      ...counted,
      id: "F2",
      title: "uncounted",
      crashes: null,
      duplicated: null,
    };
    const page = render([suite([counted, unmeasured])], []);
    expect(page).toContain("| F1 | counted | 2 | 10 | 10 | 1 | 0 | 0 |  |");
    expect(page).toContain("| F2 | uncounted | 2 | 10 | 10 | not measured | 0 | not measured |  |");
    expect(page).toContain(
      "Totals: 20 messages sent, 20 delivered, 1 duplicated (1 row not measured), 0 lost, 0 crashes (1 row not measured).",
    );
  });

  it("lists a counted crash or loss as a finding", () => {
    const page = render([suite([{ ...counted, lost: 1, crashes: 2 }])], []);
    expect(page).toContain("- **F1** counted: 1 lost, 2 crashes.");
    expect(page).not.toContain("None: no row lost a message or crashed.");
  });

  it("shows not-measured valid traffic in the hostile table instead of a dash", () => {
    const hostile: ReliabilityRow = {
      ...counted,
      id: "H9",
      category: "hostile",
      sent: null,
      delivered: null,
    };
    const page = render([suite([hostile])], []);
    expect(page).toContain("| H9 | counted | 2 | 0 | not measured → not measured |  |");
  });
});

describe("crash counter", () => {
  const child = (code: string) => spawn(process.execPath, ["-e", code], { stdio: "ignore" });

  it("counts a child that dies on its own, not one that exits cleanly or is stopped on purpose", async () => {
    const crashes = new CrashCounter();
    const thrower = child("throw new Error('boom')");
    const clean = child("process.exit(0)");
    const stopped = child("setInterval(() => {}, 1000)");
    let stopping = false;
    crashes
      .watch(thrower)
      .watch(clean)
      .watch(stopped, () => stopping);
    stopping = true;
    stopped.kill("SIGTERM");
    await Promise.all([thrower, clean, stopped].map((c) => once(c, "exit")));
    expect(crashes.childExits).toBe(1);
    expect(crashes.total).toBe(1);
    expect(String(crashes.errors[0])).toContain(`child ${thrower.pid} exited on its own (code 1`);
  });

  it("counts a child killed by a signal nobody sent on purpose", async () => {
    const crashes = new CrashCounter();
    const victim = child("setInterval(() => {}, 1000)");
    crashes.watch(victim);
    victim.kill("SIGKILL");
    await once(victim, "exit");
    expect(crashes.total).toBe(1);
  });

  it("adds crashes another process reported and its own uncaught errors", () => {
    const crashes = new CrashCounter().install();
    try {
      process.emit("uncaughtException", new Error("stray"));
      crashes.add(2);
    } finally {
      crashes.uninstall();
    }
    expect({ uncaught: crashes.uncaught, reported: crashes.reported, total: crashes.total }).toEqual({
      uncaught: 1,
      reported: 2,
      total: 3,
    });
  });
});
