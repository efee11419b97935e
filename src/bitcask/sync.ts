// Group commit. Every write gets a generation number; a waiter is released
// once an fdatasync that started after its write has finished. Writes that
// arrive while an fdatasync runs share the next one, so N concurrent batches
// cost at most two fsyncs, and the writer never blocks on the disk.
//
// An fdatasync on the active file covers every earlier write: older files
// were fsync'd when they were sealed (markAllSynced). A failed fdatasync
// leaves the page cache in an unknown state (the "fsyncgate" lesson), so it
// is never retried: every waiter fails and the store stops taking writes.

import { BitcaskError } from "./errors.ts";
import { fdatasyncAsync, type Io } from "./io.ts";

interface Waiter {
  gen: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class Syncer {
  private written = 0;
  private synced = 0;
  private inflight: Promise<void> | undefined;
  private waiters: Waiter[] = [];
  private failure: Error | undefined;

  constructor(
    /** The active file's descriptor and path at the time of the call. */
    private readonly target: () => { fd: number; path: string },
    private readonly io: Io,
    private readonly onFailure: (err: Error) => void,
  ) {}

  /** Record a write; returns its generation. */
  noteWrite(): number {
    return ++this.written;
  }

  get dirty(): boolean {
    return this.synced < this.written;
  }

  /** Every write so far is durable (the files holding them were fsync'd). */
  markAllSynced(): void {
    this.synced = this.written;
    this.release();
  }

  /** Resolves once write `gen` is durable. */
  waitFor(gen: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.synced >= gen) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ gen, resolve, reject });
      this.kick();
    });
  }

  /** Resolves once every write so far is durable. */
  syncAll(): Promise<void> {
    return this.waitFor(this.written);
  }

  /** Start an fdatasync if writes are waiting for one and none is running. */
  kick(): void {
    if (this.inflight !== undefined || this.failure !== undefined || !this.dirty) return;
    const gen = this.written;
    const { fd, path } = this.target();
    const t0 = performance.now();
    this.inflight = fdatasyncAsync(fd, "data", path, this.io).then(
      () => {
        this.io.hooks.onCommitSeconds?.((performance.now() - t0) / 1000);
        this.inflight = undefined;
        if (gen > this.synced) this.synced = gen;
        this.release();
        if (this.waiters.length > 0) this.kick();
      },
      (err: unknown) => {
        this.inflight = undefined;
        this.failure = new BitcaskError(
          "Failed",
          `bitcask: fdatasync of ${path} failed (${String(err)}); writes since the last sync may be lost, ` +
            "so the store takes no more writes: close and reopen it",
          { cause: err },
        );
        for (const w of this.waiters.splice(0)) w.reject(this.failure);
        this.onFailure(this.failure);
      },
    );
  }

  /**
   * Resolves when no fdatasync is running. Only for close(): under a steady
   * writer there is always one, so it would never resolve.
   */
  async idle(): Promise<void> {
    while (this.inflight !== undefined) await this.inflight.catch(() => undefined);
  }

  /**
   * Resolves when the fdatasync running now (if any) has finished. Any later
   * one targets the active file of that time, so after this a file that is no
   * longer active has no fdatasync pending and its descriptor may be closed.
   */
  async settled(): Promise<void> {
    await this.inflight?.catch(() => undefined);
  }

  private release(): void {
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.gen <= this.synced) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }
}
