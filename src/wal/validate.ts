// Checks a save against the current log before anything is written, and turns
// it into records. A save that would break an invariant is refused whole, so
// the log never holds a record its own recovery would call corrupt.

import type { Entry, HardState, SnapshotMetadata } from "../raft/index.ts";
import { WalError } from "./errors.ts";
import { isRaftNumber, payloadBytes, RecordType, type WalRecord } from "./record.ts";
import { type LogState, sameHardState } from "./state.ts";
import type { SaveBatch } from "./wal.ts";

export interface SavePlan {
  readonly records: WalRecord[];
  /** The snapshot this save installs (undefined when none, or when it is not newer than the current one). */
  readonly install?: SnapshotMetadata;
  /** The entries that will be live after the save (those above the compaction point). */
  readonly entries: Entry[];
}

const invalid = (message: string) => new WalError("InvalidArgument", message);

export function validateSave(state: LogState, batch: SaveBatch, maxRecordBytes: number): SavePlan {
  const records: WalRecord[] = [];
  let install: SnapshotMetadata | undefined;
  if (batch.snapshot !== undefined) {
    checkSnapshotMetadata(batch.snapshot);
    // As MemoryStorage.applySnapshot: a snapshot that is not newer is ignored, not an error.
    if (batch.snapshot.index > state.snapshot.index) {
      const problem = state.checkInstall(batch.snapshot);
      if (problem) throw invalid(problem);
      install = batch.snapshot;
      const r: WalRecord = { type: RecordType.Snapshot, metadata: install, install: true };
      checkSize(r, maxRecordBytes, "snapshot metadata");
      records.push(r);
    }
  }
  const compactIndex = install ? install.index : state.compactIndex;
  const lastIndex = install ? install.index : state.lastIndex();
  const termAt = (i: number) =>
    install ? (i === install.index ? install.term : undefined) : state.termAt(i);

  const ents = batch.entries ?? [];
  for (let k = 0; k < ents.length; k++) {
    const e = ents[k];
    if (!isRaftNumber(e.index) || e.index < 1 || !isRaftNumber(e.term) || e.term < 1) {
      throw invalid(`entry ${k} has index ${e.index}, term ${e.term}; both must be integers in [1, 2^53)`);
    }
    if (e.type !== 0 && e.type !== 1) throw invalid(`entry ${e.index} has type ${e.type}; expected 0 or 1`);
    if (!(e.data instanceof Uint8Array)) throw invalid(`entry ${e.index} data is not a Uint8Array`);
    if (k > 0 && e.index !== ents[k - 1].index + 1) {
      throw invalid(`entries are not contiguous: ${e.index} follows ${ents[k - 1].index}`);
    }
    if (k > 0 && e.term < ents[k - 1].term) {
      throw invalid(
        `entry ${e.index} has term ${e.term}, lower than term ${ents[k - 1].term} of the entry before it`,
      );
    }
  }
  const live = ents.filter((e) => e.index > compactIndex);
  if (live.length > 0) {
    const first = live[0];
    if (first.index > lastIndex + 1)
      throw invalid(`entry ${first.index} leaves a gap after the last index ${lastIndex}`);
    const prev = termAt(first.index - 1);
    if (prev !== undefined && first.term < prev) {
      throw invalid(
        `entry ${first.index} has term ${first.term}, lower than term ${prev} of entry ${first.index - 1}`,
      );
    }
  }
  for (const e of live) {
    const r: WalRecord = { type: RecordType.Entry, entry: e };
    checkSize(r, maxRecordBytes, `entry ${e.index}`);
    records.push(r);
  }

  const hs = batch.hardState;
  if (hs !== undefined && !sameHardState(hs, state.hardState)) {
    checkHardStateFields(hs);
    const problem = state.checkHardState(hs);
    if (problem) throw invalid(problem);
    records.push({ type: RecordType.HardState, hardState: hs });
  }
  return { records, install, entries: live };
}

function checkSize(r: WalRecord, maxRecordBytes: number, what: string): void {
  const n = payloadBytes(r);
  if (n > maxRecordBytes) {
    throw new WalError(
      "RecordTooLarge",
      `${what} needs a ${n}-byte record; the limit is ${maxRecordBytes} (maxRecordBytes)`,
    );
  }
}

function checkHardStateFields(hs: HardState): void {
  if (!isRaftNumber(hs.term) || !isRaftNumber(hs.vote) || !isRaftNumber(hs.commit)) {
    throw invalid(
      `hard state {term ${hs.term}, vote ${hs.vote}, commit ${hs.commit}} has a field that is not an integer in [0, 2^53)`,
    );
  }
}

export function checkSnapshotMetadata(m: SnapshotMetadata): void {
  if (!isRaftNumber(m.index) || !isRaftNumber(m.term) || m.index < 1 || m.term < 1) {
    throw invalid(`snapshot has index ${m.index}, term ${m.term}; both must be integers in [1, 2^53)`);
  }
  const c = m.confState;
  for (const [name, ids] of [
    ["voters", c.voters],
    ["votersOutgoing", c.votersOutgoing],
    ["learners", c.learners],
    ["learnersNext", c.learnersNext],
  ] as const) {
    for (const id of ids) {
      if (!isRaftNumber(id) || id < 1) throw invalid(`snapshot conf state ${name} holds node id ${id}`);
    }
  }
}
