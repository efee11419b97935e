// The protocol-neutral service layer: one function per unary etcd RPC, shared
// by the gRPC services and the JSON gateway. Each checks the request, applies
// the size limit to requests that go through Raft, calls the backend and
// fills the response header. Errors propagate as thrown (FloeError or bug).

import { create, type DescMessage, type MessageShape, toBinary } from "@bufbuild/protobuf";
import type { CallContext, EtcdBackend, HealthReport } from "./backend.ts";
import { FloeError } from "./errors.ts";
import {
  type AlarmRequest,
  AlarmRequest_AlarmAction,
  AlarmRequestSchema,
  type AlarmResponse,
  AlarmType,
  type CompactionRequest,
  CompactionRequestSchema,
  type CompactionResponse,
  type DefragmentRequest,
  type DefragmentResponse,
  type DeleteRangeRequest,
  DeleteRangeRequestSchema,
  type DeleteRangeResponse,
  type HashKVRequest,
  type HashKVResponse,
  type HashRequest,
  type HashResponse,
  type LeaseGrantRequest,
  LeaseGrantRequestSchema,
  type LeaseGrantResponse,
  type LeaseLeasesRequest,
  type LeaseLeasesResponse,
  type LeaseRevokeRequest,
  LeaseRevokeRequestSchema,
  type LeaseRevokeResponse,
  type LeaseTimeToLiveRequest,
  type LeaseTimeToLiveResponse,
  type MemberAddRequest,
  type MemberAddResponse,
  type MemberListRequest,
  type MemberListResponse,
  type MemberPromoteRequest,
  type MemberPromoteResponse,
  type MemberRemoveRequest,
  type MemberRemoveResponse,
  type MemberUpdateRequest,
  type MemberUpdateResponse,
  type MoveLeaderRequest,
  type MoveLeaderResponse,
  type PutRequest,
  PutRequestSchema,
  type PutResponse,
  type RangeRequest,
  type RangeResponse,
  type ResponseHeader,
  ResponseHeaderSchema,
  type StatusRequest,
  StatusRequestSchema,
  type StatusResponse,
  type TxnRequest,
  TxnRequestSchema,
  type TxnResponse,
} from "./gen/etcdserverpb/rpc_pb.ts";
import type { ApiLimits, EtcdVersions } from "./options.ts";
import { checkDeleteRange, checkPut, checkRange, checkTxn } from "./validate.ts";

type WithHeader = { header?: ResponseHeader };

export class Operations {
  constructor(
    readonly backend: EtcdBackend,
    readonly limits: ApiLimits,
    readonly versions: EtcdVersions,
  ) {}

  /** A fresh copy of the backend's current header. */
  header(): ResponseHeader {
    const h = this.backend.header();
    return create(ResponseHeaderSchema, {
      clusterId: h.clusterId,
      memberId: h.memberId,
      revision: h.revision,
      raftTerm: h.raftTerm,
    });
  }

  /** Sets the response's header, keeping any field the backend set (non-zero). */
  withHeader<T extends WithHeader>(resp: T): T {
    const h = resp.header;
    if (h === undefined) {
      resp.header = this.header();
      return resp;
    }
    if (h.clusterId !== 0n && h.memberId !== 0n && h.revision !== 0n && h.raftTerm !== 0n) return resp;
    // The backend's header is a fresh message: read, not kept.
    const base = this.backend.header();
    if (h.clusterId === 0n) h.clusterId = base.clusterId;
    if (h.memberId === 0n) h.memberId = base.memberId;
    if (h.revision === 0n) h.revision = base.revision;
    if (h.raftTerm === 0n) h.raftTerm = base.raftTerm;
    return resp;
  }

  /** etcd refuses a proposal whose encoding exceeds --max-request-bytes. */
  checkSize<D extends DescMessage>(schema: D, req: MessageShape<D>, ctx?: CallContext): void {
    const bytes = ctx?.requestBytes?.length ?? toBinary(schema, req).length;
    if (bytes > this.limits.maxRequestBytes) throw FloeError.of("REQUEST_TOO_LARGE");
  }

  // ---- KV ----

  range = async (req: RangeRequest, ctx: CallContext): Promise<RangeResponse> => {
    checkRange(req);
    return this.withHeader(await this.backend.range(req, ctx));
  };

  put = async (req: PutRequest, ctx: CallContext): Promise<PutResponse> => {
    checkPut(req);
    this.checkSize(PutRequestSchema, req, ctx);
    return this.withHeader(await this.backend.put(req, ctx));
  };

  deleteRange = async (req: DeleteRangeRequest, ctx: CallContext): Promise<DeleteRangeResponse> => {
    checkDeleteRange(req);
    this.checkSize(DeleteRangeRequestSchema, req, ctx);
    return this.withHeader(await this.backend.deleteRange(req, ctx));
  };

  txn = async (req: TxnRequest, ctx: CallContext): Promise<TxnResponse> => {
    checkTxn(req, this.limits.maxTxnOps);
    this.checkSize(TxnRequestSchema, req, ctx);
    return this.withHeader(await this.backend.txn(req, ctx));
  };

  compact = async (req: CompactionRequest, ctx: CallContext): Promise<CompactionResponse> => {
    this.checkSize(CompactionRequestSchema, req);
    return this.withHeader(await this.backend.compact(req, ctx));
  };

  // ---- Lease (LeaseKeepAlive is a stream: see streams.ts) ----

  leaseGrant = async (req: LeaseGrantRequest, ctx: CallContext): Promise<LeaseGrantResponse> => {
    this.checkSize(LeaseGrantRequestSchema, req);
    return this.withHeader(await this.backend.leaseGrant(req, ctx));
  };

  leaseRevoke = async (req: LeaseRevokeRequest, ctx: CallContext): Promise<LeaseRevokeResponse> => {
    this.checkSize(LeaseRevokeRequestSchema, req);
    return this.withHeader(await this.backend.leaseRevoke(req, ctx));
  };

  leaseTimeToLive = async (req: LeaseTimeToLiveRequest, ctx: CallContext): Promise<LeaseTimeToLiveResponse> =>
    this.withHeader(await this.backend.leaseTimeToLive(req, ctx));

  leaseLeases = async (req: LeaseLeasesRequest, ctx: CallContext): Promise<LeaseLeasesResponse> =>
    this.withHeader(await this.backend.leaseLeases(req, ctx));

  // ---- Cluster ----

  memberAdd = async (req: MemberAddRequest, ctx: CallContext): Promise<MemberAddResponse> =>
    this.withHeader(await this.backend.memberAdd(req, ctx));

  memberRemove = async (req: MemberRemoveRequest, ctx: CallContext): Promise<MemberRemoveResponse> =>
    this.withHeader(await this.backend.memberRemove(req, ctx));

  memberUpdate = async (req: MemberUpdateRequest, ctx: CallContext): Promise<MemberUpdateResponse> =>
    this.withHeader(await this.backend.memberUpdate(req, ctx));

  memberList = async (req: MemberListRequest, ctx: CallContext): Promise<MemberListResponse> =>
    this.withHeader(await this.backend.memberList(req, ctx));

  memberPromote = async (req: MemberPromoteRequest, ctx: CallContext): Promise<MemberPromoteResponse> =>
    this.withHeader(await this.backend.memberPromote(req, ctx));

  // ---- Maintenance (Snapshot is a stream: see streams.ts) ----

  status = async (req: StatusRequest, ctx: CallContext): Promise<StatusResponse> => {
    const resp = this.withHeader(await this.backend.status(req, ctx));
    if (resp.version === "") resp.version = this.versions.server;
    return resp;
  };

  hash = async (req: HashRequest, ctx: CallContext): Promise<HashResponse> =>
    this.withHeader(await this.backend.hash(req, ctx));

  hashKV = async (req: HashKVRequest, ctx: CallContext): Promise<HashKVResponse> =>
    this.withHeader(await this.backend.hashKV(req, ctx));

  defragment = async (req: DefragmentRequest, ctx: CallContext): Promise<DefragmentResponse> =>
    this.withHeader(await this.backend.defragment(req, ctx));

  alarm = async (req: AlarmRequest, ctx: CallContext): Promise<AlarmResponse> =>
    this.withHeader(await this.backend.alarm(req, ctx));

  moveLeader = async (req: MoveLeaderRequest, ctx: CallContext): Promise<MoveLeaderResponse> =>
    this.withHeader(await this.backend.moveLeader(req, ctx));

  /** What /health reports: the backend's own check, or leader and alarms from status/alarm. */
  health = async (ctx: CallContext): Promise<HealthReport> => {
    try {
      if (this.backend.health !== undefined) return await this.backend.health(ctx);
      const alarms = await this.backend.alarm(
        create(AlarmRequestSchema, { action: AlarmRequest_AlarmAction.GET }),
        ctx,
      );
      const active = alarms.alarms.find((a) => a.alarm !== AlarmType.NONE);
      if (active !== undefined) return { healthy: false, reason: `ALARM ${AlarmType[active.alarm]}` };
      const status = await this.backend.status(create(StatusRequestSchema), ctx);
      if (status.leader === 0n) return { healthy: false, reason: "RAFT NO LEADER" };
      return { healthy: true, reason: "" };
    } catch (e) {
      return { healthy: false, reason: e instanceof Error ? e.message : String(e) };
    }
  };
}
