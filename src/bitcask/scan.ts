// Reading a data file record by record: the recovery scan at open (sync, with
// the torn-tail rule) and the strict async scan that merge and hint building
// use on sealed files.
//
// The torn-tail rule. Only the writer's newest file may end torn. When a
// record there fails to decode at offset X, the store looks for intact
// records after X (valid header and body checksums). If every one it finds
// belongs to the batch that X is in (same seq - batch index), the damage is
// the unfinished last write: the file is cut back to the end of the last
// complete batch, with a warning. Anything else intact after X (a later batch,
// a seal) means bytes that were once whole are now damaged: open fails with a
// BitcaskCorruptionError naming the file and X. So is a bad record in any
// other file, a sealed file with bytes after its seal, and an older file that
// ends without a seal (it was cut).

import { BitcaskCorruptionError } from "./errors.ts";
import type { Io } from "./io.ts";
import { ChunkReader } from "./reader.ts";
import {
  checkRecordBody,
  decodeRecordHeader,
  FILE_HEADER_BYTES,
  FileKind,
  FLAG_BATCH_END,
  newRecordHeader,
  RECORD_HEADER_BYTES,
  type RecordHeader,
  RecordType,
  recordBytes,
} from "./record.ts";

/** A data file as the scanners see it. */
export interface ScanSource {
  io: Io;
  fd: number;
  path: string;
  size: number;
  kind: number;
  baseSeq: number;
}

/** Receives one record; its bytes are buf[at, at + recordBytes(h)), at file offset `offset`. */
export type RecordVisitor = (h: RecordHeader, buf: Buffer, at: number, offset: number) => void;

export interface ScanResult {
  /** Where the valid records end: the file size, or less after cutting a torn tail. */
  end: number;
  sealed: boolean;
  torn?: { offset: number; reason: string; droppedBytes: number };
}

interface Damage {
  at: number;
  reason: string;
  /** Damage no torn write could cause (bytes after a seal). */
  hard: boolean;
}

interface Pending {
  offset: number;
  h: RecordHeader;
}

/**
 * Scan a data file at open, visiting the records of every complete batch in
 * order. With `allowTornTail`, a torn last batch is left out and reported in
 * `torn` (the caller truncates); every other defect throws BitcaskCorruptionError.
 */
export function scanForRecovery(
  src: ScanSource,
  allowTornTail: boolean,
  chunkBytes: number,
  visit: RecordVisitor,
): ScanResult {
  const r = new ChunkReader(src.io.fs, src.fd, src.size, chunkBytes);
  const h = newRecordHeader();
  const pending: Pending[] = [];
  let pos = FILE_HEADER_BYTES;
  let batchStart = pos;
  let lastSeq = src.baseSeq - 1;
  let sealed = false;
  let damage: Damage | undefined;
  while (pos < src.size) {
    if (sealed) {
      damage = { at: pos, reason: `${src.size - pos} bytes after the seal record`, hard: true };
      break;
    }
    let idx = r.loadSync(pos, RECORD_HEADER_BYTES, batchStart);
    if (idx < 0) {
      damage = { at: pos, reason: `record header cut short (${src.size - pos} bytes left)`, hard: false };
      break;
    }
    const bad = decodeRecordHeader(r.buf, idx, h);
    if (bad !== undefined) {
      damage = { at: pos, reason: bad, hard: false };
      break;
    }
    const total = recordBytes(h.keySize, h.valueSize);
    idx = r.loadSync(pos, total, batchStart);
    const why =
      idx < 0
        ? `record of ${total} bytes runs past the end of the file (${src.size - pos} bytes left)`
        : (checkRecordBody(r.buf, idx, h) ?? misplaced(src, h, pending.length, lastSeq));
    if (why !== undefined) {
      damage = { at: pos, reason: why, hard: false };
      break;
    }
    pos += total;
    if (h.type === RecordType.Seal) {
      sealed = true;
      batchStart = pos;
      continue;
    }
    lastSeq = h.seq;
    pending.push({ offset: pos - total, h: { ...h } });
    if ((h.flags & FLAG_BATCH_END) !== 0) {
      for (const p of pending) {
        const at = r.loadSync(p.offset, recordBytes(p.h.keySize, p.h.valueSize), batchStart);
        visit(p.h, r.buf, at, p.offset);
      }
      pending.length = 0;
      batchStart = pos;
    }
  }
  if (damage === undefined) {
    if (pending.length > 0) {
      damage = { at: pending[0].offset, reason: "the last batch ends without its final record", hard: false };
    } else if (!sealed && !allowTornTail) {
      throw new BitcaskCorruptionError(
        src.path,
        src.size,
        "file ends without a seal record: it was cut short",
      );
    } else {
      return { end: pos, sealed };
    }
  }
  if (damage.hard || !allowTornTail) throw new BitcaskCorruptionError(src.path, damage.at, damage.reason);
  const batchFirstSeq = pending.length > 0 ? pending[0].h.seq - pending[0].h.batchIndex : lastSeq + 1;
  const intact = firstForeignRecord(r, damage.at, batchFirstSeq);
  if (intact !== undefined) {
    throw new BitcaskCorruptionError(
      src.path,
      damage.at,
      `${damage.reason}; an intact record of another batch follows at offset ${intact}, so this is not a torn write`,
    );
  }
  return {
    end: batchStart,
    sealed: false,
    torn: { offset: damage.at, reason: damage.reason, droppedBytes: src.size - batchStart },
  };
}

/** Why a sound record is out of place in its file, if it is. */
function misplaced(
  src: ScanSource,
  h: RecordHeader,
  pendingCount: number,
  lastSeq: number,
): string | undefined {
  if (h.type === RecordType.Seal) {
    if (pendingCount > 0) return "seal record inside an unfinished batch";
    return h.flags === FLAG_BATCH_END && h.batchIndex === 0 ? undefined : "malformed seal record";
  }
  if (src.kind === FileKind.Merge) {
    return h.flags === FLAG_BATCH_END && h.batchIndex === 0
      ? undefined
      : "merged record is not a batch of its own";
  }
  if (h.seq !== lastSeq + 1) return `seq ${h.seq} where ${lastSeq + 1} was expected`;
  if (h.batchIndex !== pendingCount) return `batch index ${h.batchIndex} where ${pendingCount} was expected`;
  return undefined;
}

/**
 * Offset of the first intact record after `from` that is not part of the
 * batch starting at seq `batchFirstSeq`, or undefined if there is none.
 */
function firstForeignRecord(r: ChunkReader, from: number, batchFirstSeq: number): number | undefined {
  const h = newRecordHeader();
  let pos = from + 1;
  while (pos + RECORD_HEADER_BYTES <= r.fileSize) {
    const idx = r.loadSync(pos, RECORD_HEADER_BYTES);
    const b = r.buf;
    // Cheap byte tests first: most offsets are not a record start.
    if (b[idx + 8] >= 1 && b[idx + 8] <= 3 && b[idx + 9] <= 1 && b[idx + 10] === 0 && b[idx + 11] === 0) {
      if (decodeRecordHeader(b, idx, h) === undefined) {
        const total = recordBytes(h.keySize, h.valueSize);
        const at = r.loadSync(pos, total);
        if (at >= 0 && checkRecordBody(r.buf, at, h) === undefined) {
          if (h.type === RecordType.Seal || h.seq - h.batchIndex !== batchFirstSeq) return pos;
          pos += total;
          continue;
        }
      }
    }
    pos++;
  }
  return undefined;
}

/**
 * Visit every put and tombstone of a sealed file, reading asynchronously in
 * chunks. Any defect, including a missing seal, throws BitcaskCorruptionError.
 * After each chunk it awaits `pause` (which should yield to the event loop);
 * when that returns false the scan stops early and returns false.
 */
export async function scanSealed(
  src: ScanSource,
  chunkBytes: number,
  visit: RecordVisitor,
  pause: () => Promise<boolean>,
): Promise<boolean> {
  const r = new ChunkReader(src.io.fs, src.fd, src.size, chunkBytes);
  const h = newRecordHeader();
  let pos = FILE_HEADER_BYTES;
  let sealed = false;
  let sinceYield = 0;
  while (pos < src.size) {
    if (sealed)
      throw new BitcaskCorruptionError(src.path, pos, `${src.size - pos} bytes after the seal record`);
    if (sinceYield >= chunkBytes) {
      sinceYield = 0;
      if (!(await pause())) return false;
    }
    // a record inside the window costs no promise: only reads past it wait
    let idx = r.peek(pos, RECORD_HEADER_BYTES) ?? (await r.load(pos, RECORD_HEADER_BYTES));
    if (idx < 0) throw new BitcaskCorruptionError(src.path, pos, "record header cut short");
    const bad = decodeRecordHeader(r.buf, idx, h);
    if (bad !== undefined) throw new BitcaskCorruptionError(src.path, pos, bad);
    const total = recordBytes(h.keySize, h.valueSize);
    idx = r.peek(pos, total) ?? (await r.load(pos, total));
    if (idx < 0)
      throw new BitcaskCorruptionError(src.path, pos, `record of ${total} bytes runs past the end`);
    const why = checkRecordBody(r.buf, idx, h);
    if (why !== undefined) throw new BitcaskCorruptionError(src.path, pos, why);
    if (h.type === RecordType.Seal) sealed = true;
    else visit(h, r.buf, idx, pos);
    pos += total;
    sinceYield += total;
  }
  if (!sealed) throw new BitcaskCorruptionError(src.path, pos, "sealed file ends without its seal record");
  return true;
}

/** Let the event loop run (I/O callbacks, timers, other requests) before going on. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
