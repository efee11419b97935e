// A seeded stream of WAL operations that a Raft member could issue: appends,
// conflicting suffixes under a new term, hard-state changes, local snapshots
// with compaction, and snapshots installed from a leader. Each operation is
// generated from the model's current state, so every one of them is valid.

import type { Rand } from "../../src/raft/rand.ts";
import { MemoryStorage } from "../../src/raft/storage.ts";
import type { ConfState, Entry, HardState, SnapshotMetadata } from "../../src/raft/types.ts";
import type { SaveBatch, Wal } from "../../src/wal/index.ts";

export type WalOp =
  | { readonly kind: "save"; readonly batch: SaveBatch }
  | { readonly kind: "snap"; readonly meta: SnapshotMetadata; readonly compactTo: number }
  | { readonly kind: "compact"; readonly index: number };

export const CONF: ConfState = {
  voters: [1, 2, 3],
  votersOutgoing: [],
  learners: [4],
  learnersNext: [],
  autoLeave: false,
};

export class Workload {
  readonly model = new MemoryStorage();
  private term = 1;
  private vote = 0;
  private commit = 0;

  constructor(
    private readonly rand: Rand,
    private readonly maxEntryBytes = 150,
  ) {}

  private data(): Uint8Array {
    const n = this.rand.int(this.maxEntryBytes + 1);
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.rand.int(256);
    return b;
  }

  private run(from: number, n: number, term: number): Entry[] {
    return Array.from({ length: n }, (_, k) => ({
      index: from + k,
      term,
      type: this.rand.int(4) === 0 ? 1 : 0,
      data: this.data(),
    }));
  }

  private hard(): HardState {
    this.commit = Math.min(this.model.lastIndex(), this.commit + this.rand.int(4));
    return { term: this.term, vote: this.vote, commit: this.commit };
  }

  private newTerm(): void {
    this.term += 1 + this.rand.int(2);
    this.vote = this.rand.int(4);
  }

  next(): WalOp {
    const m = this.model;
    const p = this.rand.float();
    const first = m.firstIndex();
    const last = m.lastIndex();
    const snapIndex = m.snapshot()!.metadata.index;
    if (p < 0.55) {
      const entries = this.run(last + 1, 1 + this.rand.int(6), this.term);
      return {
        kind: "save",
        batch: { entries, hardState: this.rand.int(2) === 0 ? this.hard() : undefined },
      };
    }
    if (p < 0.72) {
      this.newTerm();
      const from = Math.max(first, last + 1 - this.rand.int(6));
      return {
        kind: "save",
        batch: { entries: this.run(from, 1 + this.rand.int(4), this.term), hardState: this.hard() },
      };
    }
    if (p < 0.8) {
      if (this.rand.int(2) === 0) this.newTerm();
      return { kind: "save", batch: { hardState: this.hard() } };
    }
    if (p < 0.9 && last > snapIndex) {
      const index = snapIndex + 1 + this.rand.int(last - snapIndex);
      const term = m.term(index) ?? 0;
      const compactTo = Math.max(first - 1, index - this.rand.int(8));
      return { kind: "snap", meta: { index, term, confState: CONF }, compactTo };
    }
    if (p < 0.96 && snapIndex > first - 1) {
      return { kind: "compact", index: first + this.rand.int(snapIndex - first + 1) };
    }
    this.newTerm();
    const index = Math.max(last, snapIndex) + 1 + this.rand.int(10);
    this.commit = index;
    return {
      kind: "save",
      batch: {
        snapshot: { index, term: this.term, confState: CONF },
        entries: this.run(index + 1, this.rand.int(3), this.term),
        hardState: { term: this.term, vote: this.vote, commit: index },
      },
    };
  }

  /** Applies `op` to the model (after the WAL acknowledged it). */
  apply(op: WalOp): void {
    applyToModel(this.model, op);
  }
}

export function applyToModel(model: MemoryStorage, op: WalOp): void {
  switch (op.kind) {
    case "save":
      if (op.batch.snapshot) model.applySnapshot({ metadata: op.batch.snapshot, data: new Uint8Array() });
      model.append(op.batch.entries ?? []);
      if (op.batch.hardState) model.setHardState(op.batch.hardState);
      break;
    case "snap":
      model.createSnapshot(op.meta.index, op.meta.confState, new Uint8Array(), op.meta.index - op.compactTo);
      break;
    case "compact":
      model.compact(op.index);
      break;
  }
}

export function applyToWal(wal: Wal, op: WalOp): Promise<void> {
  switch (op.kind) {
    case "save":
      return wal.save(op.batch);
    case "snap":
      return wal.markSnapshot(op.meta, op.compactTo);
    case "compact":
      return wal.compact(op.index);
  }
}
