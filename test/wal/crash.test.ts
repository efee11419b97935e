// Power-loss harness. A seeded workload runs against a real WAL; after every
// acknowledged operation the directory's files are recorded (everything up to
// the log's length in each is durable then; beyond it, up to the file's
// length, lie zeros the WAL preallocated). Crashes are simulated by rebuilding the
// directory as it could be found after power loss, or after damage, and
// reopening it:
//  - a crash during operation k+1: the files as of ack k, with the file being
//    appended cut anywhere in the unsynced bytes (optionally with holes of
//    zeroed sectors, as when pages reach the disk out of order, and with or
//    without the preallocated zeros after the cut). The reopen must
//    yield exactly the state after k acks (or k+1 if every byte arrived).
//  - a cut anywhere in any file: in the last segment, any prefix of the acked
//    saves; in an older segment, a WalCorruptionError.
//  - flipped bytes: a WalCorruptionError, or (damage in the last save only)
//    a prefix of the acked saves. Never a state that was not written.
// Any other error type fails the test. Scale with FLOE_CRASH_SCALE.

import assert from "node:assert/strict";
import * as fsSync from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { test } from "node:test";
import { seededRand } from "../../src/raft/rand.ts";
import { Wal, WalCorruptionError, type WalOptions } from "../../src/wal/index.ts";
import { digest, tempDir, walView } from "./helpers.ts";
import { applyToWal, Workload } from "./workload.ts";

const SCALE = Math.max(1, Number(process.env.FLOE_CRASH_SCALE ?? 1));
const BASE_SEED = Number(process.env.FLOE_CRASH_SEED ?? 20240601);
const OPS = 70;
const BASE_OPTS: WalOptions = {
  segmentSizeBytes: 1500,
  cacheSizeBytes: 512,
  preallocateBytes: 256,
  logger: () => {},
};
/**
 * Odd workloads carry every entry after a compaction point over into the
 * segment a compaction cuts (wal.ts markSnapshot), so the crash points cover
 * that unit too; even ones use the default limit (1/8 of the segment), which
 * here carries almost nothing.
 */
const optsFor = (w: number): WalOptions =>
  w % 2 === 1 ? { ...BASE_OPTS, carryOverBytes: 64 * 1024 } : BASE_OPTS;
/** Every third workload appends without preallocation. */
const walOptsFor = (w: number): WalOptions =>
  w % 3 === 2 ? { ...optsFor(w), preallocateBytes: 0 } : optsFor(w);

type Files = Map<string, Buffer>;

interface Recording {
  /** Longest content ever seen per file name (files only grow until deleted). */
  readonly content: Map<string, Buffer>;
  /** The log's length in each file after ack k (index 0: freshly opened, no operation yet). */
  readonly sizes: Map<string, number>[];
  /** The file lengths after ack k: the log plus preallocated zeros. */
  readonly lengths: Map<string, number>[];
  /** Digest of the model after k acks. */
  readonly digests: string[];
}

async function record(dir: string, seed: number, opts: WalOptions): Promise<Recording> {
  const rand = seededRand(seed);
  const work = new Workload(rand);
  const content = new Map<string, Buffer>();
  const sizes: Map<string, number>[] = [];
  const lengths: Map<string, number>[] = [];
  const digests: string[] = [];
  const wal = await Wal.open(dir, opts);
  const snap = async () => {
    const m = new Map<string, number>();
    const l = new Map<string, number>();
    const logBytes = new Map(wal.segments().map((s) => [path.basename(s.path), s.sizeBytes]));
    for (const name of await fs.readdir(dir)) {
      const b = await fs.readFile(path.join(dir, name));
      const log = logBytes.get(name) ?? b.length;
      assert.ok(
        b.subarray(log).every((x) => x === 0),
        `seed ${seed}: ${name} holds data past the log's end`,
      );
      m.set(name, log);
      l.set(name, b.length);
      if ((content.get(name)?.length ?? -1) <= b.length) content.set(name, b);
    }
    sizes.push(m);
    lengths.push(l);
    digests.push(digest(work.model));
  };
  await snap();
  for (let k = 0; k < OPS; k++) {
    const op = work.next();
    await applyToWal(wal, op);
    work.apply(op);
    assert.equal(
      digest(walView(wal)),
      digest(work.model),
      `seed ${seed}: live WAL differs from the model after op ${k}`,
    );
    await snap();
  }
  await wal.close();
  return { content, sizes, lengths, digests };
}

function sameFiles(a: Map<string, number>, b: Map<string, number>): boolean {
  return a.size === b.size && [...a].every(([name, size]) => b.get(name) === size);
}

/** The first `size` bytes of a file's longest content, then zeros to `length`. */
function bytesOf(rec: Recording, name: string, size: number, length = size): Buffer {
  const log = rec.content.get(name)!.subarray(0, size);
  return length > size ? Buffer.concat([log, Buffer.alloc(length - size)]) : log;
}

function filesAt(rec: Recording, k: number): Files {
  const out: Files = new Map();
  for (const [name, size] of rec.sizes[k]) out.set(name, bytesOf(rec, name, size, rec.lengths[k].get(name)));
  return out;
}

const lastSegment = (files: Files | Map<string, number>): string => [...files.keys()].sort().at(-1)!;

let scratchSeq = 0;
/** Writes `files` into a fresh directory and reopens the WAL there: its digest, or the corruption error. */
async function reopen(
  root: string,
  files: Files,
  writeAfter: boolean,
  opts: WalOptions,
): Promise<string | WalCorruptionError> {
  const dir = path.join(root, `case-${scratchSeq++}`);
  // Scratch files are written synchronously: tens of thousands of cases, and the
  // harness should spend its time in the WAL, not in promise plumbing.
  fsSync.mkdirSync(dir);
  try {
    for (const [name, b] of files) fsSync.writeFileSync(path.join(dir, name), b);
    let wal: Wal;
    try {
      wal = await Wal.open(dir, opts);
    } catch (e) {
      if (e instanceof WalCorruptionError) return e;
      throw e;
    }
    const d = digest(walView(wal));
    if (writeAfter) {
      // The recovered log must accept writes and reopen to the same plus them.
      const last = wal.state.lastIndex();
      const term = Math.max(wal.state.hardState.term, wal.state.termAt(last) ?? 0, 1);
      await wal.save({ entries: [{ index: last + 1, term, type: 0, data: Buffer.from("after") }] });
      await wal.close();
      const again = await Wal.open(dir, opts);
      assert.equal(again.state.lastIndex(), last + 1);
      await again.close();
    } else {
      await wal.close();
    }
    return d;
  } finally {
    fsSync.rmSync(dir, { recursive: true, force: true });
  }
}

// Scale adds workloads (one per 5) and crash points per workload.
const WORKLOADS = Math.max(2, Math.ceil(SCALE / 5));
for (let w = 0; w < WORKLOADS; w++) {
  const seed = BASE_SEED + w;
  const opts = walOptsFor(w);
  const cases = Math.round(SCALE / WORKLOADS);

  test(`power loss (seed ${seed}): a crash during a save recovers exactly the acknowledged saves`, async (t) => {
    const root = await tempDir(t);
    const rec = await record(path.join(root, "live"), seed, opts);
    const rand = seededRand(seed * 31 + 1);
    let n = 0;
    for (let k = 0; k < OPS; k++) {
      const name = lastSegment(rec.sizes[k + 1]);
      const full = rec.sizes[k + 1].get(name)!;
      const synced = rec.sizes[k].get(name) ?? 0;
      const cuts = new Set([synced, full, Math.max(synced, full - 1)]);
      for (let i = 0; i < 10 * cases; i++) cuts.add(synced + rand.int(full - synced + 1));
      // After the cut: nothing, or the zeros preallocated before or during the save.
      const ends = [rec.lengths[k].get(name) ?? 0, rec.lengths[k + 1].get(name)!];
      for (const cut of cuts) {
        const files = filesAt(rec, k);
        const choices = [cut, ...ends.filter((e) => e > cut)];
        const end = choices[rand.int(choices.length)];
        let bytes = bytesOf(rec, name, cut, end);
        let holes = false;
        if (cut > synced + 512 && rand.int(3) === 0) {
          // Out-of-order writeback: some unsynced sectors never made it.
          bytes = Buffer.from(bytes);
          for (let s = synced - (synced % 512) + 512; s < cut; s += 512) {
            if (rand.int(3) === 0) {
              bytes.fill(0, s, Math.min(cut, s + 512));
              holes = true;
            }
          }
        }
        files.set(name, bytes);
        const got = await reopen(root, files, n++ % 25 === 0, opts);
        // Every byte of the save on disk (zeros can stand in for its last ones): it happened.
        const complete = bytes.length >= full && bytes.subarray(0, full).equals(bytesOf(rec, name, full));
        const want = complete ? rec.digests[k + 1] : rec.digests[k];
        const why = `seed ${seed}, crash during op ${k + 1}: ${name} cut at ${cut} (synced ${synced}, full ${full}${holes ? ", with holes" : ""}${end > cut ? `, zeros to ${end}` : ""})`;
        if (got instanceof WalCorruptionError) assert.fail(`${why}: refused: ${got.message}`);
        assert.equal(
          got,
          want,
          `${why}: recovered state is not the one after ${want === rec.digests[k] ? k : k + 1} acks`,
        );
      }
    }
    t.diagnostic(`${n} crash points`);
  });

  test(`power loss (seed ${seed}): a cut anywhere is a torn tail in the last segment and corruption elsewhere`, async (t) => {
    const root = await tempDir(t);
    const rec = await record(path.join(root, "live"), seed, opts);
    const rand = seededRand(seed * 31 + 2);
    const prefixes = new Set(rec.digests);
    let refused = 0;
    const total = 800 * cases;
    for (let i = 0; i < total; i++) {
      const k = 1 + rand.int(OPS);
      const files = filesAt(rec, k);
      const names = [...files.keys()].sort();
      // Half the cuts go to the last segment, where the tail rule applies.
      const name = rand.int(2) === 0 ? names[names.length - 1] : names[rand.int(names.length)];
      const size = rec.sizes[k].get(name)!;
      const cut = rand.int(size + 1);
      // Half the cut files keep their preallocated zeros after the cut.
      const length = rand.int(2) === 0 ? files.get(name)!.length : cut;
      const bytes = bytesOf(rec, name, cut, Math.max(cut, length));
      files.set(name, bytes);
      // Zeros after the cut can restore what was cut (a record's last bytes may be zeros).
      const changed = bytes.length < size || !bytes.subarray(0, size).equals(bytesOf(rec, name, size));
      const got = await reopen(root, files, i % 50 === 0, opts);
      const why = `seed ${seed}, state after ${k} acks: ${name} of ${names.length} files cut at ${cut} of ${size}${length > cut ? `, zeros to ${length}` : ""}`;
      if (name === names.at(-1)) {
        // Cutting into bytes that were already durable before the last ack loses acknowledged saves;
        // the WAL may notice (entries a deletion relied on are gone) or may not. Either way it must
        // never invent state. A cut within the last save's bytes must recover.
        // (A compaction that deleted segments relied on its record being durable: cutting that record
        // away is also loss of acknowledged data.)
        const lastSaveStart = rec.sizes[k - 1].get(name) ?? 0;
        const deleted = [...rec.sizes[k - 1].keys()].some((n) => !rec.sizes[k].has(n));
        if (got instanceof WalCorruptionError) {
          assert.ok(
            cut < lastSaveStart || deleted,
            `${why}: a cut within the last save must recover, got ${got.message}`,
          );
          assert.match(got.message, /missing|cannot be rebuilt/, why);
          refused++;
        } else {
          assert.ok(prefixes.has(got), `${why}: recovered a state that was never acknowledged`);
        }
      } else if (changed) {
        assert.ok(got instanceof WalCorruptionError, `${why}: a cut older segment must be refused`);
        refused++;
      }
    }
    t.diagnostic(`${total} cuts, ${refused} refused as corruption`);
  });

  test(`power loss (seed ${seed}): flipped bytes are refused as corruption or lose at most the last save`, async (t) => {
    const root = await tempDir(t);
    const rec = await record(path.join(root, "live"), seed, opts);
    const rand = seededRand(seed * 31 + 3);
    const prefixes = new Set(rec.digests);
    let refused = 0;
    const total = 800 * cases;
    for (let i = 0; i < total; i++) {
      const k = 1 + rand.int(OPS);
      const files = filesAt(rec, k);
      const names = [...files.keys()].sort();
      const name = names[rand.int(names.length)];
      const bytes = Buffer.from(files.get(name)!);
      const flips: number[] = [];
      for (let f = 0, n = 1 + rand.int(3); f < n; f++) {
        const at = rand.int(bytes.length);
        bytes[at] ^= 1 + rand.int(255);
        flips.push(at);
      }
      files.set(name, bytes);
      const got = await reopen(root, files, false, opts);
      const why = `seed ${seed}, state after ${k} acks: ${name} flipped at ${flips.join(", ")} of ${bytes.length}`;
      if (got instanceof WalCorruptionError) {
        refused++;
        assert.match(got.message, /at byte offset \d+/);
        continue;
      }
      assert.equal(name, names.at(-1), `${why}: damage in an older segment was not detected`);
      assert.ok(prefixes.has(got), `${why}: recovered a state that was never acknowledged`);
      // One damaged spot can only be mistaken for a torn last save. Several can also erase the
      // evidence that later saves completed; then any prefix is acceptable.
      const acked = rec.digests.lastIndexOf(got);
      // "The last save": the last operation up to k that wrote anything (a save
      // that changes nothing writes no bytes).
      let lastWrite = k;
      while (lastWrite > 1 && sameFiles(rec.sizes[lastWrite], rec.sizes[lastWrite - 1])) lastWrite--;
      if (flips.length === 1)
        assert.ok(
          acked >= lastWrite - 1,
          `${why}: lost more than the last save (recovered ${acked} of ${k}; last write at ${lastWrite})`,
        );
    }
    t.diagnostic(`${total} flips, ${refused} refused as corruption`);
  });
}
