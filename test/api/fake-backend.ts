// A small single-member, in-memory EtcdBackend for exercising src/api/: a
// multi-version key map (enough for reads at a revision, compaction errors
// and watch replay), leases without expiry, and one fixed member. Not
// replicated, not durable, not fast. Tests can make a method fail with
// failWith(), to check error mapping end to end.

import { create } from "@bufbuild/protobuf";
import type { CallContext, EtcdBackend } from "../../src/api/backend.ts";
import { FloeError } from "../../src/api/errors.ts";
import * as pb from "../../src/api/gen/etcdserverpb/rpc_pb.ts";
import {
  type Event,
  Event_EventType,
  type KeyValue,
  KeyValueSchema,
} from "../../src/api/gen/mvccpb/kv_pb.ts";
import { FakeWatchHub } from "./fake-watch.ts";

export const CLUSTER_ID = 14841639068965178418n;
export const MEMBER_ID = 10276657743932975437n;
export const RAFT_TERM = 3n;

const str = (b: Uint8Array): string => Buffer.from(b).toString("latin1");
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "latin1"));

/** Whether `key` is in etcd's range [start, end): end empty = just start, "\0" = everything from start. */
export function inRange(key: string, start: string, end: string): boolean {
  if (end === "") return key === start;
  if (end === "\0") return key >= start;
  return key >= start && key < end;
}

interface Lease {
  readonly id: bigint;
  readonly ttl: bigint;
  readonly keys: Set<string>;
}

type Method = keyof EtcdBackend;

export class FakeBackend implements EtcdBackend {
  revision = 1n;
  compactRevision = 0n;
  /** Every version of every key, oldest first; a delete appends a tombstone (version 0). */
  private readonly history = new Map<string, KeyValue[]>();
  private readonly leases = new Map<bigint, Lease>();
  private nextLeaseId = 0x1000n;
  private readonly failures = new Map<Method, unknown>();
  readonly alarms: pb.AlarmMember[] = [];
  readonly hub = new FakeWatchHub(this);

  /** The next call of `method` throws `error`. */
  failWith(method: Method, error: unknown): void {
    this.failures.set(method, error);
  }

  private check(method: Method): void {
    const error = this.failures.get(method);
    if (error === undefined) return;
    this.failures.delete(method);
    throw error;
  }

  header(): pb.ResponseHeader {
    return create(pb.ResponseHeaderSchema, {
      clusterId: CLUSTER_ID,
      memberId: MEMBER_ID,
      revision: this.revision,
      raftTerm: RAFT_TERM,
    });
  }

  /** The live value of `key` at revision `rev`. */
  valueAt(key: string, rev: bigint): KeyValue | undefined {
    const versions = this.history.get(key) ?? [];
    for (let i = versions.length - 1; i >= 0; i--) {
      const kv = versions[i] as KeyValue;
      if (kv.modRevision <= rev) return kv.version === 0n ? undefined : kv;
    }
    return undefined;
  }

  private checkRevision(rev: bigint): bigint {
    if (rev <= 0n) return this.revision;
    if (rev < this.compactRevision) throw FloeError.of("COMPACTED");
    if (rev > this.revision) throw FloeError.of("FUTURE_REV");
    return rev;
  }

  async range(req: pb.RangeRequest, _ctx?: CallContext): Promise<pb.RangeResponse> {
    this.check("range");
    const rev = this.checkRevision(req.revision);
    const all = this.select(req, rev);
    const limit = req.limit > 0n ? Number(req.limit) : all.length;
    const kvs = req.countOnly ? [] : all.slice(0, limit);
    return create(pb.RangeResponseSchema, {
      header: { revision: this.revision },
      kvs: req.keysOnly ? kvs.map((kv) => ({ ...kv, value: new Uint8Array() })) : kvs,
      more: !req.countOnly && all.length > limit,
      count: BigInt(all.length),
    });
  }

  /** The live kvs of a range request at `rev`: its range, create revision bounds and sort, without the limit. */
  private select(req: pb.RangeRequest, rev: bigint): KeyValue[] {
    const start = str(req.key);
    const end = str(req.rangeEnd);
    const all = [...this.history.keys()]
      .filter((k) => inRange(k, start, end))
      .sort()
      .map((k) => this.valueAt(k, rev))
      .filter((kv): kv is KeyValue => kv !== undefined)
      .filter((kv) => req.maxCreateRevision <= 0n || kv.createRevision <= req.maxCreateRevision)
      .filter((kv) => req.minCreateRevision <= 0n || kv.createRevision >= req.minCreateRevision);
    if (req.sortTarget === pb.RangeRequest_SortTarget.CREATE) {
      all.sort((a, b) =>
        a.createRevision < b.createRevision ? -1 : a.createRevision > b.createRevision ? 1 : 0,
      );
    }
    if (req.sortOrder === pb.RangeRequest_SortOrder.DESCEND) all.reverse();
    return all;
  }

  /** Applies writes at one new revision; events go to watchers after `apply` returns. */
  private write<T>(apply: (rev: bigint, events: Event[]) => T): T {
    const rev = this.revision + 1n;
    const events: Event[] = [];
    const result = apply(rev, events);
    if (events.length > 0) {
      this.revision = rev;
      this.hub.publish(rev, events);
    }
    return result;
  }

  private putAt(req: pb.PutRequest, rev: bigint, events: Event[]): KeyValue | undefined {
    const key = str(req.key);
    const prev = this.valueAt(key, this.revision);
    if ((req.ignoreValue || req.ignoreLease) && prev === undefined) throw FloeError.of("KEY_NOT_FOUND");
    const lease = req.ignoreLease ? (prev?.lease ?? 0n) : req.lease;
    if (lease !== 0n && !this.leases.has(lease)) throw FloeError.of("LEASE_NOT_FOUND");
    const kv = create(KeyValueSchema, {
      key: req.key,
      value: req.ignoreValue ? prev?.value : req.value,
      createRevision: prev?.createRevision ?? rev,
      modRevision: rev,
      version: (prev?.version ?? 0n) + 1n,
      lease,
    });
    if (lease !== 0n) this.leases.get(lease)?.keys.add(key);
    this.appendVersion(key, kv);
    events.push({ $typeName: "mvccpb.Event", type: Event_EventType.PUT, kv, prevKv: prev });
    return prev;
  }

  private deleteAt(start: string, end: string, rev: bigint, events: Event[]): KeyValue[] {
    const deleted: KeyValue[] = [];
    for (const key of [...this.history.keys()].sort()) {
      const prev = inRange(key, start, end) ? this.valueAt(key, this.revision) : undefined;
      if (prev === undefined) continue;
      const tomb = create(KeyValueSchema, { key: bytes(key), modRevision: rev });
      this.appendVersion(key, tomb);
      for (const lease of this.leases.values()) lease.keys.delete(key);
      events.push({ $typeName: "mvccpb.Event", type: Event_EventType.DELETE, kv: tomb, prevKv: prev });
      deleted.push(prev);
    }
    return deleted;
  }

  private appendVersion(key: string, kv: KeyValue): void {
    const versions = this.history.get(key) ?? [];
    versions.push(kv);
    this.history.set(key, versions);
  }

  async put(req: pb.PutRequest): Promise<pb.PutResponse> {
    this.check("put");
    const prev = this.write((rev, events) => this.putAt(req, rev, events));
    return create(pb.PutResponseSchema, {
      header: { revision: this.revision },
      prevKv: req.prevKv ? prev : undefined,
    });
  }

  async deleteRange(req: pb.DeleteRangeRequest): Promise<pb.DeleteRangeResponse> {
    this.check("deleteRange");
    const deleted = this.write((rev, events) => this.deleteAt(str(req.key), str(req.rangeEnd), rev, events));
    return create(pb.DeleteRangeResponseSchema, {
      header: { revision: this.revision },
      deleted: BigInt(deleted.length),
      prevKvs: req.prevKv ? deleted : [],
    });
  }

  private compare(c: pb.Compare): boolean {
    const kv = this.valueAt(str(c.key), this.revision);
    const t = c.targetUnion;
    let cmp: number;
    if (t.case === "value") cmp = Buffer.compare(Buffer.from(kv?.value ?? []), Buffer.from(t.value));
    else {
      const actual =
        t.case === "version"
          ? (kv?.version ?? 0n)
          : t.case === "createRevision"
            ? (kv?.createRevision ?? 0n)
            : t.case === "modRevision"
              ? (kv?.modRevision ?? 0n)
              : (kv?.lease ?? 0n);
      const want = t.value ?? 0n;
      cmp = actual < want ? -1 : actual > want ? 1 : 0;
    }
    const R = pb.Compare_CompareResult;
    return c.result === R.EQUAL
      ? cmp === 0
      : c.result === R.NOT_EQUAL
        ? cmp !== 0
        : c.result === R.GREATER
          ? cmp > 0
          : cmp < 0;
  }

  async txn(req: pb.TxnRequest): Promise<pb.TxnResponse> {
    this.check("txn");
    const succeeded = req.compare.every((c) => this.compare(c));
    const ops = succeeded ? req.success : req.failure;
    const responses = this.write((rev, events) => ops.map((op) => this.applyOp(op, rev, events)));
    return create(pb.TxnResponseSchema, { header: { revision: this.revision }, succeeded, responses });
  }

  private applyOp(op: pb.RequestOp, rev: bigint, events: Event[]): pb.ResponseOp {
    const r = op.request;
    const header = { revision: rev };
    switch (r.case) {
      case "requestPut": {
        const prev = this.putAt(r.value, rev, events);
        return create(pb.ResponseOpSchema, {
          response: { case: "responsePut", value: { header, prevKv: r.value.prevKv ? prev : undefined } },
        });
      }
      case "requestDeleteRange": {
        const deleted = this.deleteAt(str(r.value.key), str(r.value.rangeEnd), rev, events);
        return create(pb.ResponseOpSchema, {
          response: { case: "responseDeleteRange", value: { header, deleted: BigInt(deleted.length) } },
        });
      }
      case "requestRange": {
        const all = this.select(r.value, this.revision);
        const kvs = r.value.limit > 0n ? all.slice(0, Number(r.value.limit)) : all;
        return create(pb.ResponseOpSchema, {
          response: { case: "responseRange", value: { header, kvs, count: BigInt(all.length) } },
        });
      }
      default:
        throw FloeError.of("NOT_SUPPORTED", "nested txn in the fake backend");
    }
  }

  async compact(req: pb.CompactionRequest): Promise<pb.CompactionResponse> {
    this.check("compact");
    if (req.revision <= this.compactRevision) throw FloeError.of("COMPACTED");
    if (req.revision > this.revision) throw FloeError.of("FUTURE_REV");
    this.compactRevision = req.revision;
    return create(pb.CompactionResponseSchema);
  }

  /** Versions of every key at or after `fromRev`, grouped by revision, for watch replay. */
  eventsSince(fromRev: bigint): Map<bigint, Event[]> {
    const byRev = new Map<bigint, Event[]>();
    for (const versions of this.history.values()) {
      versions.forEach((kv, i) => {
        if (kv.modRevision < fromRev) return;
        const type = kv.version === 0n ? Event_EventType.DELETE : Event_EventType.PUT;
        const prevKv = i > 0 && versions[i - 1]?.version !== 0n ? versions[i - 1] : undefined;
        const list = byRev.get(kv.modRevision) ?? [];
        list.push({ $typeName: "mvccpb.Event", type, kv, prevKv });
        byRev.set(kv.modRevision, list);
      });
    }
    return new Map([...byRev.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
  }

  watch(requests: AsyncIterable<pb.WatchRequest>, ctx: CallContext): AsyncIterable<pb.WatchResponse> {
    this.check("watch");
    return this.hub.stream(requests, ctx);
  }

  async leaseGrant(req: pb.LeaseGrantRequest): Promise<pb.LeaseGrantResponse> {
    this.check("leaseGrant");
    const id = req.ID !== 0n ? req.ID : this.nextLeaseId++;
    if (this.leases.has(id)) throw FloeError.of("LEASE_EXIST");
    this.leases.set(id, { id, ttl: req.TTL, keys: new Set() });
    return create(pb.LeaseGrantResponseSchema, { ID: id, TTL: req.TTL });
  }

  async leaseRevoke(req: pb.LeaseRevokeRequest): Promise<pb.LeaseRevokeResponse> {
    this.check("leaseRevoke");
    const lease = this.leases.get(req.ID);
    if (lease === undefined) throw FloeError.of("LEASE_NOT_FOUND");
    this.leases.delete(req.ID);
    this.write((rev, events) => {
      for (const key of lease.keys) this.deleteAt(key, "", rev, events);
    });
    return create(pb.LeaseRevokeResponseSchema);
  }

  async leaseKeepAlive(req: pb.LeaseKeepAliveRequest): Promise<pb.LeaseKeepAliveResponse> {
    this.check("leaseKeepAlive");
    const lease = this.leases.get(req.ID);
    if (lease === undefined) throw FloeError.of("LEASE_NOT_FOUND");
    return create(pb.LeaseKeepAliveResponseSchema, { ID: lease.id, TTL: lease.ttl });
  }

  async leaseTimeToLive(req: pb.LeaseTimeToLiveRequest): Promise<pb.LeaseTimeToLiveResponse> {
    this.check("leaseTimeToLive");
    const lease = this.leases.get(req.ID);
    if (lease === undefined) return create(pb.LeaseTimeToLiveResponseSchema, { ID: req.ID, TTL: -1n });
    return create(pb.LeaseTimeToLiveResponseSchema, {
      ID: lease.id,
      TTL: lease.ttl,
      grantedTTL: lease.ttl,
      keys: req.keys ? [...lease.keys].map(bytes) : [],
    });
  }

  async leaseLeases(): Promise<pb.LeaseLeasesResponse> {
    this.check("leaseLeases");
    return create(pb.LeaseLeasesResponseSchema, { leases: [...this.leases.keys()].map((ID) => ({ ID })) });
  }

  private members(): pb.Member[] {
    const urls = { peerURLs: ["http://127.0.0.1:2380"], clientURLs: ["http://127.0.0.1:2379"] };
    return [create(pb.MemberSchema, { ID: MEMBER_ID, name: "fake", ...urls })];
  }

  private notSupported(what: string): never {
    throw FloeError.of("NOT_SUPPORTED", `${what} in the fake backend`);
  }

  async memberAdd(): Promise<pb.MemberAddResponse> {
    return this.notSupported("MemberAdd");
  }
  async memberRemove(req: pb.MemberRemoveRequest): Promise<pb.MemberRemoveResponse> {
    if (req.ID !== MEMBER_ID) throw FloeError.of("MEMBER_NOT_FOUND");
    return this.notSupported("removing the only member");
  }
  async memberUpdate(): Promise<pb.MemberUpdateResponse> {
    return this.notSupported("MemberUpdate");
  }
  async memberList(): Promise<pb.MemberListResponse> {
    this.check("memberList");
    return create(pb.MemberListResponseSchema, { members: this.members() });
  }
  async memberPromote(): Promise<pb.MemberPromoteResponse> {
    throw FloeError.of("MEMBER_NOT_LEARNER");
  }

  async status(): Promise<pb.StatusResponse> {
    this.check("status");
    return create(pb.StatusResponseSchema, {
      dbSize: 4096n,
      dbSizeInUse: 4096n,
      leader: MEMBER_ID,
      raftIndex: this.revision,
      raftAppliedIndex: this.revision,
      raftTerm: RAFT_TERM,
    });
  }
  async hash(): Promise<pb.HashResponse> {
    return create(pb.HashResponseSchema, { hash: 0 });
  }
  async hashKV(): Promise<pb.HashKVResponse> {
    return create(pb.HashKVResponseSchema, { hash: 0, compactRevision: this.compactRevision });
  }
  async *snapshot(): AsyncIterable<pb.SnapshotResponse> {
    const blob = Buffer.from(JSON.stringify({ revision: String(this.revision) }));
    const half = Math.ceil(blob.length / 2);
    yield create(pb.SnapshotResponseSchema, {
      remainingBytes: BigInt(blob.length - half),
      blob: blob.subarray(0, half),
    });
    yield create(pb.SnapshotResponseSchema, { remainingBytes: 0n, blob: blob.subarray(half) });
  }
  async defragment(): Promise<pb.DefragmentResponse> {
    return create(pb.DefragmentResponseSchema);
  }
  async alarm(req: pb.AlarmRequest): Promise<pb.AlarmResponse> {
    if (req.action === pb.AlarmRequest_AlarmAction.ACTIVATE) {
      this.alarms.push(create(pb.AlarmMemberSchema, { memberID: MEMBER_ID, alarm: req.alarm }));
    } else if (req.action === pb.AlarmRequest_AlarmAction.DEACTIVATE) {
      this.alarms.splice(0);
    }
    return create(pb.AlarmResponseSchema, { alarms: this.alarms });
  }
  async moveLeader(): Promise<pb.MoveLeaderResponse> {
    throw FloeError.of("BAD_LEADER_TRANSFEREE");
  }

  // Auth as etcd answers with authentication disabled and nothing defined;
  // changes are refused (this fake keeps no auth store: the member's is
  // tested in test/auth and test/integration).
  private noAuthStore(): never {
    throw FloeError.of("NOT_SUPPORTED", "the fake backend keeps no auth store");
  }
  async authEnable(): Promise<pb.AuthEnableResponse> {
    this.noAuthStore();
  }
  async authDisable(): Promise<pb.AuthDisableResponse> {
    return create(pb.AuthDisableResponseSchema);
  }
  async authStatus(): Promise<pb.AuthStatusResponse> {
    return create(pb.AuthStatusResponseSchema, { enabled: false, authRevision: 1n });
  }
  async authenticate(): Promise<pb.AuthenticateResponse> {
    throw FloeError.of("AUTH_NOT_ENABLED");
  }
  async userAdd(): Promise<pb.AuthUserAddResponse> {
    this.noAuthStore();
  }
  async userGet(): Promise<pb.AuthUserGetResponse> {
    throw FloeError.of("USER_NOT_FOUND");
  }
  async userList(): Promise<pb.AuthUserListResponse> {
    return create(pb.AuthUserListResponseSchema);
  }
  async userDelete(): Promise<pb.AuthUserDeleteResponse> {
    throw FloeError.of("USER_NOT_FOUND");
  }
  async userChangePassword(): Promise<pb.AuthUserChangePasswordResponse> {
    throw FloeError.of("USER_NOT_FOUND");
  }
  async userGrantRole(): Promise<pb.AuthUserGrantRoleResponse> {
    throw FloeError.of("USER_NOT_FOUND");
  }
  async userRevokeRole(): Promise<pb.AuthUserRevokeRoleResponse> {
    throw FloeError.of("USER_NOT_FOUND");
  }
  async roleAdd(): Promise<pb.AuthRoleAddResponse> {
    this.noAuthStore();
  }
  async roleGet(): Promise<pb.AuthRoleGetResponse> {
    throw FloeError.of("ROLE_NOT_FOUND");
  }
  async roleList(): Promise<pb.AuthRoleListResponse> {
    return create(pb.AuthRoleListResponseSchema);
  }
  async roleDelete(): Promise<pb.AuthRoleDeleteResponse> {
    throw FloeError.of("ROLE_NOT_FOUND");
  }
  async roleGrantPermission(): Promise<pb.AuthRoleGrantPermissionResponse> {
    throw FloeError.of("ROLE_NOT_FOUND");
  }
  async roleRevokePermission(): Promise<pb.AuthRoleRevokePermissionResponse> {
    throw FloeError.of("ROLE_NOT_FOUND");
  }
}
