// The leader's view of the cluster: the (possibly joint) voter configuration,
// per-member progress, votes, and the quorum arithmetic over them.

import { Inflights, Progress } from "./progress.ts";
import type { ConfState, NodeId } from "./types.ts";

export type VoteResult = "pending" | "lost" | "won";

export interface TrackerConfig {
  incoming: Set<NodeId>;
  /** Non-empty only while in a joint configuration. */
  outgoing: Set<NodeId>;
  learners: Set<NodeId>;
  learnersNext: Set<NodeId>;
  autoLeave: boolean;
}

export function emptyConfig(): TrackerConfig {
  return {
    incoming: new Set(),
    outgoing: new Set(),
    learners: new Set(),
    learnersNext: new Set(),
    autoLeave: false,
  };
}

export function cloneConfig(c: TrackerConfig): TrackerConfig {
  return {
    incoming: new Set(c.incoming),
    outgoing: new Set(c.outgoing),
    learners: new Set(c.learners),
    learnersNext: new Set(c.learnersNext),
    autoLeave: c.autoLeave,
  };
}

const sorted = (s: Iterable<NodeId>): NodeId[] => [...s].sort((a, b) => a - b);

/** Reused by majorityValue: it runs on every append response, so it allocates nothing. */
const scratch: number[] = [];

/**
 * The largest value that a majority of `ids` have reached (the median of
 * their values, sorted high to low); +Infinity for an empty set, so the
 * minimum over a joint configuration's halves works.
 */
export function majorityValue(ids: ReadonlySet<NodeId>, value: (id: NodeId) => number): number {
  if (ids.size === 0) return Number.POSITIVE_INFINITY;
  let n = 0;
  for (const id of ids) {
    // Insertion sort, descending: voter sets are small.
    const v = value(id);
    let i = n++;
    while (i > 0 && scratch[i - 1] < v) {
      scratch[i] = scratch[i - 1];
      i--;
    }
    scratch[i] = v;
  }
  return scratch[Math.floor(n / 2)];
}

function majorityVote(ids: Set<NodeId>, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (ids.size === 0) return "won";
  let yes = 0;
  let missing = 0;
  for (const id of ids) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) yes++;
  }
  const quorum = Math.floor(ids.size / 2) + 1;
  if (yes >= quorum) return "won";
  if (yes + missing >= quorum) return "pending";
  return "lost";
}

export function jointVote(cfg: TrackerConfig, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const a = majorityVote(cfg.incoming, votes);
  const b = majorityVote(cfg.outgoing, votes);
  if (a === b) return a;
  if (a === "lost" || b === "lost") return "lost";
  return "pending";
}

export class ProgressTracker {
  config: TrackerConfig = emptyConfig();
  progress = new Map<NodeId, Progress>();
  votes = new Map<NodeId, boolean>();
  /** Mutation (simulator only): a joint configuration commits by its incoming majority alone. */
  commitByIncomingOnly = false;

  constructor(
    readonly maxInflightMsgs: number,
    readonly maxInflightBytes: number,
  ) {}

  newProgress(next: number, isLearner: boolean): Progress {
    return new Progress(next, new Inflights(this.maxInflightMsgs, this.maxInflightBytes), isLearner);
  }

  isJoint(): boolean {
    return this.config.outgoing.size > 0;
  }

  isSingleton(): boolean {
    return this.config.incoming.size === 1 && this.config.outgoing.size === 0;
  }

  isVoter(id: NodeId): boolean {
    return this.config.incoming.has(id) || this.config.outgoing.has(id);
  }

  /** Voters of both halves of the configuration, in id order (deterministic iteration). */
  voterIds(): NodeId[] {
    return sorted(new Set([...this.config.incoming, ...this.config.outgoing]));
  }

  /**
   * Every member with progress, in id order. The array is shared until the
   * set of members changes: read it, don't keep or modify it.
   */
  ids(): readonly NodeId[] {
    const c = this.idsCache;
    if (c !== undefined && c.of === this.progress && c.ids.length === this.progress.size) {
      let same = true;
      for (const id of c.ids) if (!this.progress.has(id)) same = false;
      if (same) return c.ids;
    }
    const ids = sorted(this.progress.keys());
    this.idsCache = { of: this.progress, ids };
    return ids;
  }
  private idsCache: { of: Map<NodeId, Progress>; ids: NodeId[] } | undefined;

  private readonly matchOf = (id: NodeId): number => this.progress.get(id)?.match ?? 0;

  /** The index committed by the configuration's quorum(s). */
  committed(): number {
    const matchOf = this.matchOf;
    if (this.commitByIncomingOnly) return majorityValue(this.config.incoming, matchOf);
    return Math.min(
      majorityValue(this.config.incoming, matchOf),
      majorityValue(this.config.outgoing, matchOf),
    );
  }

  /** Whether a quorum was recently active (check-quorum); `self` always counts. */
  quorumActive(self: NodeId): boolean {
    const votes = new Map<NodeId, boolean>();
    for (const [id, pr] of this.progress) {
      if (!pr.isLearner) votes.set(id, id === self || pr.recentActive);
    }
    return jointVote(this.config, votes) === "won";
  }

  resetVotes(): void {
    this.votes = new Map();
  }

  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue;
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    return { granted, rejected, result: jointVote(this.config, this.votes) };
  }

  confState(): ConfState {
    return {
      voters: sorted(this.config.incoming),
      votersOutgoing: sorted(this.config.outgoing),
      learners: sorted(this.config.learners),
      learnersNext: sorted(this.config.learnersNext),
      autoLeave: this.config.autoLeave,
    };
  }
}
