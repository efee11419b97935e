// The write-ahead log: segmented append-only files of framed records, one
// write and one fdatasync per save (group commit), entry reads by location,
// segment rollover and whole-segment compaction.
//
// Operations that write run one at a time, in call order. In-memory state
// changes only after the fdatasync returns, so nothing read from the WAL was
// ever not durable — except units saved with `sync: false` (a Ready that
// only moved the commit index), which the next sync covers. A failed write or sync poisons the log: the file's tail is
// unknown until a reopen recovers it.

import { nodeVfs, type Vfs, type VfsFileHandle } from "../common/index.ts";
import type { Entry, HardState, SnapshotMetadata } from "../raft/index.ts";
import { EntryCache } from "./cache.ts";
import { stderrLogger, WalError, type WalLogger } from "./errors.ts";
import { noSyncHook, type SyncHook, syncDir, writeAllSync } from "./fsutil.ts";
import { SegmentReader } from "./reader.ts";
import {
  DEFAULT_MAX_RECORD_BYTES,
  encodeRecord,
  FRAME_HEADER_BYTES,
  payloadBytes,
  RecordType,
  type WalRecord,
} from "./record.ts";
import { recoverWal, type SegmentInfo } from "./replay.ts";
import { createSegment } from "./segment.ts";
import type { LogState } from "./state.ts";
import { checkSnapshotMetadata, validateSave } from "./validate.ts";

export interface WalOptions {
  /** A segment is cut when the next save would grow it past this. Default 64 MiB. */
  readonly segmentSizeBytes?: number;
  /** Bound on one record's payload, checked on write and before any read allocates. Default 16 MiB. */
  readonly maxRecordBytes?: number;
  /**
   * At a compaction that ends the active segment, the entries after the
   * compaction point are written again after the cut (so the old segments go
   * at once) when they take at most this many bytes. Default 1/8 of
   * segmentSizeBytes.
   */
  readonly carryOverBytes?: number;
  /**
   * The active segment is kept zero-filled this far ahead of the write
   * position (up to segmentSizeBytes), so a save overwrites blocks that are
   * already allocated and its fdatasync has no file size or block allocation
   * to journal: on ext4 here that halved the median fdatasync of an 8 KiB save
   * (bench/RESULTS.md). Replay reads a run of zeros after the last unit as the
   * segment's end. 0 turns it off (plain appends). Default 1 MiB.
   */
  readonly preallocateBytes?: number;
  /** Bytes of the newest entries kept in memory. Default 8 MiB. */
  readonly cacheSizeBytes?: number;
  /** Saves waiting behind the one in progress before save() refuses. Default 1024. */
  readonly maxPendingSaves?: number;
  /** Segment files kept open for reads of older entries. Default 8. */
  readonly maxOpenReadFiles?: number;
  /** Warnings (torn tail truncated, temp file removed). Default: one JSON line on stderr. */
  readonly logger?: WalLogger;
  /** Reports every completed sync (tests count them; crash harnesses learn what is durable). */
  readonly onSync?: SyncHook;
  /** Told how long each save's fdatasync took, in seconds (etcd's wal_fsync_duration metric). */
  readonly onFsyncSeconds?: (seconds: number) => void;
  /**
   * A save marked `inline` (SaveBatch.inline) runs its fdatasync on the
   * calling thread while the previous fdatasync took less than this many
   * milliseconds; after a slower one it goes to the thread pool, so a sick
   * disk blocks only the Raft loop, not the process. 0: never inline (the
   * simulator, which models disk latency for asynchronous calls). Default 5.
   */
  readonly inlineSyncMaxMs?: number;
  /** The file system (default: the real one; the simulator's and tests' can crash and fail). */
  readonly fs?: Vfs;
  /** Deliberately broken behaviours, for the simulator to catch (src/sim/mutations.ts). Never set in production. */
  readonly mutations?: WalMutations;
}

export interface WalMutations {
  /** A save resolves as soon as its fdatasync starts, not when it returns. */
  ackBeforeSync?: boolean;
}

/** What one Raft Ready asks to persist; written as one atomic unit with one fdatasync. */
export interface SaveBatch {
  readonly hardState?: HardState;
  readonly entries?: readonly Entry[];
  /** A snapshot installed from the leader: it replaces the log (ignored unless newer than the current one). */
  readonly snapshot?: SnapshotMetadata;
  /**
   * Default true. False means Raft's !mustSync: only the commit index
   * changed, which is safe to lose. Such a hard state alone is kept in memory
   * (no write at all, as etcd's buffered WAL encoder does) and goes out with
   * the next unit, a segment cut (whose header carries it) or close(); other
   * unsynced units are written without an fdatasync, made durable the same
   * way, and a crash before that leaves them as a torn tail at worst. A
   * restart may then see an older commit index than the state machine's
   * applied index: the runtime skips what is already applied.
   */
  readonly sync?: boolean;
  /**
   * The caller has nothing to do until this save is durable (a follower's
   * small Ready): its fdatasync may block the calling thread instead of
   * going through the thread pool, which costs a hand-off to a pool thread
   * and a wake-up back (under kvbench put-1, 4% of a member's CPU and two
   * scheduler delays per save). See WalOptions.inlineSyncMaxMs.
   */
  readonly inline?: boolean;
}

const MiB = 1024 * 1024;
/** At a compaction, an active segment past 1/8 of segmentSizeBytes is cut. */
const CUT_AT_COMPACTION_FRACTION = 8;

export class Wal {
  private active: VfsFileHandle;
  private readonly fs: Vfs;
  private writePos: number;
  /** The active segment is zero-filled up to here (past writePos); after a failed fill, no more is tried. */
  private zeroedTo: number;
  private readonly preallocateBytes: number;
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;
  private closed = false;
  private failure: Error | undefined;
  /** Units were written after the last fdatasync (saves with sync: false). */
  private unsynced = false;
  /** A commit-only hard state saved with sync: false, not yet written (see SaveBatch.sync). */
  private deferredHardState: WalRecord | undefined;
  private readonly reader: SegmentReader;
  private readonly cache: EntryCache;
  private readonly segmentSizeBytes: number;
  private readonly carryOverBytes: number;
  private readonly maxRecordBytes: number;
  private readonly maxPendingSaves: number;
  private readonly onSync: SyncHook;
  private readonly onFsyncSeconds: ((seconds: number) => void) | undefined;
  private readonly inlineSyncMaxMs: number;
  /** How long the last fdatasync of a save took. */
  private lastFsyncMs = 0;
  private readonly mutations: WalMutations;

  private constructor(
    readonly dir: string,
    readonly state: LogState,
    private readonly segs: SegmentInfo[],
    active: VfsFileHandle,
    activeFileBytes: number,
    tail: Entry[],
    options: WalOptions,
  ) {
    this.active = active;
    this.fs = options.fs ?? nodeVfs;
    this.mutations = options.mutations ?? {};
    this.writePos = segs[segs.length - 1].sizeBytes;
    this.zeroedTo = Math.max(this.writePos, activeFileBytes);
    this.preallocateBytes = options.preallocateBytes ?? MiB;
    this.segmentSizeBytes = options.segmentSizeBytes ?? 64 * MiB;
    this.carryOverBytes = options.carryOverBytes ?? this.segmentSizeBytes / CUT_AT_COMPACTION_FRACTION;
    this.maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
    this.maxPendingSaves = options.maxPendingSaves ?? 1024;
    this.reader = new SegmentReader(this.fs, options.maxOpenReadFiles ?? 8, this.maxRecordBytes);
    this.onSync = options.onSync ?? noSyncHook;
    this.onFsyncSeconds = options.onFsyncSeconds;
    this.inlineSyncMaxMs = options.inlineSyncMaxMs ?? 5;
    this.cache = new EntryCache(options.cacheSizeBytes ?? 8 * MiB, state.lastIndex() + 1);
    this.cache.append(tail);
  }

  /** Opens (creating if needed) the log in `dir`, recovering it as described in replay.ts. */
  static async open(dir: string, options: WalOptions = {}): Promise<Wal> {
    checkOptions(options);
    const onSync = options.onSync ?? noSyncHook;
    const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
    const cacheBytes = options.cacheSizeBytes ?? 8 * MiB;
    const logger = options.logger ?? stderrLogger;
    const fs = options.fs ?? nodeVfs;
    const rec = await recoverWal(dir, { maxRecordBytes, tailCacheBytes: cacheBytes, logger, onSync, fs });
    if (rec.segments.length === 0) {
      const seg = await createSegment(fs, dir, rec.state, 0, 0, onSync);
      rec.segments.push(seg);
    }
    const last = rec.segments[rec.segments.length - 1];
    const fh = await fs.promises.open(last.path, "r+");
    const { size } = await fh.stat();
    return new Wal(dir, rec.state, rec.segments, fh, size, rec.tail, options);
  }

  /** The segment files, oldest first. */
  segments(): readonly SegmentInfo[] {
    return this.segs;
  }

  /** Persists one Ready's snapshot marker, entries and hard state with one write and one fdatasync. */
  save(batch: SaveBatch): Promise<void> {
    return this.enqueue(async () => {
      const plan = validateSave(this.state, batch, this.maxRecordBytes);
      if (plan.records.length === 0) return;
      if (
        batch.sync === false &&
        plan.records.length === 1 &&
        plan.records[0].type === RecordType.HardState
      ) {
        this.deferredHardState = plan.records[0];
        this.state.setHardState(plan.records[0].hardState);
        return;
      }
      await this.writeUnit(plan.records, batch.sync ?? true, true, batch.inline === true);
      if (plan.install) this.cache.reset(plan.install.index + 1);
      this.cache.append(plan.entries);
      if (plan.install) await this.collectSegments();
    });
  }

  /**
   * Records a snapshot the state machine took at `meta.index` and, if
   * `compactTo` is past the compaction point, compacts to it: one unit, one fdatasync.
   */
  markSnapshot(meta: SnapshotMetadata, compactTo = 0): Promise<void> {
    return this.enqueue(async () => {
      checkSnapshotMetadata(meta);
      const problem = this.state.checkMark(meta);
      if (problem) throw new WalError("InvalidArgument", problem);
      const records: WalRecord[] = [{ type: RecordType.Snapshot, metadata: meta, install: false }];
      if (compactTo > this.state.compactIndex) records.push(this.compactRecord(compactTo, meta.index));
      // A large active segment ends at a compaction. The entries after the
      // new compaction point are written again after the cut, in the same
      // unit, so the segments before hold nothing live and go at once: a
      // restart reads the few entries kept after the snapshot, not the up to
      // a full segment of compacted ones before them. (Replay treats them as
      // entries superseding their own copies, or filling the gap left by the
      // deleted segments: state.ts.)
      if (records.length > 1 && this.writePos > this.segmentSizeBytes / CUT_AT_COMPACTION_FRACTION) {
        const carried = this.liveAfter(compactTo, this.carryOverBytes);
        await this.cut();
        for (const entry of carried) records.push({ type: RecordType.Entry, entry });
      }
      await this.writeUnit(records);
      if (records.length > 1) {
        this.cache.dropBefore(compactTo + 1);
        await this.collectSegments();
      }
    });
  }

  /**
   * The entries after `index` up to the last one, if they take at most
   * `maxBytes` (else none: they stay where they are, and so does their
   * segment, until a later compaction).
   */
  private liveAfter(index: number, maxBytes: number): Entry[] {
    const last = this.state.lastIndex();
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = index + 1; i <= last; i++) {
      bytes += this.state.locs.recordBytes(i);
      if (bytes > maxBytes) return [];
    }
    for (let lo = index + 1; lo <= last; lo = out[out.length - 1].index + 1) {
      out.push(...this.entries(lo, last + 1, maxBytes));
    }
    return out;
  }

  /** Drops entries up to and including `index` (at most the snapshot index); deletes segments left with none. */
  compact(index: number): Promise<void> {
    return this.enqueue(async () => {
      if (index <= this.state.compactIndex) return;
      await this.writeUnit([this.compactRecord(index, this.state.snapshot.index)]);
      this.cache.dropBefore(index + 1);
      await this.collectSegments();
    });
  }

  /** A compaction record to `index`, checked against the snapshot index it will have after this unit. */
  private compactRecord(index: number, snapIndex: number): WalRecord {
    const s = this.state;
    const term = s.termAt(index);
    if (index > snapIndex || index > s.lastIndex() || term === undefined || term < 0) {
      throw new WalError(
        "InvalidArgument",
        `cannot compact to ${index}: it must not pass the snapshot (${snapIndex}) or the last index (${s.lastIndex()})`,
      );
    }
    return { type: RecordType.Compact, index, term };
  }

  /** Entries in [lo, hi), at most `maxBytes` (by entrySize) but at least one. Callers check the bounds. */
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const locs = this.state.locs;
    let n = 1;
    let size = entrySize1(locs.recordBytes(lo));
    while (lo + n < hi) {
      size += entrySize1(locs.recordBytes(lo + n));
      if (size > maxBytes) break;
      n++;
    }
    const end = lo + n;
    const fromCache = Math.max(lo, Math.min(end, this.cache.length > 0 ? this.cache.firstIndex : end));
    if (fromCache > lo) this.ensureOpen();
    const out =
      fromCache > lo ? this.reader.read(this.state.locs, lo, fromCache, (seq) => this.segment(seq)) : [];
    for (let i = fromCache; i < end; i++) out.push(this.cache.at(i));
    return out;
  }

  private segment(seq: number): SegmentInfo {
    const s = this.segs[seq - this.segs[0].seq];
    if (s?.seq !== seq) throw new Error(`wal: no segment ${seq} (have ${this.segs[0].seq}..)`);
    return s;
  }

  /**
   * Encodes `records` plus their Commit as one buffer, writes it with one
   * write (synchronous: a page-cache copy, cheaper than a thread-pool round
   * trip) and, when `sync`, one fdatasync (in the thread pool, or on this
   * thread when `inline` and the disk has been quick), then applies it.
   */
  private async writeUnit(
    unit: readonly WalRecord[],
    sync = true,
    mayCut = true,
    inline = false,
  ): Promise<void> {
    const first = this.segs[this.segs.length - 1];
    try {
      if (
        mayCut &&
        this.writePos > first.headerEnd &&
        this.writePos + unitBytes(unit) > this.segmentSizeBytes
      )
        await this.cut();
    } catch (e) {
      throw this.failed(e, `cutting ${first.path} at ${this.writePos}`);
    }
    const deferred = this.deferredHardState;
    this.deferredHardState = undefined;
    const records =
      deferred === undefined || unit.some((r) => r.type === RecordType.HardState)
        ? unit
        : [deferred, ...unit];
    const total = unitBytes(records);
    const buf = Buffer.allocUnsafe(total);
    const offsets: number[] = [];
    let p = 0;
    for (const r of records) {
      offsets.push(p);
      p = encodeRecord(buf, p, r);
    }
    encodeRecord(buf, p, { type: RecordType.Commit, records: records.length });
    const seg = this.segs[this.segs.length - 1];
    try {
      this.zeroAhead(this.writePos + total);
      writeAllSync(this.fs, this.active.fd, buf, this.writePos);
      if (sync) {
        const t0 = performance.now();
        if (this.mutations.ackBeforeSync) void this.active.datasync().catch(() => {});
        else if (inline && this.lastFsyncMs < this.inlineSyncMaxMs) this.fs.fdatasyncSync(this.active.fd);
        else await this.active.datasync();
        this.lastFsyncMs = performance.now() - t0;
        this.onFsyncSeconds?.(this.lastFsyncMs / 1000);
      }
    } catch (e) {
      throw this.failed(e, `writing ${total} bytes to ${seg.path} at ${this.writePos}`);
    }
    this.unsynced = !sync;
    if (sync) this.onSync("fdatasync", seg.path);
    const at = this.writePos;
    this.writePos = at + total;
    if (this.zeroedTo < this.writePos) this.zeroedTo = this.writePos;
    seg.sizeBytes = this.writePos;
    for (let k = 0; k < records.length; k++) {
      const next = k + 1 < records.length ? offsets[k + 1] : total - FRAME_HEADER_BYTES - 4;
      this.apply(records[k], seg.seq, at + offsets[k], next - offsets[k]);
    }
  }

  /**
   * Extends the active segment with zeros, one preallocateBytes chunk at a
   * time, once a save ending at `end` comes within a quarter chunk of the
   * zeroed end. The zeros go through the page cache like the save and reach
   * the disk with its fdatasync; until then a crash leaves the file shorter
   * or zero-padded, and replay reads either as the end of the log.
   */
  private zeroAhead(end: number): void {
    const chunk = this.preallocateBytes;
    if (chunk === 0 || this.zeroedTo >= this.segmentSizeBytes || end + chunk / 4 <= this.zeroedTo) return;
    const to = Math.min(this.segmentSizeBytes, Math.max(end, this.zeroedTo) + chunk);
    try {
      writeAllSync(this.fs, this.active.fd, zeros(to - this.zeroedTo), this.zeroedTo);
      this.zeroedTo = to;
    } catch {
      // No room for the zeros (ENOSPC) need not mean no room for the save:
      // this segment goes on with plain appends, and the save's own write
      // reports a full disk if there is one. Zeros that did land are harmless.
      this.zeroedTo = this.segmentSizeBytes;
    }
  }

  private apply(r: WalRecord, seq: number, offset: number, bytes: number): void {
    const s = this.state;
    switch (r.type) {
      case RecordType.Entry:
        s.appendEntry(r.entry.index, r.entry.term, seq, offset, bytes);
        break;
      case RecordType.HardState:
        s.setHardState(r.hardState);
        break;
      case RecordType.Snapshot:
        r.install ? s.install(r.metadata) : s.mark(r.metadata);
        break;
      case RecordType.Compact:
        s.compact(r.index, r.term);
        break;
      default:
        throw new Error(`wal: record type ${r.type} cannot be saved`);
    }
  }

  /** Remembers that the log's state on disk is unknown after `e`; the error to throw. */
  private failed(e: unknown, what: string): WalError {
    this.failure = e as Error;
    return new WalError("Failed", `${what} failed: ${(e as Error).message}`, { cause: e });
  }

  /**
   * Starts a new segment once the current one is durable up to writePos
   * (holding the hard state the new one's header repeats: syncPending).
   */
  private async cut(): Promise<void> {
    await this.syncPending();
    const prev = this.segs[this.segs.length - 1];
    const seg = await createSegment(this.fs, this.dir, this.state, prev.seq + 1, this.writePos, this.onSync);
    const fh = await this.fs.promises.open(seg.path, "r+");
    await this.active.close();
    this.active = fh;
    this.segs.push(seg);
    this.writePos = seg.sizeBytes;
    this.zeroedTo = seg.sizeBytes;
  }

  /** Deletes, oldest first, the segments that hold no live entry; then syncs the directory. */
  private async collectSegments(): Promise<void> {
    const locs = this.state.locs;
    const activeSeq = this.segs[this.segs.length - 1].seq;
    const minLive = locs.length > 0 ? Math.min(locs.seq(locs.firstIndex), activeSeq) : activeSeq;
    let removed = 0;
    while (this.segs.length > 1 && this.segs[0].seq < minLive) {
      const seg = this.segs[0];
      this.reader.forget(seg.seq);
      await this.fs.promises.rm(seg.path, { force: false });
      this.segs.shift();
      removed++;
    }
    if (removed > 0) await syncDir(this.fs, this.dir, this.onSync);
  }

  private enqueue(op: () => Promise<void>): Promise<void> {
    if (this.closed) return Promise.reject(new WalError("Closed", `log in ${this.dir} is closed`));
    if (this.pending >= this.maxPendingSaves) {
      return Promise.reject(
        new WalError(
          "TooManyPendingSaves",
          `${this.pending} saves are waiting; the limit is ${this.maxPendingSaves} (maxPendingSaves)`,
        ),
      );
    }
    this.pending++;
    const run = this.chain.then(async () => {
      try {
        if (this.failure) {
          throw new WalError(
            "Failed",
            `an earlier write failed (${this.failure.message}); reopen the log to recover`,
            { cause: this.failure },
          );
        }
        await op();
      } finally {
        this.pending--;
      }
    });
    this.chain = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  /**
   * Makes what was saved with sync: false durable: a deferred hard state is
   * written (into the active segment, never cutting it) with an fdatasync
   * that also covers units written unsynced before it.
   */
  private async syncPending(): Promise<void> {
    if (this.deferredHardState !== undefined) return this.writeUnit([], true, false);
    if (!this.unsynced) return;
    await this.active.datasync();
    this.unsynced = false;
    this.onSync("fdatasync", this.segs[this.segs.length - 1].path);
  }

  private ensureOpen(): void {
    if (this.closed) throw new WalError("Closed", `log in ${this.dir} is closed`);
  }

  /** Waits for queued saves, then closes every file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chain;
    if (!this.failure) await this.syncPending();
    this.reader.close();
    await this.active.close();
  }
}

/** Bytes of a unit: its records, then the commit record that ends it. */
function unitBytes(records: readonly WalRecord[]): number {
  let total = FRAME_HEADER_BYTES + 4;
  for (const r of records) total += FRAME_HEADER_BYTES + payloadBytes(r);
  return total;
}

let zeroBuf = Buffer.alloc(0);
/** A zero-filled buffer of `n` bytes (shared; never written to). */
function zeros(n: number): Buffer {
  if (zeroBuf.length < n) zeroBuf = Buffer.alloc(n);
  return zeroBuf.subarray(0, n);
}

/** Size as entrySize() counts it, from the record's frame size (frame header + 17-byte entry header + data). */
function entrySize1(recordBytes: number): number {
  return recordBytes - FRAME_HEADER_BYTES - 17 + 16;
}

function checkOptions(o: WalOptions): void {
  const positive: [string, number | undefined, number][] = [
    ["segmentSizeBytes", o.segmentSizeBytes, Number.MAX_SAFE_INTEGER],
    ["carryOverBytes", o.carryOverBytes, Number.MAX_SAFE_INTEGER],
    ["maxRecordBytes", o.maxRecordBytes, 0xffffffff],
    ["maxPendingSaves", o.maxPendingSaves, Number.MAX_SAFE_INTEGER],
    ["maxOpenReadFiles", o.maxOpenReadFiles, 1 << 16],
  ];
  for (const [name, v, max] of positive) {
    if (v !== undefined && !(Number.isSafeInteger(v) && v >= 1 && v <= max)) {
      throw new WalError("InvalidArgument", `option ${name} is ${v}; it must be an integer in [1, ${max}]`);
    }
  }
  const z = o.preallocateBytes;
  if (z !== undefined && !(Number.isSafeInteger(z) && z >= 0 && z <= 1 << 30)) {
    throw new WalError(
      "InvalidArgument",
      `option preallocateBytes is ${z}; it must be an integer in [0, ${1 << 30}]`,
    );
  }
  const c = o.cacheSizeBytes;
  if (c !== undefined && !(Number.isSafeInteger(c) && c >= 0)) {
    throw new WalError("InvalidArgument", `option cacheSizeBytes is ${c}; it must be a non-negative integer`);
  }
}
