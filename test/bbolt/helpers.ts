// Shared helpers for the bbolt tests: deterministic data, model comparison.

import assert from "node:assert/strict";
import type { BoltBucket } from "../../src/bbolt/index.ts";

/** mulberry32: a small seeded PRNG returning [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(next: () => number, length: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = Math.floor(next() * 256);
  return b;
}

export const text = (s: string): Buffer => Buffer.from(s, "latin1");

/** Sorted unique entries from possibly unsorted, duplicated pairs (the last value of a key wins). */
export function sortEntries(
  pairs: Iterable<readonly [Uint8Array, Uint8Array]>,
): Array<[Uint8Array, Uint8Array]> {
  const byKey = new Map<string, [Uint8Array, Uint8Array]>();
  for (const [k, v] of pairs) byKey.set(Buffer.from(k).toString("hex"), [k, v]);
  return [...byKey.values()].sort((a, b) => Buffer.compare(a[0], b[0]));
}

/** `n` keys "key00000001"... with values "value-1"... */
export function sequentialEntries(n: number, prefix = "key"): Array<[Uint8Array, Uint8Array]> {
  const out: Array<[Uint8Array, Uint8Array]> = [];
  for (let i = 0; i < n; i++) out.push([text(`${prefix}${String(i).padStart(8, "0")}`), text(`value-${i}`)]);
  return out;
}

/** A bucket set as hex, in bytewise name order: the form boltcheck dumps. */
export interface HexBucket {
  name: string;
  entries: Array<[string, string]>;
}

export function bucketsToHex(buckets: readonly BoltBucket[]): HexBucket[] {
  return [...buckets]
    .sort((a, b) => Buffer.compare(a.name, b.name))
    .map((b) => ({
      name: Buffer.from(b.name).toString("hex"),
      entries: b.entries.map(([k, v]) => [Buffer.from(k).toString("hex"), Buffer.from(v).toString("hex")]),
    }));
}

export function readToHex(read: Map<string, Array<[Uint8Array, Uint8Array]>>): HexBucket[] {
  return [...read].map(([name, entries]) => ({
    name: Buffer.from(name, "latin1").toString("hex"),
    entries: entries.map(([k, v]) => [Buffer.from(k).toString("hex"), Buffer.from(v).toString("hex")]),
  }));
}

/** readBolt's result equals `buckets` (bucket names compared as latin1, entries byte for byte). */
export function assertSameBuckets(
  read: Map<string, Array<[Uint8Array, Uint8Array]>>,
  buckets: readonly BoltBucket[],
) {
  const want = bucketsToHex(buckets);
  const got = readToHex(read);
  assert.deepEqual(
    got.map((b) => [b.name, b.entries.length]),
    want.map((b) => [b.name, b.entries.length]),
    "bucket names and sizes",
  );
  for (let i = 0; i < want.length; i++) {
    // compare in one go, but only after the cheap check above so a failure message stays readable
    if (JSON.stringify(got[i]) !== JSON.stringify(want[i])) assert.deepEqual(got[i], want[i]);
  }
}
