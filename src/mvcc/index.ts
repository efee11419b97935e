// floe/mvcc: etcd's multi-version key-value semantics as a deterministic
// state machine, with its watch hub and lease table.
//
// It owns revisions (main, sub), the in-memory key index, range / put /
// delete_range / txn / compaction with etcd's observable behaviour and error
// messages, watchers, leases, hashes, and snapshot and restore of the whole
// state. It performs I/O only through the MvccStorage it is given.
//
// It promises: (1) determinism: apply(index, command) depends only on the
// state and the command (no clock, no randomness, no Map-order or
// configuration dependence), so every member that applies the same log holds
// the same records, hash and responses; (2) idempotence: each apply writes
// its records and the applied index in one atomic batch, and entries at or
// below the applied index are skipped, so a restart never applies twice;
// (3) a store reopened from storage, or restored from a snapshot, equals the
// one that wrote it (same hashKV, same answers); (4) watchers see every event
// once, in revision order, and writes never wait for them. Time (lease
// expiry) belongs to the leader's Lessor, outside apply.

export { ALARM_NONE, ALARM_NOSPACE } from "./alarm.ts";
export { bytesEqual, compareBytes, KEY_SPACE_END, prefixEnd } from "./bytes.ts";
export { INITIAL_REVISION, INITIAL_STATE, type MetaState, type Revision } from "./codec.ts";
export {
  assert,
  MVCC_ERROR_MESSAGES,
  MvccAssertionError,
  MvccError,
  type MvccErrorCode,
} from "./errors.ts";
export { type EtcdBucket, etcdBuckets, recordsFromEtcdBuckets } from "./etcd-backend.ts";
export { type LeaseChange, MAX_LEASE_TTL } from "./lease.ts";
export { type LeaseSource, Lessor, type LessorOptions } from "./lessor.ts";
export {
  encodeSnapshot,
  encodeStoreReference,
  type RecordPair,
  SnapshotStream,
  STORE_REFERENCE_PREFIX_BYTES,
  storeReferenceOf,
} from "./snapshot.ts";
export { MemoryMvccStorage, type MvccStorage, type WriteBatch } from "./storage.ts";
export { MvccStore, type MvccStoreOptions } from "./store.ts";
export * from "./types.ts";
export { isTxnReadOnly, validateDeleteRange, validatePut, validateRange, validateTxn } from "./validate.ts";
export {
  type WatchDelivery,
  Watcher,
  WatchFilter,
  WatchHub,
  type WatchHubOptions,
  type WatchRequest,
  type WatchSink,
  type WatchSource,
} from "./watch.ts";
