// Recovery on open: list the segments, replay every unit of every segment into
// a LogState (verifying every checksum and every invariant), cut a torn tail
// off the last segment, and refuse with WalCorruptionError on anything else.
// One segment is held in memory at a time.

import * as path from "node:path";
import type { Vfs } from "../common/index.ts";
import type { Entry, EntryType } from "../raft/index.ts";
import { WalCorruptionError, type WalLogger } from "./errors.ts";
import { openDirDurably, type SyncHook, syncDir, syncFile } from "./fsutil.ts";
import { type CompactRecord, RecordType, type SnapshotRecord } from "./record.ts";
import { parseSegmentName, type ScannedRecord, scanSegment } from "./segment.ts";
import { LogState, sameHardState, sameSnapshotMetadata, UNKNOWN_TERM } from "./state.ts";

export interface SegmentInfo {
  readonly seq: number;
  readonly firstIndex: number;
  readonly path: string;
  /** Durable length; grows as saves are appended to the active segment. */
  sizeBytes: number;
  /** End of the header unit: a segment longer than this holds at least one save. */
  readonly headerEnd: number;
}

export interface Recovery {
  readonly state: LogState;
  readonly segments: SegmentInfo[];
  /** Newest entries read from the last segment, oldest first, to warm the cache. */
  readonly tail: Entry[];
}

export interface RecoverOptions {
  readonly maxRecordBytes: number;
  readonly tailCacheBytes: number;
  readonly logger: WalLogger;
  readonly onSync: SyncHook;
  readonly fs: Vfs;
}

export async function recoverWal(dir: string, opts: RecoverOptions): Promise<Recovery> {
  const { fs } = opts;
  await openDirDurably(fs, dir, opts.onSync);
  const names = (await fs.promises.readdir(dir)).sort();
  let removedTemp = false;
  const found: { seq: number; firstIndex: number; path: string }[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    if (name.endsWith(".tmp")) {
      // A segment whose creation did not finish: it was never renamed, so nothing in it was acknowledged.
      opts.logger("removing unfinished temporary file", { file });
      await fs.promises.rm(file, { force: true });
      removedTemp = true;
      continue;
    }
    const parsed = parseSegmentName(name);
    if (!parsed) {
      opts.logger("ignoring a file that is not a WAL segment", { file });
      continue;
    }
    found.push({ ...parsed, path: file });
  }
  if (removedTemp) await syncDir(fs, dir, opts.onSync);
  found.sort((a, b) => a.seq - b.seq);
  for (let i = 1; i < found.length; i++) {
    if (found[i].seq !== found[i - 1].seq + 1) {
      throw new WalCorruptionError(
        found[i].path,
        0,
        `segment sequence jumps from ${found[i - 1].seq} to ${found[i].seq}: segment ${found[i - 1].seq + 1} is missing`,
      );
    }
  }

  const state = new LogState();
  const segments: SegmentInfo[] = [];
  let tail: Entry[] = [];
  for (let i = 0; i < found.length; i++) {
    const seg = found[i];
    const isLast = i === found.length - 1;
    // A synchronous read: recovery has nothing else to do meanwhile, and it keeps
    // one segment's worth of I/O in one call instead of a chain of promises.
    const buf = fs.readFileSync(seg.path);
    const prev = segments.length > 0 ? segments[segments.length - 1] : undefined;
    const result = scanSegment(
      buf,
      { file: seg.path, isLast, maxRecordBytes: opts.maxRecordBytes },
      (records, unitStart) => {
        if (unitStart === 0) applyHeader(state, seg, records, prev);
        else applyUnit(state, seg, records);
      },
    );
    if (result.torn) {
      const dropped = buf.length - result.cleanEnd;
      if (result.headerEnd === 0) {
        if (segments.length === 0 && seg.seq > 0) {
          throw new WalCorruptionError(
            seg.path,
            result.torn.offset,
            `${result.torn.reason} in the header of the only segment; older segments were compacted away, so the log cannot be rebuilt`,
          );
        }
        opts.logger("removing the last WAL segment: its header was torn before any save reached it", {
          file: seg.path,
          offset: result.torn.offset,
          reason: result.torn.reason,
          droppedBytes: dropped,
        });
        await fs.promises.rm(seg.path, { force: true });
        await syncDir(fs, dir, opts.onSync);
        continue;
      }
      opts.logger("truncating torn tail of the last WAL segment", {
        file: seg.path,
        offset: result.torn.offset,
        reason: result.torn.reason,
        keptBytes: result.cleanEnd,
        droppedBytes: dropped,
      });
      await truncateDurably(fs, seg.path, result.cleanEnd, opts.onSync);
    } else if (isLast) {
      // Only the last segment can hold units no fdatasync covered: a cut syncs the segment it ends.
      await syncFile(fs, seg.path, opts.onSync);
    }
    segments.push({ ...seg, sizeBytes: result.cleanEnd, headerEnd: result.headerEnd });
    if (isLast) tail = readTail(state, seg.seq, buf.subarray(0, result.cleanEnd), opts.tailCacheBytes);
  }
  if (state.hasGap()) {
    throw new WalCorruptionError(
      segments[0].path,
      0,
      `entries ${state.compactIndex + 1}..${state.baseIndex} are missing: older segments were deleted but no compaction record covers them`,
    );
  }
  return { state, segments, tail };
}

async function truncateDurably(fs: Vfs, file: string, size: number, onSync: SyncHook): Promise<void> {
  const fh = await fs.promises.open(file, "r+");
  try {
    await fh.truncate(size);
    await fh.sync();
    onSync("fsync", file);
  } finally {
    await fh.close();
  }
}

type SegmentName = { readonly seq: number; readonly firstIndex: number; readonly path: string };

/**
 * The header unit repeats the state at the moment the segment was cut. For the
 * oldest surviving segment it is the starting point; for every later one it
 * must equal what the previous segments replayed to, which catches a segment
 * that lost saves at its end.
 */
function applyHeader(
  state: LogState,
  seg: SegmentName,
  records: readonly ScannedRecord[],
  prev: SegmentInfo | undefined,
): void {
  const types = records.map((r) => r.record.type);
  const shape = [RecordType.SegmentHeader, RecordType.HardState, RecordType.Snapshot, RecordType.Compact];
  const fail = (offset: number, reason: string) => new WalCorruptionError(seg.path, offset, reason);
  if (types.length !== shape.length || types.some((t, i) => t !== shape[i])) {
    throw fail(
      0,
      `segment header unit holds record types [${types.join(", ")}], expected [${shape.join(", ")}]`,
    );
  }
  const [h, hs, snap, compact] = records.map((r) => r.record);
  if (h.type !== RecordType.SegmentHeader || hs.type !== RecordType.HardState)
    throw fail(0, "bad header unit");
  if (snap.type !== RecordType.Snapshot || compact.type !== RecordType.Compact)
    throw fail(0, "bad header unit");
  if (h.seq !== seg.seq || h.firstIndex !== seg.firstIndex) {
    throw fail(
      0,
      `header says segment ${h.seq} from index ${h.firstIndex} but the file name says ${seg.seq} from ${seg.firstIndex}`,
    );
  }
  if (snap.install)
    throw fail(records[2].offset, "snapshot record in a segment header carries the install flag");
  if (prev === undefined) {
    const problem = headerStateProblem(h.firstIndex, h.lastTerm, compact, snap);
    if (problem) throw fail(0, problem);
    state.adopt(hs.hardState, snap.metadata, compact.index, compact.term, h.firstIndex, h.lastTerm);
    return;
  }
  const last = state.lastIndex();
  const lastTerm = state.termAt(last);
  const mismatch =
    h.prevSegmentBytes !== prev.sizeBytes
      ? `previous segment is ${prev.sizeBytes} bytes but was ${h.prevSegmentBytes} when this one was cut`
      : h.firstIndex !== last + 1
        ? `segment starts at index ${h.firstIndex} but the log before it ends at ${last}`
        : lastTerm !== UNKNOWN_TERM && h.lastTerm !== lastTerm
          ? `header says entry ${last} has term ${h.lastTerm}, the log says ${lastTerm}`
          : !sameHardState(hs.hardState, state.hardState)
            ? "header hard state differs from the replayed one"
            : !sameSnapshotMetadata(snap.metadata, state.snapshot)
              ? "header snapshot differs from the replayed one"
              : compact.index !== state.compactIndex || compact.term !== state.compactTerm
                ? "header compaction point differs from the replayed one"
                : undefined;
  if (mismatch) throw fail(0, `${mismatch} (the previous segment lost data or this header is wrong)`);
}

function headerStateProblem(
  firstIndex: number,
  lastTerm: number,
  compact: CompactRecord,
  snap: SnapshotRecord,
): string | undefined {
  if (compact.index > snap.metadata.index)
    return `compaction point ${compact.index} is beyond snapshot ${snap.metadata.index}`;
  if (firstIndex - 1 < compact.index)
    return `segment starts at index ${firstIndex}, below the compaction point ${compact.index}`;
  if (firstIndex - 1 === compact.index && lastTerm !== compact.term) {
    return `segment says entry ${compact.index} has term ${lastTerm}, its compaction record says ${compact.term}`;
  }
  return undefined;
}

function applyUnit(state: LogState, seg: SegmentName, records: readonly ScannedRecord[]): void {
  for (const { record: r, offset, bytes } of records) {
    let problem: string | undefined;
    switch (r.type) {
      case RecordType.Entry:
        problem = state.checkEntry(r.entry.index, r.entry.term);
        if (!problem) state.appendEntry(r.entry.index, r.entry.term, seg.seq, offset, bytes);
        break;
      case RecordType.HardState:
        problem = state.checkHardState(r.hardState);
        if (!problem) state.setHardState(r.hardState);
        break;
      case RecordType.Snapshot:
        problem = r.install ? state.checkInstall(r.metadata) : state.checkMark(r.metadata);
        if (!problem) r.install ? state.install(r.metadata) : state.mark(r.metadata);
        break;
      case RecordType.Compact:
        problem = state.checkCompact(r.index, r.term);
        if (!problem) state.compact(r.index, r.term);
        break;
      default:
        problem = `record type ${r.type} cannot appear inside a save`;
    }
    if (problem) throw new WalCorruptionError(seg.path, offset, problem);
  }
}

/** Decodes the newest live entries whose records are in `buf` (the last segment), up to `maxBytes`. */
function readTail(state: LogState, seq: number, buf: Buffer, maxBytes: number): Entry[] {
  const locs = state.locs;
  const out: Entry[] = [];
  let bytes = 0;
  for (let i = locs.lastIndex; i >= locs.firstIndex && locs.seq(i) === seq; i--) {
    const off = locs.offset(i);
    const data = buf.subarray(off + 9 + 17, off + locs.recordBytes(i));
    bytes += data.length + 16;
    if (bytes > maxBytes) break;
    out.push({
      index: i,
      term: locs.term(i),
      type: buf[off + 9 + 16] as EntryType,
      data: new Uint8Array(data),
    });
  }
  return out.reverse();
}
