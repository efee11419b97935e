// Shared types of the Raft core: entries, messages, hard state, snapshots,
// membership configuration, and the Ready value handed to the caller.

/** A Raft node id. 0 means "none". */
export type NodeId = number;
export const NONE: NodeId = 0;

export enum EntryType {
  Normal = 0,
  ConfChange = 1,
}

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: NONE, commit: 0 };

/** Membership as stored in snapshots and reported after a configuration change. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  /** Voters of the outgoing configuration while joint; empty otherwise. */
  readonly votersOutgoing: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /** Learners that become learners when the joint configuration is left (demoted voters). */
  readonly learnersNext: readonly NodeId[];
  /** Whether the leader proposes leaving the joint configuration on its own once it applies. */
  readonly autoLeave: boolean;
}

export interface SnapshotMetadata {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  readonly data: Uint8Array;
}

export enum ConfChangeType {
  AddNode = 0,
  RemoveNode = 1,
  AddLearner = 2,
}

/**
 * How a multi-change configuration change is carried out. `auto` uses joint
 * consensus when more than one voter changes and leaves it automatically;
 * `explicit` enters joint consensus and waits for an empty change to leave.
 */
export type ConfChangeTransition = "auto" | "implicit" | "explicit";

export interface ConfChangeSingle {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
}

/** A configuration change. An empty `changes` list means "leave the joint configuration". */
export interface ConfChange {
  readonly transition: ConfChangeTransition;
  readonly changes: readonly ConfChangeSingle[];
  /** Opaque to Raft (e.g. the member's URLs). */
  readonly context?: string;
}

export enum MessageType {
  Hup = "Hup",
  Beat = "Beat",
  Prop = "Prop",
  App = "App",
  AppResp = "AppResp",
  Vote = "Vote",
  VoteResp = "VoteResp",
  PreVote = "PreVote",
  PreVoteResp = "PreVoteResp",
  Snap = "Snap",
  Heartbeat = "Heartbeat",
  HeartbeatResp = "HeartbeatResp",
  Unreachable = "Unreachable",
  SnapStatus = "SnapStatus",
  CheckQuorum = "CheckQuorum",
  TransferLeader = "TransferLeader",
  TimeoutNow = "TimeoutNow",
  ReadIndex = "ReadIndex",
  ReadIndexResp = "ReadIndexResp",
}

/**
 * One Raft message. A flat shape (as etcd's raftpb.Message) keeps the
 * transport encoding trivial; fields a type does not use are 0 / empty.
 */
export interface Message {
  type: MessageType;
  to: NodeId;
  from: NodeId;
  term: number;
  /** App: term of the entry before `entries`. Vote: candidate's last term. AppResp reject: hint term. */
  logTerm: number;
  /** App: index before `entries`. Vote: candidate's last index. AppResp: matched or rejected index. */
  index: number;
  entries: Entry[];
  commit: number;
  snapshot?: Snapshot;
  reject: boolean;
  /** AppResp reject: hint index (the follower's candidate for a match). */
  rejectHint: number;
  /** ReadIndex request id, heartbeat read context, or the campaign-transfer marker. */
  context: string;
}

export enum StateRole {
  Follower = "Follower",
  PreCandidate = "PreCandidate",
  Candidate = "Candidate",
  Leader = "Leader",
}

export interface SoftState {
  readonly lead: NodeId;
  readonly role: StateRole;
}

/** The answer to a ReadIndex request: once `index` is applied, a read with `context` is linearizable. */
export interface ReadState {
  readonly index: number;
  readonly context: string;
}

/**
 * Work the caller must do, in this order:
 * 1. persist `hardState`, `entries` and `snapshot` durably (one fsync);
 * 2. send `messages` (only after step 1: they may acknowledge what was
 *    persisted) — unless `sendBeforePersist`, when they may leave before or
 *    during step 1;
 * 3. install `snapshot` into the state machine, then apply `committedEntries`;
 * 4. call `advance(ready)`, which also tells a leader that its own entries
 *    are durable (only then do they count toward commit).
 */
export interface Ready {
  readonly softState?: SoftState;
  readonly hardState?: HardState;
  readonly readStates: readonly ReadState[];
  readonly entries: readonly Entry[];
  readonly snapshot?: Snapshot;
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  /** Whether this Ready's writes must be fsync'd: false when only the commit index changed. */
  readonly mustSync: boolean;
  /**
   * The messages acknowledge nothing this Ready persists, so they may be sent
   * while it is written (Raft thesis §10.2.1): a leader's appends and
   * heartbeats, its term and vote already durable. The leader's entries count
   * toward commit only after advance(), so a quorum is still a quorum of disks.
   */
  readonly sendBeforePersist: boolean;
}

export function isLocalMessage(t: MessageType): boolean {
  return (
    t === MessageType.Hup ||
    t === MessageType.Beat ||
    t === MessageType.Unreachable ||
    t === MessageType.SnapStatus ||
    t === MessageType.CheckQuorum
  );
}

export function isResponseMessage(t: MessageType): boolean {
  return (
    t === MessageType.AppResp ||
    t === MessageType.VoteResp ||
    t === MessageType.HeartbeatResp ||
    t === MessageType.Unreachable ||
    t === MessageType.PreVoteResp
  );
}

export function voteRespType(t: MessageType): MessageType {
  if (t === MessageType.Vote) return MessageType.VoteResp;
  if (t === MessageType.PreVote) return MessageType.PreVoteResp;
  throw new Error(`not a vote message: ${t}`);
}

export function newMessage(type: MessageType, fields: Partial<Message> = {}): Message {
  return {
    type,
    to: NONE,
    from: NONE,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: "",
    ...fields,
  };
}

export function entrySize(e: Entry): number {
  // A fixed overhead keeps empty entries from looking free to the size limits.
  return e.data.length + 16;
}

export function payloadSize(e: Entry): number {
  return e.data.length;
}
