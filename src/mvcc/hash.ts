// Consistency hashes (etcd's Hash and HashKV) and the logical record stream
// they and snapshots share. Both skip garbage that physical compaction has not
// deleted yet, so members with the same applied state agree whatever their
// deletion progress. The hash algorithms are floe's own (CRC-32C over
// floe's record bytes): members compare them with each other, never with etcd.

import { crc32c } from "../common/index.ts";
import { toLatin1 } from "./bytes.ts";
import {
  decodeRecord,
  encodeLease,
  encodeState,
  leaseKey,
  type MetaState,
  PREFIX_REV,
  parseRevKey,
  prefixStart,
  revKey,
  STATE_KEY,
} from "./codec.ts";
import type { KeyIndex } from "./key_index.ts";
import type { RecordPair } from "./snapshot.ts";
import type { MvccStorage } from "./storage.ts";
import type { LeaseInfo } from "./types.ts";

export interface LogicalSource {
  storage: MvccStorage;
  state: MetaState;
  leases: LeaseInfo[];
  /** The alarm table's records (alarm.ts), captured with the state. */
  alarms?: readonly RecordPair[];
  /** The auth store's record, if auth was ever configured (auth/state.ts). */
  auth?: RecordPair;
  /** The cluster record, if any (store.ts clusterRecord). */
  cluster?: RecordPair;
  /** Which revision records to include (default: all); see liveFilter. */
  filter?: (key: Uint8Array, value: Uint8Array) => boolean;
  /** Records are read in pages of this many, each page synchronously (default 1024). */
  pageSize?: number;
}

/** Leases, alarms, the meta state, then revision records up to state.revision: the state machine, in key order. */
export function* logicalRecords(src: LogicalSource): Generator<RecordPair> {
  for (const l of src.leases) yield [leaseKey(l.id), encodeLease(l.ttl)];
  // "malarm…" sorts before "mstate".
  if (src.alarms !== undefined) yield* src.alarms;
  if (src.auth !== undefined) yield src.auth;
  if (src.cluster !== undefined) yield src.cluster;
  yield [STATE_KEY, encodeState(src.state)];
  yield* liveRevisionRecords(src, src.state.revision);
}

/**
 * Revision records with main <= upTo that survived compaction, read a page at
 * a time so a consumer may pause between pages (storage must not delete them
 * meanwhile: the store pins physical compaction while a snapshot streams).
 */
export function* liveRevisionRecords(src: LogicalSource, upTo: number): Generator<RecordPair> {
  const pageSize = src.pageSize ?? 1024;
  const end = revKey(upTo + 1, 0);
  let start = prefixStart(PREFIX_REV);
  for (;;) {
    const page: RecordPair[] = [];
    for (const [k, v] of src.storage.scan(start, end)) {
      if (page.length === pageSize) break;
      page.push([k, v]);
    }
    for (const [k, v] of page) {
      if (src.filter === undefined || src.filter(k, v)) yield [k, v];
    }
    if (page.length < pageSize) return;
    start = successor(page[page.length - 1][0]);
  }
}

/** Skips garbage below the compact revision that the index no longer holds; valid while the index is unchanged. */
export function liveFilter(index: KeyIndex, compactRev: number): (k: Uint8Array, v: Uint8Array) => boolean {
  return (k, v) => {
    const rev = parseRevKey(k);
    if (rev.main > compactRev) return true;
    return index.isRetained(toLatin1(decodeRecord(rev, v).kv.key), rev);
  };
}

/** The smallest key after k. */
function successor(k: Uint8Array): Uint8Array {
  const out = new Uint8Array(k.byteLength + 1);
  out.set(k);
  return out;
}

export function hashRecords(records: Iterable<RecordPair>): number {
  let crc = 0;
  for (const [k, v] of records) crc = crc32c(v, crc32c(k, crc));
  return crc;
}
