// Power-loss harness. A seeded workload writes batches with sync "always"
// into small files (so there are several, with hints); the files are copied
// while the store runs, with a few unacknowledged batches in flight. Then each
// trial damages a copy (cuts the byte stream, cuts one file, flips a byte,
// appends junk) and reopens it. The store must either open to exactly the
// state after some prefix of the batches (and the predicted prefix when the
// damage is a cut or a torn tail), or fail with BitcaskCorruptionError; any
// other exception fails the test. FLOE_CRASH_SCALE multiplies the trials.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { type BatchOp, Bitcask, BitcaskCorruptionError } from "../../src/bitcask/index.ts";
import { contents, copyStore, quietLogger, rng, seededBytes } from "./helpers.ts";

const SCALE = Number(process.env.FLOE_CRASH_SCALE ?? 1);
const TRIALS_PER_WORKLOAD = Math.round(500 * SCALE);
const WORKLOADS = 3;

interface Workload {
  snap: string;
  batches: BatchOp[][];
  /** Where each batch ended: its file id and the file's size after it. */
  ends: { fileId: number; end: number }[];
  /** states[k]: the contents after the first k batches. */
  states: Map<string, string>[];
}

async function runWorkload(root: string, seed: number): Promise<Workload> {
  const rand = rng(seed);
  const live = path.join(root, "live");
  const db = await Bitcask.open(live, { maxFileBytes: 8192, sync: "always", logger: quietLogger() });
  const batches: BatchOp[][] = [];
  const ends: Workload["ends"] = [];
  const makeBatch = (i: number): BatchOp[] =>
    Array.from({ length: 1 + Math.floor(rand() * 5) }, () => {
      const key = Buffer.from(`k${Math.floor(rand() * 30)}`);
      if (rand() < 0.2) return { type: "delete", key };
      return {
        type: "put",
        key,
        value: Buffer.concat([Buffer.from(`b${i}:`), seededBytes(rand, Math.floor(rand() * 300))]),
      };
    });
  const noteEnd = () => {
    const s = db.stats();
    ends.push({ fileId: s.activeFileId!, end: s.dataFiles.find((f) => f.id === s.activeFileId)!.bytes });
  };
  for (let i = 0; i < 120; i++) {
    const ops = makeBatch(i);
    await db.writeBatch(ops);
    batches.push(ops);
    noteEnd();
  }
  // In flight when the power goes: written, not yet acknowledged.
  const pending: Promise<void>[] = [];
  for (let i = 120; i < 123; i++) {
    const ops = makeBatch(i);
    pending.push(db.writeBatch(ops));
    batches.push(ops);
    noteEnd();
  }
  const snap = path.join(root, "snap");
  copyStore(live, snap);
  await Promise.all(pending);
  await db.close();
  const states = [new Map<string, string>()];
  for (const ops of batches) {
    const m = new Map(states.at(-1));
    for (const op of ops) {
      const k = op.key.toString();
      if (op.type === "put") m.set(k, Buffer.from(op.value).toString("latin1"));
      else m.delete(k);
    }
    states.push(m);
  }
  return { snap, batches, ends, states };
}

type Expect =
  | { kind: "exact"; k: number }
  /** A corruption error, or the full state if the damage is never read. */
  | { kind: "error-or-full" }
  | { kind: "error" };

interface DataFileInfo {
  id: number;
  name: string;
  size: number;
}

function dataFileInfo(dir: string): DataFileInfo[] {
  return fs
    .readdirSync(dir)
    .filter((n) => n.endsWith(".data"))
    .sort()
    .map((name) => ({ id: Number(name.slice(0, 6)), name, size: fs.statSync(path.join(dir, name)).size }));
}

/** Batches that lie wholly before (file, offset) in write order. */
function batchesBefore(w: Workload, fileId: number, offset: number): number {
  return w.ends.filter((e) => e.fileId < fileId || (e.fileId === fileId && e.end <= offset)).length;
}

/** Damage a copy of the snapshot in one of several ways; returns what reopening must give. */
function damage(w: Workload, dir: string, rand: () => number): { what: string; expect: Expect } {
  const files = dataFileInfo(dir);
  const newest = files.at(-1)!;
  const mode = rand();
  if (mode < 0.4) {
    // Power loss as a cut of the byte stream: a prefix of it survives, later files never existed.
    const total = files.reduce((n, f) => n + f.size, 0);
    let at = Math.floor(rand() * (total + 1));
    let i = 0;
    while (at > files[i].size) at -= files[i++].size;
    const f = files[i];
    for (const later of files.filter((x) => x.id > f.id)) {
      fs.unlinkSync(path.join(dir, later.name));
      fs.rmSync(path.join(dir, later.name.replace(".data", ".hint")), { force: true });
    }
    fs.truncateSync(path.join(dir, f.name), at);
    const what = `cut ${f.name} at ${at} of ${f.size}, later files dropped`;
    return { what, expect: at < 32 ? { kind: "error" } : { kind: "exact", k: batchesBefore(w, f.id, at) } };
  }
  if (mode < 0.55) {
    // One file cut short while later ones survive.
    const f = files[Math.floor(rand() * files.length)];
    const at = Math.floor(rand() * f.size);
    fs.truncateSync(path.join(dir, f.name), at);
    const what = `cut ${f.name} at ${at} of ${f.size}, later files kept`;
    if (f !== newest) return { what, expect: { kind: "error" } };
    return { what, expect: at < 32 ? { kind: "error" } : { kind: "exact", k: batchesBefore(w, f.id, at) } };
  }
  if (mode < 0.9) {
    // A flipped byte in a data or hint file.
    const names = fs.readdirSync(dir).filter((n) => n.endsWith(".data") || n.endsWith(".hint"));
    const name = names[Math.floor(rand() * names.length)];
    const file = path.join(dir, name);
    const bytes = fs.readFileSync(file);
    const at = Math.floor(rand() * bytes.length);
    bytes[at] ^= 1 + Math.floor(rand() * 255);
    fs.writeFileSync(file, bytes);
    const what = `flip ${name} byte ${at} of ${bytes.length}`;
    if (name.endsWith(".hint")) return { what, expect: { kind: "exact", k: w.batches.length } };
    if (name !== newest.name) return { what, expect: { kind: "error-or-full" } };
    if (at < 32) return { what, expect: { kind: "error" } };
    // In the newest file only damage to its last batch is a torn write.
    const before = batchesBefore(w, newest.id, at);
    return {
      what,
      expect: before === w.batches.length - 1 ? { kind: "exact", k: before } : { kind: "error" },
    };
  }
  // Junk after the last write: preallocated zeros or garbage.
  const junk =
    rand() < 0.5
      ? Buffer.alloc(1 + Math.floor(rand() * 600))
      : seededBytes(rand, 1 + Math.floor(rand() * 600));
  fs.appendFileSync(path.join(dir, newest.name), junk);
  return {
    what: `append ${junk.length} junk bytes to ${newest.name}`,
    expect: { kind: "exact", k: w.batches.length },
  };
}

async function reopen(dir: string): Promise<Map<string, string> | BitcaskCorruptionError> {
  let db: Bitcask | undefined;
  try {
    db = await Bitcask.open(dir, { sync: "none", logger: quietLogger() });
    return contents(db);
  } catch (err) {
    if (err instanceof BitcaskCorruptionError) return err;
    throw err;
  } finally {
    await db?.close();
  }
}

function sameMap(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

test(`power loss at arbitrary points reopens to an acknowledged prefix or a corruption error (${WORKLOADS * TRIALS_PER_WORKLOAD} trials)`, async (t) => {
  const root = await fs.promises.mkdtemp(path.join(os.tmpdir(), "bitcask-crash-"));
  const tally = { exact: 0, error: 0, errorOrFull: 0 };
  try {
    for (let seed = 1; seed <= WORKLOADS; seed++) {
      const wroot = path.join(root, `w${seed}`);
      const w = await runWorkload(wroot, seed);
      const rand = rng(1000 + seed);
      for (let trial = 0; trial < TRIALS_PER_WORKLOAD; trial++) {
        const dir = path.join(wroot, `t${trial}`);
        copyStore(w.snap, dir);
        const { what, expect } = damage(w, dir, rand);
        const ctx = `seed ${seed} trial ${trial}: ${what}`;
        const got = await reopen(dir);
        if (got instanceof BitcaskCorruptionError) {
          assert.notEqual(
            expect.kind,
            "exact",
            `${ctx}: expected batches 0..${(expect as { k?: number }).k}, got ${got.message}`,
          );
          assert.ok(got.file.startsWith(dir), `${ctx}: error names ${got.file}`);
          assert.ok(got.offset >= 0, ctx);
          tally.error++;
        } else if (expect.kind === "exact") {
          assert.ok(
            sameMap(got, w.states[expect.k]),
            `${ctx}: expected exactly the first ${expect.k} batches`,
          );
          tally.exact++;
        } else {
          assert.equal(
            expect.kind,
            "error-or-full",
            `${ctx}: opened, but the damage should have been refused`,
          );
          assert.ok(
            sameMap(got, w.states[w.batches.length]),
            `${ctx}: a store that opens must hold every batch`,
          );
          tally.errorOrFull++;
        }
        // Never a value that was not written: any state it opens to is one of the prefixes.
        if (!(got instanceof BitcaskCorruptionError))
          assert.ok(
            w.states.some((s) => sameMap(got, s)),
            ctx,
          );
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await fs.promises.rm(root, { recursive: true, force: true });
  }
  t.diagnostic(`outcomes: ${JSON.stringify(tally)}`);
  assert.ok(tally.exact > 0 && tally.error > 0, JSON.stringify(tally));
});
