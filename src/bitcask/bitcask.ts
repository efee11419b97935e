// The store: one writer appending batches to the active file, reads through
// the keydir, background work (hint files for sealed files, merges) queued one
// job at a time so it never competes with itself for the same files.

import * as path from "node:path";
import { encodeBatch, prefixEnd, validateBatch } from "./batch.ts";
import { createActiveFile, type DataFile } from "./datafile.ts";
import { BitcaskError } from "./errors.ts";
import { acquireLock, fsyncDir, fsyncDirSync } from "./io.ts";
import { type Keydir, type KeydirItem, SetResult } from "./keydir.ts";
import { loadStore } from "./load.ts";
import { type MergeHost, type MergeResult, runMerge } from "./merge.ts";
import { type BitcaskOptions, type ResolvedOptions, resolveOptions } from "./options.ts";
import { FileKind, RECORD_HEADER_BYTES, recordBytes } from "./record.ts";
import { Syncer } from "./sync.ts";
import type { BatchOp, BitcaskStats, Entry, RangeOptions } from "./types.ts";

const EMPTY = new Uint8Array(0);
/** Read-ahead bounds: entries per window, a gap worth reading through, and one read's size. */
const MAX_READ_AHEAD = 4096;
const READ_AHEAD_GAP_BYTES = 4096;
const READ_AHEAD_SPAN_BYTES = 4 * 1024 * 1024;

export class Bitcask {
  private readonly keydir: Keydir;
  private readonly files: Map<number, DataFile>;
  /** The file appended to; created by the first write after open or after a rollover. */
  private active: DataFile | undefined;
  private nextSeq: number;
  private nextFileId: number;
  private readonly syncer: Syncer;
  private timer: NodeJS.Timeout | undefined;
  /** Background work (hint building, merges), one job at a time. */
  private jobs: Promise<void> = Promise.resolve();
  private merging = false;
  private closing = false;
  private closed = false;
  /** Set when a write, fsync or merge install failed: what is on disk is unknown. */
  private failure: Error | undefined;
  private readonly filesFromHints: number;
  private readonly filesScanned: number;

  private constructor(
    readonly dir: string,
    private readonly o: ResolvedOptions,
    private readonly releaseLock: () => void,
  ) {
    const loaded = loadStore(dir, o);
    this.keydir = loaded.keydir;
    this.files = loaded.files;
    this.nextSeq = loaded.nextSeq;
    this.nextFileId = loaded.nextFileId;
    this.filesFromHints = loaded.filesFromHints;
    this.filesScanned = loaded.filesScanned;
    // Only writes make the syncer dirty, and the first write creates the active file.
    this.syncer = new Syncer(
      () => this.active!,
      o,
      (err) => this.fail(err),
    );
    if (o.sync === "interval") {
      this.timer = setInterval(() => this.syncer.kick(), o.syncIntervalMs);
      this.timer.unref();
    }
  }

  /**
   * Open (creating if needed) the store in `dir`. Recovers from a crash: cuts
   * a torn tail of the newest file, finishes or discards an interrupted merge.
   * Throws BitcaskCorruptionError on damage it must not guess about.
   */
  static async open(dir: string, options: BitcaskOptions = {}): Promise<Bitcask> {
    const o = resolveOptions(options);
    await o.fs.promises.mkdir(dir, { recursive: true });
    // The directory's own name may not be durable yet (created by a process
    // that stopped before syncing its parent); the LOCK write below syncs the
    // names inside it, those found from before included.
    await fsyncDir(path.dirname(path.resolve(dir)), o);
    const release = acquireLock(o, dir);
    try {
      return new Bitcask(dir, o, release);
    } catch (err) {
      release();
      throw err;
    }
  }

  /** The newest value of `key`, or undefined. */
  get(key: Uint8Array): Uint8Array | undefined {
    this.checkOpen();
    const kd = this.keydir;
    if (!kd.find(key, 0, key.length)) return undefined;
    return this.files.get(kd.old.fileId)!.readValue(kd.old.offset, key, kd.old.valueSize, this.o.verifyReads);
  }

  has(key: Uint8Array): boolean {
    this.checkOpen();
    return this.keydir.has(key);
  }

  put(key: Uint8Array, value: Uint8Array): Promise<void> {
    return this.writeBatch([{ type: "put", key, value }]);
  }

  delete(key: Uint8Array): Promise<void> {
    return this.writeBatch([{ type: "delete", key }]);
  }

  /**
   * Apply the operations atomically: after a crash, all or none of them are
   * there. One write and (sync "always") at most one fdatasync, shared with
   * concurrent batches. Visible to reads as soon as this returns its promise;
   * durable (sync "always") when the promise resolves.
   */
  async writeBatch(ops: readonly BatchOp[]): Promise<void> {
    const gen = this.writeBatchNow(ops);
    if (gen !== undefined && this.o.sync === "always") await this.syncer.waitFor(gen);
  }

  /**
   * writeBatch's write, done before it returns: a write that fails throws
   * here (nothing of the batch was written), so a caller learns of it before
   * it writes anything else. Returns the sync generation the batch is durable
   * at (undefined for an empty batch); with sync "always" writeBatch waits
   * for it, otherwise the next sync() covers it.
   */
  writeBatchNow(ops: readonly BatchOp[]): number | undefined {
    this.checkWritable();
    const bytes = validateBatch(ops, this.o);
    if (bytes === 0) return undefined;
    let a = this.active;
    if (a === undefined) a = this.startActive();
    else if (!a.empty && a.size + bytes + RECORD_HEADER_BYTES > this.o.rolloverBytes) a = this.rollover(a);
    const seq0 = this.nextSeq;
    const buf = encodeBatch(ops, bytes, seq0, this.o.now());
    const base = a.size;
    try {
      let done = 0;
      while (done < bytes) done += this.o.fs.writeSync(a.fd, buf, done, bytes - done, base + done);
    } catch (err) {
      this.rollbackWrite(a, base, bytes, err);
    }
    this.nextSeq += ops.length;
    a.size += bytes;
    let offset = base;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      const size = recordBytes(op.key.length, op.type === "put" ? op.value.length : 0);
      a.noteRecord(seq0 + i);
      if (op.type === "put") {
        const r = this.keydir.set(op.key, 0, op.key.length, a.id, offset, op.value.length, seq0 + i);
        if (r === SetResult.Replaced)
          this.unlive(this.keydir.old.fileId, op.key.length, this.keydir.old.valueSize);
        a.liveBytes += size;
      } else {
        const removed = this.keydir.delete(op.key);
        if (removed) this.unlive(removed.fileId, op.key.length, removed.valueSize);
      }
      offset += size;
    }
    return this.syncer.noteWrite();
  }

  /**
   * Seal the active file, if it holds anything, and start a new one, so that a
   * following merge() can compact it too (merge never takes the file being
   * written). A full defragment wants every byte rewritten.
   */
  sealActive(): void {
    this.checkWritable();
    const a = this.active;
    if (a !== undefined && !a.empty) this.rollover(a);
  }

  /** Make every write so far durable, whatever the sync policy. */
  sync(): Promise<void> {
    this.checkOpen();
    return this.syncer.syncAll();
  }

  /**
   * Entries with keys in `[start, end)` in key order (descending with
   * `reverse`); an empty `end` means no upper bound. Values are read as the
   * walk reaches them; writes between steps are seen or not, never twice.
   */
  *range(start: Uint8Array, end: Uint8Array = EMPTY, opts: RangeOptions = {}): Generator<Entry> {
    this.checkOpen();
    const limit = opts.limit ?? Number.POSITIVE_INFINITY;
    if (!(limit >= 0))
      throw new BitcaskError("InvalidOption", `bitcask: range limit must be >= 0, got ${limit}`);
    let n = 0;
    if (limit === 0) return;
    const ahead = opts.keysOnly ? 1 : Math.max(1, Math.min(opts.readAhead ?? 1, MAX_READ_AHEAD));
    let window: KeydirItem[] = [];
    for (const item of this.keydir.range(start, end, opts.reverse ?? false)) {
      this.checkOpen();
      if (ahead > 1) {
        window.push(item);
        if (window.length < ahead && n + window.length < limit) continue;
        for (const e of this.readWindow(window)) {
          yield e;
          if (++n >= limit) return;
        }
        window = [];
        continue;
      }
      const value = opts.keysOnly
        ? EMPTY
        : this.files.get(item.fileId)!.readValue(item.offset, item.key, item.valueSize, this.o.verifyReads);
      yield { key: item.key, value };
      if (++n >= limit) return;
    }
    if (window.length > 0) yield* this.readWindow(window);
  }

  /**
   * The values of `items` (in their order), read in file order with records
   * that lie close together (gaps under READ_AHEAD_GAP_BYTES) in one read.
   */
  private readWindow(items: readonly KeydirItem[]): Entry[] {
    const order = items.map((_, i) => i);
    order.sort((a, b) => items[a].fileId - items[b].fileId || items[a].offset - items[b].offset);
    const values: Buffer[] = new Array(items.length);
    const bytesOf = (it: KeydirItem) => recordBytes(it.key.length, it.valueSize);
    for (let i = 0; i < order.length; ) {
      const first = items[order[i]];
      let end = first.offset + bytesOf(first);
      let j = i + 1;
      for (; j < order.length; j++) {
        const it = items[order[j]];
        if (it.fileId !== first.fileId || it.offset - end > READ_AHEAD_GAP_BYTES) break;
        if (Math.max(end, it.offset + bytesOf(it)) - first.offset > READ_AHEAD_SPAN_BYTES) break;
        end = Math.max(end, it.offset + bytesOf(it));
      }
      const file = this.files.get(first.fileId)!;
      const span = file.readSpan(first.offset, end - first.offset);
      for (let k = i; k < j; k++) {
        const it = items[order[k]];
        const at = it.offset - first.offset;
        const rec = span.subarray(at, at + bytesOf(it));
        values[order[k]] = file.valueIn(rec, it.offset, it.key, it.valueSize, this.o.verifyReads);
      }
      i = j;
    }
    return items.map((it, i) => ({ key: it.key, value: values[i] }));
  }

  /** range() over the keys that start with `prefix`. */
  prefix(prefix: Uint8Array, opts: RangeOptions = {}): Generator<Entry> {
    return this.range(prefix, prefixEnd(prefix), opts);
  }

  /** Number of keys in `[start, end)` (empty `end`: no upper bound), without reading values. */
  count(start: Uint8Array = EMPTY, end: Uint8Array = EMPTY): number {
    this.checkOpen();
    return this.keydir.count(start, end);
  }

  /** Bytes of every data file together (stats().totalBytes without building the stats; checked per write by the quota). */
  totalBytes(): number {
    let n = 0;
    for (const f of this.files.values()) n += f.size;
    return n;
  }

  stats(): BitcaskStats {
    const dataFiles = [...this.files.values()].map((f) => ({
      id: f.id,
      kind: f.kind === FileKind.Merge ? ("merge" as const) : ("write" as const),
      bytes: f.size,
      liveBytes: f.liveBytes,
      deadBytes: f.size - f.liveBytes,
      sealed: f.sealed,
      hasHint: f.hasHint,
    }));
    const totalBytes = this.totalBytes();
    const liveBytes = dataFiles.reduce((n, f) => n + f.liveBytes, 0);
    return {
      keys: this.keydir.size,
      files: dataFiles.length,
      totalBytes,
      liveBytes,
      deadBytes: totalBytes - liveBytes,
      activeFileId: this.active?.id,
      nextSeq: this.nextSeq,
      merging: this.merging,
      filesFromHints: this.filesFromHints,
      filesScanned: this.filesScanned,
      dataFiles,
    };
  }

  /**
   * Merge immutable files (all of them, or the ids given) into new ones that
   * hold only what is still needed. Runs in the background in chunks; reads
   * and writes go on. Crash-safe at every step (see merge.ts).
   */
  async merge(opts: { fileIds?: readonly number[] } = {}): Promise<MergeResult> {
    this.checkWritable();
    if (this.merging) throw new BitcaskError("MergeInProgress", "bitcask: a merge is already running");
    const activeId = this.active?.id;
    const ids = [...new Set(opts.fileIds ?? [...this.files.keys()].filter((id) => id !== activeId))];
    for (const id of ids) {
      if (!this.files.has(id) || id === activeId) {
        throw new BitcaskError(
          "InvalidOption",
          `bitcask: merge input ${id} is not an immutable data file of this store`,
        );
      }
    }
    this.merging = true;
    const run = this.jobs.then(() => {
      if (this.closing)
        throw new BitcaskError("MergeAborted", "bitcask: merge cancelled by close() before it began");
      this.checkWritable();
      const inputs = ids.sort((x, y) => x - y).map((id) => this.files.get(id)!);
      return runMerge(this.mergeHost(), inputs);
    });
    this.jobs = run.then(
      () => undefined,
      () => undefined,
    );
    try {
      return await run;
    } finally {
      this.merging = false;
    }
  }

  /**
   * Stop: cancel a merge that has not committed, finish one that has, seal
   * the active file and write its hint, release the directory. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed || this.closing) return;
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    await this.jobs;
    await this.syncer.idle();
    try {
      if (this.failure === undefined) this.closeActive();
    } finally {
      for (const f of this.files.values()) f.close();
      this.closed = true;
      this.releaseLock();
    }
  }

  private closeActive(): void {
    const a = this.active;
    if (a === undefined) return;
    if (a.empty) {
      a.close();
      this.o.fs.unlinkSync(a.path);
      fsyncDirSync(this.dir, this.o);
      this.files.delete(a.id);
      return;
    }
    a.sealSync();
    this.syncer.markAllSynced();
    try {
      a.writeHintSync(this.o.ioChunkBytes);
    } catch (err) {
      // The data is sealed and durable; without a hint the next open scans it.
      this.o.logger.warn({ file: a.path, err: String(err) }, "bitcask: could not write the hint at close");
    }
  }

  /** Seal the active file and start the next one; the sealed file's hint is built in the background. */
  private rollover(sealed: DataFile): DataFile {
    try {
      sealed.sealSync();
    } catch (err) {
      this.fail(err);
      throw this.failure;
    }
    this.syncer.markAllSynced();
    this.jobs = this.jobs.then(() => this.writeHint(sealed));
    return this.startActive();
  }

  private startActive(): DataFile {
    try {
      const a = createActiveFile(this.o, this.dir, this.nextFileId++, this.nextSeq);
      this.files.set(a.id, a);
      this.active = a;
      return a;
    } catch (err) {
      this.fail(err);
      throw this.failure;
    }
  }

  /** The hint of a file sealed by a rollover; close() lets a pending one finish, so open needs no scan. */
  private async writeHint(f: DataFile): Promise<void> {
    if (this.failure || !this.files.has(f.id)) return;
    try {
      await f.writeHint(this.o.ioChunkBytes);
    } catch (err) {
      this.o.logger.error(
        { file: f.path, err: String(err) },
        "bitcask: could not write the hint of a sealed file",
      );
    }
  }

  private mergeHost(): MergeHost {
    return {
      dir: this.dir,
      opts: this.o,
      keydir: this.keydir,
      files: this.files,
      allocFileId: () => this.nextFileId++,
      syncAll: () => this.syncer.syncAll(),
      quiesce: () => this.syncer.settled(),
      stopping: () => this.closing,
      fail: (err) => this.fail(err),
    };
  }

  private unlive(fileId: number, keySize: number, valueSize: number): void {
    const f = this.files.get(fileId);
    if (f) f.liveBytes -= recordBytes(keySize, valueSize);
  }

  /** Undo a failed append; if even that fails, stop taking writes. */
  private rollbackWrite(a: DataFile, base: number, bytes: number, err: unknown): never {
    try {
      this.o.fs.ftruncateSync(a.fd, base);
    } catch {
      this.fail(err);
      throw this.failure;
    }
    throw new BitcaskError(
      "WriteFailed",
      `bitcask: writing ${bytes} bytes to ${a.path} at ${base} failed (${String(err)}); nothing was written`,
      { cause: err },
    );
  }

  private fail(err: unknown): void {
    if (this.failure !== undefined) return;
    this.failure =
      err instanceof BitcaskError && err.code === "Failed"
        ? err
        : new BitcaskError(
            "Failed",
            `bitcask: ${String(err)}; the store takes no more writes: close and reopen it`,
            {
              cause: err,
            },
          );
    this.o.logger.error({ dir: this.dir, err: String(err) }, "bitcask: store failed");
  }

  private checkOpen(): void {
    if (this.closed) throw new BitcaskError("Closed", `bitcask: ${this.dir} is closed`);
  }

  private checkWritable(): void {
    if (this.closed || this.closing) throw new BitcaskError("Closed", `bitcask: ${this.dir} is closed`);
    if (this.failure) throw this.failure;
  }
}
