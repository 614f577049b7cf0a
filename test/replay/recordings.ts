/**
 * The autoconnect 1.83.1 recordings (test/fixtures/autoconnect-1.83.1/) as data: sessions split
 * into connections, each a list of frames in wire order, and the helpers the replay and fidelity
 * tests compare shapes with.
 */

import { readFileSync } from "node:fs";

export type Frame = Record<string, unknown>;

export interface RecordedFrame {
  dir: "c2s" | "s2c";
  text: string;
  frame: Frame;
}

export interface RecordedConnection {
  frames: RecordedFrame[];
  close?: { code: number; reason: string };
}

interface Line {
  c: number;
  dir: "c2s" | "s2c" | "close";
  frame?: string;
  code?: number;
  reason?: string;
}

const DIR = new URL("../fixtures/autoconnect-1.83.1/", import.meta.url);

export function readFixture(name: string): string {
  return readFileSync(new URL(name, DIR), "utf8");
}

/** One recorded session: its connections in order (index 0 is connection 1). */
export function loadSession(name: string): RecordedConnection[] {
  const connections: RecordedConnection[] = [];
  for (const raw of readFixture(name).split("\n")) {
    if (raw.trim() === "") continue;
    const line = JSON.parse(raw) as Line;
    connections[line.c - 1] ??= { frames: [] };
    const connection = connections[line.c - 1]!;
    if (line.dir === "close") connection.close = { code: line.code ?? 0, reason: line.reason ?? "" };
    else
      connection.frames.push({ dir: line.dir, text: line.frame!, frame: JSON.parse(line.frame!) as Frame });
  }
  return connections;
}

export function framesOf(connection: RecordedConnection, dir: "c2s" | "s2c"): Frame[] {
  return connection.frames.filter((f) => f.dir === dir).map((f) => f.frame);
}

/**
 * A frame's shape: its messageType and key set, nested objects (headers, updates[]) included,
 * values left out. Two frames of the same shape differ only in ids, keys and payloads.
 */
export function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(shape);
  if (typeof value !== "object" || value === null) return typeof value;
  const frame = value as Frame;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(frame).sort()) {
    // Broadcast maps are keyed by broadcast id: their keys are data, not shape.
    out[key] = key === "messageType" ? frame[key] : key === "broadcasts" ? "map" : shape(frame[key]);
  }
  return out;
}
