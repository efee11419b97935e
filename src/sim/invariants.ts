// Raft's safety properties (Figure 3 of the paper), checked as the simulation
// runs: election safety, log matching, leader completeness, state machine
// safety, monotonic commit, and at most one vote per term.

import type { Entry, HardState, NodeId, Snapshot } from "../raft/index.ts";
import type { Observer } from "./types.ts";

const key = (e: Entry): string => `${e.term}:${e.type}:${Buffer.from(e.data).toString("base64")}`;

export class InvariantChecker implements Observer {
  readonly violations: string[] = [];
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** (index, term) -> entry content seen in any persisted log. */
  private readonly entryAt = new Map<string, string>();
  /** index -> term of entries known committed by some member. */
  private readonly committedTerm = new Map<number, number>();
  /**
   * index -> the highest leader term seen when the index was first known
   * committed: it was committed in that term or an earlier one, so leaders
   * of later terms must hold it (leader completeness is about entries
   * committed in earlier terms; a leader whose election finished late need
   * not hold what a newer term committed meanwhile).
   */
  private readonly committedBy = new Map<number, number>();
  private highestLeaderTerm = 0;
  private readonly appliedAt = new Map<number, string>();
  private readonly lastCommit = new Map<NodeId, number>();
  private readonly votes = new Map<string, NodeId>();
  private readonly lastApplied = new Map<NodeId, number>();

  constructor(private readonly describe: () => string) {}

  violation(what: string): void {
    if (this.violations.length < 20) this.violations.push(`${what} [${this.describe()}]`);
  }

  /** Election safety, then leader completeness: a new leader's log holds every committed entry it has not compacted. */
  leader(node: NodeId, term: number, termAt: (i: number) => number | undefined, firstIndex: number): void {
    const prev = this.leaderOfTerm.get(term);
    if (prev !== undefined && prev !== node)
      this.violation(`election safety: ${prev} and ${node} both leader in term ${term}`);
    this.leaderOfTerm.set(term, node);
    this.highestLeaderTerm = Math.max(this.highestLeaderTerm, term);
    for (const [index, t] of this.committedTerm) {
      if (index < firstIndex || (this.committedBy.get(index) ?? 0) >= term) continue;
      const mine = termAt(index);
      if (mine !== t) {
        this.violation(
          `leader completeness: leader ${node} of term ${term} has term ${mine} at committed index ${index} (term ${t})`,
        );
        return;
      }
    }
  }

  persisted(
    node: NodeId,
    hs: HardState | undefined,
    entries: readonly Entry[],
    _snapshot: Snapshot | undefined,
  ): void {
    if (hs && hs.vote !== 0) {
      const k = `${node}:${hs.term}`;
      const prev = this.votes.get(k);
      if (prev !== undefined && prev !== hs.vote)
        this.violation(`double vote: ${node} voted ${prev} and ${hs.vote} in term ${hs.term}`);
      this.votes.set(k, hs.vote);
    }
    for (const e of entries) {
      const k = `${e.index}:${e.term}`;
      const content = key(e);
      const prev = this.entryAt.get(k);
      if (prev !== undefined && prev !== content)
        this.violation(`log matching: two different entries at index ${e.index} term ${e.term}`);
      this.entryAt.set(k, content);
    }
  }

  committed(
    node: NodeId,
    commit: number,
    termAt: (i: number) => number | undefined,
    firstIndex: number,
  ): void {
    const prev = this.lastCommit.get(node) ?? 0;
    if (commit < prev) this.violation(`commit index of ${node} went back from ${prev} to ${commit}`);
    this.lastCommit.set(node, commit);
    for (let i = Math.max(prev + 1, firstIndex); i <= commit; i++) {
      const t = termAt(i);
      if (t === undefined) continue;
      const known = this.committedTerm.get(i);
      if (known !== undefined && known !== t)
        this.violation(`committed entry changed: index ${i} term ${known} vs ${t} on ${node}`);
      this.committedTerm.set(i, t);
      if (!this.committedBy.has(i)) this.committedBy.set(i, this.highestLeaderTerm);
    }
  }

  /** A member restarted: its in-memory indices start again from what is durable. */
  restarted(node: NodeId, commit: number, applied: number): void {
    this.lastCommit.set(node, commit);
    this.lastApplied.set(node, applied);
  }

  applied(node: NodeId, e: Entry): void {
    const prev = this.lastApplied.get(node) ?? 0;
    if (e.index <= prev) this.violation(`applied index of ${node} went back from ${prev} to ${e.index}`);
    this.lastApplied.set(node, e.index);
    const content = key(e);
    const other = this.appliedAt.get(e.index);
    if (other !== undefined && other !== content)
      this.violation(`state machine safety: different commands applied at index ${e.index}`);
    this.appliedAt.set(e.index, content);
  }
}
