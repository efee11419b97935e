import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { crc32c } from "../../src/common/crc32c.ts";
import { EntryType } from "../../src/raft/types.ts";
import { SnapshotStore, snapshotFileName, Wal, WalCorruptionError } from "../../src/wal/index.ts";
import {
  decodeFrame,
  decodeRecord,
  encodeRecord,
  FRAME_HEADER_BYTES,
  frameCrc,
  payloadBytes,
  RecordType,
  sealFrame,
  type WalRecord,
} from "../../src/wal/record.ts";
import { scanSegment } from "../../src/wal/segment.ts";
import { ents, tempDir } from "./helpers.ts";

const MAX = 1 << 20;
const conf = {
  voters: [1, 2 ** 53 - 1],
  votersOutgoing: [],
  learners: [7],
  learnersNext: [8, 9],
  autoLeave: true,
};

const samples: WalRecord[] = [
  { type: RecordType.SegmentHeader, seq: 12, firstIndex: 3456, lastTerm: 7, prevSegmentBytes: 2 ** 40 },
  {
    type: RecordType.Entry,
    entry: { index: 2 ** 53 - 1, term: 9, type: EntryType.ConfChange, data: Buffer.from("hello") },
  },
  { type: RecordType.Entry, entry: { index: 1, term: 1, type: EntryType.Normal, data: new Uint8Array(0) } },
  { type: RecordType.HardState, hardState: { term: 5, vote: 3, commit: 99 } },
  { type: RecordType.Snapshot, metadata: { index: 10, term: 2, confState: conf }, install: true },
  { type: RecordType.Compact, index: 10, term: 2 },
  { type: RecordType.Commit, records: 4 },
];

function encode(r: WalRecord): Buffer {
  const buf = Buffer.alloc(FRAME_HEADER_BYTES + payloadBytes(r));
  assert.equal(encodeRecord(buf, 0, r), buf.length);
  return buf;
}

test("every record type round-trips through its frame", () => {
  for (const r of samples) {
    const buf = encode(r);
    const f = decodeFrame(buf, 0, MAX);
    assert.ok(f.ok);
    assert.equal(f.type, r.type);
    const back = decodeRecord(f.type, f.payload);
    assert.notEqual(typeof back, "string", String(back));
    const plain = (x: unknown) =>
      JSON.stringify(x, (_k, v) => (v?.type === "Buffer" ? Buffer.from(v.data).toString("hex") : v));
    const norm = (x: WalRecord | string) =>
      typeof x === "object" && x.type === RecordType.Entry
        ? { ...x, entry: { ...x.entry, data: Buffer.from(x.entry.data) } }
        : x;
    assert.equal(plain(norm(back)), plain(norm(r)));
  }
});

test("a frame's checksum is the CRC-32C of its length, type and payload bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 1, max: 255 }), (payload, type) => {
      const buf = Buffer.alloc(FRAME_HEADER_BYTES + payload.length);
      buf.set(payload, FRAME_HEADER_BYTES);
      sealFrame(buf, 0, type, payload.length);
      const expected = crc32c(Buffer.concat([buf.subarray(0, 4), buf.subarray(8)]));
      assert.equal(buf.readUInt32LE(4), expected);
      assert.equal(frameCrc(buf, 0, payload.length), expected);
    }),
    { numRuns: 500 },
  );
});

test("any single flipped bit in a frame is caught by its checksum", () => {
  for (const r of samples) {
    const buf = encode(r);
    for (let bit = 0; bit < buf.length * 8; bit++) {
      const b = Buffer.from(buf);
      b[bit >> 3] ^= 1 << (bit & 7);
      const f = decodeFrame(b, 0, MAX);
      assert.equal(f.ok, false, `record type ${r.type}, bit ${bit}`);
    }
  }
});

test("the frame and record decoders answer any bytes with a value, never an exception, and never allocate from a length", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(310), fc.nat(MAX), (bytes, offset, max) => {
      const buf = Buffer.from(bytes);
      const f = decodeFrame(buf, offset, max);
      if (f.ok) {
        assert.equal(f.payload.buffer, buf.buffer, "the payload is a view, not a copy");
        assert.ok(f.end <= buf.length);
      } else {
        assert.equal(typeof f.reason, "string");
      }
      for (let type = 0; type < 20; type++) {
        const r = decodeRecord(type, buf);
        assert.ok(typeof r === "string" || typeof r === "object");
      }
    }),
    { numRuns: 3000 },
  );
});

test("scanning random or mutated segment bytes yields units or a WalCorruptionError, nothing else", () => {
  const valid = Buffer.concat([
    encode(samples[0]),
    encode({ type: RecordType.HardState, hardState: { term: 0, vote: 0, commit: 0 } }),
    encode({ type: RecordType.Snapshot, metadata: { index: 0, term: 0, confState: conf }, install: false }),
    encode({ type: RecordType.Compact, index: 0, term: 0 }),
    encode({ type: RecordType.Commit, records: 4 }),
    ...ents(3456, 3460, 7).map((entry) => encode({ type: RecordType.Entry, entry })),
    encode({ type: RecordType.Commit, records: 5 }),
  ]);
  const scan = (buf: Buffer, isLast: boolean) => {
    try {
      const r = scanSegment(buf, { file: "fuzz.wal", isLast, maxRecordBytes: MAX }, () => {});
      assert.ok(r.cleanEnd <= buf.length);
    } catch (e) {
      if (!(e instanceof WalCorruptionError)) throw e;
      assert.ok(e.offset >= 0 && e.offset <= buf.length, `offset ${e.offset}`);
    }
  };
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (bytes, isLast) =>
      scan(Buffer.from(bytes), isLast),
    ),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }),
      fc.nat(valid.length),
      fc.boolean(),
      (flips, cut, isLast) => {
        const b = Buffer.from(valid);
        for (const [at, x] of flips) b[at] ^= x;
        scan(b.subarray(0, cut), isLast);
      },
    ),
    { numRuns: 3000 },
  );
});

test("opening a WAL directory of random or mutated files fails only with WalCorruptionError", async (t) => {
  const dir = await tempDir(t);
  const live = path.join(dir, "live");
  const wal = await Wal.open(live, { segmentSizeBytes: 600, logger: () => {} });
  for (let i = 1; i <= 40; i += 4)
    await wal.save({
      entries: ents(i, i + 3, 1 + (i >> 4), 30),
      hardState: { term: 1 + (i >> 4), vote: 0, commit: i },
    });
  await wal.close();
  const names = (await fs.readdir(live)).sort();
  const files = await Promise.all(names.map((n) => fs.readFile(path.join(live, n))));
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.nat(names.length - 1),
      fc.oneof(
        fc.uint8Array({ maxLength: 700 }).map((b) => ({ random: Buffer.from(b) })),
        fc
          .array(fc.tuple(fc.nat(599), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 3 })
          .map((flips) => ({ flips })),
      ),
      async (which, damage) => {
        const d = path.join(dir, `case-${run++}`);
        await fs.mkdir(d);
        for (let i = 0; i < names.length; i++) {
          let b = files[i];
          if (i === which) {
            if ("random" in damage) b = damage.random;
            else {
              b = Buffer.from(b);
              for (const [at, x] of damage.flips) b[at % b.length] ^= x;
            }
          }
          await fs.writeFile(path.join(d, names[i]), b);
        }
        try {
          const w = await Wal.open(d, { logger: () => {} });
          await w.close();
        } catch (e) {
          if (!(e instanceof WalCorruptionError)) throw e;
        } finally {
          await fs.rm(d, { recursive: true, force: true });
        }
      },
    ),
    { numRuns: 200 },
  );
});

test("a snapshot file of random bytes fails to open or to stream with WalCorruptionError only", async (t) => {
  const dir = await tempDir(t);
  const store = await SnapshotStore.open(dir);
  const good = await fs.readFile(
    (await store.writeSnapshot({ index: 5, term: 1, confState: conf }, [Buffer.alloc(3000, 1)])).file,
  );
  const file = path.join(dir, snapshotFileName(1, 5));
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
        fc
          .tuple(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), fc.nat(good.length))
          .map(([at, x, cut]) => {
            const b = Buffer.from(good);
            b[at] ^= x;
            return b.subarray(0, Math.max(cut, at + 1));
          }),
      ),
      async (bytes) => {
        await fs.writeFile(file, bytes);
        try {
          const s = await store.openSnapshot(5);
          for await (const _ of s.chunks) {
            // drain
          }
          assert.fail("a damaged snapshot streamed without an error");
        } catch (e) {
          if (!(e instanceof WalCorruptionError)) throw e;
        }
      },
    ),
    { numRuns: 300 },
  );
});
