// One simulated member: the real Raft core and the kv state machine over a
// simulated disk. The disk honours the Ready contract: a Ready's writes become
// durable only at its fsync, a crash before that loses them, and messages are
// sent only after the fsync — a leader's (sendBeforePersist) as the write starts.

import {
  type ConfState,
  coalesceMessages,
  decodeConfChange,
  type Entry,
  EntryType,
  type MemoryStorage,
  type NodeId,
  type RaftConfig,
  RawNode,
  type Ready,
  StateRole,
  seededRand,
} from "../raft/index.ts";
import { decodeCommand, type KvResult, KvStateMachine } from "./kv.ts";
import type { ClientRequest, NodeEnv } from "./types.ts";

export interface SimNodeOptions {
  raft: Omit<RaftConfig, "id" | "storage" | "rand" | "applied">;
  /** Take a state-machine snapshot every this many applied entries. */
  snapshotEvery: number;
  /** Entries kept in the log behind a snapshot (so slow followers need not always get a snapshot). */
  snapshotKeep: number;
  seed: number;
}

interface PendingRead {
  client: number;
  request: ClientRequest;
  index: number;
}

export class SimNode {
  readonly disk: MemoryStorage;
  rn!: RawNode;
  sm = new KvStateMachine();
  confState!: ConfState;
  alive = false;
  incarnation = 0;
  private inflight: Ready | undefined;
  /** Client waiting for the command (client:req) to apply here. */
  private waiting = new Map<string, number>();
  private readsByContext = new Map<string, { client: number; request: ClientRequest }>();
  private readsWaitingApply: PendingRead[] = [];
  private applied = 0;
  private snapIndex = 0;

  constructor(
    readonly id: NodeId,
    private readonly env: NodeEnv,
    private readonly opts: SimNodeOptions,
    disk: MemoryStorage,
  ) {
    this.disk = disk;
  }

  start(): void {
    this.incarnation++;
    this.alive = true;
    const snap = this.disk.snapshot();
    this.sm = KvStateMachine.restore(snap?.data ?? new Uint8Array());
    this.confState = this.disk.confState();
    this.applied = snap?.metadata.index ?? 0;
    this.snapIndex = this.applied;
    this.rn = new RawNode({
      ...this.opts.raft,
      id: this.id,
      storage: this.disk,
      rand: seededRand(this.opts.seed * 1_000_003 + this.id * 101 + this.incarnation),
      applied: this.applied,
    });
    this.inflight = undefined;
    this.waiting.clear();
    this.readsByContext.clear();
    this.readsWaitingApply = [];
  }

  crash(): void {
    this.alive = false;
    this.inflight = undefined; // unsynced writes are lost with it
  }

  isLeader(): boolean {
    return this.alive && this.rn.raft.role === StateRole.Leader;
  }

  tick(): void {
    if (!this.alive) return;
    this.rn.tick();
    this.pump();
  }

  stepPeer(msg: Parameters<RawNode["step"]>[0]): void {
    if (!this.alive) return;
    const log = this.rn.raft.raftLog;
    const before = log.committed;
    this.rn.step(msg);
    // Report a commit the moment it happens (not at the next fsync), so a
    // commit that counted a copy still being written is seen as such.
    if (log.committed > before)
      this.env.observer.committed(this.id, log.committed, (i) => log.term(i), log.firstIndex());
    this.pump();
  }

  handleRequest(client: number, request: ClientRequest): void {
    if (!this.alive) return;
    const r = this.rn.raft;
    const fail = (reason: string): void =>
      this.env.send(this.id, client, {
        kind: "reply",
        reply: { req: request.req, ok: false, reason, leaderHint: r.lead },
      });
    if (r.lead === 0) {
      fail("no leader known");
      return;
    }
    if (request.op === "read" && request.readMode === "readindex") {
      const context = `${client}:${request.req}:${this.incarnation}`;
      const err = this.rn.readIndex(context);
      if (err) fail(err.message);
      else this.readsByContext.set(context, { client, request });
    } else {
      const { readMode: _, ...cmd } = request;
      const err = this.rn.propose(new TextEncoder().encode(JSON.stringify(cmd)));
      if (err) fail(err.message);
      else this.waiting.set(`${request.client}:${request.req}`, client);
    }
    this.pump();
  }

  /** Proposes a configuration change or a leadership transfer (the simulated operator). */
  operator(fn: (rn: RawNode) => void): void {
    if (!this.alive) return;
    fn(this.rn);
    this.pump();
  }

  private pump(): void {
    if (!this.alive || this.inflight || !this.rn.hasReady()) return;
    const rd = this.rn.ready();
    this.inflight = rd;
    if (rd.softState?.role === StateRole.Leader) {
      const log = this.rn.raft.raftLog;
      this.env.observer.leader(this.id, this.rn.raft.term, (i) => log.term(i), log.firstIndex());
    }
    if (rd.sendBeforePersist) this.sendMessages(rd);
    const inc = this.incarnation;
    const needsDisk = rd.entries.length > 0 || rd.hardState !== undefined || rd.snapshot !== undefined;
    if (needsDisk) this.env.later(this.env.diskLatencyMs(), () => this.onFsync(inc, rd));
    else this.onFsync(inc, rd);
  }

  private onFsync(inc: number, rd: Ready): void {
    if (!this.alive || inc !== this.incarnation || this.inflight !== rd) return;
    if (rd.snapshot) this.disk.applySnapshot(rd.snapshot);
    this.disk.append(rd.entries);
    if (rd.hardState) this.disk.setHardState(rd.hardState);
    this.env.observer.persisted(this.id, rd.hardState, rd.entries, rd.snapshot);
    if (rd.hardState && this.env.crashPoint(this.id)) {
      this.crash();
      return;
    }
    if (!rd.sendBeforePersist) this.sendMessages(rd);
    if (rd.snapshot) {
      this.sm = KvStateMachine.restore(rd.snapshot.data);
      this.confState = rd.snapshot.metadata.confState;
      this.applied = rd.snapshot.metadata.index;
      this.snapIndex = this.applied;
    }
    for (const e of rd.committedEntries) this.applyEntry(e);
    const log = this.rn.raft.raftLog;
    this.env.observer.committed(this.id, log.committed, (i) => log.term(i), log.firstIndex());
    for (const rs of rd.readStates) {
      const pending = this.readsByContext.get(rs.context);
      if (!pending) continue;
      this.readsByContext.delete(rs.context);
      this.readsWaitingApply.push({ ...pending, index: rs.index });
    }
    this.rn.advance(rd);
    this.inflight = undefined;
    this.serveReads();
    this.maybeSnapshot();
    this.pump();
  }

  private sendMessages(rd: Ready): void {
    for (const m of coalesceMessages(rd.messages, this.rn.raft.cfg.maxSizePerMsgBytes))
      this.env.send(this.id, m.to, { kind: "raft", msg: m });
  }

  private applyEntry(e: Entry): void {
    this.env.observer.applied(this.id, e);
    this.applied = e.index;
    if (e.type === EntryType.ConfChange) {
      this.confState = this.rn.applyConfChange(decodeConfChange(e.data));
      return;
    }
    if (e.data.length === 0) return;
    const cmd = decodeCommand(e.data);
    const result: KvResult = this.sm.apply(cmd);
    const key = `${cmd.client}:${cmd.req}`;
    const client = this.waiting.get(key);
    if (client !== undefined) {
      this.waiting.delete(key);
      this.env.send(this.id, client, { kind: "reply", reply: { req: cmd.req, ok: true, result } });
    }
  }

  private serveReads(): void {
    const still: PendingRead[] = [];
    for (const r of this.readsWaitingApply) {
      if (r.index > this.applied) {
        still.push(r);
        continue;
      }
      const result: KvResult = { type: "read_ok", value: this.sm.read(r.request.key) };
      this.env.send(this.id, r.client, { kind: "reply", reply: { req: r.request.req, ok: true, result } });
    }
    this.readsWaitingApply = still;
  }

  private maybeSnapshot(): void {
    if (this.applied - this.snapIndex < this.opts.snapshotEvery) return;
    const at = this.applied;
    const data = this.sm.snapshot();
    this.disk.createSnapshot(at, this.confState, data, this.opts.snapshotKeep);
    this.snapIndex = at;
  }

  hasPendingWork(): boolean {
    return this.inflight !== undefined;
  }

  appliedIndex(): number {
    return this.applied;
  }
}
