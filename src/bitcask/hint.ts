// Hint files: for one immutable data file, the key, location, size and seq of
// every put and tombstone in it, so open reads hints instead of data. A hint
// is all or nothing: one checksum covers it, and a hint that fails any check
// (or describes a data file of another size) is ignored and the data file is
// scanned instead. Loading a hint yields exactly what scanning its data file
// would, so the two are interchangeable.
//
// Layout (little-endian):
//    0 u32 crc32c of bytes [4, end of file)
//    4 8B  magic "FLOEBCHT"
//   12 u8  format version (1)
//   13 3B  reserved, 0
//   16 u32 data file id
//   20 u32 entry count
//   24 u64 size of the data file described, in bytes (seal included)
//   32 u64 smallest seq of a record in the data file (0 when none)
//   40 u64 largest seq (0 when none)
//   48 entries, each:
//        u8 type (1 put, 2 tombstone) | u32 key size | u32 value size |
//        u32 record offset in the data file | u64 seq | key

import { crc32c } from "../common/index.ts";
import {
  FILE_HEADER_BYTES,
  MAX_KEY_BYTES_LIMIT,
  MAX_VALUE_BYTES_LIMIT,
  RecordType,
  readU32,
  readU64,
  recordBytes,
  writeU64,
} from "./record.ts";

export const HINT_MAGIC = Buffer.from("FLOEBCHT", "latin1");
export const HINT_HEADER_BYTES = 48;
const ENTRY_FIXED_BYTES = 21;

export interface HintHeader {
  dataFileId: number;
  entryCount: number;
  dataFileBytes: number;
  minSeq: number;
  maxSeq: number;
}

/** Accumulates the entries of one data file's hint. */
export class HintWriter {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private len = HINT_HEADER_BYTES;
  private count = 0;
  private minSeq = Number.POSITIVE_INFINITY;
  private maxSeq = 0;

  constructor(private readonly dataFileId: number) {}

  get entries(): number {
    return this.count;
  }

  add(
    type: number,
    key: Uint8Array,
    keyStart: number,
    keySize: number,
    valueSize: number,
    offset: number,
    seq: number,
  ) {
    const need = this.len + ENTRY_FIXED_BYTES + keySize;
    if (need > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    const b = this.buf;
    let at = this.len;
    b[at] = type;
    b.writeUInt32LE(keySize, at + 1);
    b.writeUInt32LE(valueSize, at + 5);
    b.writeUInt32LE(offset, at + 9);
    writeU64(b, at + 13, seq);
    at += ENTRY_FIXED_BYTES;
    b.set(key.subarray(keyStart, keyStart + keySize), at);
    this.len = at + keySize;
    this.count++;
    if (seq < this.minSeq) this.minSeq = seq;
    if (seq > this.maxSeq) this.maxSeq = seq;
  }

  /** The finished hint for a data file of `dataFileBytes` bytes. */
  finish(dataFileBytes: number): Buffer {
    const b = this.buf.subarray(0, this.len);
    b.fill(0, 0, HINT_HEADER_BYTES);
    HINT_MAGIC.copy(b, 4);
    b[12] = 1;
    b.writeUInt32LE(this.dataFileId, 16);
    b.writeUInt32LE(this.count, 20);
    writeU64(b, 24, dataFileBytes);
    writeU64(b, 32, this.count === 0 ? 0 : this.minSeq);
    writeU64(b, 40, this.maxSeq);
    b.writeUInt32LE(crc32c(b.subarray(4)), 0);
    return b;
  }
}

/** Receives the entries of a valid hint. `keyStart` indexes `buf`. */
export type HintVisitor = (
  type: number,
  buf: Buffer,
  keyStart: number,
  keySize: number,
  valueSize: number,
  offset: number,
  seq: number,
) => void;

/**
 * Validate a whole hint file; returns its header, or why it is unusable.
 * Never throws on bad bytes and allocates nothing by their lengths.
 */
export function checkHint(buf: Buffer, expectedFileId: number): HintHeader | string {
  const h = checkHintHeader(buf, expectedFileId);
  if (typeof h === "string") return h;
  const bad = walkHint(buf, h, newHintCursor(), h.entryCount, undefined);
  return bad === undefined ? h : bad;
}

/**
 * Check a hint's checksum and header only, for a caller that walks the
 * entries in chunks with visitHintChunk (which still checks each entry).
 */
export function checkHintHeader(buf: Buffer, expectedFileId: number): HintHeader | string {
  if (buf.length < HINT_HEADER_BYTES) return `hint is ${buf.length} bytes, shorter than its header`;
  const stored = readU32(buf, 0);
  const actual = crc32c(buf.subarray(4));
  if (stored !== actual) return `hint checksum mismatch (stored ${stored}, computed ${actual})`;
  if (!buf.subarray(4, 12).equals(HINT_MAGIC)) return "bad magic: not a floe bitcask hint file";
  if (buf[12] !== 1) return `unsupported hint version ${buf[12]}`;
  const h: HintHeader = {
    dataFileId: readU32(buf, 16),
    entryCount: readU32(buf, 20),
    dataFileBytes: readU64(buf, 24),
    minSeq: readU64(buf, 32),
    maxSeq: readU64(buf, 40),
  };
  if (h.dataFileId !== expectedFileId)
    return `hint describes data file ${h.dataFileId}, expected ${expectedFileId}`;
  if (h.dataFileBytes < FILE_HEADER_BYTES || h.minSeq < 0 || h.maxSeq < h.minSeq) {
    return `implausible hint header (data bytes ${h.dataFileBytes}, seqs ${h.minSeq}..${h.maxSeq})`;
  }
  return h;
}

/** Visit the entries of a hint that checkHint accepted. */
export function visitHint(buf: Buffer, h: HintHeader, visit: HintVisitor): void {
  const cursor = newHintCursor();
  visitHintChunk(buf, h, cursor, h.entryCount, visit);
}

/** Where a chunked walk over a hint stands. */
export interface HintCursor {
  at: number;
  index: number;
}

export function newHintCursor(): HintCursor {
  return { at: HINT_HEADER_BYTES, index: 0 };
}

/**
 * Visit up to `maxEntries` more entries of a hint that checkHint accepted,
 * from `cursor` (advanced). Returns true when all entries were visited.
 */
export function visitHintChunk(
  buf: Buffer,
  h: HintHeader,
  cursor: HintCursor,
  maxEntries: number,
  visit: HintVisitor,
): boolean {
  const bad = walkHint(buf, h, cursor, maxEntries, visit);
  if (bad !== undefined) throw new Error(`bitcask: hint changed after it was checked: ${bad}`);
  return cursor.index >= h.entryCount;
}

function walkHint(
  buf: Buffer,
  h: HintHeader,
  cursor: HintCursor,
  maxEntries: number,
  visit: HintVisitor | undefined,
): string | undefined {
  let at = cursor.at;
  const stop = Math.min(h.entryCount, cursor.index + maxEntries);
  for (let i = cursor.index; i < stop; i++) {
    if (at + ENTRY_FIXED_BYTES > buf.length) return `hint entry ${i} at ${at} is cut short`;
    const type = buf[at];
    const keySize = readU32(buf, at + 1);
    const valueSize = readU32(buf, at + 5);
    const offset = readU32(buf, at + 9);
    const seq = readU64(buf, at + 13);
    if (type !== RecordType.Put && type !== RecordType.Tombstone) return `hint entry ${i}: bad type ${type}`;
    if (keySize === 0 || keySize > MAX_KEY_BYTES_LIMIT) return `hint entry ${i}: bad key size ${keySize}`;
    if (valueSize > MAX_VALUE_BYTES_LIMIT || (type === RecordType.Tombstone && valueSize !== 0)) {
      return `hint entry ${i}: bad value size ${valueSize}`;
    }
    if (offset < FILE_HEADER_BYTES || offset + recordBytes(keySize, valueSize) > h.dataFileBytes) {
      return `hint entry ${i}: record at ${offset} does not fit a data file of ${h.dataFileBytes} bytes`;
    }
    if (seq < h.minSeq || seq > h.maxSeq)
      return `hint entry ${i}: seq ${seq} outside ${h.minSeq}..${h.maxSeq}`;
    const keyStart = at + ENTRY_FIXED_BYTES;
    if (keyStart + keySize > buf.length) return `hint entry ${i}: key runs past the end`;
    visit?.(type, buf, keyStart, keySize, valueSize, offset, seq);
    at = keyStart + keySize;
  }
  cursor.at = at;
  cursor.index = stop;
  if (stop < h.entryCount) return undefined;
  return at === buf.length
    ? undefined
    : `hint has ${buf.length - at} bytes after its ${h.entryCount} entries`;
}
