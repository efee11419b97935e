// floe/bitcask: the storage engine under mvcc/, a log-structured key-value
// store after the Bitcask paper (Sheehy & Smith, 2010).
//
// It owns a directory of append-only data files (NNNNNN.data, one active,
// the rest sealed and immutable), their hint files (NNNNNN.hint), an ordered
// in-memory keydir of every key, and merges that reclaim the space of
// overwritten and deleted values. Keys and values are bytes; keys compare
// bytewise. It knows nothing of Raft or revisions.
//
// It promises: a writeBatch is atomic across crashes, and durable when its
// promise resolves under sync "always"; after a crash, open yields exactly the
// batches that reached disk in order (a torn last batch is cut with a
// warning), or throws BitcaskCorruptionError naming the file and offset when
// bytes that were once whole are damaged; it never returns a value that was
// not written. Every byte on disk is checksummed; every file appears by
// temp-write, fsync, rename, directory fsync; a merge is crash-safe at every
// step. Keys, values and batches have limits with clear errors (BitcaskError
// with a code). Reads (get, range) are synchronous; writes, merges and close
// are asynchronous and never block the event loop on an fsync.

export { prefixEnd } from "./batch.ts";
export { Bitcask } from "./bitcask.ts";
export {
  BitcaskAssertionError,
  BitcaskCorruptionError,
  BitcaskError,
  type BitcaskErrorCode,
} from "./errors.ts";
export { checkHint, type HintHeader, HintWriter } from "./hint.ts";
export { Keydir, type KeydirEntry } from "./keydir.ts";
export { decodeManifest, encodeManifest, type Manifest } from "./manifest.ts";
export { MERGE_FAILPOINTS, type MergeResult } from "./merge.ts";
export type { BitcaskHooks, BitcaskLogger, BitcaskOptions, SyncPolicy, SyncTarget } from "./options.ts";
export {
  checkRecordBody,
  decodeRecordHeader,
  encodeRecord,
  FILE_HEADER_BYTES,
  newRecordHeader,
  RECORD_HEADER_BYTES,
  type RecordHeader,
  RecordType,
} from "./record.ts";
export type { BatchOp, BitcaskStats, DataFileStats, Entry, RangeOptions } from "./types.ts";
