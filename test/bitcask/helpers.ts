// Shared helpers for the bitcask tests: temp directories, a logger that
// records, directory copies (a crash's view of the disk), model comparison.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Bitcask, BitcaskLogger } from "../../src/bitcask/index.ts";

export interface LogLine {
  level: "warn" | "error";
  msg: string;
  fields: Record<string, unknown>;
}

export function quietLogger(lines: LogLine[] = []): BitcaskLogger & { lines: LogLine[] } {
  return {
    lines,
    warn: (fields, msg) => lines.push({ level: "warn", msg, fields }),
    error: (fields, msg) => lines.push({ level: "error", msg, fields }),
  };
}

/** Run `fn` with a fresh temp directory, removed afterwards. */
export async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "bitcask-test-"));
  try {
    return await fn(dir);
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}

/** Copy the store's files (not its LOCK) as they are now: what a crash would leave. */
export function copyStore(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const name of fs.readdirSync(from)) {
    if (name === "LOCK" || !fs.statSync(path.join(from, name)).isFile()) continue;
    fs.copyFileSync(path.join(from, name), path.join(to, name));
  }
}

export const b = (s: string): Buffer => Buffer.from(s);

/** Every key and value of the store, as a Map of latin1 strings. */
export function contents(db: Bitcask): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of db.range(new Uint8Array(0))) {
    m.set(Buffer.from(e.key).toString("latin1"), Buffer.from(e.value).toString("latin1"));
  }
  return m;
}

export function assertContents(db: Bitcask, model: Map<string, string>, msg = ""): void {
  const got = contents(db);
  const want = new Map(
    [...model].sort(([x], [y]) => Buffer.compare(Buffer.from(x, "latin1"), Buffer.from(y, "latin1"))),
  );
  assert.deepEqual([...got], [...want], msg);
  for (const [k, v] of model) {
    assert.equal(
      Buffer.from(db.get(Buffer.from(k, "latin1")) ?? []).toString("latin1"),
      v,
      `${msg} get ${k}`,
    );
  }
}

/** Deterministic xorshift PRNG so a failure replays from its seed. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x1_0000_0000;
  };
}

export function dataFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((n) => n.endsWith(".data"))
    .sort();
}

export function seededBytes(rand: () => number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rand() * 256);
  return out;
}
