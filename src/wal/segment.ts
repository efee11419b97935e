// Segment files: their names, and the scan that turns a segment's bytes into
// complete units (the records of one save, closed by a Commit record) while
// deciding whether damage is a torn tail or corruption.
//
// A unit is atomic: its records count only once its Commit is read. Damage
// (a frame that is cut short, has an impossible length or a bad checksum) is a
// torn tail only in the last segment and only when nothing after it shows
// that a complete, acknowledged save followed. The bytes after the damage are
// searched for valid frames: none, or only the remains of the same unfinished
// save, means a torn write; a complete save after it means corruption. Zeros
// after the last complete unit are preallocated space, not damage.

import * as path from "node:path";
import type { Vfs } from "../common/index.ts";
import { WalCorruptionError } from "./errors.ts";
import { type SyncHook, writeFileAtomic } from "./fsutil.ts";
import {
  decodeFrame,
  decodeRecord,
  encodeRecord,
  FRAME_HEADER_BYTES,
  payloadBytes,
  RecordType,
  readU64,
  type WalRecord,
} from "./record.ts";
import type { SegmentInfo } from "./replay.ts";
import type { LogState } from "./state.ts";

export const SEGMENT_SUFFIX = ".wal";
const NAME = /^(\d{16})-(\d{16})\.wal$/;

const pad16 = (n: number): string => String(n).padStart(16, "0");

/** `NNNNNNNNNNNNNNNN-IIIIIIIIIIIIIIII.wal`: 16-digit decimal sequence and first index. */
export function segmentName(seq: number, firstIndex: number): string {
  return `${pad16(seq)}-${pad16(firstIndex)}${SEGMENT_SUFFIX}`;
}

export function parseSegmentName(name: string): { seq: number; firstIndex: number } | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  const seq = Number(m[1]);
  const firstIndex = Number(m[2]);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(firstIndex)) return undefined;
  return { seq, firstIndex };
}

export interface ScannedRecord {
  readonly record: WalRecord;
  readonly offset: number;
  /** Size of the frame, header included. */
  readonly bytes: number;
}

export interface ScanResult {
  /** Offset just after the last complete unit. */
  readonly cleanEnd: number;
  /** End offset of the first unit (the segment header unit), 0 when it is incomplete. */
  readonly headerEnd: number;
  /** Set when the bytes after cleanEnd are a torn tail (last segment only). */
  readonly torn?: { readonly offset: number; readonly reason: string };
}

export interface ScanOptions {
  readonly file: string;
  readonly isLast: boolean;
  readonly maxRecordBytes: number;
}

/**
 * Walks the frames of `buf`, handing each complete unit to `onUnit` (which
 * may throw WalCorruptionError for records that are well-formed but make no
 * sense). Throws WalCorruptionError for damage that is not a torn tail.
 */
export function scanSegment(
  buf: Buffer,
  opts: ScanOptions,
  onUnit: (records: readonly ScannedRecord[], unitStart: number) => void,
): ScanResult {
  const corrupt = (offset: number, reason: string) => new WalCorruptionError(opts.file, offset, reason);
  let pos = 0;
  let unitStart = 0;
  let unit: ScannedRecord[] = [];
  let headerEnd = 0;
  while (pos < buf.length) {
    const f = decodeFrame(buf, pos, opts.maxRecordBytes);
    if (!f.ok) {
      // Preallocated space (wal.ts zeroAhead) that no save reached yet.
      if (unit.length === 0 && pos > 0 && allZero(buf, pos)) break;
      if (!opts.isLast) throw corrupt(pos, `${f.reason} in a segment that is not the last`);
      const notTorn = damageIsFollowedByData(buf, pos, unit.length, opts.maxRecordBytes);
      if (notTorn !== undefined) throw corrupt(pos, `${f.reason}; ${notTorn}, so this is not a torn tail`);
      return { cleanEnd: unitStart, headerEnd, torn: { offset: pos, reason: f.reason } };
    }
    const rec = decodeRecord(f.type, f.payload);
    if (typeof rec === "string") throw corrupt(pos, rec);
    if ((rec.type === RecordType.SegmentHeader) !== (pos === 0)) {
      throw corrupt(
        pos,
        pos === 0
          ? `segment starts with record type ${rec.type}, not a segment header`
          : "segment header in the middle of a segment",
      );
    }
    if (rec.type === RecordType.Commit) {
      if (rec.records !== unit.length) {
        throw corrupt(pos, `commit record counts ${rec.records} records but the unit has ${unit.length}`);
      }
      onUnit(unit, unitStart);
      if (unitStart === 0) headerEnd = f.end;
      unit = [];
      unitStart = f.end;
    } else {
      unit.push({ record: rec, offset: pos, bytes: f.end - pos });
    }
    pos = f.end;
  }
  if (unit.length > 0) {
    const reason = `save of ${unit.length} records starting here has no commit record`;
    if (!opts.isLast) throw corrupt(unitStart, `${reason} in a segment that is not the last`);
    return { cleanEnd: unitStart, headerEnd, torn: { offset: unitStart, reason } };
  }
  if (headerEnd === 0) {
    // An empty file: the segment was created (and renamed) but its header never reached the disk.
    if (!opts.isLast) throw corrupt(0, "segment is empty but is not the last");
    return { cleanEnd: 0, headerEnd, torn: { offset: 0, reason: "segment is empty" } };
  }
  return { cleanEnd: pos, headerEnd };
}

const ZERO_PAGE = Buffer.alloc(64 * 1024);

/** Whether every byte of `buf` from `from` on is zero. */
export function allZero(buf: Buffer, from: number): boolean {
  for (let p = from; p < buf.length; p += ZERO_PAGE.length) {
    const n = Math.min(ZERO_PAGE.length, buf.length - p);
    if (ZERO_PAGE.compare(buf, p, p + n, 0, n) !== 0) return false;
  }
  return true;
}

/**
 * Why damage at `pos` cannot be a torn last save, or undefined when it can.
 * `recordsBefore` valid records of the unfinished unit precede the damage.
 */
function damageIsFollowedByData(
  buf: Buffer,
  pos: number,
  recordsBefore: number,
  maxRecordBytes: number,
): string | undefined {
  let cursor = pos + 1;
  let others = 0;
  const commits: { offset: number; records: number }[] = [];
  let lastValid = -1;
  for (;;) {
    const p = findValidFrame(buf, cursor, maxRecordBytes);
    if (p < 0) break;
    let q = p;
    while (q < buf.length) {
      const f = decodeFrame(buf, q, maxRecordBytes);
      if (!f.ok) break;
      if (f.type === RecordType.Commit) commits.push({ offset: q, records: f.payload.readUInt32LE(0) });
      else others++;
      lastValid = q;
      q = f.end;
    }
    if (q >= buf.length) break;
    cursor = q + 1;
  }
  if (commits.length === 0) return undefined;
  if (commits.length > 1)
    return `complete saves follow (commit records at offsets ${commits.map((c) => c.offset).join(", ")})`;
  const c = commits[0];
  if (c.offset !== lastValid) return `a complete save ends at offset ${c.offset} and valid records follow it`;
  // The one commit may close the unit that was torn, if frames of that unit are missing.
  if (c.records > recordsBefore + others) return undefined;
  return `a complete save of ${c.records} records ends at offset ${c.offset}`;
}

/**
 * Offset of the first well-formed frame at or after `from`, or -1. Cheap
 * structural checks reject almost every position before a CRC is computed,
 * so scanning a damaged segment costs about one pass over its bytes.
 */
export function findValidFrame(buf: Buffer, from: number, maxRecordBytes: number): number {
  const end = buf.length - FRAME_HEADER_BYTES;
  for (let p = from; p <= end; p++) {
    const len = buf.readUInt32LE(p);
    if (len > maxRecordBytes || p + FRAME_HEADER_BYTES + len > buf.length) continue;
    const type = buf[p + 8];
    const body = p + FRAME_HEADER_BYTES;
    let plausible: boolean;
    switch (type) {
      case RecordType.Entry:
        plausible =
          len >= 17 && readU64(buf, body) >= 1 && readU64(buf, body + 8) >= 1 && buf[body + 16] <= 1;
        break;
      case RecordType.HardState:
        plausible = len === 24;
        break;
      case RecordType.Snapshot:
        plausible = len >= 33;
        break;
      case RecordType.Compact:
        plausible = len === 16;
        break;
      case RecordType.Commit:
        plausible = len === 4;
        break;
      case RecordType.SegmentHeader:
        plausible = len === 37;
        break;
      default:
        plausible = false;
    }
    if (!plausible) continue;
    const f = decodeFrame(buf, p, maxRecordBytes);
    if (f.ok && typeof decodeRecord(f.type, f.payload) !== "string") return p;
  }
  return -1;
}

/** Creates segment `seq` whose header unit repeats the current state: temp file, fsync, rename, directory fsync. */
export async function createSegment(
  fs: Vfs,
  dir: string,
  state: LogState,
  seq: number,
  prevBytes: number,
  onSync: SyncHook,
): Promise<SegmentInfo> {
  const firstIndex = state.lastIndex() + 1;
  const records: WalRecord[] = [
    {
      type: RecordType.SegmentHeader,
      seq,
      firstIndex,
      lastTerm: state.termAt(firstIndex - 1) ?? 0,
      prevSegmentBytes: prevBytes,
    },
    { type: RecordType.HardState, hardState: state.hardState },
    { type: RecordType.Snapshot, metadata: state.snapshot, install: false },
    { type: RecordType.Compact, index: state.compactIndex, term: state.compactTerm },
  ];
  let total = FRAME_HEADER_BYTES + 4;
  for (const r of records) total += FRAME_HEADER_BYTES + payloadBytes(r);
  const buf = Buffer.allocUnsafe(total);
  let p = 0;
  for (const r of records) p = encodeRecord(buf, p, r);
  encodeRecord(buf, p, { type: RecordType.Commit, records: records.length });
  const file = path.join(dir, segmentName(seq, firstIndex));
  await writeFileAtomic(fs, file, buf, onSync);
  return { seq, firstIndex, path: file, sizeBytes: total, headerEnd: total };
}
