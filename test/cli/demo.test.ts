/**
 * `npm start`: the end-to-end demo runs on a clean machine, prints both decrypted payloads and
 * exits 0. Spawned the way the npm script runs it (tsx with the push-agent-source condition).
 */

import { afterEach, expect, it } from "vitest";
import { killAll, spawnChild } from "./helpers.ts";

afterEach(killAll);

it("npm start runs the demo to completion", async () => {
  const demo = spawnChild(process.execPath, [
    "--import",
    "tsx",
    "--conditions=push-agent-source",
    "examples/demo.ts",
  ]);
  const exit = await demo.exited;
  expect(exit, demo.stderr()).toEqual({ code: 0, signal: null });
  const out = demo.stdout();
  expect(out).toMatch(/^\[1\/7\] starting local push server at ws:\/\/127\.0\.0\.1:\d+\/$/m);
  expect(out).toContain('received "Hello from the demo, encrypted with aes128gcm!"');
  expect(out).toContain('received "Hello from the demo, encrypted with aesgcm!"');
  expect(out).toMatch(/^\[6\/7\] unsubscribing: true$/m);
  expect(out).toMatch(/^\[7\/7\] /m);
  expect(demo.stderr()).toBe("");
});
