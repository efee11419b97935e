// The read-only view of durable state that the core needs, and an in-memory
// implementation for tests and the simulator. Raft never writes to Storage:
// the caller persists what a Ready hands it, then updates its Storage.

import { assert } from "./errors.ts";
import { EntryWindow } from "./log.ts";
import {
  type ConfState,
  EMPTY_HARD_STATE,
  type Entry,
  entrySize,
  type HardState,
  type Snapshot,
} from "./types.ts";

export const EMPTY_CONF_STATE: ConfState = {
  voters: [],
  votersOutgoing: [],
  learners: [],
  learnersNext: [],
  autoLeave: false,
};

export interface Storage {
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries in [lo, hi), at most `maxSizeBytes` but at least one. Callers keep lo >= firstIndex(). */
  entries(lo: number, hi: number, maxSizeBytes: number): Entry[];
  /** Term of entry i for firstIndex()-1 <= i <= lastIndex(); undefined otherwise. */
  term(i: number): number | undefined;
  /** Index of the first entry that is still available (snapshot index + 1). */
  firstIndex(): number;
  lastIndex(): number;
  /** The most recent snapshot, or undefined when it is being produced. */
  snapshot(): Snapshot | undefined;
}

export class MemoryStorage implements Storage {
  private hard: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot;
  /** Index and term of the last entry compacted away (the entry before the window). */
  private compactIndex: number;
  private compactTerm: number;
  /** Stable entries after compactIndex. Invariant: compactIndex <= snapshot index. */
  private readonly window: EntryWindow;

  constructor(snapshot?: Snapshot) {
    this.snap = snapshot ?? {
      metadata: { index: 0, term: 0, confState: EMPTY_CONF_STATE },
      data: new Uint8Array(),
    };
    this.compactIndex = this.snap.metadata.index;
    this.compactTerm = this.snap.metadata.term;
    this.window = new EntryWindow(this.compactIndex + 1);
  }

  /**
   * A fresh member's store for a new cluster: the initial membership is a
   * snapshot at index 1, term 1. A member that joins later starts empty and
   * cannot take entries from index 1, so the leader sends it this (or a newer)
   * snapshot and it learns the full configuration history from it.
   */
  static bootstrap(voters: readonly number[], learners: readonly number[] = []): MemoryStorage {
    const st = new MemoryStorage({
      metadata: {
        index: 1,
        term: 1,
        confState: { ...EMPTY_CONF_STATE, voters: [...voters], learners: [...learners] },
      },
      data: new Uint8Array(),
    });
    st.setHardState({ term: 1, vote: 0, commit: 1 });
    return st;
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hard, confState: this.confState() };
  }

  /** The membership as of the last stable conf-change entry or snapshot (for tests). */
  confState(): ConfState {
    return this.snap.metadata.confState;
  }

  setHardState(hs: HardState): void {
    this.hard = hs;
  }

  hardState(): HardState {
    return this.hard;
  }

  entries(lo: number, hi: number, maxSizeBytes: number): Entry[] {
    assert(lo >= this.firstIndex() && hi <= this.lastIndex() + 1, () => {
      return `storage entries [${lo}, ${hi}) out of [${this.firstIndex()}, ${this.lastIndex() + 1})`;
    });
    const all = this.window.slice(lo, hi);
    let size = 0;
    for (let i = 0; i < all.length; i++) {
      size += entrySize(all[i]);
      if (i > 0 && size > maxSizeBytes) return all.slice(0, i);
    }
    return all;
  }

  term(i: number): number | undefined {
    if (i === this.compactIndex) return this.compactTerm;
    return this.window.has(i) ? this.window.at(i).term : undefined;
  }

  firstIndex(): number {
    return this.compactIndex + 1;
  }

  lastIndex(): number {
    return this.window.length > 0 ? this.window.lastIndex : this.compactIndex;
  }

  snapshot(): Snapshot | undefined {
    return this.snap;
  }

  /** Persists entries, superseding any stored entries at or after the first new index. */
  append(ents: readonly Entry[]): void {
    if (ents.length === 0) return;
    const first = this.firstIndex();
    const live = ents.filter((e) => e.index >= first);
    if (live.length === 0) return;
    this.window.truncateAndAppend(live);
  }

  /** Installs a snapshot received from the leader, replacing the whole log. */
  applySnapshot(s: Snapshot): void {
    if (s.metadata.index <= this.snap.metadata.index) return;
    this.snap = s;
    this.compactIndex = s.metadata.index;
    this.compactTerm = s.metadata.term;
    this.window.reset(s.metadata.index + 1);
  }

  /**
   * Records a snapshot of the state machine at `index` (<= applied) and
   * compacts the log up to `index - keepEntries`, keeping a tail so that
   * followers slightly behind can still be sent entries instead of a snapshot.
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array, keepEntries = 0): Snapshot {
    assert(
      index > this.snap.metadata.index,
      () => `snapshot ${index} is not newer than ${this.snap.metadata.index}`,
    );
    assert(index <= this.lastIndex(), () => `snapshot ${index} beyond last index ${this.lastIndex()}`);
    const term = this.term(index);
    assert(term !== undefined, () => `no term for snapshot index ${index}`);
    this.snap = { metadata: { index, term, confState }, data };
    this.compact(Math.max(this.compactIndex, index - keepEntries));
    return this.snap;
  }

  /** Drops entries up to and including `index` (which must be covered by the snapshot). */
  compact(index: number): void {
    if (index <= this.compactIndex) return;
    assert(
      index <= this.snap.metadata.index,
      () => `compact ${index} beyond snapshot ${this.snap.metadata.index}`,
    );
    const term = this.term(index);
    assert(term !== undefined, () => `no term for compaction index ${index}`);
    this.compactIndex = index;
    this.compactTerm = term;
    this.window.dropBefore(index + 1);
  }

  /** All stable entries (tests and invariant checks). */
  allEntries(): readonly Entry[] {
    return this.window.all();
  }
}
