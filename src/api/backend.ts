// The contract between the client port (src/api/) and whatever serves the
// requests (server/ in production, an in-memory fake in tests). The API layer
// validates requests, enforces size limits, fills in response headers and maps
// errors; the backend does the work, consistently.
//
// Rules for every method:
// - Requests have already passed etcd's stateless checks (see validate.ts):
//   keys are non-empty where etcd requires it, txns are within the op limit
//   and have no duplicate writes, sizes are within maxRequestBytes.
// - Failures that a client should see are thrown as FloeError (errors.ts),
//   e.g. `throw FloeError.of("COMPACTED")`. Anything else thrown is treated as
//   a bug: logged, and answered INTERNAL.
// - A response's `header` may be left unset, or set partially: the API fills
//   unset (zero) fields from `header()`. Set `revision` yourself wherever etcd
//   defines it as "the revision the request saw" (KV, watch, lease calls).
// - `ctx.signal` aborts when the client cancels, its deadline passes, or the
//   server shuts down; long waits (proposals, ReadIndex) should honour it and
//   throw FloeError.of("CANCELLED") or a timeout error.

import type {
  AlarmRequest,
  AlarmResponse,
  AuthDisableResponse,
  AuthEnableResponse,
  AuthenticateRequest,
  AuthenticateResponse,
  AuthRoleAddRequest,
  AuthRoleAddResponse,
  AuthRoleDeleteRequest,
  AuthRoleDeleteResponse,
  AuthRoleGetRequest,
  AuthRoleGetResponse,
  AuthRoleGrantPermissionRequest,
  AuthRoleGrantPermissionResponse,
  AuthRoleListRequest,
  AuthRoleListResponse,
  AuthRoleRevokePermissionRequest,
  AuthRoleRevokePermissionResponse,
  AuthStatusResponse,
  AuthUserAddRequest,
  AuthUserAddResponse,
  AuthUserChangePasswordRequest,
  AuthUserChangePasswordResponse,
  AuthUserDeleteRequest,
  AuthUserDeleteResponse,
  AuthUserGetRequest,
  AuthUserGetResponse,
  AuthUserGrantRoleRequest,
  AuthUserGrantRoleResponse,
  AuthUserListRequest,
  AuthUserListResponse,
  AuthUserRevokeRoleRequest,
  AuthUserRevokeRoleResponse,
  CompactionRequest,
  CompactionResponse,
  DefragmentRequest,
  DefragmentResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  HashKVRequest,
  HashKVResponse,
  HashRequest,
  HashResponse,
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseKeepAliveRequest,
  LeaseKeepAliveResponse,
  LeaseLeasesRequest,
  LeaseLeasesResponse,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
  LeaseTimeToLiveRequest,
  LeaseTimeToLiveResponse,
  MemberAddRequest,
  MemberAddResponse,
  MemberListRequest,
  MemberListResponse,
  MemberPromoteRequest,
  MemberPromoteResponse,
  MemberRemoveRequest,
  MemberRemoveResponse,
  MemberUpdateRequest,
  MemberUpdateResponse,
  MoveLeaderRequest,
  MoveLeaderResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  ResponseHeader,
  SnapshotRequest,
  SnapshotResponse,
  StatusRequest,
  StatusResponse,
  TxnRequest,
  TxnResponse,
  WatchRequest,
  WatchResponse,
} from "./gen/etcdserverpb/rpc_pb.ts";

/** Per-call context handed to every backend method. */
export interface CallContext {
  /** Aborted when the client goes away, its deadline passes or the server shuts down. */
  readonly signal: AbortSignal;
  /**
   * The request message exactly as the client encoded it, when the wire
   * layer has it (the gRPC path): its size is the request's size, and a write
   * can be proposed as these bytes instead of being encoded again.
   */
  readonly requestBytes?: Uint8Array;
  /** The auth token the client sent (gRPC metadata `token`, or the gateway's Authorization header). */
  readonly token?: string;
  /** The common name of the client's certificate, when --client-cert-auth verified one. */
  readonly commonName?: string;
}

/** What `/health` reports; `reason` is etcd's, e.g. "RAFT NO LEADER" or "ALARM NOSPACE". */
export interface HealthReport {
  readonly healthy: boolean;
  readonly reason: string;
}

export interface EtcdBackend {
  /**
   * The member's current identity and position: cluster_id, member_id, the
   * latest applied revision, and the raft term. Cheap and synchronous; used to
   * fill response headers and for /health.
   */
  header(): ResponseHeader;

  // ---- KV ----

  /**
   * Reads a key or range at `req.revision` (<= 0: newest). Linearizable unless
   * `req.serializable`. Throws COMPACTED / FUTURE_REV for revisions outside
   * [compacted, current].
   */
  range(req: RangeRequest, ctx: CallContext): Promise<RangeResponse>;
  /** Writes one key (through Raft). Throws LEASE_NOT_FOUND, KEY_NOT_FOUND (ignore_value/ignore_lease on a missing key), NO_SPACE. */
  put(req: PutRequest, ctx: CallContext): Promise<PutResponse>;
  /** Deletes a key or range (through Raft); `deleted` counts keys removed. */
  deleteRange(req: DeleteRangeRequest, ctx: CallContext): Promise<DeleteRangeResponse>;
  /** Applies a compare-and-swap transaction atomically at one revision (through Raft unless read-only). */
  txn(req: TxnRequest, ctx: CallContext): Promise<TxnResponse>;
  /** Compacts history up to `req.revision`. Throws COMPACTED if already compacted there, FUTURE_REV beyond the current revision. */
  compact(req: CompactionRequest, ctx: CallContext): Promise<CompactionResponse>;

  // ---- Watch ----

  /**
   * One watch stream: reads create / cancel / progress requests from
   * `requests` and yields responses, as etcd's Watch RPC does:
   * - a create is answered `{watch_id, created: true}` (a refused create:
   *   `{watch_id: -1, created: true, canceled: true, cancel_reason}`; a create
   *   at a compacted start revision: `{canceled: true, compact_revision}`);
   * - a cancel is answered `{watch_id, canceled: true}`; every watcher that
   *   ends, for whatever reason, ends with exactly one `canceled: true` response
   *   (the API counts live watchers per stream from these);
   * - events are yielded in revision order per watcher, with header.revision
   *   set; a progress request is answered by a response without events whose
   *   header.revision is the stream's progress (etcd sets watch_id -1).
   * The end of `requests` does NOT end the stream (a client may half-close);
   * the stream ends when `ctx.signal` aborts, and the backend must then
   * release every watcher of the stream. The API pulls responses at the pace
   * of the client, so yield lazily and bound what you buffer per stream.
   */
  watch(requests: AsyncIterable<WatchRequest>, ctx: CallContext): AsyncIterable<WatchResponse>;

  // ---- Lease ----

  /** Grants a lease (through Raft). Throws LEASE_EXIST, LEASE_TTL_TOO_LARGE. */
  leaseGrant(req: LeaseGrantRequest, ctx: CallContext): Promise<LeaseGrantResponse>;
  /** Revokes a lease and deletes its keys (through Raft). Throws LEASE_NOT_FOUND. */
  leaseRevoke(req: LeaseRevokeRequest, ctx: CallContext): Promise<LeaseRevokeResponse>;
  /**
   * Renews one lease; the API drives the LeaseKeepAlive stream and calls this
   * once per client message. Throw LEASE_NOT_FOUND for an unknown or expired
   * lease: the API turns that into etcd's `{ID, TTL: 0}` answer. Must run on
   * the leader (forward, or throw NOT_LEADER / NO_LEADER).
   */
  leaseKeepAlive(req: LeaseKeepAliveRequest, ctx: CallContext): Promise<LeaseKeepAliveResponse>;
  /** Remaining and granted TTL of a lease, and its keys if `req.keys`; TTL -1 when not found. */
  leaseTimeToLive(req: LeaseTimeToLiveRequest, ctx: CallContext): Promise<LeaseTimeToLiveResponse>;
  /** Every live lease. */
  leaseLeases(req: LeaseLeasesRequest, ctx: CallContext): Promise<LeaseLeasesResponse>;

  // ---- Cluster ----

  /** Adds a member (or learner); throws PEER_URL_EXIST, MEMBER_BAD_URLS, TOO_MANY_LEARNERS, MEMBER_NOT_ENOUGH_STARTED. */
  memberAdd(req: MemberAddRequest, ctx: CallContext): Promise<MemberAddResponse>;
  /** Removes a member; throws MEMBER_NOT_FOUND, MEMBER_NOT_ENOUGH_STARTED. */
  memberRemove(req: MemberRemoveRequest, ctx: CallContext): Promise<MemberRemoveResponse>;
  /** Changes a member's peer URLs; throws MEMBER_NOT_FOUND, PEER_URL_EXIST. */
  memberUpdate(req: MemberUpdateRequest, ctx: CallContext): Promise<MemberUpdateResponse>;
  /** Lists members; `req.linearizable` asks for a ReadIndex first. */
  memberList(req: MemberListRequest, ctx: CallContext): Promise<MemberListResponse>;
  /** Promotes a learner; throws MEMBER_NOT_LEARNER, LEARNER_NOT_READY, MEMBER_NOT_FOUND. */
  memberPromote(req: MemberPromoteRequest, ctx: CallContext): Promise<MemberPromoteResponse>;

  // ---- Maintenance ----

  /** This member's status: version (empty → the API fills in the claimed etcd version), db sizes, leader, raft index/term, errors. */
  status(req: StatusRequest, ctx: CallContext): Promise<StatusResponse>;
  /** A hash of the whole backend (testing only in etcd). */
  hash(req: HashRequest, ctx: CallContext): Promise<HashResponse>;
  /** A hash of the MVCC keyspace up to `req.revision` (0: current); throws COMPACTED / FUTURE_REV. */
  hashKV(req: HashKVRequest, ctx: CallContext): Promise<HashKVResponse>;
  /**
   * The member's state-machine snapshot as a stream of chunks; the first
   * chunk's header is the snapshot's point in time, `remaining_bytes` counts
   * down to 0 on the last chunk. Keep chunks small (etcd uses 32 KiB).
   */
  snapshot(req: SnapshotRequest, ctx: CallContext): AsyncIterable<SnapshotResponse>;
  /** Compacts the storage files (bitcask merge). */
  defragment(req: DefragmentRequest, ctx: CallContext): Promise<DefragmentResponse>;
  /** Lists, raises or clears alarms (NOSPACE, CORRUPT). */
  alarm(req: AlarmRequest, ctx: CallContext): Promise<AlarmResponse>;
  /** Transfers leadership to `req.targetID`; throws NOT_LEADER, BAD_LEADER_TRANSFEREE. */
  moveLeader(req: MoveLeaderRequest, ctx: CallContext): Promise<MoveLeaderResponse>;

  // ---- Auth (etcd's rules; with auth on, management needs the root role) ----

  authEnable(ctx: CallContext): Promise<AuthEnableResponse>;
  authDisable(ctx: CallContext): Promise<AuthDisableResponse>;
  authStatus(ctx: CallContext): Promise<AuthStatusResponse>;
  /** Checks the password and returns a token; AUTH_NOT_ENABLED, AUTH_FAILED. */
  authenticate(req: AuthenticateRequest, ctx: CallContext): Promise<AuthenticateResponse>;
  userAdd(req: AuthUserAddRequest, ctx: CallContext): Promise<AuthUserAddResponse>;
  userGet(req: AuthUserGetRequest, ctx: CallContext): Promise<AuthUserGetResponse>;
  userList(req: AuthUserListRequest, ctx: CallContext): Promise<AuthUserListResponse>;
  userDelete(req: AuthUserDeleteRequest, ctx: CallContext): Promise<AuthUserDeleteResponse>;
  userChangePassword(
    req: AuthUserChangePasswordRequest,
    ctx: CallContext,
  ): Promise<AuthUserChangePasswordResponse>;
  userGrantRole(req: AuthUserGrantRoleRequest, ctx: CallContext): Promise<AuthUserGrantRoleResponse>;
  userRevokeRole(req: AuthUserRevokeRoleRequest, ctx: CallContext): Promise<AuthUserRevokeRoleResponse>;
  roleAdd(req: AuthRoleAddRequest, ctx: CallContext): Promise<AuthRoleAddResponse>;
  roleGet(req: AuthRoleGetRequest, ctx: CallContext): Promise<AuthRoleGetResponse>;
  roleList(req: AuthRoleListRequest, ctx: CallContext): Promise<AuthRoleListResponse>;
  roleDelete(req: AuthRoleDeleteRequest, ctx: CallContext): Promise<AuthRoleDeleteResponse>;
  roleGrantPermission(
    req: AuthRoleGrantPermissionRequest,
    ctx: CallContext,
  ): Promise<AuthRoleGrantPermissionResponse>;
  roleRevokePermission(
    req: AuthRoleRevokePermissionRequest,
    ctx: CallContext,
  ): Promise<AuthRoleRevokePermissionResponse>;

  /**
   * Optional health check for /health. Without it the API reports unhealthy
   * "RAFT NO LEADER" when status().leader is 0, "ALARM <type>" for an active
   * alarm, and healthy otherwise.
   */
  health?(ctx: CallContext): Promise<HealthReport>;

  /**
   * Optional: whether auth is on, as this member last applied it (no read
   * barrier: the dashboard asks every second). Without it the dashboard
   * takes auth to be off.
   */
  authEnabled?(): boolean;
}
