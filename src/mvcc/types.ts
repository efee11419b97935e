// The state machine's plain types. Requests and responses mirror etcd's
// etcdserverpb messages field for field (camelCase; revisions, versions and
// `number`, rejected by the API layer outside Number.MAX_SAFE_INTEGER; lease
// ids are int64 and stay `bigint`, as clients choose them from the whole range). Enum values equal the proto numbers.
// Optional request fields take proto3's zero value when absent. Byte arrays
// handed out by the store are shared and must be treated as immutable.

import type { AuthChange, AuthError } from "../auth/index.ts";
import type { MvccError } from "./errors.ts";

export interface KeyValue {
  key: Uint8Array;
  value: Uint8Array;
  createRevision: number;
  modRevision: number;
  version: number;
  /** 0n when the key is not attached to a lease. */
  lease: bigint;
}

export const EventType = { PUT: 0, DELETE: 1 } as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

export interface Event {
  type: EventType;
  /** For DELETE: key and modRevision only (etcd's tombstone shape). */
  kv: KeyValue;
  prevKv?: KeyValue;
}

/** The part of etcd's ResponseHeader the state machine knows; the server adds cluster, member and term. */
export interface ResponseHeader {
  revision: number;
}

export const SortOrder = { NONE: 0, ASCEND: 1, DESCEND: 2 } as const;
export type SortOrder = (typeof SortOrder)[keyof typeof SortOrder];

export const SortTarget = { KEY: 0, VERSION: 1, CREATE: 2, MOD: 3, VALUE: 4 } as const;
export type SortTarget = (typeof SortTarget)[keyof typeof SortTarget];

export interface RangeRequest {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  limit?: number;
  revision?: number;
  sortOrder?: SortOrder;
  sortTarget?: SortTarget;
  /** Read-path choice of the server (skip ReadIndex); ignored by the state machine. */
  serializable?: boolean;
  keysOnly?: boolean;
  countOnly?: boolean;
  minModRevision?: number;
  maxModRevision?: number;
  minCreateRevision?: number;
  maxCreateRevision?: number;
}

export interface RangeResponse {
  header: ResponseHeader;
  kvs: KeyValue[];
  more: boolean;
  count: number;
}

export interface PutRequest {
  key: Uint8Array;
  value?: Uint8Array;
  lease?: bigint;
  prevKv?: boolean;
  ignoreValue?: boolean;
  ignoreLease?: boolean;
}

export interface PutResponse {
  header: ResponseHeader;
  prevKv?: KeyValue;
}

export interface DeleteRangeRequest {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  prevKv?: boolean;
}

export interface DeleteRangeResponse {
  header: ResponseHeader;
  deleted: number;
  prevKvs: KeyValue[];
}

export const CompareResult = { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 } as const;
export type CompareResult = (typeof CompareResult)[keyof typeof CompareResult];

export const CompareTarget = { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 } as const;
export type CompareTarget = (typeof CompareTarget)[keyof typeof CompareTarget];

/** etcd's Compare; of the target_union fields only the one named by `target` is read. */
export interface Compare {
  result: CompareResult;
  target: CompareTarget;
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  version?: number;
  createRevision?: number;
  modRevision?: number;
  value?: Uint8Array;
  lease?: bigint;
}

export type RequestOp =
  | { requestRange: RangeRequest }
  | { requestPut: PutRequest }
  | { requestDeleteRange: DeleteRangeRequest }
  | { requestTxn: TxnRequest };

export type ResponseOp =
  | { responseRange: RangeResponse }
  | { responsePut: PutResponse }
  | { responseDeleteRange: DeleteRangeResponse }
  | { responseTxn: TxnResponse };

export interface TxnRequest {
  compare?: Compare[];
  success?: RequestOp[];
  failure?: RequestOp[];
}

export interface TxnResponse {
  /** Nested txn responses carry revision 0, as etcd's newTxnResp leaves them. */
  header: ResponseHeader;
  succeeded: boolean;
  responses: ResponseOp[];
}

export interface CompactionRequest {
  revision: number;
  /** The server waits for MvccStore.compactionPending to reach 0 before answering. */
  physical?: boolean;
}

export interface CompactionResponse {
  header: ResponseHeader;
}

export interface LeaseGrantRequest {
  /** Seconds, already clamped by the server to its minimum TTL. */
  ttl: number;
  /** 0: the store picks the entry index (or the next free id above it). */
  id?: bigint;
}

export interface LeaseGrantResponse {
  header: ResponseHeader;
  id: bigint;
  ttl: number;
}

export interface LeaseRevokeRequest {
  id: bigint;
}

export interface LeaseRevokeResponse {
  header: ResponseHeader;
}

export interface LeaseInfo {
  id: bigint;
  /** Granted TTL in seconds. */
  ttl: number;
}

export interface LeaseTimeToLive {
  id: bigint;
  grantedTtl: number;
  /** Attached keys in byte order, when asked for. */
  keys: Uint8Array[];
}

export interface HashKVResponse {
  header: ResponseHeader;
  hash: number;
  compactRevision: number;
  hashRevision: number;
}

export interface HashResponse {
  header: ResponseHeader;
  hash: number;
}

/** One raised alarm; `alarm` is etcd's AlarmType number (1 NOSPACE, 2 CORRUPT). */
export interface AlarmMember {
  memberId: number;
  alarm: number;
}

export interface AlarmRequest {
  action: "activate" | "deactivate";
  memberId: number;
  alarm: number;
}

export interface AlarmResponse {
  header: ResponseHeader;
  /** The alarm raised or cleared; empty when nothing changed (as etcd answers). */
  alarms: AlarmMember[];
}

/** A committed Raft entry's payload, as the state machine applies it. */
export type MvccCommand =
  | { type: "put"; request: PutRequest }
  | { type: "deleteRange"; request: DeleteRangeRequest }
  | { type: "txn"; request: TxnRequest }
  | { type: "compaction"; request: CompactionRequest }
  | { type: "leaseGrant"; request: LeaseGrantRequest }
  | { type: "leaseRevoke"; request: LeaseRevokeRequest }
  | { type: "alarm"; request: AlarmRequest }
  /**
   * Replaces the cluster record (the server's member table, opaque to MVCC):
   * no revision, applied with the index so it survives exactly with its entry.
   */
  | { type: "cluster"; request: { value: Uint8Array } }
  /** A change of the auth store (users, roles, permissions, enable/disable) or a login. */
  | { type: "auth"; request: AuthChange }
  /** An entry with nothing for MVCC (empty entry, conf change): only the applied index moves. */
  | { type: "noop" };

export interface CommandResponses {
  put: PutResponse;
  deleteRange: DeleteRangeResponse;
  txn: TxnResponse;
  compaction: CompactionResponse;
  leaseGrant: LeaseGrantResponse;
  leaseRevoke: LeaseRevokeResponse;
  alarm: AlarmResponse;
  cluster: { header: ResponseHeader };
  /** `authRevision`: the auth store's revision after the change. */
  auth: { header: ResponseHeader; authRevision: number };
  noop: { header: ResponseHeader };
}

export type ResponseFor<C extends MvccCommand> = CommandResponses[C["type"]];

export type ApplyResult<R> =
  /** index <= the applied index: the entry was applied before; nothing changed. */
  | { status: "skipped" }
  | { status: "applied"; response: R }
  /** The request was refused; the applied index still moved (the entry is consumed). */
  | { status: "failed"; error: MvccError | AuthError };
