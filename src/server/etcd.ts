// EtcdServer: the etcd v3 API backend of one member. Writes become
// InternalRequests proposed through Raft and answered when they apply here;
// linearizable reads wait on a ReadIndex barrier, serializable reads go
// straight to mvcc. Leases expire on the leader's clock and are revoked
// through the log.

import { createHash } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import * as pb from "../api/gen/etcdserverpb/rpc_pb.ts";
import {
  type InternalRequest,
  InternalRequestSchema,
  RequestHeaderSchema,
} from "../api/gen/floe/raft_internal_pb.ts";
import type { CallContext, EtcdBackend } from "../api/index.ts";
import { defaultEtcdVersion, FloeError } from "../api/index.ts";
import { AuthError, type AuthInfo, type JwtTokens, PermType } from "../auth/index.ts";
import { writeBolt } from "../bbolt/index.ts";
import type { Bitcask } from "../bitcask/index.ts";
import {
  etcdBuckets,
  isTxnReadOnly,
  Lessor,
  type MvccError,
  type MvccStore,
  type RecordPair,
} from "../mvcc/index.ts";
import { AuthService, guard } from "./auth.ts";
import type { ClusterService } from "./cluster.ts";
import { fromDeleteRange, fromPut, fromRange, fromTxn, num, toRange, toTxn } from "./convert.ts";
import { LeaderForwarder, type LeaseRelay } from "./forward.ts";
import type { KvApplyResult } from "./kvstore.ts";
import { LeaseKeeper, type LeaseMutations } from "./leases.ts";
import { BackendQuota, LEASE_OVERHEAD_BYTES, putCostBytes, txnCostBytes } from "./quota.ts";
import { type ClockTimer, type RaftRuntime, type RuntimeClock, RuntimeError, realClock } from "./runtime.ts";
import { type WatchMutations, watchStream } from "./watchstream.ts";

const MVCC_TO_API: Record<string, Parameters<typeof FloeError.of>[0]> = {
  EmptyKey: "EMPTY_KEY",
  KeyNotFound: "KEY_NOT_FOUND",
  ValueProvided: "VALUE_PROVIDED",
  LeaseProvided: "LEASE_PROVIDED",
  TooManyOps: "TOO_MANY_OPS",
  DuplicateKey: "DUPLICATE_KEY",
  Compacted: "COMPACTED",
  FutureRev: "FUTURE_REV",
  LeaseNotFound: "LEASE_NOT_FOUND",
  LeaseExists: "LEASE_EXIST",
  LeaseTTLTooLarge: "LEASE_TTL_TOO_LARGE",
  NotPrimary: "NOT_LEADER",
  TooManyWatchers: "TOO_MANY_WATCHERS",
  NoSpace: "NO_SPACE",
};

/** A permission check's range end for a single key. */
const NO_RANGE_END = new Uint8Array(0);

/** How long a follower waits for the leader's client URL before a lease call fails with "not leader". */
const LEADER_URL_WAIT_MS = 2000;

/** How soon a new leader tries its read barrier again before taking over the leases. */
const PROMOTE_RETRY_MS = 50;

/** Blob size of one Snapshot message: etcd sends 32 KiB. */
const SNAPSHOT_MESSAGE_BYTES = 32 * 1024;
const SHA256_BYTES = 32;

export function apiError(e: unknown): Error {
  if (e instanceof FloeError) return e;
  if (e instanceof AuthError) return FloeError.of(e.code);
  if (e instanceof RuntimeError) {
    if (e.code === "Timeout") return FloeError.of("TIMEOUT");
    if (e.code === "Stopped") return FloeError.of("STOPPED");
    return FloeError.of("NO_LEADER", e.message);
  }
  const code = (e as MvccError)?.code;
  if (typeof code === "string" && MVCC_TO_API[code])
    return FloeError.of(MVCC_TO_API[code], (e as MvccError).detail);
  return e instanceof Error ? e : new Error(String(e));
}

export interface EtcdServerInfo {
  name: string;
  /** Raft id (53 bits) and the peers' cluster id. */
  memberId: number;
  clusterId: number;
  /** The 64-bit ids clients see (member.ts). */
  memberId64: bigint;
  clusterId64: bigint;
  peerUrls: string[];
  clientUrls: string[];
  electionTimeoutMs: number;
  /** `--quota-backend-bytes`: writes past it raise NOSPACE (0 or absent: etcd's 2 GiB default). */
  quotaBackendBytes?: number;
  /** `--watch-progress-notify-interval` (ms); absent: etcd's 10 minutes. */
  watchProgressNotifyIntervalMs?: number;
  /** `--max-request-bytes`: also the size at which fragmenting watch responses are split. */
  maxRequestBytes?: number;
  /** `--auth-token-ttl` in seconds (etcd's default 300). */
  authTokenTtlSeconds?: number;
  /** `--auth-token jwt,...`: the member issues and accepts signed tokens. */
  jwt?: JwtTokens;
}

/** What the server needs of its storage engine: sizes for the quota and status, and defragmentation. */
export type BackendDb = Pick<Bitcask, "stats" | "totalBytes" | "sealActive" | "merge">;

/** What the server takes from its surroundings rather than the process (the simulator's differ). */
export interface EtcdServerEnv {
  /** Time and timers: lease time, background duties, waits (default: the process's). */
  clock?: RuntimeClock;
  /** Faults put into the lease keeper by mutation tests. */
  leaseMutations?: LeaseMutations;
  /** How lease calls reach the leader (default: gRPC to its client URL). */
  relay?: LeaseRelay;
  /** Responses a watch stream holds for a slow client (default: watchstream.ts's). */
  watchStreamBuffer?: number;
  /** Faults put into watch streams by mutation tests. */
  watchMutations?: WatchMutations;
  /** A member's client URL (default: from the cluster service's member table). */
  clientUrlOf?: (id: number) => string | undefined;
}

/** InternalRequest field numbers of the requests that may be proposed as the client's own bytes. */
const RAW_FIELD: Record<string, number> = { put: 4, deleteRange: 5 };

/** `bytes` as length-delimited field `field` of a message: the message with that one field. */
export function wrapField(field: number, bytes: Uint8Array): Uint8Array {
  const tag = field * 8 + 2; // wire type 2: length-delimited (field < 2^29, so tag < 2^32)
  const out = Buffer.allocUnsafe(varintBytes(tag) + varintBytes(bytes.length) + bytes.length);
  const at = putVarint32(out, putVarint32(out, 0, tag), bytes.length);
  out.set(bytes, at);
  return out;
}

const varintBytes = (n: number): number =>
  n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;

/** Writes n (< 2^32) as a varint at `at`; returns the position after it. */
function putVarint32(out: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  out[at++] = n;
  return at;
}

export class EtcdServer implements EtcdBackend {
  readonly leases: LeaseKeeper;
  private readonly forwarder: LeaseRelay;
  private readonly clientUrlOf: (id: number) => string | undefined;
  private readonly quota: BackendQuota;
  private timers: ClockTimer[] = [];
  private readonly clock: RuntimeClock;
  readonly auth: AuthService;
  /** The last proposal header encoded, reused while the user and auth revision stay the same. */
  private lastHeader: { username: string; revision: number; field: Uint8Array } | undefined;

  constructor(
    readonly runtime: RaftRuntime<KvApplyResult>,
    readonly store: MvccStore,
    /** The storage engine under `store` (none for a store kept in memory). */
    readonly db: BackendDb | undefined,
    readonly info: EtcdServerInfo,
    private readonly env: EtcdServerEnv = {},
  ) {
    const clock = env.clock ?? realClock;
    this.clock = clock;
    this.forwarder = env.relay ?? new LeaderForwarder(5000);
    this.clientUrlOf =
      env.clientUrlOf ?? ((id) => this.cluster?.members().find((m) => m.id === id)?.clientUrls[0]);
    this.leases = new LeaseKeeper(
      new Lessor(store),
      () => clock.now(),
      info.electionTimeoutMs,
      (id) => this.propose({ case: "leaseRevoke", value: create(pb.LeaseRevokeRequestSchema, { ID: id }) }),
      env.leaseMutations,
    );
    this.auth = new AuthService(
      store,
      (request, info) => this.propose(request, undefined, info),
      () => this.linearize(),
      { tokenTtlSeconds: info.authTokenTtlSeconds ?? 300, jwt: info.jwt, clock },
    );
    this.quota = new BackendQuota(info.quotaBackendBytes, () => db?.totalBytes() ?? 0);
  }

  /** Starts the background duties: watch catch-up, physical compaction, lease expiry. */
  start(): void {
    this.every(50, "watch catch-up", () => this.store.hub.syncSome(1000));
    this.every(100, "physical compaction", () => this.store.compactSome(1000));
    this.every(500, "lease expiry", () => this.leases.expire());
    this.every(1000, "key index checkpoint", () => this.checkpointIfDue());
  }

  private lastCheckpoint = { at: Number.NEGATIVE_INFINITY, encodeMs: 0 };

  /**
   * Saves the key index when enough has changed since the last checkpoint
   * (1/16 of the key count in revisions, at least 1,000), at most every 10 s
   * and, as the encoding blocks the loop for O(keys), spending at most 1% of
   * the time on it. A restart then replays the records written since.
   */
  private checkpointIfDue(): void {
    const s = this.store;
    const behind = s.revision - Math.max(0, s.checkpointRevision);
    if (behind < Math.max(1000, s.keyCount / 16)) return;
    const now = this.clock.now();
    if (now - this.lastCheckpoint.at < Math.max(10_000, 100 * this.lastCheckpoint.encodeMs)) return;
    const t0 = performance.now();
    const saving = s.checkpointIndex();
    const encodeMs = performance.now() - t0;
    this.lastCheckpoint = { at: now, encodeMs };
    saving.then(
      (kept) => {
        if (kept)
          this.onCheckpoint?.({
            revision: s.checkpointRevision,
            keys: s.keyCount,
            encodeMs,
            totalMs: performance.now() - t0,
          });
      },
      (e: unknown) => this.onDutyError?.("key index checkpoint", e as Error),
    );
  }

  /** Told when a key index checkpoint was saved in the background (the server logs it at debug level). */
  onCheckpoint:
    | ((c: { revision: number; keys: number; encodeMs: number; totalMs: number }) => void)
    | undefined;

  /**
   * A background duty. It waits while a snapshot is being installed (the store
   * is unusable until the restore finishes), and a failure is reported once
   * per kind instead of escaping the timer and killing the process.
   */
  private every(ms: number, what: string, duty: () => unknown): void {
    let reported = false;
    this.timers.push(
      this.clock.setInterval(() => {
        if (this.store.needsRestore) return;
        try {
          duty();
        } catch (e) {
          if (!reported) this.onDutyError?.(what, e as Error);
          reported = true;
        }
      }, ms),
    );
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.clock.setTimeout(resolve, ms));
  }

  /** Where background-duty failures are reported (the server logs them). */
  onDutyError: ((what: string, e: Error) => void) | undefined;

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) this.clock.clear(t);
    this.leases.close();
    this.auth.close();
  }

  private stopped = false;
  /** The term whose leader this member is becoming primary lessor in (after its read barrier). */
  private promoting: number | undefined;

  /**
   * Called with the Raft role: the leader keeps lease time. A new leader
   * takes over the leases only once it has applied everything committed
   * before its term (a read barrier: its own term's first entry committed and
   * applied). Until then a keepalive waits, as for a follower: answered from
   * its store as it was, a lease granted just before the election would be
   * "not found" while it lives (etcd's leader waits for its applied index
   * too). Found by the simulator (seed 7819).
   */
  onRole(isLeader: boolean): void {
    if (!isLeader) {
      this.promoting = undefined;
      this.leases.onRole(false);
      return;
    }
    const term = this.runtime.rn.term;
    if (this.promoting === term || this.leases.isPrimary) return;
    this.promoting = term;
    const current = () =>
      !this.stopped && this.promoting === term && this.runtime.isLeader() && this.runtime.rn.term === term;
    const attempt = (): void => {
      this.runtime.readBarrier().then(
        () => {
          if (current()) this.leases.onRole(true);
        },
        () => {
          if (current()) this.clock.setTimeout(attempt, PROMOTE_RETRY_MS, true);
        },
      );
    };
    attempt();
  }

  header(): pb.ResponseHeader {
    return create(pb.ResponseHeaderSchema, {
      clusterId: this.info.clusterId64,
      memberId: this.info.memberId64,
      revision: BigInt(this.store.revision),
      raftTerm: BigInt(this.runtime.rn.term),
    });
  }

  /**
   * Proposes a request. `raw`, the request as the client encoded it (already
   * parsed into `request.value` and validated), becomes the entry without
   * encoding it again: an InternalRequest is that message as one field.
   */
  private async propose(
    request: InternalRequest["request"],
    raw?: Uint8Array,
    info?: AuthInfo,
  ): Promise<unknown> {
    const field = raw === undefined ? undefined : RAW_FIELD[request.case as string];
    let data: Uint8Array;
    if (field === undefined || raw === undefined) {
      const header = info && { username: info.username, authRevision: BigInt(info.revision) };
      data = toBinary(InternalRequestSchema, create(InternalRequestSchema, { request, header }));
    } else {
      // a message's encoding followed by another field's is the message with both fields
      data = wrapField(field, raw);
      if (info !== undefined) data = Buffer.concat([data, this.headerField(info)]);
    }
    let result: KvApplyResult;
    try {
      result = await this.runtime.propose(data);
    } catch (e) {
      throw apiError(e);
    }
    if (result.status === "failed") throw apiError(result.error);
    if (result.status === "skipped") throw new Error("entry was already applied: a proposal id collided");
    return result.response;
  }

  /** InternalRequest's header field (100) naming the request's user, for the state machine's checks. */
  private headerField(info: AuthInfo): Uint8Array {
    const h = this.lastHeader;
    if (h !== undefined && h.username === info.username && h.revision === info.revision) return h.field;
    const bytes = toBinary(
      RequestHeaderSchema,
      create(RequestHeaderSchema, { username: info.username, authRevision: BigInt(info.revision) }),
    );
    const field = wrapField(100, bytes);
    this.lastHeader = { username: info.username, revision: info.revision, field };
    return field;
  }

  private identify(ctx: CallContext | undefined): AuthInfo {
    return this.auth.identify(ctx);
  }

  private async linearize(): Promise<void> {
    try {
      await this.runtime.readBarrier();
    } catch (e) {
      throw apiError(e);
    }
  }

  async range(req: pb.RangeRequest, ctx: CallContext): Promise<pb.RangeResponse> {
    if (!req.serializable) await this.linearize();
    try {
      return this.completeHeader(fromRange(this.store.range(toRange(req), this.identify(ctx))));
    } catch (e) {
      throw apiError(e);
    }
  }

  async put(req: pb.PutRequest, ctx?: CallContext): Promise<pb.PutResponse> {
    const info = this.identify(ctx);
    await this.checkQuota(putCostBytes(req));
    return this.completeHeader(
      fromPut((await this.propose({ case: "put", value: req }, ctx?.requestBytes, info)) as never),
    );
  }

  /**
   * Fills the member's fields of a response's header (it carries the
   * revision), so the API layer need not build a second header to fill it
   * from: on the hot paths (put, range) that was a message per request.
   */
  private completeHeader<T extends { header?: pb.ResponseHeader }>(resp: T): T {
    const h = resp.header;
    if (h !== undefined) {
      h.clusterId = this.info.clusterId64;
      h.memberId = this.info.memberId64;
      h.raftTerm = BigInt(this.runtime.rn.term);
    }
    return resp;
  }

  async deleteRange(req: pb.DeleteRangeRequest, ctx?: CallContext): Promise<pb.DeleteRangeResponse> {
    const info = this.identify(ctx);
    return fromDeleteRange(
      (await this.propose({ case: "deleteRange", value: req }, ctx?.requestBytes, info)) as never,
    );
  }

  async txn(req: pb.TxnRequest, ctx?: CallContext): Promise<pb.TxnResponse> {
    const t = toTxn(req);
    const info = this.identify(ctx);
    if (isTxnReadOnly(t)) {
      await this.linearize();
      try {
        return fromTxn(this.store.txnReadOnly(t, info));
      } catch (e) {
        throw apiError(e);
      }
    }
    await this.checkQuota(txnCostBytes(req));
    return fromTxn((await this.propose({ case: "txn", value: req }, undefined, info)) as never);
  }

  async compact(req: pb.CompactionRequest, ctx?: CallContext): Promise<pb.CompactionResponse> {
    const info = this.identify(ctx);
    const r = (await this.propose({ case: "compaction", value: req }, undefined, info)) as {
      header: { revision: number };
    };
    // Physical: wait until the compacted records are gone from storage.
    if (req.physical) await this.drainCompaction();
    return create(pb.CompactionResponseSchema, { header: { revision: BigInt(r.header.revision) } });
  }

  watch(requests: AsyncIterable<pb.WatchRequest>, ctx: CallContext): AsyncIterable<pb.WatchResponse> {
    return watchStream(this.store, requests, ctx, {
      progressNotifyIntervalMs: this.info.watchProgressNotifyIntervalMs,
      maxRequestBytes: this.info.maxRequestBytes,
      buffer: this.env.watchStreamBuffer,
      mutations: this.env.watchMutations,
      clock: this.clock,
      // etcd checks a watch's range once, when it is created
      authorize: (key, rangeEnd) =>
        guard(() => this.store.auth.checkRange(this.identify(ctx), PermType.READ, { key, rangeEnd })),
    });
  }

  async leaseGrant(req: pb.LeaseGrantRequest, ctx?: CallContext): Promise<pb.LeaseGrantResponse> {
    const info = this.identify(ctx);
    const minTtl = Math.ceil((1.5 * this.info.electionTimeoutMs) / 1000);
    const ttl = Math.max(num(req.TTL, "TTL"), minTtl);
    await this.checkQuota(LEASE_OVERHEAD_BYTES);
    const grant = create(pb.LeaseGrantRequestSchema, { TTL: BigInt(ttl), ID: req.ID });
    const r = (await this.propose({ case: "leaseGrant", value: grant }, undefined, info)) as {
      header: { revision: number };
      id: bigint;
      ttl: number;
    };
    this.leases.granted(r.id);
    return create(pb.LeaseGrantResponseSchema, {
      header: { revision: BigInt(r.header.revision) },
      ID: r.id,
      TTL: BigInt(r.ttl),
    });
  }

  async leaseRevoke(req: pb.LeaseRevokeRequest, ctx?: CallContext): Promise<pb.LeaseRevokeResponse> {
    const info = this.identify(ctx);
    const r = (await this.propose({ case: "leaseRevoke", value: req }, undefined, info)) as {
      header: { revision: number };
    };
    return create(pb.LeaseRevokeResponseSchema, { header: { revision: BigInt(r.header.revision) } });
  }

  /** The 64-bit id clients know the member with this raft id by. */
  externalId(id: number): bigint {
    if (id === this.info.memberId) return this.info.memberId64;
    return this.cluster?.externalId(id) ?? BigInt(id);
  }

  /** The leader's client URL, when another member leads and has published one. */
  private leaderUrl(): string | undefined {
    const lead = this.runtime.leader();
    if (lead === 0 || lead === this.info.memberId) return undefined;
    return this.clientUrlOf(lead);
  }

  /**
   * Where a follower relays a lease call: the leader's client URL. Right after
   * a start or an election the leader may not have published it yet (it does
   * within moments), so wait for it up to LEADER_URL_WAIT_MS rather than fail
   * the call; undefined if this member has become the primary lessor meanwhile.
   */
  private async relayTarget(): Promise<string | undefined> {
    const deadline = this.clock.now() + LEADER_URL_WAIT_MS;
    for (;;) {
      if (this.leases.isPrimary) return undefined;
      const url = this.leaderUrl();
      if (url) return url;
      if (this.clock.now() >= deadline)
        throw FloeError.of(this.runtime.leader() === 0 ? "NO_LEADER" : "NOT_LEADER");
      await this.sleep(50);
    }
  }

  async leaseKeepAlive(req: pb.LeaseKeepAliveRequest): Promise<pb.LeaseKeepAliveResponse> {
    if (!this.leases.isPrimary) {
      const url = await this.relayTarget();
      if (url) return this.forwarder.keepAlive(url, req);
    }
    let ttl: number;
    try {
      ttl = this.leases.keepAlive(req.ID);
    } catch (e) {
      throw apiError(e);
    }
    return create(pb.LeaseKeepAliveResponseSchema, { ID: req.ID, TTL: BigInt(ttl) });
  }

  async leaseTimeToLive(
    req: pb.LeaseTimeToLiveRequest,
    ctx?: CallContext,
  ): Promise<pb.LeaseTimeToLiveResponse> {
    const id = req.ID;
    const auth = this.store.auth;
    // with auth on the keys are needed either way: reading a lease's state needs read permission on each (etcd)
    const t = this.store.timeToLive(id, { keys: req.keys || auth.isEnabled });
    if (auth.isEnabled && t !== undefined) {
      const info = this.identify(ctx);
      for (const key of t.keys)
        guard(() => auth.checkRange(info, PermType.READ, { key, rangeEnd: NO_RANGE_END }));
    }
    const url = this.leases.isPrimary ? undefined : await this.relayTarget();
    if (url) return this.forwarder.timeToLive(url, req, ctx?.token);
    if (!t) return create(pb.LeaseTimeToLiveResponseSchema, { ID: req.ID, TTL: -1n });
    const remainingMs = this.leases.remainingMs(id);
    const ttl = remainingMs === undefined ? t.grantedTtl : Math.max(0, Math.ceil(remainingMs / 1000));
    return create(pb.LeaseTimeToLiveResponseSchema, {
      ID: req.ID,
      TTL: BigInt(ttl),
      grantedTTL: BigInt(t.grantedTtl),
      keys: req.keys ? t.keys : [],
    });
  }

  async leaseLeases(): Promise<pb.LeaseLeasesResponse> {
    return create(pb.LeaseLeasesResponseSchema, {
      leases: this.store.leaseList().map((l) => create(pb.LeaseStatusSchema, { ID: l.id })),
    });
  }

  /** Set by the server once the cluster service exists. */
  cluster: ClusterService | undefined;

  private clusterService(): ClusterService {
    if (!this.cluster) throw FloeError.of("NOT_SUPPORTED", "this member has no cluster service");
    return this.cluster;
  }

  memberList(req: pb.MemberListRequest): Promise<pb.MemberListResponse> {
    return this.clusterService().memberList(req);
  }

  async memberAdd(req: pb.MemberAddRequest, ctx?: CallContext): Promise<pb.MemberAddResponse> {
    this.auth.requireAdmin(ctx);
    return this.clusterService().memberAdd(req);
  }

  async memberRemove(req: pb.MemberRemoveRequest, ctx?: CallContext): Promise<pb.MemberRemoveResponse> {
    this.auth.requireAdmin(ctx);
    return this.clusterService().memberRemove(req);
  }

  async memberUpdate(req: pb.MemberUpdateRequest, ctx?: CallContext): Promise<pb.MemberUpdateResponse> {
    this.auth.requireAdmin(ctx);
    return this.clusterService().memberUpdate(req);
  }

  async memberPromote(req: pb.MemberPromoteRequest, ctx?: CallContext): Promise<pb.MemberPromoteResponse> {
    this.auth.requireAdmin(ctx);
    return this.clusterService().memberPromote(req);
  }

  async status(): Promise<pb.StatusResponse> {
    const st = this.runtime.rn.status();
    const stats = this.db?.stats() ?? { liveBytes: 0, deadBytes: 0 };
    return create(pb.StatusResponseSchema, {
      version: defaultEtcdVersion,
      dbSize: BigInt(stats.liveBytes + stats.deadBytes),
      dbSizeInUse: BigInt(stats.liveBytes),
      leader: st.softState.lead === 0 ? 0n : this.externalId(st.softState.lead),
      isLearner: this.runtime.confStateNow().learners.includes(this.info.memberId),
      raftIndex: BigInt(st.lastIndex),
      raftTerm: BigInt(st.hardState.term),
      raftAppliedIndex: BigInt(this.runtime.appliedIndex()),
      // as etcd: each active alarm, in etcdserverpb.AlarmMember's text form
      errors: this.store
        .alarms()
        .map((a) => `memberID:${this.externalId(a.memberId)} alarm:${pb.AlarmType[a.alarm] ?? a.alarm} `),
    });
  }

  async hash(_req?: pb.HashRequest, ctx?: CallContext): Promise<pb.HashResponse> {
    this.auth.requireAdmin(ctx);
    const h = this.store.hash();
    return create(pb.HashResponseSchema, { hash: h.hash });
  }

  async hashKV(req: pb.HashKVRequest, ctx?: CallContext): Promise<pb.HashKVResponse> {
    this.auth.requireAdmin(ctx);
    try {
      const h = this.store.hashKV(num(req.revision, "revision"));
      return create(pb.HashKVResponseSchema, {
        hash: h.hash,
        compactRevision: BigInt(h.compactRevision),
        hashRevision: BigInt(h.hashRevision),
      });
    } catch (e) {
      throw apiError(e);
    }
  }

  /**
   * A snapshot as etcd sends one: a bbolt database in etcd's backend layout
   * (mvcc/etcd-backend.ts, bbolt/), then its SHA-256, so `etcdctl snapshot
   * status|restore` read it and `floe snapshot restore` reads etcd's.
   *
   * The records are gathered under a compaction pin with a pause every few
   * thousand, so a large store does not hold the event loop; the database
   * file is then built in memory (about its size again) and sent in 32 KiB
   * messages with the exact remaining_bytes.
   */
  async *snapshot(_req?: pb.SnapshotRequest, ctx?: CallContext): AsyncIterable<pb.SnapshotResponse> {
    this.auth.requireAdmin(ctx);
    const s = this.store.snapshotRecords();
    const records: RecordPair[] = [];
    try {
      for (const r of s) {
        records.push(r);
        if (records.length % 4096 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      s.close();
    }
    const file = writeBolt(etcdBuckets(records));
    records.length = 0;
    const sha = createHash("sha256");
    let remaining = file.reduce((n, c) => n + c.length, 0) + SHA256_BYTES;
    for (const chunk of file) {
      for (let at = 0; at < chunk.length; at += SNAPSHOT_MESSAGE_BYTES) {
        const blob = chunk.subarray(at, at + SNAPSHOT_MESSAGE_BYTES);
        sha.update(blob);
        remaining -= blob.length;
        yield create(pb.SnapshotResponseSchema, { blob, remainingBytes: BigInt(remaining) });
      }
    }
    yield create(pb.SnapshotResponseSchema, { blob: sha.digest(), remainingBytes: 0n });
  }

  /**
   * Rewrites storage without its dead records, as etcd's defrag rewrites the
   * whole database: what `compact` freed is deleted first, and the file
   * being written is sealed so the merge takes it too.
   */
  async defragment(_req?: pb.DefragmentRequest, ctx?: CallContext): Promise<pb.DefragmentResponse> {
    this.auth.requireAdmin(ctx);
    await this.drainCompaction();
    if (this.db) {
      this.db.sealActive();
      await this.db.merge();
    }
    return create(pb.DefragmentResponseSchema, {});
  }

  /**
   * Deletes what compaction left to delete. An open snapshot stream pins the
   * records it has yet to send, so this yields to the event loop until the
   * stream ends instead of spinning (the stream needs the loop to finish).
   */
  private async drainCompaction(): Promise<void> {
    while (this.store.compactionPending > 0) {
      const before = this.store.compactionPending;
      if (this.store.compactSome(10_000) >= before) await this.sleep(20);
    }
  }

  /**
   * GET lists this member's applied alarm table (the view etcd's /health
   * reads; a client's own ACTIVATE or DEACTIVATE through this member is
   * applied here before it is answered). ACTIVATE and DEACTIVATE go through
   * Raft, so every member's table agrees and survives restarts (mvcc/alarm.ts).
   */
  async alarm(req: pb.AlarmRequest, ctx?: CallContext): Promise<pb.AlarmResponse> {
    this.auth.requireAdmin(ctx);
    let alarms: { memberId: number; alarm: number }[];
    if (req.action === pb.AlarmRequest_AlarmAction.GET) alarms = this.store.alarms(req.alarm);
    else {
      const info = this.identify(ctx);
      alarms = (
        (await this.propose({ case: "alarm", value: req }, undefined, info)) as { alarms: typeof alarms }
      ).alarms;
    }
    return create(pb.AlarmResponseSchema, {
      alarms: alarms.map((a) =>
        create(pb.AlarmMemberSchema, { memberID: this.externalId(a.memberId), alarm: a.alarm }),
      ),
    });
  }

  /**
   * etcd's quota check on Put, Txn and LeaseGrant: a write that would pass
   * the quota is refused with NO_SPACE and raises this member's NOSPACE
   * alarm through Raft. Once raised, the state machine refuses writes on
   * every member until the alarm is disarmed, even after space is freed.
   */
  private async checkQuota(costBytes: number): Promise<void> {
    if (this.quota.available(costBytes)) return;
    const raised = this.store.alarms(pb.AlarmType.NOSPACE).some((a) => a.memberId === this.info.memberId);
    if (!raised) {
      const activate = create(pb.AlarmRequestSchema, {
        action: pb.AlarmRequest_AlarmAction.ACTIVATE,
        memberID: this.info.memberId64,
        alarm: pb.AlarmType.NOSPACE,
      });
      await this.propose({ case: "alarm", value: activate }).catch(() => {
        // The refusal stands either way; the next refused write raises it again.
      });
    }
    throw FloeError.of("NO_SPACE");
  }

  async moveLeader(req: pb.MoveLeaderRequest, ctx?: CallContext): Promise<pb.MoveLeaderResponse> {
    this.auth.requireAdmin(ctx);
    return this.clusterService().moveLeader(req);
  }

  // ---- Auth (server/auth.ts) ----

  authEnable(ctx: CallContext) {
    return this.auth.authEnable(ctx);
  }

  authDisable(ctx: CallContext) {
    return this.auth.authDisable(ctx);
  }

  authEnabled(): boolean {
    return this.store.auth.isEnabled;
  }

  authStatus(ctx: CallContext) {
    return this.auth.authStatus(ctx);
  }

  authenticate(req: pb.AuthenticateRequest) {
    return this.auth.authenticate(req);
  }

  userAdd(req: pb.AuthUserAddRequest, ctx: CallContext) {
    return this.auth.userAdd(req, ctx);
  }

  userGet(req: pb.AuthUserGetRequest, ctx: CallContext) {
    return this.auth.userGet(req, ctx);
  }

  userList(req: pb.AuthUserListRequest, ctx: CallContext) {
    return this.auth.userList(req, ctx);
  }

  userDelete(req: pb.AuthUserDeleteRequest, ctx: CallContext) {
    return this.auth.userDelete(req, ctx);
  }

  userChangePassword(req: pb.AuthUserChangePasswordRequest, ctx: CallContext) {
    return this.auth.userChangePassword(req, ctx);
  }

  userGrantRole(req: pb.AuthUserGrantRoleRequest, ctx: CallContext) {
    return this.auth.userGrantRole(req, ctx);
  }

  userRevokeRole(req: pb.AuthUserRevokeRoleRequest, ctx: CallContext) {
    return this.auth.userRevokeRole(req, ctx);
  }

  roleAdd(req: pb.AuthRoleAddRequest, ctx: CallContext) {
    return this.auth.roleAdd(req, ctx);
  }

  roleGet(req: pb.AuthRoleGetRequest, ctx: CallContext) {
    return this.auth.roleGet(req, ctx);
  }

  roleList(req: pb.AuthRoleListRequest, ctx: CallContext) {
    return this.auth.roleList(req, ctx);
  }

  roleDelete(req: pb.AuthRoleDeleteRequest, ctx: CallContext) {
    return this.auth.roleDelete(req, ctx);
  }

  roleGrantPermission(req: pb.AuthRoleGrantPermissionRequest, ctx: CallContext) {
    return this.auth.roleGrantPermission(req, ctx);
  }

  roleRevokePermission(req: pb.AuthRoleRevokePermissionRequest, ctx: CallContext) {
    return this.auth.roleRevokePermission(req, ctx);
  }
}
