// Membership changes: computes the configuration and progress map that result
// from a ConfChange, validating it first. Joint consensus (Raft thesis §4.3)
// moves from C_old to C_old,new to C_new; a single-voter change may skip it.

import { RaftError } from "./errors.ts";
import type { Progress } from "./progress.ts";
import { cloneConfig, type ProgressTracker, type TrackerConfig } from "./tracker.ts";
import {
  type ConfChange,
  type ConfChangeSingle,
  ConfChangeType,
  type ConfState,
  type NodeId,
} from "./types.ts";

export interface ConfChangeResult {
  config: TrackerConfig;
  progress: Map<NodeId, Progress>;
}

const refuse = (why: string): RaftError =>
  new RaftError("ConfChangeRefused", `configuration change refused: ${why}`);

/** Whether the change enters a joint configuration (and whether it leaves on its own). */
export function enterJointMode(cc: ConfChange): { joint: boolean; autoLeave: boolean } {
  const joint = cc.transition !== "auto" || cc.changes.length > 1;
  return { joint, autoLeave: joint && cc.transition !== "explicit" };
}

export function isLeaveJoint(cc: ConfChange): boolean {
  return cc.changes.length === 0;
}

class Changer {
  readonly cfg: TrackerConfig;
  readonly prs: Map<NodeId, Progress>;

  constructor(
    private readonly trk: ProgressTracker,
    private readonly lastIndex: number,
  ) {
    this.cfg = cloneConfig(trk.config);
    this.prs = new Map();
    for (const [id, pr] of trk.progress) {
      this.prs.set(id, Object.assign(Object.create(Object.getPrototypeOf(pr)), pr) as Progress);
    }
  }

  apply(changes: readonly ConfChangeSingle[]): void {
    for (const c of changes) {
      if (c.nodeId === 0) continue;
      switch (c.type) {
        case ConfChangeType.AddNode:
          this.makeVoter(c.nodeId);
          break;
        case ConfChangeType.AddLearner:
          this.makeLearner(c.nodeId);
          break;
        case ConfChangeType.RemoveNode:
          this.remove(c.nodeId);
          break;
      }
    }
    if (this.cfg.incoming.size === 0) throw refuse("it removes all voters");
  }

  private initProgress(id: NodeId, isLearner: boolean): void {
    const pr = this.trk.newProgress(Math.max(this.lastIndex, 1), isLearner);
    // A new member counts as active so check-quorum does not fire before it had a chance to respond.
    pr.recentActive = true;
    this.prs.set(id, pr);
  }

  private makeVoter(id: NodeId): void {
    const pr = this.prs.get(id);
    if (!pr) {
      this.initProgress(id, false);
    } else {
      pr.isLearner = false;
      this.cfg.learners.delete(id);
      this.cfg.learnersNext.delete(id);
    }
    this.cfg.incoming.add(id);
  }

  private makeLearner(id: NodeId): void {
    const pr = this.prs.get(id);
    if (!pr) {
      this.initProgress(id, true);
      this.cfg.learners.add(id);
      return;
    }
    if (pr.isLearner) return;
    this.remove(id);
    this.prs.set(id, pr);
    // A voter of the outgoing half becomes a learner only when the joint configuration is left.
    if (this.cfg.outgoing.has(id)) {
      this.cfg.learnersNext.add(id);
    } else {
      pr.isLearner = true;
      this.cfg.learners.add(id);
    }
  }

  private remove(id: NodeId): void {
    if (!this.prs.has(id)) return;
    this.cfg.incoming.delete(id);
    this.cfg.learners.delete(id);
    this.cfg.learnersNext.delete(id);
    if (!this.cfg.outgoing.has(id)) this.prs.delete(id);
  }

  result(): ConfChangeResult {
    for (const id of this.cfg.learners) {
      if (this.cfg.incoming.has(id) || this.cfg.outgoing.has(id))
        throw refuse(`${id} is both voter and learner`);
    }
    return { config: this.cfg, progress: this.prs };
  }
}

/** Computes the configuration after `cc`; throws RaftError (ConfChangeRefused) if it is not allowed. */
export function changeConfig(trk: ProgressTracker, cc: ConfChange, lastIndex: number): ConfChangeResult {
  const ch = new Changer(trk, lastIndex);
  const joint = trk.isJoint();
  if (isLeaveJoint(cc)) {
    if (!joint) throw refuse("not in a joint configuration, nothing to leave");
    for (const id of ch.cfg.learnersNext) {
      ch.cfg.learners.add(id);
      const pr = ch.prs.get(id);
      if (pr) pr.isLearner = true;
    }
    ch.cfg.learnersNext.clear();
    for (const id of ch.cfg.outgoing) {
      if (!ch.cfg.incoming.has(id) && !ch.cfg.learners.has(id)) ch.prs.delete(id);
    }
    ch.cfg.outgoing.clear();
    ch.cfg.autoLeave = false;
    return ch.result();
  }
  if (joint) throw refuse("already in a joint configuration; leave it first");
  const mode = enterJointMode(cc);
  if (mode.joint) {
    if (ch.cfg.incoming.size === 0) throw refuse("cannot make a zero-voter configuration joint");
    ch.cfg.outgoing = new Set(ch.cfg.incoming);
    ch.apply(cc.changes);
    ch.cfg.autoLeave = mode.autoLeave;
    return ch.result();
  }
  const before = new Set(ch.cfg.incoming);
  ch.apply(cc.changes);
  let diff = 0;
  for (const id of before) if (!ch.cfg.incoming.has(id)) diff++;
  for (const id of ch.cfg.incoming) if (!before.has(id)) diff++;
  if (diff > 1) throw refuse("more than one voter changed without entering a joint configuration");
  return ch.result();
}

/** Rebuilds configuration and progress from a ConfState (on start and on snapshot restore). */
export function restoreConfig(trk: ProgressTracker, cs: ConfState, lastIndex: number): ConfChangeResult {
  const cfg: TrackerConfig = {
    incoming: new Set(cs.voters),
    outgoing: new Set(cs.votersOutgoing),
    learners: new Set(cs.learners),
    learnersNext: new Set(cs.learnersNext),
    autoLeave: cs.autoLeave,
  };
  const prs = new Map<NodeId, Progress>();
  for (const id of [...cfg.incoming, ...cfg.outgoing, ...cfg.learnersNext]) {
    if (!prs.has(id)) prs.set(id, trk.newProgress(Math.max(lastIndex, 1), false));
  }
  for (const id of cfg.learners) prs.set(id, trk.newProgress(Math.max(lastIndex, 1), true));
  for (const pr of prs.values()) pr.recentActive = true;
  return { config: cfg, progress: prs };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeConfChange(cc: ConfChange): Uint8Array {
  return encoder.encode(JSON.stringify(cc));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const v = JSON.parse(decoder.decode(data)) as ConfChange;
  if (!v || !Array.isArray(v.changes) || typeof v.transition !== "string") {
    throw new RaftError("ConfChangeRefused", "malformed configuration change entry");
  }
  return v;
}
