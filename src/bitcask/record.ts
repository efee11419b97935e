// Byte layouts of a data file: its header and its records. All integers are
// little-endian. Decoders never throw on bad bytes: they return a reason, and
// they validate every length before anyone allocates or reads by it.
//
// Data file header (32 bytes):
//    0 u32 crc32c of bytes [4, 32)
//    4 8B  magic "FLOEBCDF"
//   12 u8  format version (1)
//   13 u8  kind: 1 written by the writer, 2 written by a merge
//   14 u16 reserved, 0
//   16 u32 file id (matches the NNNNNN in its name)
//   20 u32 reserved, 0
//   24 u64 base seq: the next seq when the file was created
//
// Record (40-byte header, then key, then value):
//    0 u32 header crc: crc32c of bytes [4, 40)
//    4 u32 body crc: crc32c of key ‖ value
//    8 u8  type: 1 put, 2 tombstone, 3 seal (the last record of an immutable file)
//    9 u8  flags: bit 0 = last record of its write batch
//   10 u16 reserved, 0
//   12 u32 key size
//   16 u32 value size (0 for tombstones and seals)
//   20 u32 index of the record in its write batch (0 for the first)
//   24 u64 seq: unique and increasing in write order across all files
//   32 u64 timestamp, ms since the epoch
//   40 key, value
//
// The header has its own checksum so a damaged length is recognised as damage
// before it is used, and so recovery can find intact records after a damaged
// one (see scan.ts). seq - batch index is the seq of the batch's first record,
// which says which records belong to one batch.

import { crc32cRange } from "./crc.ts";

export const FILE_HEADER_BYTES = 32;
export const RECORD_HEADER_BYTES = 40;
export const FILE_MAGIC = Buffer.from("FLOEBCDF", "latin1");
export const FORMAT_VERSION = 1;

export const RecordType = { Put: 1, Tombstone: 2, Seal: 3 } as const;
export const FLAG_BATCH_END = 1;
export const FileKind = { Write: 1, Merge: 2 } as const;

/** Largest key and value sizes the format accepts, whatever the options (bounds decoding). */
export const MAX_KEY_BYTES_LIMIT = 16 * 1024 * 1024;
export const MAX_VALUE_BYTES_LIMIT = 256 * 1024 * 1024;
const MAX_BATCH_INDEX = 1_000_000;
const TWO32 = 0x1_0000_0000;
/** Largest high word of a u64 that is still a safe integer. */
const MAX_HI = 0x1f_ffff;

export interface RecordHeader {
  type: number;
  flags: number;
  keySize: number;
  valueSize: number;
  batchIndex: number;
  seq: number;
  timestampMs: number;
  bodyCrc: number;
}

export function newRecordHeader(): RecordHeader {
  return { type: 0, flags: 0, keySize: 0, valueSize: 0, batchIndex: 0, seq: 0, timestampMs: 0, bodyCrc: 0 };
}

export function recordBytes(keySize: number, valueSize: number): number {
  return RECORD_HEADER_BYTES + keySize + valueSize;
}

export function writeU64(buf: Buffer, at: number, n: number): void {
  buf.writeUInt32LE(n >>> 0, at);
  buf.writeUInt32LE(Math.floor(n / TWO32), at + 4);
}

/** A u64 as a number, or -1 when it is not a safe integer. */
export function readU64(buf: Uint8Array, at: number): number {
  const lo = buf[at] | (buf[at + 1] << 8) | (buf[at + 2] << 16) | (buf[at + 3] << 24);
  const hi = (buf[at + 4] | (buf[at + 5] << 8) | (buf[at + 6] << 16) | (buf[at + 7] << 24)) >>> 0;
  return hi > MAX_HI ? -1 : hi * TWO32 + (lo >>> 0);
}

export function readU32(buf: Uint8Array, at: number): number {
  return (buf[at] | (buf[at + 1] << 8) | (buf[at + 2] << 16) | (buf[at + 3] << 24)) >>> 0;
}

/**
 * Write one record at buf[at..] (the caller made room: recordBytes(key, value)).
 * Returns the record's size.
 */
export function encodeRecord(
  buf: Buffer,
  at: number,
  type: number,
  flags: number,
  batchIndex: number,
  seq: number,
  timestampMs: number,
  key: Uint8Array,
  value: Uint8Array | undefined,
): number {
  const vlen = value === undefined ? 0 : value.length;
  const body = at + RECORD_HEADER_BYTES;
  buf.set(key, body);
  if (value !== undefined && vlen > 0) buf.set(value, body + key.length);
  const end = body + key.length + vlen;
  buf.writeUInt32LE(crc32cRange(buf, body, end), at + 4);
  buf[at + 8] = type;
  buf[at + 9] = flags;
  buf.writeUInt16LE(0, at + 10);
  buf.writeUInt32LE(key.length, at + 12);
  buf.writeUInt32LE(vlen, at + 16);
  buf.writeUInt32LE(batchIndex, at + 20);
  writeU64(buf, at + 24, seq);
  writeU64(buf, at + 32, timestampMs);
  buf.writeUInt32LE(crc32cRange(buf, at + 4, at + RECORD_HEADER_BYTES), at);
  return end - at;
}

/**
 * Decode and validate the record header at buf[at, at + 40) (the caller
 * checked those bytes exist) into `out`. Returns undefined when it is sound,
 * else what is wrong. The body is not checked: see checkRecordBody.
 */
export function decodeRecordHeader(buf: Buffer, at: number, out: RecordHeader): string | undefined {
  if (buf.length - at < RECORD_HEADER_BYTES) return `record header cut short (${buf.length - at} bytes)`;
  const stored = readU32(buf, at);
  const actual = crc32cRange(buf, at + 4, at + RECORD_HEADER_BYTES);
  if (stored !== actual) return `record header checksum mismatch (stored ${stored}, computed ${actual})`;
  const type = buf[at + 8];
  const flags = buf[at + 9];
  const keySize = readU32(buf, at + 12);
  const valueSize = readU32(buf, at + 16);
  const batchIndex = readU32(buf, at + 20);
  const seq = readU64(buf, at + 24);
  const timestampMs = readU64(buf, at + 32);
  if (type !== RecordType.Put && type !== RecordType.Tombstone && type !== RecordType.Seal) {
    return `unknown record type ${type}`;
  }
  if ((flags & ~FLAG_BATCH_END) !== 0 || buf[at + 10] !== 0 || buf[at + 11] !== 0) {
    return `reserved header bits set (flags ${flags})`;
  }
  if (keySize > MAX_KEY_BYTES_LIMIT)
    return `key size ${keySize} exceeds the format limit ${MAX_KEY_BYTES_LIMIT}`;
  if (valueSize > MAX_VALUE_BYTES_LIMIT) {
    return `value size ${valueSize} exceeds the format limit ${MAX_VALUE_BYTES_LIMIT}`;
  }
  if (type !== RecordType.Put && valueSize !== 0) return `record type ${type} with value size ${valueSize}`;
  if (type === RecordType.Seal ? keySize !== 0 : keySize === 0)
    return `record type ${type} with key size ${keySize}`;
  if (batchIndex > MAX_BATCH_INDEX) return `batch index ${batchIndex} exceeds ${MAX_BATCH_INDEX}`;
  if (seq < 0 || timestampMs < 0) return "seq or timestamp is not a safe integer";
  if (seq < batchIndex) return `seq ${seq} is below its batch index ${batchIndex}`;
  out.type = type;
  out.flags = flags;
  out.keySize = keySize;
  out.valueSize = valueSize;
  out.batchIndex = batchIndex;
  out.seq = seq;
  out.timestampMs = timestampMs;
  out.bodyCrc = readU32(buf, at + 4);
  return undefined;
}

/** Check the body checksum of a record whose header `h` was decoded at buf[at]; the body is in buf. */
export function checkRecordBody(buf: Buffer, at: number, h: RecordHeader): string | undefined {
  const body = at + RECORD_HEADER_BYTES;
  const end = body + h.keySize + h.valueSize;
  if (end > buf.length) return `record body cut short (${buf.length - body} of ${end - body} bytes)`;
  const actual = crc32cRange(buf, body, end);
  return actual === h.bodyCrc
    ? undefined
    : `record body checksum mismatch (stored ${h.bodyCrc}, computed ${actual})`;
}

export interface FileHeader {
  kind: number;
  fileId: number;
  baseSeq: number;
}

export function encodeFileHeader(h: FileHeader): Buffer {
  const buf = Buffer.alloc(FILE_HEADER_BYTES);
  FILE_MAGIC.copy(buf, 4);
  buf[12] = FORMAT_VERSION;
  buf[13] = h.kind;
  buf.writeUInt32LE(h.fileId, 16);
  writeU64(buf, 24, h.baseSeq);
  buf.writeUInt32LE(crc32cRange(buf, 4, FILE_HEADER_BYTES), 0);
  return buf;
}

/** Decode a data file header; `buf` may be short (a truncated file). Returns a reason on failure. */
export function decodeFileHeader(buf: Buffer, expectedId: number): FileHeader | string {
  if (buf.length < FILE_HEADER_BYTES)
    return `file header is ${buf.length} bytes, expected ${FILE_HEADER_BYTES}`;
  const stored = readU32(buf, 0);
  const actual = crc32cRange(buf, 4, FILE_HEADER_BYTES);
  if (stored !== actual) return `file header checksum mismatch (stored ${stored}, computed ${actual})`;
  if (!buf.subarray(4, 12).equals(FILE_MAGIC)) return "bad magic: not a floe bitcask data file";
  if (buf[12] !== FORMAT_VERSION) return `unsupported format version ${buf[12]}`;
  const kind = buf[13];
  if (kind !== FileKind.Write && kind !== FileKind.Merge) return `unknown file kind ${kind}`;
  const fileId = readU32(buf, 16);
  if (fileId !== expectedId) return `file header names file id ${fileId}, the file name says ${expectedId}`;
  const baseSeq = readU64(buf, 24);
  if (baseSeq < 0) return "base seq is not a safe integer";
  return { kind, fileId, baseSeq };
}
