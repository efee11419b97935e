// WalStorage: the Raft `Storage` the core reads, backed by the WAL and the
// snapshot files of one data directory (`<dir>/wal/`, `<dir>/snap/`). It
// behaves as MemoryStorage does for the same sequence of operations, with
// writes made durable before they are visible.
//
// `snapshot()` returns the metadata with an empty `data`: the image lives in
// `snap/` and is streamed with `openSnapshot(index)`, never held in memory.

import * as path from "node:path";
import type { ConfState, Entry, HardState, Snapshot, SnapshotMetadata } from "../raft/index.ts";
import { assert, EMPTY_CONF_STATE, type Storage } from "../raft/index.ts";
import { stderrLogger, WalCorruptionError, WalError, type WalLogger } from "./errors.ts";
import {
  type OpenedSnapshot,
  type SnapshotFile,
  type SnapshotInfo,
  SnapshotStore,
  type SnapshotStoreOptions,
  snapshotFileName,
} from "./snapshot.ts";
import { Wal, type WalOptions } from "./wal.ts";

export interface WalStorageOptions extends WalOptions, SnapshotStoreOptions {
  /**
   * Read the whole image of the snapshot the log points at when opening, so a
   * damaged one is found (and an older one used, if safe) before the state
   * machine restores from it. Default true; costs one sequential read of the image.
   */
  readonly verifySnapshotOnOpen?: boolean;
}

/** One Ready's worth of durable state. A snapshot with `data` is written to `snap/` if it is not there yet. */
export interface StorageSaveBatch {
  readonly hardState?: HardState;
  readonly entries?: readonly Entry[];
  readonly snapshot?: Snapshot | SnapshotMetadata;
  /** False when the Ready does not require an fsync (only the commit index changed); default true. */
  readonly sync?: boolean;
  /** The caller waits for nothing else: the fdatasync may block this thread (see Wal's SaveBatch.inline). */
  readonly inline?: boolean;
}

const EMPTY = new Uint8Array(0);

export class WalStorage implements Storage {
  private snapCache: Snapshot | undefined;

  private constructor(
    readonly dataDir: string,
    readonly wal: Wal,
    readonly snapshots: SnapshotStore,
    private readonly logger: WalLogger,
  ) {}

  /** Opens (creating) the data directory's log and snapshots, recovering both. */
  static async open(dataDir: string, options: WalStorageOptions = {}): Promise<WalStorage> {
    const logger = options.logger ?? stderrLogger;
    const snapshots = await SnapshotStore.open(path.join(dataDir, "snap"), { ...options, logger });
    const wal = await Wal.open(path.join(dataDir, "wal"), { ...options, logger });
    const st = new WalStorage(dataDir, wal, snapshots, logger);
    try {
      await st.checkSnapshot(options.verifySnapshotOnOpen ?? true);
    } catch (e) {
      await wal.close();
      throw e;
    }
    return st;
  }

  /**
   * A fresh member's storage for a new cluster, as MemoryStorage.bootstrap:
   * the initial membership is a snapshot at index 1, term 1 (with an empty image).
   */
  static async bootstrap(
    dataDir: string,
    voters: readonly number[],
    learners: readonly number[] = [],
    options: WalStorageOptions = {},
  ): Promise<WalStorage> {
    const st = await WalStorage.open(dataDir, options);
    const s = st.wal.state;
    if (s.lastIndex() > 0 || s.hardState.term > 0 || s.snapshot.index > 0) {
      await st.close();
      throw new WalError(
        "AlreadyExists",
        `${dataDir} already holds a log (last index ${s.lastIndex()}, term ${s.hardState.term}); bootstrap only an empty directory`,
      );
    }
    const metadata = {
      index: 1,
      term: 1,
      confState: { ...EMPTY_CONF_STATE, voters: [...voters], learners: [...learners] },
    };
    await st.save({ snapshot: { metadata, data: EMPTY }, hardState: { term: 1, vote: 0, commit: 1 } });
    return st;
  }

  // ---- Storage ---------------------------------------------------------------------

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.wal.state.hardState, confState: this.wal.state.snapshot.confState };
  }

  entries(lo: number, hi: number, maxSizeBytes: number): Entry[] {
    assert(lo >= this.firstIndex() && hi <= this.lastIndex() + 1, () => {
      return `storage entries [${lo}, ${hi}) out of [${this.firstIndex()}, ${this.lastIndex() + 1})`;
    });
    return lo >= hi ? [] : this.wal.entries(lo, hi, maxSizeBytes);
  }

  term(i: number): number | undefined {
    const t = this.wal.state.termAt(i);
    return t === undefined || t < 0 ? undefined : t;
  }

  firstIndex(): number {
    return this.wal.state.firstIndex();
  }

  lastIndex(): number {
    return this.wal.state.lastIndex();
  }

  /** Metadata of the newest snapshot; `data` is empty (stream the image with openSnapshot). */
  snapshot(): Snapshot {
    const m = this.wal.state.snapshot;
    if (this.snapCache?.metadata !== m) this.snapCache = { metadata: m, data: EMPTY };
    return this.snapCache;
  }

  hardState(): HardState {
    return this.wal.state.hardState;
  }

  confState(): ConfState {
    return this.wal.state.snapshot.confState;
  }

  // ---- writes ------------------------------------------------------------------------

  /**
   * Persists a Ready: snapshot marker, entries and hard state in one write and
   * one fdatasync. A new snapshot's file is written first when it is not in
   * `snap/` yet (from `data`), so the log never points at a missing image.
   */
  async save(batch: StorageSaveBatch): Promise<void> {
    let meta: SnapshotMetadata | undefined;
    if (batch.snapshot !== undefined) {
      const s = batch.snapshot;
      meta = "metadata" in s ? s.metadata : s;
      if (meta.index > this.wal.state.snapshot.index) {
        const have = (await this.snapshots.listSnapshots()).some(
          (f) => f.index === meta?.index && f.term === meta.term,
        );
        if (!have) {
          if (!("data" in s)) {
            throw new WalError(
              "InvalidArgument",
              `snapshot ${meta.index} has no image in snap/; write it with writeSnapshot first`,
            );
          }
          await this.snapshots.writeSnapshot(meta, [s.data]);
        }
      } else {
        meta = undefined;
      }
    }
    await this.wal.save({
      hardState: batch.hardState,
      entries: batch.entries,
      snapshot: meta,
      sync: batch.sync,
      inline: batch.inline,
    });
    if (meta) await this.snapshots.retainSnapshots(undefined, [this.wal.state.snapshot.index]);
  }

  /**
   * Records a snapshot the state machine took at `index` (streaming its image
   * to `snap/`) and compacts the log to `index - keepEntries`, as
   * MemoryStorage.createSnapshot. Old snapshot files beyond the retention count are deleted.
   */
  async createSnapshot(
    index: number,
    confState: ConfState,
    image: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    keepEntries = 0,
  ): Promise<SnapshotMetadata> {
    const s = this.wal.state;
    if (index <= s.snapshot.index) {
      throw new WalError("InvalidArgument", `snapshot ${index} is not newer than ${s.snapshot.index}`);
    }
    const term = this.term(index);
    if (index > s.lastIndex() || term === undefined) {
      throw new WalError(
        "InvalidArgument",
        `snapshot ${index} is outside the log [${s.firstIndex()}, ${s.lastIndex()}]`,
      );
    }
    const meta: SnapshotMetadata = { index, term, confState };
    await this.snapshots.writeSnapshot(meta, image);
    await this.wal.markSnapshot(meta, Math.max(s.compactIndex, index - keepEntries));
    await this.snapshots.retainSnapshots(undefined, [index]);
    return meta;
  }

  /**
   * The second half of createSnapshot for an image already written with
   * writeSnapshot: records the snapshot in the log and compacts to
   * `index - keepEntries`. A snapshot no newer than the log's is ignored.
   */
  async commitSnapshot(meta: SnapshotMetadata, keepEntries = 0): Promise<void> {
    const s = this.wal.state;
    if (meta.index <= s.snapshot.index) return;
    if (this.term(meta.index) !== meta.term) {
      throw new WalError(
        "InvalidArgument",
        `snapshot ${meta.index} term ${meta.term} does not match the log`,
      );
    }
    await this.wal.markSnapshot(meta, Math.max(s.compactIndex, meta.index - keepEntries));
    await this.snapshots.retainSnapshots(undefined, [meta.index]);
  }

  /** Drops entries up to and including `index` (which the snapshot must cover); deletes emptied segments. */
  compact(index: number): Promise<void> {
    return this.wal.compact(index);
  }

  writeSnapshot(
    meta: SnapshotMetadata,
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  ): Promise<SnapshotInfo> {
    return this.snapshots.writeSnapshot(meta, chunks);
  }

  /** The image of the snapshot at `index` (default: the one the log points at), as a checked stream. */
  openSnapshot(index = this.wal.state.snapshot.index): Promise<OpenedSnapshot> {
    return this.snapshots.openSnapshot(index);
  }

  latestSnapshot(): Promise<SnapshotInfo | undefined> {
    return this.snapshots.latestSnapshot();
  }

  listSnapshots(): Promise<SnapshotFile[]> {
    return this.snapshots.listSnapshots();
  }

  close(): Promise<void> {
    return this.wal.close();
  }

  /**
   * The snapshot the log points at must be readable, or the state machine has
   * nothing to restore from. If it is missing or damaged, an older snapshot is
   * used instead only when that is safe: the log still holds every entry after
   * it (its index is at or above the compaction point) and its term matches
   * the log's. The damaged file is moved aside and the log re-pointed (durably).
   * Otherwise opening fails: a peer must send a snapshot, or a human must look.
   */
  private async checkSnapshot(verify: boolean): Promise<void> {
    const s = this.wal.state;
    const meta = s.snapshot;
    if (meta.index === 0) return;
    const files = await this.snapshots.listSnapshots();
    const want = files.find((f) => f.index === meta.index && f.term === meta.term);
    const problem = want
      ? await this.tryRead(want, verify)
      : new WalCorruptionError(
          path.join(this.snapshots.dir, snapshotFileName(meta.term, meta.index)),
          0,
          `snapshot file for index ${meta.index} term ${meta.term}, which the log points at, is missing`,
        );
    if (problem === undefined) return;
    this.logger("snapshot the log points at is unusable; looking for an older one", {
      file: problem.file,
      reason: problem.message,
    });
    const older = files.filter((f) => f.index < meta.index && f.index >= s.compactIndex).reverse();
    for (const f of older) {
      if (this.term(f.index) !== f.term) continue;
      const p = await this.tryRead(f, verify);
      if (p) {
        this.logger("older snapshot is unusable too", { file: f.file, reason: p.message });
        continue;
      }
      const info = await this.snapshots.readInfo(f);
      if (want) await this.snapshots.quarantine(want.file);
      await this.wal.markSnapshot(info.metadata);
      this.logger("falling back to an older snapshot; the log still holds every entry after it", {
        file: f.file,
        index: f.index,
        abandonedIndex: meta.index,
      });
      return;
    }
    throw new WalCorruptionError(
      problem.file,
      problem.offset,
      `${problem.reason}; no older snapshot can replace it (a replacement needs an index at or above the compaction point ${s.compactIndex} and a term the log agrees with)`,
    );
  }

  private async tryRead(f: SnapshotFile, verify: boolean): Promise<WalCorruptionError | undefined> {
    try {
      if (verify) await this.snapshots.verifySnapshotFile(f);
      else await this.snapshots.readInfo(f);
      return undefined;
    } catch (e) {
      if (e instanceof WalCorruptionError) return e;
      throw e;
    }
  }
}
