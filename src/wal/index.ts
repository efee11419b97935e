// floe/wal: the durable Raft log of one member's data directory.
//
// It owns the segmented write-ahead log (`<dir>/wal/`: hard state, entries,
// snapshot markers and compaction points as framed, checksummed records), the
// snapshot files (`<dir>/snap/`: metadata plus a streamed state-machine image),
// group commit (one write and one fdatasync per Raft Ready), recovery and
// compaction. It promises: a save resolves only once it is durable, and only
// then does it become visible through the Raft `Storage` interface; a reopen
// yields exactly the saves that completed (a save is atomic), after cutting a
// torn tail with a warning; damage anywhere else stops the open with a
// WalCorruptionError naming the file and byte offset; memory stays bounded
// (entry locations, a capped tail cache, one snapshot chunk at a time). It
// knows nothing of keys, revisions or the state machine.
//
// Layout (details next to the code):
//   wal/NNNNNNNNNNNNNNNN-IIIIIIIIIIIIIIII.wal  16-digit decimal sequence and the
//     first index it was cut at. Frames: length u32 | CRC-32C u32 | type u8 |
//     payload (record.ts). Each segment opens with a header unit repeating the
//     state at the cut; each save is a unit of records closed by a Commit record
//     (segment.ts). A later entry record for index i supersedes earlier ones >= i.
//   snap/TTTTTTTTTTTTTTTT-IIIIIIIIIIIIIIII.snap  term and index, 16-digit decimal:
//     a SnapMeta frame, SnapChunk frames, a SnapEnd frame (snapshot.ts).
// Recovery rules: replay.ts and segment.ts. Raft Storage view: storage.ts.

export { stderrLogger, WalCorruptionError, WalError, type WalErrorCode, type WalLogger } from "./errors.ts";
export type { SyncHook, SyncKind } from "./fsutil.ts";
export { DEFAULT_MAX_RECORD_BYTES, FRAME_HEADER_BYTES, RecordType } from "./record.ts";
export type { SegmentInfo } from "./replay.ts";
export { parseSegmentName, segmentName } from "./segment.ts";
export {
  type OpenedSnapshot,
  SNAP_MAX_CHUNK_BYTES,
  type SnapshotFile,
  type SnapshotInfo,
  SnapshotStore,
  type SnapshotStoreOptions,
  snapshotFileName,
} from "./snapshot.ts";
export { type StorageSaveBatch, WalStorage, type WalStorageOptions } from "./storage.ts";
export { type SaveBatch, Wal, type WalMutations, type WalOptions } from "./wal.ts";
