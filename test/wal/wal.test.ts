import assert from "node:assert/strict";
import nodeFs from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { test } from "node:test";
import type { Vfs } from "../../src/common/index.ts";
import type { Entry } from "../../src/raft/types.ts";
import { Wal, WalCorruptionError, WalError, type WalOptions } from "../../src/wal/index.ts";
import {
  encodeRecord,
  FRAME_HEADER_BYTES,
  payloadBytes,
  RecordType,
  type WalRecord,
} from "../../src/wal/record.ts";
import { capture, ent, ents, listDir, syncCounter, tempDir } from "./helpers.ts";

const all = (wal: Wal): Entry[] => {
  const s = wal.state;
  return s.lastIndex() < s.firstIndex()
    ? []
    : wal.entries(s.firstIndex(), s.lastIndex() + 1, Number.MAX_SAFE_INTEGER);
};
const brief = (list: readonly Entry[]) =>
  list.map((e) => `${e.index}/${e.term}/${Buffer.from(e.data).toString()}`);
const quiet: WalOptions = { logger: () => {} };

test("appended entries and hard state read back the same before and after reopen", async (t) => {
  const dir = await tempDir(t);
  let wal = await Wal.open(dir, quiet);
  await wal.save({ entries: ents(1, 5, 1), hardState: { term: 1, vote: 2, commit: 3 } });
  await wal.save({ entries: ents(6, 7, 2), hardState: { term: 2, vote: 0, commit: 6 } });
  const before = brief(all(wal));
  assert.deepEqual(before, [
    "1/1/e1t1",
    "2/1/e2t1",
    "3/1/e3t1",
    "4/1/e4t1",
    "5/1/e5t1",
    "6/2/e6t2",
    "7/2/e7t2",
  ]);
  await wal.close();
  wal = await Wal.open(dir, quiet);
  assert.deepEqual(brief(all(wal)), before);
  assert.deepEqual(wal.state.hardState, { term: 2, vote: 0, commit: 6 });
  assert.equal(wal.state.termAt(7), 2);
  assert.equal(wal.state.termAt(0), 0);
  await wal.close();
});

test("group commit: one save of 1000 entries and a hard state costs one write's fdatasync and nothing else", async (t) => {
  const dir = await tempDir(t);
  const syncs = syncCounter();
  const wal = await Wal.open(dir, { ...quiet, onSync: syncs.onSync });
  syncs.reset();
  for (let k = 0; k < 5; k++) {
    await wal.save({
      entries: ents(k * 1000 + 1, (k + 1) * 1000, 1, 100),
      hardState: { term: 1, vote: 1, commit: k * 1000 },
    });
    assert.deepEqual(syncs.counts, { fdatasync: k + 1, fsync: 0, dirsync: 0 });
  }
  assert.equal(wal.state.lastIndex(), 5000);
  // A save that changes nothing writes nothing.
  await wal.save({ entries: [], hardState: { term: 1, vote: 1, commit: 4000 } });
  assert.equal(syncs.counts.fdatasync, 5);
  await wal.close();
});

test("a conflicting suffix is superseded by appending, never by rewriting, and replay keeps the newest records", async (t) => {
  const dir = await tempDir(t);
  let wal = await Wal.open(dir, quiet);
  await wal.save({ entries: ents(1, 10, 1) });
  const file = wal.segments()[0].path;
  // The log's length, not the file's: the file runs on into preallocated zeros.
  const bytesBefore = (await fs.readFile(file)).subarray(0, wal.segments()[0].sizeBytes);
  await wal.save({ entries: ents(6, 8, 2) });
  const bytesAfter = (await fs.readFile(file)).subarray(0, wal.segments()[0].sizeBytes);
  assert.ok(bytesAfter.length > bytesBefore.length);
  assert.deepEqual(bytesAfter.subarray(0, bytesBefore.length), bytesBefore, "earlier bytes are untouched");
  const expected = [
    "1/1/e1t1",
    "2/1/e2t1",
    "3/1/e3t1",
    "4/1/e4t1",
    "5/1/e5t1",
    "6/2/e6t2",
    "7/2/e7t2",
    "8/2/e8t2",
  ];
  assert.deepEqual(brief(all(wal)), expected);
  await wal.save({ entries: ents(3, 3, 3) });
  await wal.save({ entries: ents(4, 5, 3) });
  await wal.close();
  wal = await Wal.open(dir, { ...quiet, cacheSizeBytes: 0 });
  assert.deepEqual(brief(all(wal)), ["1/1/e1t1", "2/1/e2t1", "3/3/e3t3", "4/3/e4t3", "5/3/e5t3"]);
  await wal.close();
});

test("segments roll over at segmentSizeBytes and entries are read back across segments from disk", async (t) => {
  const dir = await tempDir(t);
  const opts: WalOptions = { ...quiet, segmentSizeBytes: 4096, cacheSizeBytes: 0 };
  let wal = await Wal.open(dir, opts);
  for (let i = 1; i <= 200; i += 5) await wal.save({ entries: ents(i, i + 4, 1 + Math.floor(i / 50), 100) });
  const names = await listDir(dir);
  assert.ok(names.length >= 5, `expected several segments, got ${names.join(", ")}`);
  assert.match(names[0], /^0000000000000000-0000000000000001\.wal$/);
  assert.match(names[1], /^0000000000000001-\d{16}\.wal$/);
  for (const s of wal.segments().slice(0, -1))
    assert.ok(s.sizeBytes <= 4096, `${s.path} is ${s.sizeBytes} bytes`);
  const before = all(wal);
  await wal.close();
  wal = await Wal.open(dir, opts);
  const after = all(wal);
  assert.equal(after.length, 200);
  assert.deepEqual(after, before);
  // The size limit is honoured (at least one entry, then whole entries while they fit).
  assert.equal(wal.entries(10, 200, 0).length, 1);
  assert.equal(wal.entries(10, 200, 3 * 116).length, 3);
  await wal.close();
});

test("compaction deletes whole segments below the compaction point, syncs the directory, and survives reopen", async (t) => {
  const dir = await tempDir(t);
  const syncs = syncCounter();
  const opts: WalOptions = { ...quiet, segmentSizeBytes: 4096, onSync: syncs.onSync };
  let wal = await Wal.open(dir, opts);
  for (let i = 1; i <= 300; i += 10) await wal.save({ entries: ents(i, i + 9, 1, 100) });
  const segsBefore = wal.segments().map((s) => ({ ...s }));
  await wal.markSnapshot({ index: 150, term: 1, confState: wal.state.snapshot.confState });
  syncs.reset();
  await wal.compact(150);
  assert.equal(syncs.counts.fdatasync, 1);
  assert.equal(syncs.counts.dirsync, 1);
  const holding151 = segsBefore.findLast((s) => s.firstIndex <= 151);
  assert.ok(holding151);
  const kept = wal.segments().map((s) => s.seq);
  assert.equal(kept[0], holding151.seq, "the segment holding entry 151 is the oldest kept");
  for (const s of segsBefore) {
    const exists = await fs.stat(s.path).then(
      () => true,
      () => false,
    );
    assert.equal(exists, s.seq >= holding151.seq, `${s.path}`);
  }
  await wal.close();
  wal = await Wal.open(dir, opts);
  assert.equal(wal.state.firstIndex(), 151);
  assert.equal(wal.state.termAt(150), 1);
  assert.equal(wal.state.lastIndex(), 300);
  assert.equal(all(wal).length, 150);
  // Compacting everything leaves only the active segment.
  await wal.markSnapshot({ index: 300, term: 1, confState: wal.state.snapshot.confState });
  await wal.compact(300);
  assert.equal(wal.segments().length, 1);
  await wal.save({ entries: ents(301, 302, 2) });
  await wal.close();
  wal = await Wal.open(dir, opts);
  assert.deepEqual(brief(all(wal)), ["301/2/e301t2", "302/2/e302t2"]);
  await wal.close();
});

test("a compaction ends a large active segment and carries the entries after it over, so the old segment goes at once", async (t) => {
  const dir = await tempDir(t);
  const opts: WalOptions = { ...quiet, segmentSizeBytes: 64 * 1024 };
  const wal = await Wal.open(dir, opts);
  // 200 entries of ~100 bytes: past 1/8 of the segment size, far from a cut by size.
  for (let i = 1; i <= 200; i += 10) await wal.save({ entries: ents(i, i + 9, 1, 100) });
  await wal.save({ entries: ents(201, 210, 2, 100), sync: false });
  assert.equal(wal.segments().length, 1);
  const first = wal.segments()[0];
  const before = brief(all(wal).filter((e) => e.index > 170));
  const cs = wal.state.snapshot.confState;
  // 40 entries after the compaction point: within 1/8 of the segment size, so they are carried over.
  await wal.markSnapshot({ index: 190, term: 1, confState: cs }, 170);
  assert.deepEqual(
    wal.segments().map((s) => s.seq),
    [1],
    "the compaction started a new segment and the old one, left with nothing live, is gone",
  );
  assert.equal(
    await fs.stat(first.path).then(
      () => true,
      () => false,
    ),
    false,
  );
  assert.deepEqual(brief(all(wal)), before, "entries 171..210 read back the same from their new home");
  for (let i = 211; i <= 300; i += 10) await wal.save({ entries: ents(i, i + 9, 2, 100) });
  await wal.close();
  const again = await Wal.open(dir, opts);
  assert.equal(again.state.firstIndex(), 171);
  assert.equal(again.state.termAt(170), 1);
  assert.equal(again.state.lastIndex(), 300);
  assert.deepEqual(brief(all(again)).slice(0, 40), before);
  assert.equal(again.state.snapshot.index, 190);
  await again.close();
});

test("entries carried over at a cut survive a crash between the cut and the old segment's deletion", async (t) => {
  const dir = await tempDir(t);
  const opts: WalOptions = { ...quiet, segmentSizeBytes: 64 * 1024 };
  const wal = await Wal.open(dir, opts);
  for (let i = 1; i <= 200; i += 10) await wal.save({ entries: ents(i, i + 9, 1, 100) });
  const oldSegment = await fs.readFile(wal.segments()[0].path);
  const oldPath = wal.segments()[0].path;
  const before = brief(all(wal).filter((e) => e.index > 170));
  await wal.markSnapshot({ index: 190, term: 1, confState: wal.state.snapshot.confState }, 170);
  assert.equal(wal.segments().length, 1, "carried over: the old segment was deleted");
  await wal.close();
  // As if the process died before the old segment was removed: both are on disk.
  await fs.writeFile(oldPath, oldSegment);
  const again = await Wal.open(dir, opts);
  assert.equal(again.state.firstIndex(), 171);
  assert.deepEqual(brief(all(again)), before);
  assert.equal(again.segments().length, 2);
  await again.close();
});

test("an installed snapshot replaces the log and lets every older segment go", async (t) => {
  const dir = await tempDir(t);
  const opts: WalOptions = { ...quiet, segmentSizeBytes: 2048 };
  let wal = await Wal.open(dir, opts);
  for (let i = 1; i <= 100; i += 10) await wal.save({ entries: ents(i, i + 9, 1, 100) });
  const confState = { voters: [1, 2], votersOutgoing: [], learners: [3], learnersNext: [], autoLeave: false };
  await wal.save({
    snapshot: { index: 500, term: 4, confState },
    entries: ents(499, 502, 4),
    hardState: { term: 4, vote: 0, commit: 500 },
  });
  assert.equal(wal.segments().length, 1);
  assert.equal(wal.state.firstIndex(), 501);
  await wal.close();
  wal = await Wal.open(dir, opts);
  assert.deepEqual(wal.state.snapshot, { index: 500, term: 4, confState });
  assert.deepEqual(brief(all(wal)), ["501/4/e501t4", "502/4/e502t4"]);
  assert.equal(wal.state.termAt(500), 4);
  await wal.close();
});

test("a torn last save is cut off with a warning, and the log keeps working", async (t) => {
  const dir = await tempDir(t);
  let wal = await Wal.open(dir, quiet);
  await wal.save({ entries: ents(1, 3, 1) });
  const file = wal.segments()[0].path;
  const good = wal.segments()[0].sizeBytes;
  await wal.save({ entries: ents(4, 6, 1) });
  const end = wal.segments()[0].sizeBytes;
  await wal.close();
  const full = (await fs.readFile(file)).subarray(0, end);
  await fs.writeFile(file, full.subarray(0, good + Math.floor((full.length - good) / 2)));
  const log = capture();
  wal = await Wal.open(dir, { logger: log.logger });
  assert.equal(wal.state.lastIndex(), 3);
  assert.equal(log.events.length, 1);
  assert.match(log.events[0].message, /torn tail/);
  assert.equal(log.events[0].fields.file, file);
  assert.equal(log.events[0].fields.keptBytes, good);
  assert.equal((await fs.stat(file)).size, good);
  await wal.save({ entries: ents(4, 4, 2) });
  await wal.close();
  wal = await Wal.open(dir, { logger: log.logger });
  assert.deepEqual(brief(all(wal)), ["1/1/e1t1", "2/1/e2t1", "3/1/e3t1", "4/2/e4t2"]);
  assert.equal(log.events.length, 1);
  await wal.close();
});

test("a bad checksum before the tail stops the open with a WalCorruptionError naming file and offset", async (t) => {
  const dir = await tempDir(t);
  const wal = await Wal.open(dir, quiet);
  await wal.save({ entries: ents(1, 3, 1) });
  const file = wal.segments()[0].path;
  const at = wal.segments()[0].sizeBytes; // first record of the second save
  await wal.save({ entries: ents(4, 6, 1) });
  await wal.save({ entries: ents(7, 9, 1) });
  await wal.close();
  const buf = await fs.readFile(file);
  buf[at + 20] ^= 0x40;
  await fs.writeFile(file, buf);
  await assert.rejects(Wal.open(dir, quiet), (e: unknown) => {
    assert.ok(e instanceof WalCorruptionError);
    assert.equal(e.file, file);
    assert.equal(e.offset, at);
    assert.match(e.message, new RegExp(`${path.basename(file)} at byte offset ${at}: checksum mismatch`));
    assert.match(e.message, /not a torn tail/);
    return true;
  });
  // An impossible length in the same place is refused the same way.
  buf[at + 20] ^= 0x40;
  buf.writeUInt32LE(0xfffffff0, at);
  await fs.writeFile(file, buf);
  await assert.rejects(
    Wal.open(dir, quiet),
    (e: unknown) => e instanceof WalCorruptionError && e.offset === at && /record length/.test(e.message),
  );
});

test("a segment that lost saves at its end, or a missing middle segment, is corruption", async (t) => {
  const dir = await tempDir(t);
  const wal = await Wal.open(dir, { ...quiet, segmentSizeBytes: 1024 });
  const saveEnds: number[] = [];
  for (let i = 1; i <= 60; i += 3) {
    await wal.save({ entries: ents(i, i + 2, 1, 50) });
    if (wal.segments().length === 1) saveEnds.push(wal.segments()[0].sizeBytes);
  }
  const segs = wal.segments().map((s) => s.path);
  await wal.close();
  assert.ok(segs.length >= 3);
  const first = await fs.readFile(segs[0]);
  // Cut exactly at a save boundary: every frame is intact, but the next segment's header knows better.
  await fs.writeFile(segs[0], first.subarray(0, saveEnds[saveEnds.length - 2]));
  await assert.rejects(Wal.open(dir, quiet), (e: unknown) => {
    return e instanceof WalCorruptionError && e.file === segs[1] && /previous segment/.test(e.message);
  });
  await fs.writeFile(segs[0], first);
  await fs.rm(segs[1]);
  await assert.rejects(Wal.open(dir, quiet), (e: unknown) => {
    return e instanceof WalCorruptionError && e.file === segs[2] && /segment 1 is missing/.test(e.message);
  });
});

test("a temp file left by an unfinished segment creation is removed on open", async (t) => {
  const dir = await tempDir(t);
  let wal = await Wal.open(dir, quiet);
  await wal.save({ entries: ents(1, 2, 1) });
  await wal.close();
  const tmp = path.join(dir, "0000000000000001-0000000000000003.wal.tmp");
  await fs.writeFile(tmp, "half a header");
  const log = capture();
  wal = await Wal.open(dir, { logger: log.logger });
  assert.deepEqual(await listDir(dir), ["0000000000000000-0000000000000001.wal"]);
  assert.match(log.events[0].message, /temporary/);
  assert.equal(wal.state.lastIndex(), 2);
  await wal.close();
});

test("saves that would break the log are refused whole and write nothing", async (t) => {
  const dir = await tempDir(t);
  const syncs = syncCounter();
  const wal = await Wal.open(dir, { ...quiet, maxRecordBytes: 1000, onSync: syncs.onSync });
  await wal.save({ entries: ents(1, 3, 2), hardState: { term: 2, vote: 1, commit: 0 } });
  syncs.reset();
  const refused = async (batch: Parameters<Wal["save"]>[0], code: string, pattern: RegExp) => {
    await assert.rejects(
      wal.save(batch),
      (e: unknown) => e instanceof WalError && e.code === code && pattern.test(e.message),
    );
  };
  await refused({ entries: ents(5, 6, 2) }, "InvalidArgument", /entry 5 leaves a gap after the last index 3/);
  await refused(
    { entries: ents(4, 4, 1) },
    "InvalidArgument",
    /entry 4 has term 1, lower than term 2 of entry 3/,
  );
  await refused({ entries: [ent(4, 2), ent(6, 2)] }, "InvalidArgument", /not contiguous: 6 follows 4/);
  await refused(
    { hardState: { term: 1, vote: 1, commit: 0 } },
    "InvalidArgument",
    /term decreases from 2 to 1/,
  );
  await refused(
    { hardState: { term: 2, vote: 3, commit: 0 } },
    "InvalidArgument",
    /vote changes from 1 to 3 within term 2/,
  );
  await refused(
    { entries: [ent(4, 2, Buffer.alloc(2000))] },
    "RecordTooLarge",
    /entry 4 needs a 2017-byte record; the limit is 1000/,
  );
  await refused({ entries: [ent(4, 2.5)] }, "InvalidArgument", /term 2.5/);
  assert.deepEqual(syncs.counts, { fdatasync: 0, fsync: 0, dirsync: 0 });
  assert.equal(wal.state.lastIndex(), 3);
  await assert.rejects(wal.compact(2), /cannot compact to 2/);
  await wal.close();
  await assert.rejects(
    wal.save({ entries: ents(4, 4, 2) }),
    (e: unknown) => e instanceof WalError && e.code === "Closed",
  );
});

test("concurrent saves run one at a time in call order, each with its own fdatasync", async (t) => {
  const dir = await tempDir(t);
  const syncs = syncCounter();
  const wal = await Wal.open(dir, { ...quiet, onSync: syncs.onSync, maxPendingSaves: 3 });
  syncs.reset();
  const p1 = wal.save({ entries: ents(1, 5, 1) });
  const p2 = wal.save({ entries: ents(3, 4, 2) });
  const p3 = wal.save({ entries: ents(5, 5, 2), hardState: { term: 2, vote: 0, commit: 2 } });
  const p4 = wal.save({ entries: ents(6, 6, 2) });
  await assert.rejects(p4, (e: unknown) => e instanceof WalError && e.code === "TooManyPendingSaves");
  await Promise.all([p1, p2, p3]);
  assert.equal(syncs.counts.fdatasync, 3);
  assert.deepEqual(brief(all(wal)), ["1/1/e1t1", "2/1/e2t1", "3/2/e3t2", "4/2/e4t2", "5/2/e5t2"]);
  await wal.close();
});

test("reading an entry whose bytes rotted on disk fails with WalCorruptionError instead of returning them", async (t) => {
  const dir = await tempDir(t);
  const wal = await Wal.open(dir, { ...quiet, cacheSizeBytes: 0 });
  await wal.save({ entries: ents(1, 3, 1, 64) });
  const seg = wal.segments()[0];
  const off = wal.state.locs.offset(2);
  const buf = await fs.readFile(seg.path);
  buf[off + 40] ^= 1;
  await fs.writeFile(seg.path, buf);
  assert.equal(wal.entries(1, 2, 1e9).length, 1);
  assert.throws(
    () => wal.entries(1, 4, 1e9),
    (e: unknown) => e instanceof WalCorruptionError && e.file === seg.path && e.offset === off,
  );
  await wal.close();
});

test("well-formed records that break the log's invariants are reported as corruption at their offset", async (t) => {
  const dir = await tempDir(t);
  const wal = await Wal.open(dir, quiet);
  await wal.save({ entries: ents(1, 3, 2), hardState: { term: 2, vote: 1, commit: 1 } });
  const logBytes = wal.segments()[0].sizeBytes;
  await wal.close();
  const file = path.join(dir, (await listDir(dir))[0]);
  const good = (await fs.readFile(file)).subarray(0, logBytes);
  const unit = (records: WalRecord[]) => {
    const parts = [...records, { type: RecordType.Commit, records: records.length } as WalRecord].map((r) => {
      const b = Buffer.alloc(FRAME_HEADER_BYTES + payloadBytes(r));
      encodeRecord(b, 0, r);
      return b;
    });
    return Buffer.concat(parts);
  };
  const cases: [string, WalRecord[], RegExp][] = [
    ["gap", [{ type: RecordType.Entry, entry: ent(5, 2) }], /entry 5 leaves a gap after the last index 3/],
    [
      "term goes back",
      [{ type: RecordType.Entry, entry: ent(4, 1) }],
      /entry 4 has term 1, lower than term 2/,
    ],
    [
      "vote changes",
      [{ type: RecordType.HardState, hardState: { term: 2, vote: 3, commit: 1 } }],
      /vote changes from 1 to 3/,
    ],
    ["compaction past the snapshot", [{ type: RecordType.Compact, index: 2, term: 2 }], /beyond snapshot 0/],
  ];
  for (const [name, records, pattern] of cases) {
    await fs.writeFile(
      file,
      Buffer.concat([good, unit(records), unit([{ type: RecordType.Entry, entry: ent(4, 2) }])]),
    );
    await assert.rejects(Wal.open(dir, quiet), (e: unknown) => {
      assert.ok(e instanceof WalCorruptionError, name);
      assert.equal(e.offset, good.length, name);
      assert.match(e.message, pattern, name);
      return true;
    });
  }
});

test("preallocation: the active segment runs on in zeros ahead of the log, which replay reads as its end", async (t) => {
  const dir = await tempDir(t);
  const log = capture();
  const opts: WalOptions = { logger: log.logger, segmentSizeBytes: 64 * 1024, preallocateBytes: 4096 };
  let wal = await Wal.open(dir, opts);
  const file = wal.segments()[0].path;
  const lengths = new Set<number>();
  for (let i = 1; i <= 300; i += 3) {
    await wal.save({ entries: ents(i, i + 2, 1, 40) });
    const logBytes = wal.segments()[0].sizeBytes;
    const bytes = await fs.readFile(file);
    lengths.add(bytes.length);
    assert.ok(
      bytes.length >= logBytes + 1024,
      `file ${bytes.length} bytes, log ${logBytes}: not zeroed ahead`,
    );
    assert.ok(
      bytes.length <= logBytes + 4096 + 1024,
      `file ${bytes.length} bytes, log ${logBytes}: zeroed too far`,
    );
    assert.ok(
      bytes.subarray(logBytes).every((b) => b === 0),
      "past the log's end, only zeros",
    );
  }
  assert.ok(lengths.size >= 5, `the file grew in ${lengths.size} steps`);
  const before = brief(all(wal));
  await wal.close();
  wal = await Wal.open(dir, opts);
  assert.deepEqual(brief(all(wal)), before);
  assert.equal(log.events.length, 0, "zeros after the log are not a torn tail");
  // Saves after the reopen overwrite the zeros where the log left off.
  await wal.save({ entries: ents(301, 301, 2) });
  await wal.close();
  wal = await Wal.open(dir, opts);
  assert.deepEqual(brief(all(wal)), [...before, "301/2/e301t2"]);
  assert.equal(log.events.length, 0);
  await wal.close();
});

test("preallocation: older segments keep their zeros, a save torn into zeros is cut off, and 0 turns it off", async (t) => {
  const dir = await tempDir(t);
  const log = capture();
  const opts: WalOptions = { logger: log.logger, segmentSizeBytes: 4096, preallocateBytes: 2048 };
  let wal = await Wal.open(dir, opts);
  for (let i = 1; i <= 200; i += 5) await wal.save({ entries: ents(i, i + 4, 1, 100) });
  const segs = wal.segments().map((s) => ({ path: s.path, logBytes: s.sizeBytes }));
  assert.ok(segs.length >= 5);
  for (const s of segs.slice(0, -1)) {
    const bytes = await fs.readFile(s.path);
    assert.ok(bytes.length > s.logBytes, `${s.path}: ${bytes.length} bytes for a log of ${s.logBytes}`);
  }
  const last = segs.at(-1)!;
  const good = last.logBytes;
  await wal.save({ entries: ents(201, 205, 1, 100) });
  const end = wal.segments().at(-1)!.sizeBytes;
  await wal.close();
  wal = await Wal.open(dir, opts);
  assert.equal(wal.state.lastIndex(), 205);
  assert.equal(log.events.length, 0);
  await wal.close();
  // The last save's second half never reached the disk: zeros where it was.
  const bytes = await fs.readFile(last.path);
  bytes.fill(0, good + Math.floor((end - good) / 2), end);
  await fs.writeFile(last.path, bytes);
  wal = await Wal.open(dir, opts);
  assert.equal(wal.state.lastIndex(), 200);
  assert.equal(log.events.length, 1);
  assert.match(log.events[0].message, /torn tail/);
  assert.equal(log.events[0].fields.keptBytes, good);
  await wal.close();
  // Zeros in the middle of an older segment, with saves after them, are damage.
  const first = await fs.readFile(segs[0].path);
  const headerless = Buffer.from(first);
  const unitEnd = Math.floor(segs[0].logBytes / 2);
  headerless.fill(0, unitEnd, segs[0].logBytes - 40);
  await fs.writeFile(segs[0].path, headerless);
  await assert.rejects(Wal.open(dir, opts), WalCorruptionError);
  await fs.writeFile(segs[0].path, first);

  const plain = await tempDir(t);
  wal = await Wal.open(plain, { ...quiet, preallocateBytes: 0 });
  await wal.save({ entries: ents(1, 3, 1) });
  assert.equal((await fs.stat(wal.segments()[0].path)).size, wal.segments()[0].sizeBytes);
  await wal.close();
  await assert.rejects(Wal.open(plain, { ...quiet, preallocateBytes: -1 }), WalError);
});

test("a commit-only hard state saved without sync is not written until the next unit, a cut or close", async (t) => {
  const dir = await tempDir(t);
  const wal = await Wal.open(dir, quiet);
  await wal.save({ hardState: { term: 1, vote: 1, commit: 0 }, entries: ents(1, 3, 1) });
  const file = wal.segments()[0].path;
  const crashCopy = async (name: string) => {
    const to = path.join(await tempDir(t), name);
    await fs.cp(dir, to, { recursive: true });
    return to;
  };
  const before = await fs.readFile(file);
  await wal.save({ hardState: { term: 1, vote: 1, commit: 2 }, sync: false });
  assert.deepEqual(await fs.readFile(file), before, "nothing reached the file");
  assert.equal(wal.state.hardState.commit, 2, "the log's own view has the new commit index");
  const lost = await Wal.open(await crashCopy("lost"), quiet);
  assert.equal(lost.state.hardState.commit, 0, "a crash now loses only the commit index");
  assert.equal(lost.state.lastIndex(), 3);
  await lost.close();
  // A later commit-only state replaces it; the next unit carries it.
  await wal.save({ hardState: { term: 1, vote: 1, commit: 3 }, sync: false });
  await wal.save({ entries: ents(4, 4, 1) });
  assert.notDeepEqual(await fs.readFile(file), before);
  const kept = await Wal.open(await crashCopy("kept"), quiet);
  assert.equal(kept.state.hardState.commit, 3, "the entries' unit wrote the deferred commit index");
  await kept.close();
  // close() writes one that is still waiting.
  await wal.save({ hardState: { term: 1, vote: 1, commit: 4 }, sync: false });
  await wal.close();
  const again = await Wal.open(dir, quiet);
  assert.equal(again.state.hardState.commit, 4);
  await again.close();
});

test("a deferred commit-only hard state goes into the segment that ends before the next one's header repeats it", async (t) => {
  const dir = await tempDir(t);
  const opts: WalOptions = { ...quiet, segmentSizeBytes: 4096, preallocateBytes: 0 };
  const wal = await Wal.open(dir, opts);
  let commit = 0;
  for (let i = 1; i <= 60; i++) {
    await wal.save({ hardState: { term: 1, vote: 1, commit }, entries: ents(i, i, 1, 100) });
    commit = i;
    // Only the commit index moves: kept in memory until the next unit or a cut.
    await wal.save({ hardState: { term: 1, vote: 1, commit }, sync: false });
  }
  assert.ok(wal.segments().length > 1, "the saves crossed segment boundaries");
  await wal.close();
  const again = await Wal.open(dir, opts);
  assert.equal(again.state.lastIndex(), 60);
  assert.equal(again.state.hardState.commit, 60);
  await again.close();
});

test("an inline save fdatasyncs on the calling thread while the disk is quick, through the thread pool after a slow one", async (t) => {
  const dir = await tempDir(t);
  const counts = { inline: 0, pool: 0 };
  let inlineDelayMs = 0;
  // node:fs, counting the two ways a save's fdatasync can go (and slowing the inline one on demand)
  const vfs: Vfs = {
    ...nodeFs,
    fdatasyncSync(fd: number) {
      counts.inline++;
      if (inlineDelayMs > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, inlineDelayMs);
      nodeFs.fdatasyncSync(fd);
    },
    promises: {
      ...nodeFs.promises,
      async open(p: string, flags: string) {
        const fh = await nodeFs.promises.open(p, flags);
        return new Proxy(fh, {
          get(target, key) {
            if (key === "datasync") {
              return () => {
                counts.pool++;
                return target.datasync();
              };
            }
            const v = Reflect.get(target, key);
            return typeof v === "function" ? v.bind(target) : v;
          },
        });
      },
    },
  } as Vfs;
  const wal = await Wal.open(dir, { ...quiet, fs: vfs, inlineSyncMaxMs: 20 });
  const reset = () => Object.assign(counts, { inline: 0, pool: 0 });
  reset();
  await wal.save({ entries: ents(1, 1, 1), inline: true });
  await wal.save({ entries: ents(2, 2, 1), inline: true });
  assert.deepEqual(counts, { inline: 2, pool: 0 });
  await wal.save({ entries: ents(3, 3, 1) }); // not marked: the pool
  assert.deepEqual(counts, { inline: 2, pool: 1 });
  inlineDelayMs = 40;
  await wal.save({ entries: ents(4, 4, 1), inline: true }); // inline, but slow
  assert.deepEqual(counts, { inline: 3, pool: 1 });
  await wal.save({ entries: ents(5, 5, 1), inline: true }); // after a slow one: the pool
  assert.deepEqual(counts, { inline: 3, pool: 2 });
  await wal.save({ entries: ents(6, 6, 1), inline: true }); // the pool's was quick: inline again
  assert.deepEqual(counts, { inline: 4, pool: 2 });
  assert.deepEqual(brief(all(wal)), ["1/1/e1t1", "2/1/e2t1", "3/1/e3t1", "4/1/e4t1", "5/1/e5t1", "6/1/e6t1"]);
  await wal.close();
  // inlineSyncMaxMs 0 (the simulator's): never inline
  const wal2 = await Wal.open(dir, { ...quiet, fs: vfs, inlineSyncMaxMs: 0 });
  inlineDelayMs = 0;
  reset();
  await wal2.save({ entries: ents(7, 7, 1), inline: true });
  assert.deepEqual(counts, { inline: 0, pool: 1 });
  await wal2.close();
});
