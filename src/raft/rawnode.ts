// RawNode: the caller-facing API of the core (etcd-io/raft's RawNode shape).
// The caller drives it: tick() on a timer, step() for each peer message,
// propose() for client writes; then ready() / persist / send / apply / advance().

import { encodeConfChange } from "./confchange.ts";
import type { RaftConfig } from "./config.ts";
import { RaftError } from "./errors.ts";
import type { ProgressState } from "./progress.ts";
import { Raft } from "./raft.ts";
import {
  type ConfChange,
  type ConfState,
  EntryType,
  type HardState,
  isLocalMessage,
  isResponseMessage,
  type Message,
  MessageType,
  type NodeId,
  newMessage,
  type Ready,
  type SoftState,
  StateRole,
} from "./types.ts";

export interface ProgressStatus {
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly isLearner: boolean;
  readonly recentActive: boolean;
}

export interface Status {
  readonly id: NodeId;
  readonly hardState: HardState;
  readonly softState: SoftState;
  readonly applied: number;
  readonly lastIndex: number;
  readonly leadTransferee: NodeId;
  readonly config: ConfState;
  /** Followers' progress, on the leader only. */
  readonly progress: ReadonlyMap<NodeId, ProgressStatus>;
}

const sameHardState = (a: HardState, b: HardState): boolean =>
  a.term === b.term && a.vote === b.vote && a.commit === b.commit;

export class RawNode {
  private readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.prevSoft = this.softState();
    this.prevHard = this.raft.hardState();
  }

  // ---- a read-only view of the core, for hosts and checkers ----

  get id(): NodeId {
    return this.raft.id;
  }
  get term(): number {
    return this.raft.term;
  }
  get lead(): NodeId {
    return this.raft.lead;
  }
  get role(): StateRole {
    return this.raft.role;
  }
  /** Highest index known to be committed here. */
  get committed(): number {
    return this.raft.raftLog.committed;
  }
  /** First index still in the log (after the last compaction). */
  firstIndex(): number {
    return this.raft.raftLog.firstIndex();
  }
  /** Term of entry `index`, undefined when it is compacted away or beyond the log. */
  logTerm(index: number): number | undefined {
    return this.raft.raftLog.term(index);
  }
  get maxSizePerMsgBytes(): number {
    return this.raft.cfg.maxSizePerMsgBytes;
  }
  confState(): ConfState {
    return this.raft.trk.confState();
  }
  /** Voters of both halves of the configuration, in id order. */
  voterIds(): NodeId[] {
    return this.raft.trk.voterIds();
  }

  private softState(): SoftState {
    return { lead: this.raft.lead, role: this.raft.role };
  }

  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (tests and bootstrap of a single member). */
  campaign(): RaftError | undefined {
    return this.raft.step(newMessage(MessageType.Hup, { from: this.raft.id }));
  }

  propose(data: Uint8Array): RaftError | undefined {
    return this.raft.step(
      newMessage(MessageType.Prop, {
        from: this.raft.id,
        entries: [{ term: 0, index: 0, type: EntryType.Normal, data }],
      }),
    );
  }

  /** Proposes several entries as one batch: one append, one message per follower. */
  proposeBatch(datas: readonly Uint8Array[]): RaftError | undefined {
    if (datas.length === 0) return undefined;
    return this.raft.step(
      newMessage(MessageType.Prop, {
        from: this.raft.id,
        entries: datas.map((data) => ({ term: 0, index: 0, type: EntryType.Normal, data })),
      }),
    );
  }

  proposeConfChange(cc: ConfChange): RaftError | undefined {
    const data = encodeConfChange(cc);
    return this.raft.step(
      newMessage(MessageType.Prop, {
        from: this.raft.id,
        entries: [{ term: 0, index: 0, type: EntryType.ConfChange, data }],
      }),
    );
  }

  /** Applies a committed conf-change entry; call it when applying the entry, in log order. */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  /** Delivers a message from a peer. */
  step(m: Message): RaftError | undefined {
    if (isLocalMessage(m.type))
      return new RaftError("StepLocalMsg", `cannot step local message type ${m.type}`);
    if (isResponseMessage(m.type) && !this.raft.trk.progress.has(m.from)) {
      return new RaftError("StepPeerNotFound", `response ${m.type} from unknown member ${m.from}`);
    }
    return this.raft.step(m);
  }

  transferLeader(target: NodeId): RaftError | undefined {
    return this.raft.step(newMessage(MessageType.TransferLeader, { from: target }));
  }

  /**
   * Requests a read index. The answer arrives as a ReadState with the same
   * context in a later Ready; read once the state machine applied its index.
   */
  readIndex(context: string): RaftError | undefined {
    return this.raft.step(newMessage(MessageType.ReadIndex, { context }));
  }

  /** See Raft.forgetLeader: the leader's connection closed; returns whether it was forgotten. */
  forgetLeader(): boolean {
    return this.raft.forgetLeader();
  }

  reportUnreachable(id: NodeId): void {
    this.raft.step(newMessage(MessageType.Unreachable, { from: id }));
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.step(newMessage(MessageType.SnapStatus, { from: id, reject: !ok }));
  }

  hasReady(): boolean {
    const r = this.raft;
    const soft = this.softState();
    return (
      soft.lead !== this.prevSoft.lead ||
      soft.role !== this.prevSoft.role ||
      !sameHardState(r.hardState(), this.prevHard) ||
      r.raftLog.unstableEntries().length > 0 ||
      r.raftLog.hasPendingSnapshot() ||
      r.msgs.length > 0 ||
      r.readStates.length > 0 ||
      r.raftLog.hasNextCommittedEntries()
    );
  }

  /** Collects the work to do. Call advance(ready) before the next ready(). */
  ready(): Ready {
    const r = this.raft;
    const soft = this.softState();
    const hard = r.hardState();
    const softChanged = soft.lead !== this.prevSoft.lead || soft.role !== this.prevSoft.role;
    const hardChanged = !sameHardState(hard, this.prevHard);
    const termOrVoteChanged = hard.term !== this.prevHard.term || hard.vote !== this.prevHard.vote;
    const entries = [...r.raftLog.unstableEntries()];
    const snapshot = r.raftLog.pendingSnapshot();
    const rd: Ready = {
      softState: softChanged ? soft : undefined,
      hardState: hardChanged ? hard : undefined,
      readStates: r.readStates,
      entries,
      snapshot,
      committedEntries: r.raftLog.nextCommittedEntries(),
      messages: r.msgs,
      mustSync: entries.length > 0 || termOrVoteChanged || snapshot !== undefined,
      sendBeforePersist: r.role === StateRole.Leader && !termOrVoteChanged,
    };
    r.msgs = [];
    r.readStates = [];
    if (softChanged) this.prevSoft = soft;
    return rd;
  }

  /** Confirms that the Ready was persisted, sent and applied. */
  advance(rd: Ready): void {
    const r = this.raft;
    if (rd.hardState) this.prevHard = rd.hardState;
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      if (r.raftLog.stableTo(last.index, last.term)) r.persisted(last.index, last.term);
    }
    if (rd.snapshot) {
      r.raftLog.stableSnapTo(rd.snapshot.metadata.index);
      r.raftLog.appliedTo(rd.snapshot.metadata.index);
    }
    if (rd.committedEntries.length > 0) {
      r.appliedTo(rd.committedEntries[rd.committedEntries.length - 1].index, rd.committedEntries);
    }
  }

  status(): Status {
    const r = this.raft;
    const progress = new Map<NodeId, ProgressStatus>();
    if (r.role === StateRole.Leader) {
      for (const [id, pr] of r.trk.progress) {
        progress.set(id, {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          isLearner: pr.isLearner,
          recentActive: pr.recentActive,
        });
      }
    }
    return {
      id: r.id,
      hardState: r.hardState(),
      softState: this.softState(),
      applied: r.raftLog.applied,
      lastIndex: r.raftLog.lastIndex(),
      leadTransferee: r.leadTransferee,
      config: r.trk.confState(),
      progress,
    };
  }
}

/** The core behind a RawNode, for the core's own white-box tests only (index.ts does not export it). */
export function coreOf(rn: RawNode): Raft {
  // biome-ignore lint/complexity/useLiteralKeys: the field is private to all but the core's own tests
  return rn["raft"];
}
