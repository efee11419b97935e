// The Cluster API (MemberList / Add / Remove / Update / Promote) and
// MoveLeader on top of the member table. Membership changes are Raft
// configuration changes in the log (joint consensus when more than one voter
// changes); a request is answered once its entry has applied on this member.

import { randomBytes } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import * as pb from "../api/gen/etcdserverpb/rpc_pb.ts";
import { InternalRequestSchema } from "../api/gen/floe/raft_internal_pb.ts";
import { FloeError } from "../api/index.ts";
import { type ConfChange, ConfChangeType, ProgressState, StateRole } from "../raft/index.ts";
import type { KvApplyResult, MvccStateMachine } from "./kvstore.ts";
import { hexId, memberId64, raftIdOf } from "./member.ts";
import { type ConfChangeContext, externalIdOf, type MemberInfo, type MemberTable } from "./members.ts";
import { type RaftRuntime, RuntimeError } from "./runtime.ts";

export interface ClusterServiceOptions {
  selfId: number;
  clusterToken: string;
  electionTimeoutMs: number;
  requestTimeoutMs: number;
  /** Whether the peer connection to a member is up (its Raft activity flag resets every election timeout). */
  peerConnected?: (id: number) => boolean;
}

interface Pending {
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export function toPbMember(m: MemberInfo): pb.Member {
  return create(pb.MemberSchema, {
    ID: externalIdOf(m),
    name: m.name,
    peerURLs: m.peerUrls,
    clientURLs: m.clientUrls,
    isLearner: m.isLearner,
  });
}

function validUrls(urls: readonly string[]): boolean {
  if (urls.length === 0) return false;
  for (const u of urls) {
    try {
      const url = new URL(u);
      if ((url.protocol !== "http:" && url.protocol !== "https:") || !url.port) return false;
    } catch {
      return false;
    }
  }
  return true;
}

export class ClusterService {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly runtime: RaftRuntime<KvApplyResult>,
    private readonly sm: MvccStateMachine,
    private readonly o: ClusterServiceOptions,
  ) {}

  /** Called by the state machine after each member-table change. */
  onMembersChanged(_table: MemberTable, requestId?: string): void {
    if (!requestId) return;
    const p = this.pending.get(requestId);
    if (!p) return;
    this.pending.delete(requestId);
    clearTimeout(p.timer);
    p.resolve();
  }

  stop(): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(FloeError.of("STOPPED"));
    }
    this.pending.clear();
  }

  members(): MemberInfo[] {
    return this.sm.members().list();
  }

  /** The 64-bit id clients know the member with this raft id by. */
  externalId(id: number): bigint {
    return this.sm.members().externalId(id);
  }

  /** The raft id of the member a client names by its 64-bit id (undefined: no such member). */
  private raftIdFor(id64: bigint): number | undefined {
    return this.sm.members().byExternalId(id64)?.id;
  }

  private async changeConf(changes: ConfChange["changes"], member?: MemberInfo): Promise<void> {
    const requestId = randomBytes(8).toString("hex");
    const ctx: ConfChangeContext = { requestId, member };
    const applied = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(FloeError.of("TIMEOUT"));
      }, this.o.requestTimeoutMs);
      this.pending.set(requestId, { resolve, reject, timer });
    });
    try {
      this.runtime.proposeConfChange({ transition: "auto", changes, context: JSON.stringify(ctx) });
    } catch (e) {
      const p = this.pending.get(requestId);
      if (p) clearTimeout(p.timer);
      this.pending.delete(requestId);
      const msg = (e as Error).message;
      if (/no leader/.test(msg)) throw FloeError.of("NO_LEADER");
      // One configuration change at a time (Raft's rule): report it as etcd does.
      throw FloeError.of("UNHEALTHY", msg);
    }
    await applied;
  }

  private header(): pb.ResponseHeader {
    return create(pb.ResponseHeaderSchema, {
      memberId: this.externalId(this.o.selfId),
      raftTerm: BigInt(this.runtime.rn.term),
    });
  }

  async memberList(req: pb.MemberListRequest): Promise<pb.MemberListResponse> {
    if (req.linearizable) {
      try {
        await this.runtime.readBarrier();
      } catch (e) {
        throw e instanceof RuntimeError ? FloeError.of(e.code === "Timeout" ? "TIMEOUT" : "NO_LEADER") : e;
      }
    }
    return create(pb.MemberListResponseSchema, {
      header: this.header(),
      members: this.members().map(toPbMember),
    });
  }

  async memberAdd(req: pb.MemberAddRequest): Promise<pb.MemberAddResponse> {
    const urls = [...req.peerURLs];
    if (!validUrls(urls)) throw FloeError.of("MEMBER_BAD_URLS");
    const table = this.sm.members();
    if (table.byPeerUrl(urls)) throw FloeError.of("PEER_URL_EXIST");
    // etcd mixes the current time in, so a re-added member with the same URLs gets a new id.
    const id64 = memberId64(urls, this.o.clusterToken, Math.floor(Date.now() / 1000));
    const id = raftIdOf(id64);
    if (table.get(id) || table.isRemoved(id)) throw FloeError.of("MEMBER_EXIST");
    if (!req.isLearner) this.checkQuorumAfterAdd();
    const member: MemberInfo = {
      id,
      xid: hexId(id64),
      name: "",
      peerUrls: urls,
      clientUrls: [],
      isLearner: req.isLearner,
    };
    await this.changeConf(
      [{ type: req.isLearner ? ConfChangeType.AddLearner : ConfChangeType.AddNode, nodeId: id }],
      member,
    );
    return create(pb.MemberAddResponseSchema, {
      header: this.header(),
      member: toPbMember(member),
      members: this.members().map(toPbMember),
    });
  }

  /**
   * etcd's strict reconfiguration check: adding a voter must not leave the
   * cluster without a quorum of members this leader can currently reach.
   */
  private checkQuorumAfterAdd(): void {
    const st = this.runtime.rn.status();
    if (st.softState.role !== StateRole.Leader) return; // the leader checks; followers forward the change
    const voters = this.runtime.confStateNow().voters;
    let active = 0;
    for (const v of voters) {
      const pr = st.progress.get(v);
      if (v === this.o.selfId || pr?.recentActive || this.o.peerConnected?.(v)) active++;
    }
    const quorumAfter = Math.floor((voters.length + 1) / 2) + 1;
    // As etcd: a one-member cluster may always add its second member.
    if (voters.length === 1 && active === 1) return;
    if (active < quorumAfter) throw FloeError.of("MEMBER_NOT_ENOUGH_STARTED");
  }

  async memberRemove(req: pb.MemberRemoveRequest): Promise<pb.MemberRemoveResponse> {
    const id = this.raftIdFor(req.ID);
    if (id === undefined) throw FloeError.of("MEMBER_NOT_FOUND");
    await this.changeConf([{ type: ConfChangeType.RemoveNode, nodeId: id }]);
    return create(pb.MemberRemoveResponseSchema, {
      header: this.header(),
      members: this.members().map(toPbMember),
    });
  }

  async memberPromote(req: pb.MemberPromoteRequest): Promise<pb.MemberPromoteResponse> {
    const m = this.sm.members().byExternalId(req.ID);
    const id = m?.id ?? 0;
    if (!m) throw FloeError.of("MEMBER_NOT_FOUND");
    if (!m.isLearner) throw FloeError.of("MEMBER_NOT_LEARNER");
    const st = this.runtime.rn.status();
    if (st.softState.role === StateRole.Leader) {
      // etcd: a learner is ready when its match index is at least 90% of the leader's.
      const pr = st.progress.get(id);
      const leaderMatch = st.lastIndex;
      if (!pr || pr.state === ProgressState.Snapshot || pr.match < leaderMatch * 0.9) {
        throw FloeError.of("LEARNER_NOT_READY");
      }
    }
    await this.changeConf([{ type: ConfChangeType.AddNode, nodeId: id }]);
    return create(pb.MemberPromoteResponseSchema, {
      header: this.header(),
      members: this.members().map(toPbMember),
    });
  }

  async memberUpdate(req: pb.MemberUpdateRequest): Promise<pb.MemberUpdateResponse> {
    const urls = [...req.peerURLs];
    if (!validUrls(urls)) throw FloeError.of("MEMBER_BAD_URLS");
    const table = this.sm.members();
    const id = this.raftIdFor(req.ID);
    if (id === undefined) throw FloeError.of("MEMBER_NOT_FOUND");
    const other = table.byPeerUrl(urls);
    if (other && other.id !== id) throw FloeError.of("PEER_URL_EXIST");
    await this.proposeAttributes({ id, name: "", peerUrls: urls, clientUrls: [] });
    return create(pb.MemberUpdateResponseSchema, {
      header: this.header(),
      members: this.members().map(toPbMember),
    });
  }

  /** Proposes member attributes (etcd's publish of name and client URLs, or a peer URL update). */
  async proposeAttributes(a: {
    id: number;
    name: string;
    peerUrls: string[];
    clientUrls: string[];
  }): Promise<void> {
    const data = toBinary(
      InternalRequestSchema,
      create(InternalRequestSchema, {
        request: {
          case: "memberAttributes",
          value: { id: BigInt(a.id), name: a.name, peerUrls: a.peerUrls, clientUrls: a.clientUrls },
        },
      }),
    );
    const r = await this.runtime.propose(data);
    if (r.status === "failed") throw FloeError.of("MEMBER_NOT_FOUND");
  }

  /** Transfers leadership to `target` and resolves once it leads (or fails with etcd's errors). */
  async moveLeader(req: pb.MoveLeaderRequest): Promise<pb.MoveLeaderResponse> {
    const target = this.raftIdFor(req.targetID) ?? 0;
    const done = () => create(pb.MoveLeaderResponseSchema, { header: this.header() });
    if (!this.runtime.isLeader()) throw FloeError.of("NOT_LEADER");
    if (target === this.o.selfId) return done();
    const m = this.sm.members().get(target);
    if (!m || m.isLearner || !this.runtime.confStateNow().voters.includes(target)) {
      throw FloeError.of("BAD_LEADER_TRANSFEREE");
    }
    try {
      this.runtime.transferLeader(target);
    } catch (e) {
      throw FloeError.of("BAD_LEADER_TRANSFEREE", (e as Error).message);
    }
    const deadline = Date.now() + Math.max(this.o.requestTimeoutMs, 3 * this.o.electionTimeoutMs);
    while (Date.now() < deadline) {
      if (this.runtime.leader() === target) return done();
      await new Promise((r) => setTimeout(r, 10));
    }
    throw FloeError.of("LEADER_TRANSFER_TIMEOUT");
  }
}
