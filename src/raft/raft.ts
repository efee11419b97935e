// The Raft state machine (Ongaro & Ousterhout, Figure 2, plus the thesis'
// pre-vote, check-quorum, leadership transfer, ReadIndex and joint consensus).
// Pure: no clock, no I/O, no Math.random. Time arrives through tick(),
// messages through step(); output accumulates in `msgs` and `readStates`.
// Role-specific behaviour is selected by swapping the step and tick functions.

import {
  type ConfChangeResult,
  changeConfig,
  decodeConfChange,
  encodeConfChange,
  isLeaveJoint,
  restoreConfig,
} from "./confchange.ts";
import { type RaftConfig, type ResolvedConfig, resolveConfig } from "./config.ts";
import { assert, errProposalDropped, RaftError } from "./errors.ts";
import { RaftLog } from "./log.ts";
import { ProgressState } from "./progress.ts";
import { ReadOnly } from "./readonly.ts";
import { jointVote, majorityValue, ProgressTracker, type VoteResult } from "./tracker.ts";
import {
  type ConfChange,
  type ConfState,
  type Entry,
  EntryType,
  entrySize,
  type HardState,
  type Message,
  MessageType,
  NONE,
  type NodeId,
  newMessage,
  payloadSize,
  type ReadState,
  type Snapshot,
  StateRole,
  voteRespType,
} from "./types.ts";

export const CAMPAIGN_TRANSFER = "CampaignTransfer";

type CampaignKind = "pre" | "election" | "transfer";

export class Raft {
  readonly id: NodeId;
  readonly cfg: ResolvedConfig;
  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  role: StateRole = StateRole.Follower;
  isLearner = false;
  readonly raftLog: RaftLog;
  readonly trk: ProgressTracker;
  msgs: Message[] = [];
  readStates: ReadState[] = [];
  /** Target of a leadership transfer in progress. */
  leadTransferee: NodeId = NONE;
  /** Index of the latest conf change proposed; a new one waits until it is applied. */
  pendingConfIndex = 0;
  uncommittedSize = 0;
  readOnly: ReadOnly;
  private pendingReadIndexMessages: Message[] = [];
  electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  /** Logical clock: ticks since this node started (leader lease arithmetic). */
  private ticks = 0;
  /** After sending TimeoutNow the lease no longer protects reads for this term. */
  private leaseDisabled = false;
  /** The durable term found at start. */
  private readonly startTerm: number;
  private stepRole: (m: Message) => RaftError | undefined;
  private tickRole: () => void;

  constructor(config: RaftConfig) {
    this.cfg = resolveConfig(config);
    this.id = this.cfg.id;
    this.raftLog = new RaftLog(
      this.cfg.storage,
      this.cfg.maxCommittedSizePerReadyBytes,
      this.cfg.mutations.applyBeforeCommit,
    );
    this.trk = new ProgressTracker(this.cfg.maxInflightMsgs, this.cfg.maxInflightBytes);
    this.trk.commitByIncomingOnly = this.cfg.mutations.jointCommitByIncomingOnly === true;
    this.readOnly = new ReadOnly(this.cfg.maxPendingReadIndex);
    const { hardState, confState } = this.cfg.storage.initialState();
    this.applyConfigResult(restoreConfig(this.trk, confState, this.raftLog.lastIndex()));
    if (hardState.term !== 0 || hardState.vote !== NONE || hardState.commit !== 0) this.loadState(hardState);
    if (this.cfg.applied !== undefined && this.cfg.applied > 0) this.raftLog.appliedTo(this.cfg.applied);
    this.startTerm = this.term;
    this.stepRole = this.stepFollower;
    this.tickRole = this.tickElection;
    this.becomeFollower(this.term, NONE);
  }

  private log(event: string, fields: Record<string, unknown> = {}): void {
    this.cfg.logger?.(event, { member: this.id, term: this.term, ...fields });
  }

  private loadState(hs: HardState): void {
    assert(hs.commit >= this.raftLog.committed && hs.commit <= this.raftLog.lastIndex(), () => {
      return `hard state commit ${hs.commit} out of range [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`;
    });
    this.raftLog.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  // ---- sending ------------------------------------------------------------

  private send(m: Message): void {
    if (m.from === NONE) m.from = this.id;
    const t = m.type;
    if (
      t === MessageType.Vote ||
      t === MessageType.VoteResp ||
      t === MessageType.PreVote ||
      t === MessageType.PreVoteResp
    ) {
      assert(m.term !== 0, `term must be set when sending ${t}`);
    } else {
      assert(m.term === 0, () => `term must not be set when sending ${t} (was ${m.term})`);
      // Proposals and read requests forwarded to the leader are local to it: no term.
      if (t !== MessageType.Prop && t !== MessageType.ReadIndex) m.term = this.term;
    }
    this.msgs.push(m);
  }

  /** Sends an append (or a snapshot) to `to` if its progress allows. Returns whether a message was sent. */
  maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.raftLog.term(prevIndex);
    const ents =
      prevTerm === undefined ? undefined : this.raftLog.entries(pr.next, this.cfg.maxSizePerMsgBytes);
    if (prevTerm === undefined || ents === undefined) return this.maybeSendSnapshot(to);
    if (ents.length === 0 && !sendIfEmpty) return false;
    if (pr.state === ProgressState.Replicate && ents.length > 0) {
      const last = ents[ents.length - 1].index;
      pr.optimisticUpdate(last);
      pr.inflights.add(
        last,
        ents.reduce((s, e) => s + entrySize(e), 0),
      );
    } else if (pr.state === ProgressState.Probe) {
      pr.probeSent = true;
    }
    this.send(
      newMessage(MessageType.App, {
        to,
        index: prevIndex,
        logTerm: prevTerm,
        entries: ents,
        commit: this.raftLog.committed,
      }),
    );
    return true;
  }

  private maybeSendSnapshot(to: NodeId): boolean {
    const pr = this.trk.progress.get(to);
    if (!pr?.recentActive) return false;
    const snapshot = this.raftLog.snapshot();
    if (!snapshot) return false; // being produced; retried on the next heartbeat response
    assert(snapshot.metadata.index > 0, "need a non-empty snapshot to send");
    pr.becomeSnapshot(snapshot.metadata.index);
    this.log("send-snapshot", { to, index: snapshot.metadata.index });
    this.send(newMessage(MessageType.Snap, { to, snapshot }));
    return true;
  }

  sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  private sendHeartbeat(to: NodeId, context: string): void {
    const pr = this.trk.progress.get(to);
    // Never tell a follower to commit beyond what it is known to have.
    const commit = Math.min(pr?.match ?? 0, this.raftLog.committed);
    this.send(newMessage(MessageType.Heartbeat, { to, commit, context, index: this.ticks }));
  }

  bcastAppend(): void {
    for (const id of this.trk.ids()) if (id !== this.id) this.sendAppend(id);
  }

  private bcastHeartbeat(context: string): void {
    for (const id of this.trk.ids()) if (id !== this.id) this.sendHeartbeat(id, context);
  }

  // ---- role transitions ---------------------------------------------------

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.cfg.electionTicks + this.cfg.rand.int(this.cfg.electionTicks);
    this.leadTransferee = NONE;
    this.leaseDisabled = false;
    this.trk.resetVotes();
    const last = this.raftLog.lastIndex();
    for (const [id, old] of this.trk.progress) {
      const pr = this.trk.newProgress(last + 1, old.isLearner);
      // Only what is durable counts as the leader's own copy (see persisted()).
      if (id === this.id) pr.match = this.raftLog.lastStableIndex();
      this.trk.progress.set(id, pr);
    }
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.readOnly = new ReadOnly(this.cfg.maxPendingReadIndex);
    this.pendingReadIndexMessages = [];
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.stepRole = this.stepFollower;
    this.tickRole = this.tickElection;
    this.reset(term);
    this.lead = lead;
    this.role = StateRole.Follower;
    this.log("became-follower", { lead });
  }

  /**
   * The caller saw the leader go away (its connection closed, as when its
   * process dies): forget it, so this follower grants (pre-)votes at once
   * instead of ignoring them until an election timeout passes without
   * heartbeats. Safety does not depend on it (a live leader keeps the other
   * followers, and pre-vote keeps it in office); it only shortens failover.
   * Refused under lease-based reads, whose leases count on followers not
   * voting for an election timeout after a heartbeat. Returns whether the
   * leader was forgotten.
   */
  forgetLeader(): boolean {
    if (this.role !== StateRole.Follower || this.lead === NONE) return false;
    if (this.cfg.readOnlyOption === "lease-based") return false;
    this.log("forgot-leader", { lead: this.lead });
    this.lead = NONE;
    return true;
  }

  private becomePreCandidate(): void {
    assert(this.role !== StateRole.Leader, "invalid transition [leader -> pre-candidate]");
    // Pre-vote changes neither term nor vote: a node partitioned away cannot inflate terms.
    this.stepRole = this.stepCandidate;
    this.tickRole = this.tickElection;
    this.trk.resetVotes();
    this.lead = NONE;
    this.role = StateRole.PreCandidate;
    this.log("became-pre-candidate");
  }

  private becomeCandidate(): void {
    assert(this.role !== StateRole.Leader, "invalid transition [leader -> candidate]");
    this.stepRole = this.stepCandidate;
    this.tickRole = this.tickElection;
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = StateRole.Candidate;
    this.log("became-candidate");
  }

  private becomeLeader(): void {
    assert(this.role !== StateRole.Follower, "invalid transition [follower -> leader]");
    this.stepRole = this.stepLeader;
    this.tickRole = this.tickHeartbeat;
    this.reset(this.term);
    this.lead = this.id;
    this.role = StateRole.Leader;
    this.trk.progress.get(this.id)?.becomeReplicate();
    // Any conf change in the uncommitted tail may be pending: wait until it all commits.
    this.pendingConfIndex = this.raftLog.lastIndex();
    // The empty entry lets the current-term commit rule make progress at once. The naive
    // mutation counts replicas of old entries instead, and (as naive implementations did) has no need of it.
    if (!this.cfg.mutations.commitPreviousTermByCount) {
      const ok = this.appendEntry([{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array() }]);
      assert(ok, "empty entry was dropped");
    }
    this.log("became-leader", { lastIndex: this.raftLog.lastIndex() });
  }

  /** A node may campaign if it is a voter and is not waiting to install a snapshot. */
  promotable(): boolean {
    const pr = this.trk.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && !this.raftLog.hasPendingSnapshot();
  }

  private hasUnappliedConfChanges(): boolean {
    const lo = Math.max(this.raftLog.applied + 1, this.raftLog.firstIndex());
    const hi = this.raftLog.committed + 1;
    if (lo >= hi) return false;
    return this.raftLog.slice(lo, hi, Number.MAX_SAFE_INTEGER).some((e) => e.type === EntryType.ConfChange);
  }

  private hup(kind: CampaignKind): void {
    if (this.role === StateRole.Leader) return;
    if (!this.promotable()) return;
    // Campaigning with an unapplied conf change could elect us under the wrong configuration.
    if (this.hasUnappliedConfChanges()) {
      this.log("campaign-deferred", { reason: "unapplied conf change" });
      return;
    }
    this.campaign(kind);
  }

  private campaign(kind: CampaignKind): void {
    let voteType: MessageType;
    let term: number;
    if (kind === "pre") {
      this.becomePreCandidate();
      voteType = MessageType.PreVote;
      term = this.term + 1; // the term we would campaign in, not adopted yet
    } else {
      this.becomeCandidate();
      voteType = MessageType.Vote;
      term = this.term;
    }
    if (this.poll(this.id, true) === "won") {
      // A single-voter configuration wins at once.
      if (kind === "pre") this.campaign("election");
      else this.becomeLeader();
      return;
    }
    const index = this.raftLog.lastIndex();
    const logTerm = this.raftLog.lastTerm();
    const context = kind === "transfer" ? CAMPAIGN_TRANSFER : "";
    for (const id of this.trk.voterIds()) {
      if (id === this.id) continue;
      this.send(newMessage(voteType, { to: id, term, index, logTerm, context }));
    }
  }

  private poll(id: NodeId, granted: boolean): VoteResult {
    this.trk.recordVote(id, granted);
    return this.trk.tallyVotes().result;
  }

  // ---- step ---------------------------------------------------------------

  /** Feeds one message to the state machine. Returns an error value when a proposal or request is refused. */
  step(m: Message): RaftError | undefined {
    if (m.term === 0) {
      // local message
    } else if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = m.context === CAMPAIGN_TRANSFER;
        // With lease reads a restarted member also waits out one election timeout before voting:
        // it may have acknowledged a heartbeat that a leader's lease still counts on.
        // (A member whose durable term is still the bootstrap term never acknowledged any leader.)
        const justStarted =
          this.cfg.readOnlyOption === "lease-based" &&
          this.startTerm > 1 &&
          this.ticks < this.cfg.electionTicks;
        const inLease =
          this.cfg.checkQuorum &&
          (this.lead !== NONE || justStarted) &&
          this.electionElapsed < this.cfg.electionTicks;
        // We heard from a leader recently: a vote request is from a disruptive node; ignore it.
        const broken = m.type === MessageType.PreVote && this.cfg.mutations.preVoteIgnoresLeader;
        if (!force && inLease && !broken) return undefined;
      }
      if (m.type === MessageType.PreVote || (m.type === MessageType.PreVoteResp && !m.reject)) {
        // Pre-votes never change our term; a granted pre-vote is answered in the term the candidate will use.
      } else if (this.role === StateRole.Leader && this.cfg.mutations.leaderIgnoresHigherTerm) {
        this.term = m.term; // BROKEN on purpose: adopts the term but keeps leading
        this.vote = NONE;
      } else {
        const fromLeader =
          m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap;
        this.becomeFollower(m.term, fromLeader ? m.from : NONE);
      }
    } else if (m.term < this.term) {
      if (
        (this.cfg.checkQuorum || this.cfg.preVote) &&
        (m.type === MessageType.Heartbeat || m.type === MessageType.App)
      ) {
        // A stale leader (e.g. after a partition) learns our term from this and steps down.
        this.send(newMessage(MessageType.AppResp, { to: m.from }));
      } else if (m.type === MessageType.PreVote) {
        this.send(newMessage(MessageType.PreVoteResp, { to: m.from, term: this.term, reject: true }));
      }
      return undefined;
    }
    switch (m.type) {
      case MessageType.Hup:
        this.hup(this.cfg.preVote ? "pre" : "election");
        return undefined;
      case MessageType.Vote:
      case MessageType.PreVote:
        this.handleVoteRequest(m);
        return undefined;
      default:
        return this.stepRole(m);
    }
  }

  private handleVoteRequest(m: Message): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (m.type === MessageType.PreVote && m.term > this.term);
    const upToDate = this.cfg.mutations.voteWithoutLogCheck || this.raftLog.isUpToDate(m.index, m.logTerm);
    const respType = voteRespType(m.type);
    if (canVote && upToDate) {
      this.send(newMessage(respType, { to: m.from, term: m.term }));
      if (m.type === MessageType.Vote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send(newMessage(respType, { to: m.from, term: this.term, reject: true }));
    }
  }

  private stepFollower = (m: Message): RaftError | undefined => {
    switch (m.type) {
      case MessageType.Prop:
        if (this.lead === NONE) return errProposalDropped(`no leader at term ${this.term}`);
        if (this.cfg.disableProposalForwarding) return errProposalDropped("proposal forwarding is disabled");
        m.to = this.lead;
        this.send(m);
        return undefined;
      case MessageType.App:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return undefined;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return undefined;
      case MessageType.Snap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return undefined;
      case MessageType.TransferLeader:
        if (this.lead === NONE)
          return errProposalDropped(`no leader at term ${this.term}; cannot transfer leadership`);
        m.to = this.lead;
        this.send(m);
        return undefined;
      case MessageType.TimeoutNow:
        this.log("timeout-now", { from: m.from });
        this.hup("transfer");
        return undefined;
      case MessageType.ReadIndex:
        if (this.lead === NONE)
          return errProposalDropped(`no leader at term ${this.term}; cannot serve read index`);
        m.to = this.lead;
        this.send(m);
        return undefined;
      case MessageType.ReadIndexResp:
        this.readStates.push({ index: m.index, context: m.context });
        return undefined;
      default:
        return undefined;
    }
  };

  private stepCandidate = (m: Message): RaftError | undefined => {
    const myResp = this.role === StateRole.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.Prop:
        return errProposalDropped(`no leader at term ${this.term} (election in progress)`);
      case MessageType.ReadIndex:
        return errProposalDropped(`no leader at term ${this.term} (election in progress)`);
      case MessageType.TransferLeader:
        return errProposalDropped(`no leader at term ${this.term} (election in progress)`);
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return undefined;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return undefined;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return undefined;
      case myResp: {
        const res = this.poll(m.from, !m.reject);
        if (res === "won") {
          if (this.role === StateRole.PreCandidate) {
            this.campaign("election");
          } else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (res === "lost") {
          this.becomeFollower(this.term, NONE);
        }
        return undefined;
      }
      default:
        return undefined;
    }
  };

  private stepLeader = (m: Message): RaftError | undefined => {
    switch (m.type) {
      case MessageType.Beat:
        this.bcastHeartbeat(this.readOnly.lastPendingContext() ?? "");
        return undefined;
      case MessageType.CheckQuorum:
        if (!this.trk.quorumActive(this.id)) {
          this.log("check-quorum-failed", { reason: "no quorum heard from within an election timeout" });
          this.becomeFollower(this.term, NONE);
        }
        for (const [id, pr] of this.trk.progress) if (id !== this.id) pr.recentActive = false;
        return undefined;
      case MessageType.Prop:
        return this.handleProposal(m);
      case MessageType.ReadIndex:
        return this.handleReadIndex(m);
    }
    const pr = this.trk.progress.get(m.from);
    if (!pr) return undefined;
    switch (m.type) {
      case MessageType.AppResp:
        this.handleAppendResponse(m);
        return undefined;
      case MessageType.HeartbeatResp:
        this.handleHeartbeatResponse(m);
        return undefined;
      case MessageType.SnapStatus:
        if (pr.state !== ProgressState.Snapshot) return undefined;
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        // Wait for a heartbeat response before probing: the snapshot may still be applying.
        pr.probeSent = true;
        return undefined;
      case MessageType.Unreachable:
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        return undefined;
      case MessageType.TransferLeader:
        this.handleTransferLeader(m.from);
        return undefined;
      default:
        return undefined;
    }
  };

  // ---- leader handlers ------------------------------------------------------

  private handleProposal(m: Message): RaftError | undefined {
    assert(m.entries.length > 0, "proposal without entries");
    if (!this.trk.progress.has(this.id))
      return errProposalDropped("this member was removed from the cluster");
    if (this.leadTransferee !== NONE) {
      return errProposalDropped(`leadership transfer to ${this.leadTransferee} is in progress`);
    }
    for (let i = 0; i < m.entries.length; i++) {
      const e = m.entries[i];
      if (e.type !== EntryType.ConfChange) continue;
      const why = this.confChangeRefusal(decodeConfChange(e.data));
      if (why) return new RaftError("ConfChangeRefused", `configuration change refused: ${why}`);
      this.pendingConfIndex = this.raftLog.lastIndex() + i + 1;
    }
    if (!this.appendEntry(m.entries)) {
      return errProposalDropped(
        `too many uncommitted bytes (limit ${this.cfg.maxUncommittedEntriesBytes}); is a quorum reachable?`,
      );
    }
    this.bcastAppend();
    return undefined;
  }

  private confChangeRefusal(cc: ConfChange): string | undefined {
    if (this.pendingConfIndex > this.raftLog.applied) {
      return `a configuration change at index ${this.pendingConfIndex} is not applied yet (applied ${this.raftLog.applied})`;
    }
    const joint = this.trk.isJoint();
    if (joint && !isLeaveJoint(cc)) return "the configuration is joint; leave it first";
    if (!joint && isLeaveJoint(cc)) return "not in a joint configuration; nothing to leave";
    try {
      changeConfig(this.trk, cc, this.raftLog.lastIndex());
    } catch (e) {
      if (e instanceof RaftError) return e.message;
      throw e;
    }
    return undefined;
  }

  private handleReadIndex(m: Message): RaftError | undefined {
    if (this.trk.isSingleton()) {
      this.respondToReadIndex(m, this.raftLog.committed);
      return undefined;
    }
    // Until an entry of this term commits, the commit index may lag what earlier leaders committed.
    if (!this.committedEntryInCurrentTerm()) {
      if (this.pendingReadIndexMessages.length >= this.cfg.maxPendingReadIndex) {
        return errProposalDropped(`too many pending read index requests (${this.cfg.maxPendingReadIndex})`);
      }
      this.pendingReadIndexMessages.push(m);
      return undefined;
    }
    return this.sendReadIndexResponse(m);
  }

  private sendReadIndexResponse(m: Message): RaftError | undefined {
    if (this.cfg.mutations.readIndexWithoutQuorum) {
      this.respondToReadIndex(m, this.raftLog.committed); // BROKEN on purpose: no leadership check
      return undefined;
    }
    if (this.cfg.readOnlyOption === "lease-based" && this.leaseValid()) {
      this.respondToReadIndex(m, this.raftLog.committed);
      return undefined;
    }
    if (!this.readOnly.addRequest(this.raftLog.committed, m)) {
      return errProposalDropped(
        `read index request refused (duplicate context or more than ${this.readOnly.maxPending} pending)`,
      );
    }
    this.readOnly.recvAck(this.id, m.context);
    this.bcastHeartbeat(m.context);
    return undefined;
  }

  /**
   * The lease holds while no other leader can have been elected: a quorum
   * acknowledged a heartbeat sent at tick `t`, and each of those followers
   * refuses votes for an election timeout after receiving it.
   */
  leaseValid(): boolean {
    if (this.leaseDisabled || this.role !== StateRole.Leader || this.leadTransferee !== NONE) return false;
    const ackTick = (id: NodeId): number =>
      id === this.id ? this.ticks : (this.trk.progress.get(id)?.leaseAckTick ?? -1);
    const c = this.trk.config;
    const quorumTick = Math.min(majorityValue(c.incoming, ackTick), majorityValue(c.outgoing, ackTick));
    if (quorumTick < 0) return false;
    return this.ticks < quorumTick + this.cfg.electionTicks - this.cfg.leaseSafetyMarginTicks;
  }

  private respondToReadIndex(req: Message, index: number): void {
    if (req.from === NONE || req.from === this.id) {
      this.readStates.push({ index, context: req.context });
    } else {
      this.send(newMessage(MessageType.ReadIndexResp, { to: req.from, index, context: req.context }));
    }
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.raftLog.term(this.raftLog.committed) === this.term;
  }

  private releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const pending = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of pending) this.sendReadIndexResponse(m);
  }

  private handleAppendResponse(m: Message): void {
    const pr = this.trk.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    if (m.reject) {
      // Fast backtracking: jump to the last index of ours whose term is <= the follower's hint term.
      const hint =
        m.logTerm > 0 ? this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm).index : m.rejectHint;
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const oldPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index) && !(pr.state === ProgressState.Probe && pr.match === m.index)) return;
    if (pr.state === ProgressState.Probe) {
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.Snapshot && pr.match + 1 >= this.raftLog.firstIndex()) {
      // The follower caught up past our compaction point: replicate from the log again.
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.Replicate) {
      pr.inflights.freeLE(m.index);
    }
    if (this.maybeCommit()) {
      this.releasePendingReadIndexMessages();
      this.bcastAppend();
    } else if (oldPaused) {
      this.sendAppend(m.from);
    }
    // Fill the inflight window; bounded by maxInflightMsgs.
    while (this.maybeSendAppend(m.from, false)) {}
    if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) {
      this.log("transfer-leader-caught-up", { to: m.from });
      this.sendTimeoutNow(m.from);
    }
  }

  private handleHeartbeatResponse(m: Message): void {
    const pr = this.trk.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    pr.probeSent = false;
    // m.index echoes the tick the heartbeat was sent at: the lease runs from then.
    pr.leaseAckTick = this.cfg.mutations.leaseFromReceipt ? this.ticks : Math.max(pr.leaseAckTick, m.index);
    if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.raftLog.lastIndex()) this.sendAppend(m.from);
    if (m.context === "") return;
    const acks = this.readOnly.recvAck(m.from, m.context);
    if (!acks || jointVote(this.trk.config, acks) !== "won") return;
    for (const rs of this.readOnly.advance(m.context)) this.respondToReadIndex(rs.req, rs.index);
  }

  private handleTransferLeader(target: NodeId): void {
    const pr = this.trk.progress.get(target);
    if (!pr || pr.isLearner) {
      this.log("transfer-leader-ignored", { to: target, reason: "target is a learner or unknown" });
      return;
    }
    if (this.leadTransferee !== NONE) {
      if (this.leadTransferee === target) return;
      this.leadTransferee = NONE;
    }
    if (target === this.id) return;
    // The transfer must finish within an election timeout, or it is aborted.
    this.electionElapsed = 0;
    this.leadTransferee = target;
    this.log("transfer-leader", { to: target });
    if (pr.match === this.raftLog.lastIndex()) this.sendTimeoutNow(target);
    else this.sendAppend(target);
  }

  private sendTimeoutNow(to: NodeId): void {
    this.leaseDisabled = true;
    this.send(newMessage(MessageType.TimeoutNow, { to }));
  }

  /** Appends entries to the leader's log. Returns false when the uncommitted-bytes cap refuses them. */
  private appendEntry(es: readonly Entry[]): boolean {
    const li = this.raftLog.lastIndex();
    const ents = es.map((e, i) => ({ term: this.term, index: li + 1 + i, type: e.type, data: e.data }));
    const size = ents.reduce((s, e) => s + payloadSize(e), 0);
    if (
      this.uncommittedSize > 0 &&
      size > 0 &&
      this.uncommittedSize + size > this.cfg.maxUncommittedEntriesBytes
    ) {
      return false;
    }
    this.uncommittedSize += size;
    const last = this.raftLog.append(ents);
    // The leader's own copy counts toward commit only once it is durable:
    // persisted() acknowledges it after the caller's fsync (thesis §10.2.1,
    // which lets the caller send these entries while it writes them).
    if (this.cfg.mutations.countUnpersistedOwnEntries) {
      this.trk.progress.get(this.id)?.maybeUpdate(last); // BROKEN on purpose
      this.maybeCommit();
    }
    return true;
  }

  /**
   * The caller persisted the log up to `index` (whose entry has `term`). On a
   * leader this is its own acknowledgement: its match index moves, which may
   * commit entries a quorum of followers already hold.
   */
  persisted(index: number, term: number): void {
    if (this.role !== StateRole.Leader || this.raftLog.term(index) !== term) return;
    const pr = this.trk.progress.get(this.id);
    if (!pr?.maybeUpdate(index)) return;
    if (this.maybeCommit()) {
      this.releasePendingReadIndexMessages();
      this.bcastAppend();
    }
  }

  /** Advances the commit index to what the quorum matched, if that entry is from the current term. */
  private maybeCommit(): boolean {
    const mci = this.trk.committed();
    if (this.cfg.mutations.commitPreviousTermByCount) {
      if (mci > this.raftLog.committed && mci <= this.raftLog.lastIndex()) {
        this.raftLog.commitTo(mci); // BROKEN on purpose: ignores the entry's term
        return true;
      }
      return false;
    }
    return this.raftLog.maybeCommit(mci, this.term);
  }

  // ---- follower handlers ------------------------------------------------------

  private handleAppendEntries(m: Message): void {
    if (m.index < this.raftLog.committed) {
      this.send(newMessage(MessageType.AppResp, { to: m.from, index: this.raftLog.committed }));
      return;
    }
    const lastNew = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send(newMessage(MessageType.AppResp, { to: m.from, index: lastNew }));
      return;
    }
    const hint = this.raftLog.findConflictByTerm(Math.min(m.index, this.raftLog.lastIndex()), m.logTerm);
    this.send(
      newMessage(MessageType.AppResp, {
        to: m.from,
        index: m.index,
        reject: true,
        rejectHint: hint.index,
        logTerm: hint.term,
      }),
    );
  }

  private handleHeartbeat(m: Message): void {
    this.raftLog.commitTo(m.commit);
    this.send(newMessage(MessageType.HeartbeatResp, { to: m.from, context: m.context, index: m.index }));
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    assert(s !== undefined, "snapshot message without a snapshot");
    if (this.restore(s)) {
      this.log("restored-snapshot", { index: s.metadata.index, snapTerm: s.metadata.term });
      this.send(newMessage(MessageType.AppResp, { to: m.from, index: this.raftLog.lastIndex() }));
    } else {
      this.send(newMessage(MessageType.AppResp, { to: m.from, index: this.raftLog.committed }));
    }
  }

  private restore(s: Snapshot): boolean {
    const { index, term, confState } = s.metadata;
    if (index <= this.raftLog.committed) return false;
    if (this.role !== StateRole.Follower) {
      // Only a leader of a higher term sends snapshots; we should already be its follower.
      this.becomeFollower(this.term + 1, NONE);
      return false;
    }
    // A snapshot need not list us: a member added after it was taken learns of
    // itself from the conf-change entries that follow it in the log.
    if (this.raftLog.matchTerm(index, term)) {
      // We already have the snapshot's entry: fast-forward the commit index instead.
      this.raftLog.commitTo(index);
      return false;
    }
    this.raftLog.restore(s);
    this.trk.resetVotes();
    this.applyConfigResult(restoreConfig(this.trk, confState, this.raftLog.lastIndex()));
    return true;
  }

  // ---- configuration ------------------------------------------------------------

  private applyConfigResult(res: ConfChangeResult): void {
    this.trk.config = res.config;
    this.trk.progress = res.progress;
    const pr = this.trk.progress.get(this.id);
    this.isLearner = pr?.isLearner ?? false;
  }

  /** Applies a committed configuration change (the caller does this when it applies the entry). */
  applyConfChange(cc: ConfChange): ConfState {
    let res: ConfChangeResult;
    try {
      res = changeConfig(this.trk, cc, this.raftLog.lastIndex());
    } catch (e) {
      // Every member computes the same refusal from the same configuration: a deterministic no-op.
      if (e instanceof RaftError) {
        this.log("conf-change-ignored", { reason: e.message });
        return this.trk.confState();
      }
      throw e;
    }
    this.applyConfigResult(res);
    const cs = this.trk.confState();
    this.log("applied-conf-change", {
      voters: cs.voters,
      outgoing: cs.votersOutgoing,
      learners: cs.learners,
    });
    if (this.role !== StateRole.Leader) return cs;
    if (!this.trk.progress.has(this.id) || this.isLearner) {
      this.log("step-down", { reason: "removed from the configuration" });
      this.becomeFollower(this.term, NONE);
      return cs;
    }
    if (this.maybeCommit()) this.bcastAppend();
    else for (const id of this.trk.ids()) if (id !== this.id) this.maybeSendAppend(id, false);
    if (this.leadTransferee !== NONE && !this.trk.isVoter(this.leadTransferee)) this.leadTransferee = NONE;
    return cs;
  }

  /** Called once the caller applied entries up to `index`. */
  appliedTo(index: number, applied: readonly Entry[]): void {
    this.raftLog.appliedTo(index);
    this.uncommittedSize = Math.max(
      0,
      this.uncommittedSize - applied.reduce((s, e) => s + payloadSize(e), 0),
    );
    if (this.trk.config.autoLeave && index >= this.pendingConfIndex && this.role === StateRole.Leader) {
      const leave: ConfChange = { transition: "auto", changes: [] };
      const err = this.step(
        newMessage(MessageType.Prop, {
          from: this.id,
          entries: [{ term: 0, index: 0, type: EntryType.ConfChange, data: encodeConfChange(leave) }],
        }),
      );
      if (err) this.log("auto-leave-failed", { reason: err.message });
      else this.log("auto-leave-proposed", { index: this.raftLog.lastIndex() });
    }
  }

  // ---- ticks ----------------------------------------------------------------------

  tick(): void {
    this.ticks++;
    this.tickRole();
  }

  private tickElection = (): void => {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.step(newMessage(MessageType.Hup, { from: this.id }));
    }
  };

  private tickHeartbeat = (): void => {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) this.step(newMessage(MessageType.CheckQuorum, { from: this.id }));
      if (this.role === StateRole.Leader && this.leadTransferee !== NONE) {
        this.log("transfer-leader-aborted", {
          to: this.leadTransferee,
          reason: "not done within an election timeout",
        });
        this.leadTransferee = NONE;
      }
    }
    if (this.role !== StateRole.Leader) return;
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.step(newMessage(MessageType.Beat, { from: this.id }));
    }
  };
}
