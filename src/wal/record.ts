// Framing and binary codecs of every record the WAL and snapshot files hold.
//
// Frame: | length u32 LE | CRC-32C u32 LE | type u8 | payload (length bytes) |
// The CRC covers the length, the type and the payload (everything but itself),
// so a damaged length or type is caught as surely as a damaged payload.
// Integers are little-endian; u64 fields carry Raft numbers, which must stay
// below 2^53 so they round-trip through a JS number exactly.

import { crc32c } from "../common/index.ts";
import type { ConfState, Entry, EntryType, HardState, SnapshotMetadata } from "../raft/index.ts";

export const FRAME_HEADER_BYTES = 9;
/** Default bound on one record's payload; checked before anything is allocated or read. */
export const DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024;

export enum RecordType {
  /** First record of every segment: who it is and the log position it starts at. */
  SegmentHeader = 1,
  Entry = 2,
  HardState = 3,
  /** Snapshot marker: metadata of the newest snapshot; `install` replaces the whole log. */
  Snapshot = 4,
  /** Entries up to and including `index` are no longer needed. */
  Compact = 5,
  /** Ends one atomic unit (one save): the records before it since the previous Commit. */
  Commit = 6,
  SnapMeta = 16,
  SnapChunk = 17,
  SnapEnd = 18,
}

export const SEGMENT_MAGIC = 0x4c415746; // "FWAL" read as little-endian bytes
export const FORMAT_VERSION = 1;

export interface SegmentHeaderRecord {
  readonly type: RecordType.SegmentHeader;
  readonly seq: number;
  /** lastIndex + 1 when the segment was cut; entry records in it may supersede lower indexes. */
  readonly firstIndex: number;
  /** Term of entry firstIndex - 1 (0 when unknown or none). */
  readonly lastTerm: number;
  /** Length of the previous segment when this one was cut, so a shortened predecessor is caught. */
  readonly prevSegmentBytes: number;
}
export interface EntryRecord {
  readonly type: RecordType.Entry;
  readonly entry: Entry;
}
export interface HardStateRecord {
  readonly type: RecordType.HardState;
  readonly hardState: HardState;
}
export interface SnapshotRecord {
  readonly type: RecordType.Snapshot;
  readonly metadata: SnapshotMetadata;
  readonly install: boolean;
}
export interface CompactRecord {
  readonly type: RecordType.Compact;
  readonly index: number;
  readonly term: number;
}
export interface CommitRecord {
  readonly type: RecordType.Commit;
  /** Number of records in the unit, not counting this one. */
  readonly records: number;
}
export type WalRecord =
  | SegmentHeaderRecord
  | EntryRecord
  | HardStateRecord
  | SnapshotRecord
  | CompactRecord
  | CommitRecord;

// ---- frames ------------------------------------------------------------------

export type Frame =
  | { readonly ok: true; readonly type: number; readonly payload: Buffer; readonly end: number }
  | { readonly ok: false; readonly reason: string };

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32C of four bytes in JS: cheaper than a native call for the length field of every frame. */
function crc32cOf4(buf: Buffer, offset: number): number {
  let c = 0xffffffff;
  for (let i = offset; i < offset + 4; i++) c = CRC32C_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** CRC-32C over the length field, then the type and payload (one native call per frame). */
export function frameCrc(buf: Buffer, offset: number, payloadBytes: number): number {
  return crc32c(buf.subarray(offset + 8, offset + FRAME_HEADER_BYTES + payloadBytes), crc32cOf4(buf, offset));
}

/**
 * Reads the frame at `offset`. Never throws and never allocates from the
 * length field: a frame is checked against `limit` and `maxRecordBytes`
 * before its payload is looked at, and the payload is a view of `buf`.
 */
export function decodeFrame(buf: Buffer, offset: number, maxRecordBytes: number, limit = buf.length): Frame {
  if (offset + FRAME_HEADER_BYTES > limit) {
    return {
      ok: false,
      reason: `incomplete frame header (${limit - offset} of ${FRAME_HEADER_BYTES} bytes)`,
    };
  }
  const len = buf.readUInt32LE(offset);
  if (len > maxRecordBytes) {
    return { ok: false, reason: `record length ${len} exceeds the limit of ${maxRecordBytes} bytes` };
  }
  const end = offset + FRAME_HEADER_BYTES + len;
  if (end > limit) {
    return {
      ok: false,
      reason: `record length ${len} runs past the end of the data (${limit - offset} bytes left)`,
    };
  }
  const stored = buf.readUInt32LE(offset + 4);
  const actual = frameCrc(buf, offset, len);
  if (stored !== actual) {
    return { ok: false, reason: `checksum mismatch (stored ${hex(stored)}, computed ${hex(actual)})` };
  }
  return { ok: true, type: buf[offset + 8], payload: buf.subarray(offset + FRAME_HEADER_BYTES, end), end };
}

/** Fills in the header of a frame whose payload is already at offset + FRAME_HEADER_BYTES. */
export function sealFrame(buf: Buffer, offset: number, type: RecordType, payloadBytes: number): number {
  buf.writeUInt32LE(payloadBytes, offset);
  buf[offset + 8] = type;
  buf.writeUInt32LE(frameCrc(buf, offset, payloadBytes), offset + 4);
  return offset + FRAME_HEADER_BYTES + payloadBytes;
}

/** A standalone header for a payload held elsewhere (snapshot chunks are written without copying). */
export function frameHeaderFor(type: RecordType, payload: Uint8Array): Buffer {
  const h = Buffer.alloc(FRAME_HEADER_BYTES);
  h.writeUInt32LE(payload.length, 0);
  h[8] = type;
  h.writeUInt32LE(crc32c(payload, crc32c(h.subarray(8, 9), crc32cOf4(h, 0))), 4);
  return h;
}

const hex = (n: number): string => `0x${n.toString(16).padStart(8, "0")}`;

// ---- integers ------------------------------------------------------------------

const TWO_32 = 2 ** 32;

export function writeU64(buf: Buffer, offset: number, v: number): number {
  buf.writeUInt32LE(v % TWO_32, offset);
  buf.writeUInt32LE(Math.floor(v / TWO_32), offset + 4);
  return offset + 8;
}

/** The value, or -1 when it does not fit a JS safe integer (a corrupt or foreign record). */
export function readU64(buf: Buffer, offset: number): number {
  const hi = buf.readUInt32LE(offset + 4);
  if (hi >= 2 ** 21) return -1;
  return hi * TWO_32 + buf.readUInt32LE(offset);
}

export function isRaftNumber(v: number): boolean {
  return Number.isSafeInteger(v) && v >= 0;
}

// ---- payloads --------------------------------------------------------------------

const ENTRY_FIXED = 17;
const HARD_STATE_BYTES = 24;
const COMPACT_BYTES = 16;
const COMMIT_BYTES = 4;
const SEGMENT_HEADER_BYTES = 37;
const FLAG_INSTALL = 1;
const FLAG_AUTO_LEAVE = 2;

const confLists = (c: ConfState): readonly (readonly number[])[] => [
  c.voters,
  c.votersOutgoing,
  c.learners,
  c.learnersNext,
];

export function payloadBytes(r: WalRecord): number {
  switch (r.type) {
    case RecordType.SegmentHeader:
      return SEGMENT_HEADER_BYTES;
    case RecordType.Entry:
      return ENTRY_FIXED + r.entry.data.length;
    case RecordType.HardState:
      return HARD_STATE_BYTES;
    case RecordType.Snapshot:
      return snapshotMetaBytes(r.metadata);
    case RecordType.Compact:
      return COMPACT_BYTES;
    case RecordType.Commit:
      return COMMIT_BYTES;
  }
}

export function snapshotMetaBytes(m: SnapshotMetadata): number {
  let n = 17;
  for (const l of confLists(m.confState)) n += 4 + 8 * l.length;
  return n;
}

/** Encodes `r` as a complete frame at `offset`; returns the offset after it. */
export function encodeRecord(buf: Buffer, offset: number, r: WalRecord): number {
  let p = offset + FRAME_HEADER_BYTES;
  switch (r.type) {
    case RecordType.SegmentHeader:
      p = buf.writeUInt32LE(SEGMENT_MAGIC, p);
      buf[p++] = FORMAT_VERSION;
      p = writeU64(buf, p, r.seq);
      p = writeU64(buf, p, r.firstIndex);
      p = writeU64(buf, p, r.lastTerm);
      p = writeU64(buf, p, r.prevSegmentBytes);
      break;
    case RecordType.Entry:
      p = writeU64(buf, p, r.entry.index);
      p = writeU64(buf, p, r.entry.term);
      buf[p++] = r.entry.type;
      buf.set(r.entry.data, p);
      p += r.entry.data.length;
      break;
    case RecordType.HardState:
      p = writeU64(buf, p, r.hardState.term);
      p = writeU64(buf, p, r.hardState.vote);
      p = writeU64(buf, p, r.hardState.commit);
      break;
    case RecordType.Snapshot:
      p = writeSnapshotMeta(buf, p, r.metadata, r.install);
      break;
    case RecordType.Compact:
      p = writeU64(buf, p, r.index);
      p = writeU64(buf, p, r.term);
      break;
    case RecordType.Commit:
      p = buf.writeUInt32LE(r.records, p);
      break;
  }
  return sealFrame(buf, offset, r.type, p - offset - FRAME_HEADER_BYTES);
}

export function writeSnapshotMeta(buf: Buffer, p: number, m: SnapshotMetadata, install: boolean): number {
  p = writeU64(buf, p, m.index);
  p = writeU64(buf, p, m.term);
  buf[p++] = (install ? FLAG_INSTALL : 0) | (m.confState.autoLeave ? FLAG_AUTO_LEAVE : 0);
  for (const list of confLists(m.confState)) {
    p = buf.writeUInt32LE(list.length, p);
    for (const id of list) p = writeU64(buf, p, id);
  }
  return p;
}

/** Decodes a WAL record payload; a string says why it is not a valid record of that type. */
export function decodeRecord(type: number, payload: Buffer): WalRecord | string {
  switch (type) {
    case RecordType.SegmentHeader:
      return decodeSegmentHeader(payload);
    case RecordType.Entry:
      return decodeEntry(payload);
    case RecordType.HardState: {
      if (payload.length !== HARD_STATE_BYTES)
        return `hard state payload is ${payload.length} bytes, expected 24`;
      const [term, vote, commit] = [readU64(payload, 0), readU64(payload, 8), readU64(payload, 16)];
      if (term < 0 || vote < 0 || commit < 0) return "hard state field exceeds 2^53";
      return { type: RecordType.HardState, hardState: { term, vote, commit } };
    }
    case RecordType.Snapshot: {
      const m = readSnapshotMeta(payload, 0);
      if (typeof m === "string") return m;
      return { type: RecordType.Snapshot, metadata: m.metadata, install: m.install };
    }
    case RecordType.Compact: {
      if (payload.length !== COMPACT_BYTES) return `compact payload is ${payload.length} bytes, expected 16`;
      const [index, term] = [readU64(payload, 0), readU64(payload, 8)];
      if (index < 0 || term < 0) return "compact field exceeds 2^53";
      return { type: RecordType.Compact, index, term };
    }
    case RecordType.Commit:
      if (payload.length !== COMMIT_BYTES) return `commit payload is ${payload.length} bytes, expected 4`;
      return { type: RecordType.Commit, records: payload.readUInt32LE(0) };
    default:
      return `unknown record type ${type}`;
  }
}

function decodeSegmentHeader(payload: Buffer): SegmentHeaderRecord | string {
  if (payload.length !== SEGMENT_HEADER_BYTES) {
    return `segment header payload is ${payload.length} bytes, expected ${SEGMENT_HEADER_BYTES}`;
  }
  const magic = payload.readUInt32LE(0);
  if (magic !== SEGMENT_MAGIC)
    return `segment magic is 0x${magic.toString(16)}, expected 0x${SEGMENT_MAGIC.toString(16)}`;
  if (payload[4] !== FORMAT_VERSION)
    return `segment format version ${payload[4]} is not supported (expected 1)`;
  const [seq, firstIndex, lastTerm, prevSegmentBytes] = [5, 13, 21, 29].map((o) => readU64(payload, o));
  if (seq < 0 || firstIndex < 1 || lastTerm < 0 || prevSegmentBytes < 0)
    return "segment header field out of range";
  return { type: RecordType.SegmentHeader, seq, firstIndex, lastTerm, prevSegmentBytes };
}

function decodeEntry(payload: Buffer): EntryRecord | string {
  if (payload.length < ENTRY_FIXED) return `entry payload is ${payload.length} bytes, shorter than 17`;
  const index = readU64(payload, 0);
  const term = readU64(payload, 8);
  const etype = payload[16];
  if (index < 1 || term < 1) return `entry index ${index} / term ${term} out of range`;
  if (etype > 1) return `entry type ${etype} is unknown`;
  return {
    type: RecordType.Entry,
    entry: { index, term, type: etype as EntryType, data: payload.subarray(ENTRY_FIXED) },
  };
}

export function readSnapshotMeta(
  payload: Buffer,
  p: number,
): { metadata: SnapshotMetadata; install: boolean; end: number } | string {
  if (payload.length - p < 17) return `snapshot metadata is ${payload.length - p} bytes, shorter than 17`;
  const index = readU64(payload, p);
  const term = readU64(payload, p + 8);
  const flags = payload[p + 16];
  if (index < 0 || term < 0) return "snapshot index or term exceeds 2^53";
  if (flags > 3) return `snapshot flags 0x${flags.toString(16)} are unknown`;
  p += 17;
  const lists: number[][] = [];
  for (let k = 0; k < 4; k++) {
    if (payload.length - p < 4) return "snapshot conf state is cut short";
    const n = payload.readUInt32LE(p);
    p += 4;
    if (n > (payload.length - p) / 8) return `snapshot conf state list of ${n} ids does not fit the record`;
    const ids: number[] = [];
    for (let i = 0; i < n; i++, p += 8) {
      const id = readU64(payload, p);
      if (id < 1) return `snapshot conf state holds node id ${id}`;
      ids.push(id);
    }
    lists.push(ids);
  }
  if (p !== payload.length) return `snapshot metadata has ${payload.length - p} trailing bytes`;
  const confState: ConfState = {
    voters: lists[0],
    votersOutgoing: lists[1],
    learners: lists[2],
    learnersNext: lists[3],
    autoLeave: (flags & FLAG_AUTO_LEAVE) !== 0,
  };
  return { metadata: { index, term, confState }, install: (flags & FLAG_INSTALL) !== 0, end: p };
}
