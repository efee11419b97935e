// Options of the Raft core, with named limits and their defaults.

import type { Rand } from "./rand.ts";
import type { Storage } from "./storage.ts";
import type { NodeId } from "./types.ts";

export type ReadOnlyOption = "safe" | "lease-based";

/**
 * Deliberately broken behaviours, for proving that the simulator catches real
 * bugs. Never set in production; each names the rule of the paper it breaks.
 */
export interface RaftMutations {
  /**
   * Commit any index a majority matched, even from a previous term (breaks §5.4.2, Figure 8),
   * and, like the naive implementations that did this, append no empty entry on election.
   */
  commitPreviousTermByCount?: boolean;
  /** Grant votes without the up-to-date log check (breaks §5.4.1). */
  voteWithoutLogCheck?: boolean;
  /** A leader adopts a higher term it sees but stays leader (breaks "convert to follower", Figure 2). */
  leaderIgnoresHigherTerm?: boolean;
  /** Hand entries to the state machine before they are committed. */
  applyBeforeCommit?: boolean;
  /** A leader counts its own entries toward commit before they are durable (while it sends them early). */
  countUnpersistedOwnEntries?: boolean;
  /** A leader answers a ReadIndex at once, without a quorum confirming it still leads (breaks §6.4). */
  readIndexWithoutQuorum?: boolean;
  /** In a joint configuration, commit what a majority of the incoming voters hold alone (breaks §4.3). */
  jointCommitByIncomingOnly?: boolean;
  /** The leader lease runs from when a heartbeat's answer arrived, not from when the heartbeat was sent. */
  leaseFromReceipt?: boolean;
  /** A follower grants pre-votes while it still hears from a leader (a rejoining member can depose a healthy leader). */
  preVoteIgnoresLeader?: boolean;
}

export type RaftLogger = (event: string, fields: Record<string, unknown>) => void;

export interface RaftConfig {
  id: NodeId;
  storage: Storage;
  /** Seeded randomness for election timeouts. */
  rand: Rand;
  /** Ticks without hearing from a leader before a follower campaigns (randomized in [n, 2n)). */
  electionTicks?: number;
  /** Ticks between leader heartbeats. Must be < electionTicks. */
  heartbeatTicks?: number;
  /** Index already applied by the state machine on restart. */
  applied?: number;
  /** Maximum bytes of entries in one append message (at least one entry is always sent). */
  maxSizePerMsgBytes?: number;
  /** Maximum bytes of committed entries handed over in one Ready. */
  maxCommittedSizePerReadyBytes?: number;
  /** Maximum bytes of uncommitted entry payload a leader accepts; beyond it proposals are dropped. */
  maxUncommittedEntriesBytes?: number;
  /** Maximum append messages in flight to one follower in Replicate state. */
  maxInflightMsgs?: number;
  /** Maximum bytes of entries in flight to one follower (0 = only the count limit). */
  maxInflightBytes?: number;
  /** A leader steps down when it has not heard from a quorum within an election timeout. */
  checkQuorum?: boolean;
  /** Run a pre-vote round before incrementing the term (thesis §9.6). */
  preVote?: boolean;
  /** `lease-based` answers ReadIndex without a heartbeat round while the leader lease holds (needs checkQuorum). */
  readOnlyOption?: ReadOnlyOption;
  /** Ticks subtracted from the election timeout to bound the leader lease (covers clock-rate drift). */
  leaseSafetyMarginTicks?: number;
  /** Maximum ReadIndex requests pending on a leader. */
  maxPendingReadIndex?: number;
  disableProposalForwarding?: boolean;
  logger?: RaftLogger;
  mutations?: RaftMutations;
}

export type ResolvedConfig = Required<Omit<RaftConfig, "logger" | "mutations" | "applied">> &
  Pick<RaftConfig, "logger" | "applied"> & { mutations: RaftMutations };

export function resolveConfig(c: RaftConfig): ResolvedConfig {
  const r: ResolvedConfig = {
    electionTicks: 10,
    heartbeatTicks: 1,
    maxSizePerMsgBytes: 1024 * 1024,
    maxCommittedSizePerReadyBytes: 64 * 1024 * 1024,
    maxUncommittedEntriesBytes: 256 * 1024 * 1024,
    maxInflightMsgs: 256,
    maxInflightBytes: 0,
    checkQuorum: true,
    preVote: true,
    readOnlyOption: "safe",
    leaseSafetyMarginTicks: 1,
    maxPendingReadIndex: 65536,
    disableProposalForwarding: false,
    ...Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined)),
    id: c.id,
    storage: c.storage,
    rand: c.rand,
    mutations: c.mutations ?? {},
  } as ResolvedConfig;
  const bad = (why: string): never => {
    throw new RangeError(`invalid raft config: ${why}`);
  };
  if (!(r.id > 0)) bad(`id must be a positive number, got ${r.id}`);
  if (!(r.heartbeatTicks > 0)) bad(`heartbeatTicks must be > 0, got ${r.heartbeatTicks}`);
  if (!(r.electionTicks > r.heartbeatTicks)) {
    bad(`electionTicks (${r.electionTicks}) must be greater than heartbeatTicks (${r.heartbeatTicks})`);
  }
  if (!(r.maxInflightMsgs > 0)) bad(`maxInflightMsgs must be > 0, got ${r.maxInflightMsgs}`);
  if (r.readOnlyOption === "lease-based" && !r.checkQuorum) bad("lease-based reads need checkQuorum");
  if (r.leaseSafetyMarginTicks < 0 || r.leaseSafetyMarginTicks >= r.electionTicks) {
    bad(`leaseSafetyMarginTicks must be in [0, electionTicks), got ${r.leaseSafetyMarginTicks}`);
  }
  return r;
}
