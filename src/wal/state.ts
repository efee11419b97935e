// The log as the WAL's records describe it: hard state, snapshot metadata,
// compaction point and the location of every live entry. Replay on open and
// live saves drive the same methods, so what a reopen rebuilds is by
// construction what the running process had. Each change has a check that
// returns why it would break an invariant: a save refuses it before writing,
// and replay reports it as corruption, so nothing the WAL writes can later be
// refused by its own recovery.

import { EMPTY_CONF_STATE, EMPTY_HARD_STATE, type HardState, type SnapshotMetadata } from "../raft/index.ts";
import { EntryLocations } from "./locations.ts";

/** A term that exists but is not known: the entry lies in a compacted-away segment not yet covered by a compaction record. */
export const UNKNOWN_TERM = -1;

export const EMPTY_SNAPSHOT_METADATA: SnapshotMetadata = { index: 0, term: 0, confState: EMPTY_CONF_STATE };

export class LogState {
  hardState: HardState = EMPTY_HARD_STATE;
  snapshot: SnapshotMetadata = EMPTY_SNAPSHOT_METADATA;
  /** Entries at or below this index are gone. Invariant: compactIndex <= snapshot.index. */
  compactIndex = 0;
  compactTerm = 0;
  /**
   * The entry just before `locs`. Normally the compaction point; during replay
   * of a log whose oldest segments were deleted it can be higher, and entries
   * compactIndex+1..baseIndex are then missing until a compaction record covers them.
   */
  baseIndex = 0;
  baseTerm = 0;
  readonly locs = new EntryLocations(1);

  firstIndex(): number {
    return this.compactIndex + 1;
  }

  lastIndex(): number {
    return this.locs.length > 0 ? this.locs.lastIndex : this.baseIndex;
  }

  /** Whether entries compactIndex+1..baseIndex are unaccounted for (replay only). */
  hasGap(): boolean {
    return this.baseIndex > this.compactIndex;
  }

  /** Term of entry i: undefined outside [compactIndex, lastIndex], UNKNOWN_TERM inside a gap. */
  termAt(i: number): number | undefined {
    if (i === this.compactIndex) return this.compactTerm;
    if (this.locs.has(i)) return this.locs.term(i);
    if (i === this.baseIndex) return this.baseTerm;
    if (i > this.compactIndex && i < this.baseIndex) return UNKNOWN_TERM;
    return undefined;
  }

  checkEntry(index: number, term: number): string | undefined {
    if (index <= this.compactIndex)
      return `entry ${index} is at or below the compaction point ${this.compactIndex}`;
    const last = this.lastIndex();
    if (index > last + 1) return `entry ${index} leaves a gap after the last index ${last}`;
    const prev = this.termAt(index - 1) ?? UNKNOWN_TERM;
    if (term < prev) return `entry ${index} has term ${term}, lower than term ${prev} of entry ${index - 1}`;
    return undefined;
  }

  /** Appends entry `index`, superseding every entry at or after it. */
  appendEntry(index: number, term: number, seq: number, offset: number, recordBytes: number): void {
    if (index <= this.baseIndex) {
      // Superseding into a gap: everything from `index` on is replaced.
      this.baseTerm = this.termAt(index - 1) ?? UNKNOWN_TERM;
      this.baseIndex = index - 1;
      this.locs.reset(index);
    } else {
      this.locs.truncateFrom(index);
    }
    this.locs.push(term, seq, offset, recordBytes);
  }

  checkHardState(hs: HardState): string | undefined {
    const cur = this.hardState;
    if (hs.term < cur.term) return `hard state term decreases from ${cur.term} to ${hs.term}`;
    if (hs.term === cur.term && cur.vote !== 0 && hs.vote !== cur.vote) {
      return `hard state vote changes from ${cur.vote} to ${hs.vote} within term ${hs.term}`;
    }
    return undefined;
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  /** A snapshot received from the leader: it replaces the whole log. */
  checkInstall(m: SnapshotMetadata): string | undefined {
    if (m.index < 1 || m.term < 1) return `installed snapshot has index ${m.index}, term ${m.term}`;
    if (m.index <= this.snapshot.index) {
      return `installed snapshot ${m.index} is not newer than snapshot ${this.snapshot.index}`;
    }
    return undefined;
  }

  install(m: SnapshotMetadata): void {
    this.snapshot = m;
    this.compactIndex = this.baseIndex = m.index;
    this.compactTerm = this.baseTerm = m.term;
    this.locs.reset(m.index + 1);
  }

  /** A snapshot the local state machine took at an index the log holds. */
  checkMark(m: SnapshotMetadata): string | undefined {
    if (m.index < this.compactIndex) {
      return `snapshot ${m.index} is below the compaction point ${this.compactIndex}`;
    }
    if (m.index > this.lastIndex()) return `snapshot ${m.index} is beyond the last index ${this.lastIndex()}`;
    const t = this.termAt(m.index);
    if (t !== UNKNOWN_TERM && t !== m.term)
      return `snapshot ${m.index} has term ${m.term} but entry has term ${t}`;
    return undefined;
  }

  mark(m: SnapshotMetadata): void {
    this.snapshot = m;
  }

  checkCompact(index: number, term: number): string | undefined {
    if (index < this.compactIndex)
      return `compaction to ${index} is below the compaction point ${this.compactIndex}`;
    if (index === this.compactIndex) {
      return term === this.compactTerm
        ? undefined
        : `compaction to ${index} has term ${term}, expected ${this.compactTerm}`;
    }
    if (index > this.snapshot.index)
      return `compaction to ${index} is beyond snapshot ${this.snapshot.index}`;
    if (index > this.lastIndex())
      return `compaction to ${index} is beyond the last index ${this.lastIndex()}`;
    const t = this.termAt(index);
    if (t !== UNKNOWN_TERM && t !== term)
      return `compaction to ${index} has term ${term} but entry has term ${t}`;
    return undefined;
  }

  compact(index: number, term: number): void {
    if (index === this.compactIndex) return;
    this.compactIndex = index;
    this.compactTerm = term;
    if (index >= this.baseIndex) {
      this.baseIndex = index;
      this.baseTerm = term;
      this.locs.dropBefore(index + 1);
    }
  }

  /** Takes over the state a segment header carries (replay of a log whose older segments were deleted). */
  adopt(
    hs: HardState,
    snap: SnapshotMetadata,
    compactIndex: number,
    compactTerm: number,
    firstIndex: number,
    lastTerm: number,
  ): void {
    this.hardState = hs;
    this.snapshot = snap;
    this.compactIndex = compactIndex;
    this.compactTerm = compactTerm;
    this.baseIndex = firstIndex - 1;
    this.baseTerm = firstIndex - 1 === compactIndex ? compactTerm : lastTerm;
    this.locs.reset(firstIndex);
  }
}

export function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export function sameSnapshotMetadata(a: SnapshotMetadata, b: SnapshotMetadata): boolean {
  const ca = a.confState;
  const cb = b.confState;
  const same = (x: readonly number[], y: readonly number[]) =>
    x.length === y.length && x.every((v, i) => v === y[i]);
  return (
    a.index === b.index &&
    a.term === b.term &&
    ca.autoLeave === cb.autoLeave &&
    same(ca.voters, cb.voters) &&
    same(ca.votersOutgoing, cb.votersOutgoing) &&
    same(ca.learners, cb.learners) &&
    same(ca.learnersNext, cb.learnersNext)
  );
}
