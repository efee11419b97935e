// The Raft log: stable entries read from Storage plus an in-memory buffer of
// entries (and possibly a snapshot) not yet persisted. This file is the only
// place that translates a 1-based Raft index into an array position.

import { assert } from "./errors.ts";
import type { Storage } from "./storage.ts";
import { type Entry, entrySize, type Snapshot } from "./types.ts";

/**
 * A contiguous run of entries starting at `offset` (the index of the first).
 * Invariant: entries[i].index === offset + i.
 */
export class EntryWindow {
  private ents: Entry[] = [];
  constructor(private offsetIndex: number) {}

  get offset(): number {
    return this.offsetIndex;
  }
  get length(): number {
    return this.ents.length;
  }
  /** Index of the last entry, or offset - 1 when empty. */
  get lastIndex(): number {
    return this.offsetIndex + this.ents.length - 1;
  }
  has(index: number): boolean {
    return index >= this.offsetIndex && index <= this.lastIndex;
  }
  at(index: number): Entry {
    assert(this.has(index), () => `index ${index} outside window [${this.offsetIndex}, ${this.lastIndex}]`);
    return this.ents[index - this.offsetIndex];
  }
  /** Entries in [lo, hi). */
  slice(lo: number, hi: number): Entry[] {
    assert(lo >= this.offsetIndex && hi <= this.lastIndex + 1 && lo <= hi, () => {
      return `slice [${lo}, ${hi}) outside window [${this.offsetIndex}, ${this.lastIndex + 1})`;
    });
    return this.ents.slice(lo - this.offsetIndex, hi - this.offsetIndex);
  }
  all(): readonly Entry[] {
    return this.ents;
  }
  /** Appends `ents`, first dropping every entry at or after ents[0].index. */
  truncateAndAppend(ents: readonly Entry[]): void {
    if (ents.length === 0) return;
    const first = ents[0].index;
    assert(first <= this.lastIndex + 1, () => `gap: appending ${first} after ${this.lastIndex}`);
    if (first <= this.offsetIndex) {
      this.offsetIndex = first;
      this.ents = [...ents];
    } else {
      this.ents.length = first - this.offsetIndex;
      for (const e of ents) this.ents.push(e);
    }
  }
  /** Drops entries with index < `index`. */
  dropBefore(index: number): void {
    if (index <= this.offsetIndex) return;
    const n = Math.min(index - this.offsetIndex, this.ents.length);
    this.ents = this.ents.slice(n);
    this.offsetIndex = index;
  }
  reset(offset: number): void {
    this.offsetIndex = offset;
    this.ents = [];
  }
}

/** Entries and snapshot accepted by Raft but not yet persisted by the caller. */
class Unstable {
  snapshot: Snapshot | undefined;
  readonly window: EntryWindow;
  constructor(offset: number) {
    this.window = new EntryWindow(offset);
  }
  maybeFirstIndex(): number | undefined {
    return this.snapshot ? this.snapshot.metadata.index + 1 : undefined;
  }
  maybeLastIndex(): number | undefined {
    if (this.window.length > 0) return this.window.lastIndex;
    return this.snapshot?.metadata.index;
  }
  maybeTerm(i: number): number | undefined {
    if (i < this.window.offset) {
      if (this.snapshot && this.snapshot.metadata.index === i) return this.snapshot.metadata.term;
      return undefined;
    }
    return this.window.has(i) ? this.window.at(i).term : undefined;
  }
}

export class RaftLog {
  readonly storage: Storage;
  private readonly unstable: Unstable;
  /** Highest index known to be committed. Invariant: applied <= committed <= lastIndex. */
  committed: number;
  /** Highest index handed to the application in a Ready. */
  applied: number;
  readonly maxCommittedSizePerReady: number;

  constructor(
    storage: Storage,
    maxCommittedSizePerReady = Number.MAX_SAFE_INTEGER,
    /** BROKEN on purpose when true (simulator mutation tests): apply entries before they commit. */
    private readonly applyBeforeCommit = false,
  ) {
    this.storage = storage;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applied = first - 1;
    this.maxCommittedSizePerReady = maxCommittedSizePerReady;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** The term of entry `i`, or undefined when it is compacted away or beyond the log. */
  term(i: number): number | undefined {
    const dummy = this.firstIndex() - 1;
    if (i < dummy || i > this.lastIndex()) return undefined;
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    return this.storage.term(i);
  }

  lastTerm(): number {
    const t = this.term(this.lastIndex());
    assert(t !== undefined, "term of the last index must be known");
    return t;
  }

  matchTerm(i: number, term: number): boolean {
    return this.term(i) === term;
  }

  /** §5.4.1: the candidate's last term is compared first, then its last index. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Appends entries after (prevIndex, prevTerm) if the log matches there.
   * Returns the index of the last new entry, or undefined on mismatch.
   */
  maybeAppend(prevIndex: number, prevTerm: number, leaderCommit: number, ents: Entry[]): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = prevIndex + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      assert(
        ci > this.committed,
        () => `entry ${ci} conflicts with committed entry (committed ${this.committed})`,
      );
      this.append(ents.slice(ci - (prevIndex + 1)));
    }
    this.commitTo(Math.min(leaderCommit, lastNew));
    return lastNew;
  }

  /** Appends entries to the unstable buffer, truncating any conflicting suffix. Returns the last index. */
  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0].index - 1;
    assert(
      after >= this.committed,
      () => `cannot truncate committed entries: after ${after} < committed ${this.committed}`,
    );
    // Entries before the unstable offset replace part of what is in storage:
    // the caller persists them and its storage drops the superseded suffix.
    this.unstable.window.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * First index whose term differs from the given entries (0 if none differ
   * and none are new). Returns the first new index when all present ones match.
   */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast backtracking hint: the largest index <= `index` whose term is <= `term`,
   * with its term. Lets the leader skip a whole term per round trip.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex());
    for (;;) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
      i--;
    }
  }

  commitTo(toCommit: number): void {
    if (this.committed < toCommit) {
      assert(toCommit <= this.lastIndex(), () => `commit ${toCommit} beyond last index ${this.lastIndex()}`);
      this.committed = toCommit;
    }
  }

  /** Commits `maxIndex` only if its entry is from `term` (the current term: §5.4.2). */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.term(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    assert(this.applyLimit() >= i && i >= this.applied, () => {
      return `applied ${i} out of range [prevApplied ${this.applied}, committed ${this.committed}]`;
    });
    this.applied = i;
  }

  /** The highest index the state machine may apply. */
  private applyLimit(): number {
    return this.applyBeforeCommit ? this.lastIndex() : this.committed;
  }

  hasNextCommittedEntries(): boolean {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    return this.applyLimit() + 1 > lo && !this.hasPendingSnapshot();
  }

  nextCommittedEntries(): Entry[] {
    if (this.hasPendingSnapshot()) return [];
    const lo = Math.max(this.applied + 1, this.firstIndex());
    if (this.applyLimit() + 1 <= lo) return [];
    return this.slice(lo, this.applyLimit() + 1, this.maxCommittedSizePerReady);
  }

  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== undefined;
  }

  pendingSnapshot(): Snapshot | undefined {
    return this.unstable.snapshot;
  }

  unstableEntries(): readonly Entry[] {
    return this.unstable.window.all();
  }

  /** Entries from `i` on, up to `maxSizeBytes` (at least one entry). */
  entries(i: number, maxSizeBytes: number): Entry[] | undefined {
    if (i > this.lastIndex()) return [];
    if (i < this.firstIndex()) return undefined;
    return this.slice(i, this.lastIndex() + 1, maxSizeBytes);
  }

  /** Entries in [lo, hi) limited to `maxSizeBytes` but always at least one. */
  slice(lo: number, hi: number, maxSizeBytes: number): Entry[] {
    assert(lo >= this.firstIndex() && hi <= this.lastIndex() + 1, () => {
      return `slice [${lo}, ${hi}) out of bounds [${this.firstIndex()}, ${this.lastIndex() + 1})`;
    });
    const out: Entry[] = [];
    const uOff = this.unstable.window.offset;
    if (lo < uOff) {
      const stored = this.storage.entries(lo, Math.min(hi, uOff), maxSizeBytes);
      for (const e of stored) out.push(e);
      if (out.length < Math.min(hi, uOff) - lo) return out; // limited by size
    }
    if (hi > uOff) {
      let size = out.reduce((s, e) => s + entrySize(e), 0);
      for (const e of this.unstable.window.slice(Math.max(lo, uOff), hi)) {
        size += entrySize(e);
        if (out.length > 0 && size > maxSizeBytes) break;
        out.push(e);
      }
    }
    return out;
  }

  /** Called after the caller persisted entries up to (index, term). Returns false when they were replaced meanwhile. */
  stableTo(index: number, term: number): boolean {
    const w = this.unstable.window;
    if (!w.has(index) || w.at(index).term !== term) return false;
    w.dropBefore(index + 1);
    return true;
  }

  /** The last index the caller has persisted (0 while a snapshot from the leader waits to be). */
  lastStableIndex(): number {
    if (this.unstable.snapshot) return 0;
    return this.unstable.window.offset - 1;
  }

  stableSnapTo(index: number): void {
    if (this.unstable.snapshot && this.unstable.snapshot.metadata.index === index) {
      this.unstable.snapshot = undefined;
    }
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  restore(s: Snapshot): void {
    this.committed = s.metadata.index;
    this.unstable.snapshot = s;
    this.unstable.window.reset(s.metadata.index + 1);
  }

  snapshot(): Snapshot | undefined {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }
}
