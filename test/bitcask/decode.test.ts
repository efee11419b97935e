import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { crc32cRange } from "../../src/bitcask/crc.ts";
import { checkHint, HintWriter, visitHint } from "../../src/bitcask/hint.ts";
import { Bitcask, BitcaskCorruptionError } from "../../src/bitcask/index.ts";
import { decodeManifest, encodeManifest } from "../../src/bitcask/manifest.ts";
import {
  checkRecordBody,
  decodeFileHeader,
  decodeRecordHeader,
  encodeFileHeader,
  encodeRecord,
  FileKind,
  newRecordHeader,
  RECORD_HEADER_BYTES,
  RecordType,
  recordBytes,
} from "../../src/bitcask/record.ts";
import { crc32c } from "../../src/common/crc32c.ts";
import { quietLogger, rng, seededBytes } from "./helpers.ts";

function record(key: Uint8Array, value: Uint8Array, seq = 5, batchIndex = 0): Buffer {
  const buf = Buffer.alloc(recordBytes(key.length, value.length));
  encodeRecord(buf, 0, RecordType.Put, 1, batchIndex, seq, 1_700_000_000_000, key, value);
  return buf;
}

/** Decode a whole record as the scanners do; a reason or undefined. */
function decodeRecord(buf: Buffer): string | undefined {
  const h = newRecordHeader();
  return decodeRecordHeader(buf, 0, h) ?? checkRecordBody(buf, 0, h);
}

test("the record path's CRC-32C equals the common one at every length and offset", () => {
  const rand = rng(31);
  assert.equal(crc32cRange(Buffer.from("123456789"), 0, 9), 0xe3069283);
  for (let n = 0; n < 700; n++) {
    const buf = seededBytes(rand, n + 7);
    const start = n % 7;
    assert.equal(crc32cRange(buf, start, buf.length), crc32c(buf.subarray(start)), `length ${n}`);
  }
});

test("a record round-trips through its encoder and decoder", () => {
  const buf = record(Buffer.from("key"), Buffer.from("value"), 2 ** 53 - 1, 7);
  const h = newRecordHeader();
  assert.equal(decodeRecordHeader(buf, 0, h), undefined);
  assert.equal(checkRecordBody(buf, 0, h), undefined);
  assert.deepEqual(
    { type: h.type, flags: h.flags, k: h.keySize, v: h.valueSize, i: h.batchIndex, seq: h.seq },
    { type: RecordType.Put, flags: 1, k: 3, v: 5, i: 7, seq: 2 ** 53 - 1 },
  );
  assert.equal(buf.subarray(RECORD_HEADER_BYTES + 3).toString(), "value");
});

test("every single-byte change of a record is detected by its checksums", () => {
  const buf = record(Buffer.from("some key"), Buffer.from("some value bytes"));
  for (let i = 0; i < buf.length; i++) {
    for (const x of [0x01, 0x80, 0xff]) {
      const bad = Buffer.from(buf);
      bad[i] ^= x;
      assert.notEqual(decodeRecord(bad), undefined, `change at byte ${i} went unnoticed`);
    }
  }
});

test("the record decoder returns a reason, never throws, for random bytes of any length", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const r = decodeRecord(Buffer.from(bytes));
      assert.equal(typeof r, "string");
    }),
    { numRuns: 3000, seed: 11 },
  );
});

test("the record decoder rejects absurd lengths in a header whose checksum is valid", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: RECORD_HEADER_BYTES, maxLength: 64 }), (bytes) => {
      const buf = Buffer.from(bytes);
      buf.writeUInt32LE(crc32c(buf.subarray(4, RECORD_HEADER_BYTES)), 0); // forge the header checksum
      const h = newRecordHeader();
      const bad = decodeRecordHeader(buf, 0, h);
      if (bad === undefined) {
        // Accepted: then its lengths are within the format limits and the body check is bounded.
        assert.ok(h.keySize <= 16 * 1024 * 1024 && h.valueSize <= 256 * 1024 * 1024);
        assert.equal(typeof (checkRecordBody(buf, 0, h) ?? ""), "string");
      }
    }),
    { numRuns: 3000, seed: 12 },
  );
});

test("file headers decode, and damaged ones are refused with a reason", () => {
  const buf = encodeFileHeader({ kind: FileKind.Write, fileId: 42, baseSeq: 1000 });
  assert.deepEqual(decodeFileHeader(buf, 42), { kind: FileKind.Write, fileId: 42, baseSeq: 1000 });
  assert.match(decodeFileHeader(buf, 43) as string, /names file id 42/);
  assert.match(decodeFileHeader(buf.subarray(0, 10), 42) as string, /10 bytes/);
  for (let i = 0; i < buf.length; i++) {
    const bad = Buffer.from(buf);
    bad[i] ^= 0x10;
    assert.equal(typeof decodeFileHeader(bad, 42), "string", `byte ${i}`);
  }
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 64 }),
      (b) => typeof decodeFileHeader(Buffer.from(b), 1) === "string",
    ),
    { numRuns: 1000, seed: 13 },
  );
});

function sampleHint(): Buffer {
  const w = new HintWriter(9);
  const rec = Buffer.from("xxkey-a");
  w.add(RecordType.Put, rec, 2, 5, 100, 32, 10);
  w.add(RecordType.Tombstone, rec, 2, 5, 0, 177, 11);
  return w.finish(500);
}

test("a hint round-trips and any damage to it is refused, so open falls back to the data", () => {
  const buf = sampleHint();
  const h = checkHint(buf, 9);
  assert.ok(typeof h !== "string");
  const seen: string[] = [];
  visitHint(buf, h, (type, b, ks, klen, vs, off, seq) =>
    seen.push(`${type}:${b.toString("latin1", ks, ks + klen)}:${vs}:${off}:${seq}`),
  );
  assert.deepEqual(seen, ["1:key-a:100:32:10", "2:key-a:0:177:11"]);
  assert.match(checkHint(buf, 8) as string, /describes data file 9/);
  for (let i = 0; i < buf.length; i++) {
    const bad = Buffer.from(buf);
    bad[i] ^= 0x04;
    assert.equal(typeof checkHint(bad, 9), "string", `byte ${i}`);
  }
});

test("the hint decoder never throws on random or checksum-forged bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, forge) => {
      const buf = Buffer.from(bytes);
      if (forge && buf.length >= 48) {
        Buffer.from("FLOEBCHT", "latin1").copy(buf, 4);
        buf[12] = 1;
        buf.writeUInt32LE(9, 16);
        buf.writeUInt32LE(crc32c(buf.subarray(4)), 0);
      }
      const h = checkHint(buf, 9);
      if (typeof h !== "string") visitHint(buf, h, () => {}); // accepted: walking it must not throw either
    }),
    { numRuns: 3000, seed: 14 },
  );
  // A forged entry count of 2^32-1 walks only as far as the bytes go.
  const buf = sampleHint();
  buf.writeUInt32LE(0xffffffff, 20);
  buf.writeUInt32LE(crc32c(buf.subarray(4)), 0);
  assert.match(checkHint(buf, 9) as string, /cut short/);
});

test("the manifest decoder round-trips and refuses damaged or forged bytes without throwing", () => {
  const m = { inputs: [1, 2, 3], outputs: [{ id: 7, bytes: 123456 }] };
  assert.deepEqual(decodeManifest(encodeManifest(m)), m);
  const buf = encodeManifest(m);
  for (let i = 0; i < buf.length; i++) {
    const bad = Buffer.from(buf);
    bad[i] ^= 0x01;
    assert.equal(typeof decodeManifest(bad), "string", `byte ${i}`);
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
      const b = Buffer.from(bytes);
      if (b.length >= 24) {
        Buffer.from("FLOEBCMF", "latin1").copy(b, 4);
        b.writeUInt32LE(1, 12);
        b.writeUInt32LE(crc32c(b.subarray(4)), 0);
      }
      const r = decodeManifest(b);
      assert.ok(typeof r === "string" || (Array.isArray(r.inputs) && Array.isArray(r.outputs)));
    }),
    { numRuns: 2000, seed: 15 },
  );
});

test("opening data files full of random bytes fails with BitcaskCorruptionError or recovers, nothing else", async () => {
  const root = await fs.promises.mkdtemp(path.join(os.tmpdir(), "bitcask-fuzz-"));
  try {
    const rand = rng(21);
    for (let trial = 0; trial < 40; trial++) {
      const dir = path.join(root, String(trial));
      fs.mkdirSync(dir);
      const body = seededBytes(rand, Math.floor(rand() * 2000));
      const withHeader = trial % 2 === 0;
      const head = encodeFileHeader({ kind: FileKind.Write, fileId: 1, baseSeq: 1 });
      fs.writeFileSync(path.join(dir, "000001.data"), withHeader ? Buffer.concat([head, body]) : body);
      if (trial % 4 === 0) fs.writeFileSync(path.join(dir, "000001.hint"), seededBytes(rand, 100));
      try {
        const db = await Bitcask.open(dir, { logger: quietLogger() });
        // Random bytes after a valid header are a torn tail of the newest file: cut away.
        assert.ok(withHeader);
        assert.equal(db.stats().keys, 0);
        await db.close();
      } catch (err) {
        assert.ok(err instanceof BitcaskCorruptionError, `trial ${trial}: ${String(err)}`);
        assert.match(err.message, /000001\.data at offset \d+/);
      }
    }
  } finally {
    await fs.promises.rm(root, { recursive: true, force: true });
  }
});
