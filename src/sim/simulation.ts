// One deterministic simulation run: N members (each the real runtime and Raft core) on a
// virtual clock, a faulty network and disks, concurrent clients, and an
// operator changing membership and moving leadership. A safety phase injects
// faults; a liveness phase heals everything and requires progress. Everything
// random comes from one seed, so a seed replays a run exactly.

import {
  ConfChangeType,
  type ConfState,
  MemoryStorage,
  MessageType,
  type NodeId,
  type RaftMutations,
  type Rand,
  type ReadOnlyOption,
  seededRand,
} from "../raft/index.ts";
import type { LeaseMutations, RuntimeMutations, WatchMutations } from "../server/index.ts";
import type { WalMutations } from "../wal/index.ts";
import { type HistoryEntry, SimClient } from "./client.ts";
import { drainMicrotasks } from "./clock.ts";
import type { SimFsOp } from "./fs.ts";
import { EventHeap } from "./heap.ts";
import { InvariantChecker } from "./invariants.ts";
import { LeaseCheck } from "./lease-check.ts";
import { SimNetwork } from "./network.ts";
import { SimNode, type SimNodeOptions } from "./node.ts";
import type { ClientRequest, NetBody, NodeEnv } from "./types.ts";
import { WatchCheck } from "./watch-check.ts";

export interface SimOptions {
  seed: number;
  nodes: number;
  /** Virtual duration of the fault phase. */
  faultPhaseMs?: number;
  /** Virtual time allowed for recovery once faults stop. */
  livenessBudgetMs?: number;
  clients?: number;
  keys?: number;
  faults?: boolean;
  mutations?: RaftMutations;
  /** Broken runtime behaviours (see RuntimeMutations). */
  runtimeMutations?: RuntimeMutations;
  /** Broken lease-keeper behaviours (see LeaseMutations; MVCC machine only). */
  leaseMutations?: LeaseMutations;
  /** Broken watch-stream behaviours (see WatchMutations; MVCC machine only). */
  watchMutations?: WatchMutations;
  /** The members' state machine: the simulator's kv map (default) or the member's MVCC machine. */
  machine?: "kv" | "mvcc";
  /** The members' disks: a log durable at each simulated fsync (default), or their own WAL on a simulated file system (SimNodeOptions.disk). */
  disk?: "memory" | "wal";
  /** Broken WAL behaviours (see WalMutations; "wal" disks only). */
  walMutations?: WalMutations;
  /** Receives one line per Raft event (for replaying a failing seed). */
  trace?: (line: string) => void;
}

export interface SimResult {
  seed: number;
  nodes: number;
  violations: string[];
  history: HistoryEntry[];
  liveness: { ok: boolean; recoveredAfterMs: number | undefined; reason?: string };
  stats: Record<string, number>;
  config: string;
  /** Set when a Raft assertion fired inside a member (always a bug, reported with the seed). */
  crashed?: string;
}

interface Event {
  at: number;
  seq: number;
  run: () => void;
}

const TICK_MS = 10;

/** File-system calls that can fail for want of space. */
const SPACE_TAKING: ReadonlySet<SimFsOp> = new Set([
  "open",
  "write",
  "truncate",
  "sync",
  "datasync",
  "rename",
  "mkdir",
]);
/** How long after the clients stop every lease must be gone (see checkLeasesExpire). */
const LEASE_DRAIN_MS = 6_500;

export class Simulation {
  readonly rand: Rand;
  private now = 0;
  private seq = 0;
  private readonly events = new EventHeap<Event>();
  readonly nodes = new Map<NodeId, SimNode>();
  /** Each leader's commit index and configuration at its last report (checkCommitDurable). */
  private readonly lastLeaderCommit = new Map<NodeId, { commit: number; cs: ConfState }>();
  private readonly clients: SimClient[] = [];
  readonly history: HistoryEntry[] = [];
  readonly checker: InvariantChecker;
  /** Every MVCC member's watch stream, checked (mvcc machine only). */
  private readonly watches: WatchCheck | undefined;
  /** Whether a watch consumer is full: its own generator, so the rest of a seed's schedule is unchanged. */
  private readonly watchRand: ReturnType<typeof seededRand>;
  /** Draws for fault variants added later, so the main stream (and older seeds' schedules) stay as they were. */
  private readonly faultRand: ReturnType<typeof seededRand>;
  readonly net: SimNetwork;
  private readonly nodeOpts: SimNodeOptions;
  private nextNodeId: number;
  private faultsOn: boolean;
  private readonly stats: Record<string, number> = {
    events: 0,
    messages: 0,
    crashes: 0,
    partitions: 0,
    pauses: 0,
    confChanges: 0,
    transfers: 0,
    snapshotsSent: 0,
  };
  private readonly configText: string;
  private diskMaxMs: number;
  /** Per file-system call of a member on a simulated disk: the chance it fails with EIO or ENOSPC (fault phase only). */
  private readonly diskFaultRate: number;
  private readonly diskFaultRand: Rand;
  private readonly leaderChurnRate: number;
  private readonly crashPointRate: number;
  private readonly maxSkew: number;
  private readonly leaseCheck: LeaseCheck;
  private readonly preVote: boolean;
  /** How likely a fault draw that could pause a member does so (0: this run pauses no one). */
  private readonly pauseRate: number;
  /** The leaders answer reads from their lease (readOnlyOption "lease-based"). */
  private readonly leaseReads: boolean;

  constructor(readonly opts: SimOptions) {
    this.rand = seededRand(opts.seed);
    const r = this.rand;
    const readOnlyOption: ReadOnlyOption = r.float() < 0.3 ? "lease-based" : "safe";
    this.leaseReads = readOnlyOption === "lease-based";
    const preVote = process.env.NOPV ? false : r.float() < 0.8;
    this.preVote = preVote;
    // Members' clocks run at rates within ±maxSkew of true time. A lease
    // (electionTicks - margin of the leader's ticks from a heartbeat's send)
    // must end before a follower that acknowledged it can vote again
    // (electionTicks - 1 of its ticks from the receipt): with 10 ticks a
    // margin of 2 allows rates within ±4% and a jump of up to 3 ms
    // (9·0.96/1.04 = 8.31 ticks ≥ 8); a margin of 1 allows no skew.
    this.maxSkew = r.float() < 0.5 ? 0 : 0.04;
    this.pauseRate = r.float() < 0.5 ? 0 : 0.5 + r.float() * 0.5;
    const raft = {
      electionTicks: 10,
      heartbeatTicks: 1 + r.int(3),
      checkQuorum: true,
      preVote,
      readOnlyOption,
      maxSizePerMsgBytes: r.float() < 0.5 ? 1 : 64 * 1024,
      maxInflightMsgs: r.float() < 0.5 ? 1 + r.int(4) : 256,
      maxUncommittedEntriesBytes: 1 << 20,
      leaseSafetyMarginTicks: this.maxSkew > 0 ? 2 : 1,
      mutations: opts.mutations,
      logger: opts.trace
        ? (event: string, f: Record<string, unknown>) =>
            opts.trace?.(`t=${this.now} ${event} ${JSON.stringify(f)}`)
        : undefined,
    };
    this.nodeOpts = {
      raft,
      tickMs: TICK_MS,
      snapshotEvery: 5 + r.int(40),
      snapshotKeep: r.int(5),
      seed: opts.seed,
      runtimeMutations: opts.runtimeMutations,
      leaseMutations: opts.leaseMutations,
      watchMutations: opts.watchMutations,
      machine: opts.machine ?? "kv",
      disk: opts.disk ?? "memory",
      walMutations: opts.walMutations,
      schedule: (fn) => this.at(this.now, () => this.guardRun(fn)),
    };
    this.diskMaxMs = r.int(4);
    this.leaderChurnRate = r.float() < 0.3 ? 0 : 0.2 + r.float() * 0.8;
    this.crashPointRate = r.float() < 0.5 ? 0 : r.float() * 0.1;
    // Disk errors have their own generator: runs without them draw as before.
    this.diskFaultRand = seededRand(opts.seed * 104_729 + 11);
    this.diskFaultRate =
      opts.disk === "wal" && this.diskFaultRand.float() < 0.3
        ? 0.0005 + this.diskFaultRand.float() * 0.003
        : 0;
    this.net = new SimNetwork(seededRand(opts.seed ^ 0x5eed), {
      minLatencyMs: 1,
      maxLatencyMs: 2 + r.int(20),
      lossRate: r.float() < 0.5 ? 0 : r.float() * 0.1,
      dupRate: r.float() < 0.5 ? 0 : r.float() * 0.05,
      slowRate: r.float() < 0.5 ? 0 : r.float() * 0.1,
    });
    this.faultsOn = opts.faults ?? true;
    this.configText = JSON.stringify({
      ...raft,
      mutations: undefined,
      ...this.net.profile,
      snapshotEvery: this.nodeOpts.snapshotEvery,
      maxSkew: this.maxSkew,
      pauseRate: this.pauseRate,
      diskFaultRate: this.diskFaultRate,
    });
    this.checker = new InvariantChecker(() => `t=${this.now}ms seed=${opts.seed}`);
    this.watches = opts.machine === "mvcc" ? new WatchCheck((w) => this.checker.violation(w)) : undefined;
    this.watchRand = seededRand(opts.seed * 97 + 13);
    this.faultRand = seededRand(opts.seed * 7919 + 3);
    this.leaseCheck = new LeaseCheck(
      this.maxSkew,
      () => Math.max(0, ...[...this.nodes.values()].map((n) => n.drift.jumpedMs)),
      (w) => this.checker.violation(w),
    );
    const ids = Array.from({ length: opts.nodes }, (_, i) => i + 1);
    this.nextNodeId = opts.nodes + 1;
    for (const id of ids) this.createNode(id, MemoryStorage.bootstrap(ids));
    const nClients = opts.clients ?? 4;
    for (let c = 1; c <= nClients; c++) this.addClient(ids[r.int(ids.length)]);
  }

  private addClient(target: NodeId): SimClient {
    const opts = this.opts;
    const c = this.clients.length + 1;
    const client = new SimClient(
      c,
      seededRand(opts.seed * 31 + c),
      {
        keys: opts.keys ?? 3,
        timeoutMs: 1000,
        logReadRate: 0.2,
        // The member's MVCC store gets deletes (of one key and of ranges);
        // the kv map keeps the mix its mutation budgets were measured with.
        deleteShare: opts.machine === "mvcc" ? 0.1 : 0,
        leaseShare: opts.machine === "mvcc" ? 0.15 : 0,
        revisionReadShare: opts.machine === "mvcc" ? 0.1 : 0,
      },
      target,
    );
    this.clients.push(client);
    return client;
  }

  private env(): NodeEnv {
    const checker = this.checker;
    return {
      now: () => this.now,
      send: (from, to, body) => this.send(from, to, body),
      later: (delayMs, fn) => this.at(this.now + delayMs, () => this.guardRun(fn)),
      diskLatencyMs: () => this.rand.int(this.diskMaxMs + 1),
      diskFault: (_id, op) => this.diskFault(op),
      exited: (id) => {
        this.stats.diskErrorExits = (this.stats.diskErrorExits ?? 0) + 1;
        const node = this.nodes.get(id);
        if (node)
          this.at(this.now + 20 + this.rand.int(300), () => this.guard(node, () => this.restart(node)));
      },
      crashPoint: (id) => this.crashPoint(id),
      random: () => this.watchRand.float(),
      watches: this.watches,
      observer: {
        leader: (node, term, termAt, firstIndex) => {
          checker.leader(node, term, termAt, firstIndex);
          this.maybeChurnLeader(node);
        },
        persisted: (...a) => checker.persisted(...a),
        committed: (node, commit, termAt, firstIndex) => {
          checker.committed(node, commit, termAt, firstIndex);
          this.checkCommitDurable(node, commit, termAt(commit));
        },
        applied: (...a) => checker.applied(...a),
        violation: (w) => checker.violation(w),
      },
    };
  }

  /**
   * A leader's commit index is durable on a quorum of each voter set: its
   * own unwritten entries (sent before its fsync) must not have counted.
   * Checked when the commit index moved, against the configuration the
   * leader had at its previous report or has now (it may have changed since
   * the commit was counted).
   */
  private checkCommitDurable(id: NodeId, commit: number, term: number | undefined): void {
    const leader = this.nodes.get(id);
    const prev = this.lastLeaderCommit.get(id);
    const cs = leader?.isLeader() ? leader.rn.confState() : undefined;
    if (!cs || term === undefined) {
      this.lastLeaderCommit.delete(id);
      return;
    }
    this.lastLeaderCommit.set(id, { commit, cs });
    // The first report of a new leader carries the commit index it learned as
    // a follower, counted by an earlier leader under its configuration.
    if (prev === undefined || commit <= prev.commit) return;
    const onDisk = (v: NodeId): boolean => {
      const disk = this.nodes.get(v)?.disk;
      if (!disk) return false;
      if (commit < disk.firstIndex()) return (disk.snapshot()?.metadata.index ?? 0) >= commit;
      return disk.term(commit) === term;
    };
    const short = (c: ConfState): string | undefined => {
      for (const voters of [c.voters, c.votersOutgoing]) {
        if (voters.length === 0) continue;
        const have = voters.filter(onDisk).length;
        if (have * 2 <= voters.length) return `only ${have} of voters [${voters.join(",")}] have it on disk`;
      }
      return undefined;
    };
    const now = short(cs);
    if (now === undefined || short(prev.cs) === undefined) return;
    this.checker.violation(
      `commit durability: leader ${id} committed index ${commit} (term ${term}) but ${now}`,
    );
  }

  /** A disk error for the next file-system call, during the fault phase of a run that injects them. */
  private diskFault(op: SimFsOp): string | undefined {
    if (this.diskFaultRate === 0 || !this.faultsOn || this.now >= (this.opts.faultPhaseMs ?? 3000))
      return undefined;
    const r = this.diskFaultRand;
    if (r.float() >= this.diskFaultRate) return undefined;
    this.stats.diskErrors = (this.stats.diskErrors ?? 0) + 1;
    // A full disk fails what would take space; anything may fail with an I/O error.
    return r.float() < 0.5 && SPACE_TAKING.has(op) ? "ENOSPC" : "EIO";
  }

  /** Crash between a Ready's fsync and its sends: what was persisted stays, nothing is announced. */
  private crashPoint(id: NodeId): boolean {
    if (!this.faultsOn || this.now >= (this.opts.faultPhaseMs ?? 3000) || this.crashPointRate === 0)
      return false;
    if (this.rand.float() >= this.crashPointRate) return false;
    const node = this.nodes.get(id);
    if (!node) return false;
    this.stats.crashes++;
    this.at(this.now + 5 + this.rand.int(500), () => this.guard(node, () => this.restart(node)));
    return true;
  }

  /**
   * Leader churn: a new leader is sometimes crashed or cut off moments after
   * its election, leaving unreplicated tails from several terms behind, the
   * ground on which commitment bugs (Raft paper, Figure 8) show.
   */
  private maybeChurnLeader(id: NodeId): void {
    if (!this.faultsOn || this.now >= (this.opts.faultPhaseMs ?? 3000)) return;
    const r = this.rand;
    if (r.float() >= this.leaderChurnRate) return;
    const node = this.nodes.get(id);
    if (!node) return;
    // Down for longer than an election timeout, so the rest elect someone else meanwhile.
    const downMs = 100 + r.int(400);
    this.at(this.now + 1 + r.int(25), () => {
      if (!node.alive) return;
      if (r.float() < 0.5) {
        this.stats.crashes++;
        node.crash();
        this.at(this.now + downMs, () => this.guard(node, () => this.restart(node)));
      } else {
        this.stats.partitions++;
        this.net.split(
          [id],
          [...this.nodes.keys()].filter((i) => i !== id),
        );
        this.at(this.now + downMs, () => this.net.heal());
      }
    });
  }

  private createNode(id: NodeId, disk: MemoryStorage): SimNode {
    const node = new SimNode(id, this.env(), this.nodeOpts, disk, (e) => {
      this.crashedWith ??= `${e.name}: ${e.message}`;
    });
    this.nodes.set(id, node);
    node.drift.rate = 1 + (this.rand.float() * 2 - 1) * this.maxSkew;
    node.start(this.rand.int(TICK_MS));
    return node;
  }

  private at(time: number, run: () => void): void {
    this.events.push({ at: time, seq: this.seq++, run });
  }

  private crashedWith: string | undefined;

  private guard(_node: SimNode, fn: () => void): void {
    this.guardRun(fn);
  }

  /** Runs `fn`, recording a Raft assertion (always a bug) as the run's failure instead of throwing. */
  private guardRun(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.crashedWith ??= e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    }
  }

  private send(from: number, to: number, body: NetBody): void {
    this.stats.messages++;
    let delays = this.net.delays(from, to, this.now);
    // floe's peer transport is TCP: a forwarded proposal arrives at most once.
    // The kv map's client sessions make a duplicate harmless; the MVCC
    // machine, like etcd's, would apply it twice.
    if (this.opts.machine === "mvcc" && body.kind === "raft" && body.msg.type === MessageType.Prop)
      delays = delays.slice(0, 1);
    for (const delay of delays) {
      this.at(this.now + delay, () => this.deliver(from, to, body));
    }
    if (body.kind === "raft" && body.msg.type === "Snap") {
      // Like a real transport, the sender learns whether the snapshot stream finished.
      this.stats.snapshotsSent++;
      const sender = this.nodes.get(from);
      const inc = sender?.incarnation;
      const ok = delays.length > 0;
      this.at(this.now + (ok ? Math.min(...delays) : 50), () => {
        if (sender?.alive && sender.incarnation === inc)
          sender.receive(to, () =>
            this.guard(sender, () => sender.operator((rt) => rt.reportSnapshot(to, ok))),
          );
      });
    }
  }

  /** Reads at a past revision that were answered: checked against the final history (checkRevisionReads). */
  private readonly revisionReads: { key: number; revision: number; value: number | undefined }[] = [];

  private record(h: HistoryEntry): void {
    const r = h.request;
    if (r.op === "readAt") {
      // Not a linearizable read of the current value: the checker's model has no revisions.
      if (h.result?.type === "read_at_ok")
        this.revisionReads.push({ key: r.key, revision: r.revision, value: h.result.value });
      return;
    }
    this.history.push(h);
    if (h.result === undefined) return;
    if (r.op === "grant" && h.result.type === "grant_ok") this.leaseCheck.granted(r.lease, r.ttl, h.call);
    if (r.op === "keepalive" && h.result.type === "keepalive_ok")
      this.leaseCheck.keptAlive(r.lease, h.result.ttl, h.call);
    if (h.result.type === "lease_not_found" && (r.op === "keepalive" || r.op === "write"))
      this.leaseCheck.gone(r.lease as number, h.ret, `a ${r.op === "write" ? "put" : r.op} found it gone`);
    let kind: string | undefined;
    if (h.result.type === "lease_not_found") kind = "leaseNotFound";
    else if (r.op === "delete") kind = r.end === undefined ? "deletesOfKey" : "deletesOfRange";
    else if (r.op === "grant") kind = "leaseGrants";
    else if (r.op === "keepalive") kind = "leaseKeepalives";
    else if (r.op === "revoke") kind = "leaseRevokes";
    else if (r.op === "write" && r.lease !== undefined) kind = "leasedPuts";
    if (kind !== undefined) this.stats[kind] = (this.stats[kind] ?? 0) + 1;
  }

  private deliver(from: number, to: number, body: NetBody): void {
    if (to < 0) {
      const client = this.clients[-to - 1];
      if (body.kind === "reply") {
        const h = client.onReply(body.reply, this.now, (hint) => this.retarget(client, hint));
        if (h === "stale") return;
        if (h) this.record(h);
        this.scheduleNextOp(client, h === undefined ? 5 : 0);
      }
      return;
    }
    const node = this.nodes.get(to);
    if (!node) return;
    if (body.kind === "raft") node.receive(from, () => this.guard(node, () => node.stepPeer(body.msg)));
    else if (body.kind === "request")
      node.receive(from, () => this.guard(node, () => node.handleRequest(from, body.request)));
    else if (body.kind === "relay")
      node.receive(from, () => this.guard(node, () => node.handleRelay(from, body.id, body.call)));
    else if (body.kind === "relay-reply")
      node.receive(from, () => this.guard(node, () => node.onRelayAnswer(body.id, body.answer)));
  }

  private retarget(client: SimClient, hint: number): void {
    const ids = [...this.nodes.keys()];
    client.target = hint > 0 && this.nodes.has(hint) ? hint : ids[this.rand.int(ids.length)];
  }

  private clientsIssuing = true;
  /** A leader cut off from its peers on purpose: until `until`, reads go to it and writes to the others. */
  private staleLeader: { id: NodeId; until: number } | undefined;
  /** Until then no other fault is injected (see the congested isolation). */
  private faultsPausedUntil = 0;

  private scheduleNextOp(client: SimClient, delayMs: number): void {
    if (!this.clientsIssuing) return;
    this.at(this.now + delayMs, () => this.issue(client));
  }

  private issue(client: SimClient): void {
    if (client.current) return;
    const request: ClientRequest = client.nextRequest(this.now);
    // Reads go to any member now and then, as etcd clients spread requests
    // over their endpoints: a member with a stale view (paused, cut off) gets
    // reads invoked after writes it has not seen.
    const ids = [...this.nodes.keys()];
    let to =
      request.op === "read" && this.rand.float() < 0.3 ? ids[this.rand.int(ids.length)] : client.target;
    const stale = this.staleLeader;
    if (stale && this.now < stale.until) {
      const rest = ids.filter((i) => i !== stale.id);
      to = request.op === "read" ? stale.id : rest[this.rand.int(rest.length)];
    }
    this.send(-client.id, to, { kind: "request", request });
    this.at(this.now + 1000, () => {
      const h = client.onTimeout(request.req);
      if (h === "stale") return;
      if (h) this.record(h);
      this.retarget(client, 0);
      this.scheduleNextOp(client, 0);
    });
  }

  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.isLeader() && (!best || n.rn.term > best.rn.term)) best = n;
    }
    return best;
  }

  private liveIds(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.alive).map((n) => n.id);
  }

  // ---- faults ------------------------------------------------------------------

  /** A live member to crash or pause: the leader with probability `leaderShare`, else any live one. */
  private pickVictim(lead: SimNode | undefined, leaderShare: number): SimNode | undefined {
    const live = this.liveIds();
    if (live.length === 0) return undefined;
    const victim = lead && this.rand.float() < leaderShare ? lead.id : live[this.rand.int(live.length)];
    const node = this.nodes.get(victim);
    return node?.alive ? node : undefined;
  }

  private injectFault(): void {
    const r = this.rand;
    const ids = [...this.nodes.keys()];
    const lead = this.leader();
    const roll = r.int(100);
    // (the congested isolation runs alone: nothing heals it early or takes its voters away)
    if (this.now < this.faultsPausedUntil) return;
    if (roll < 25) {
      this.stats.partitions++;
      this.net.heal();
      const shuffled = [...ids].sort(() => r.float() - 0.5);
      const kind = r.int(4);
      if (kind === 0 && lead) {
        this.net.split(
          [lead.id],
          ids.filter((i) => i !== lead.id),
        );
      } else if (kind === 1 && ids.length >= 3) {
        // Bridge: two halves that only the bridge node connects.
        const [bridge, ...rest] = shuffled;
        const half = Math.floor(rest.length / 2);
        this.net.split(rest.slice(0, half), rest.slice(half));
        void bridge;
      } else if (kind === 2 && lead) {
        const other = ids.filter((i) => i !== lead.id)[r.int(ids.length - 1)];
        if (other !== undefined) this.net.blockOneWay(lead.id, other);
      } else {
        const cut = 1 + r.int(Math.max(1, ids.length - 1));
        this.net.split(shuffled.slice(0, cut), shuffled.slice(cut));
      }
    } else if (roll < 40) {
      this.net.heal();
    } else if (roll < 55) {
      const node = this.pickVictim(lead, 0.5);
      if (node) {
        this.stats.crashes++;
        node.crash();
        // Quick restarts make a crashed leader likely to win again with unreplicated entries.
        const down = r.float() < 0.5 ? 5 + r.int(60) : 50 + r.int(800);
        this.at(this.now + down, () => this.guard(node, () => this.restart(node)));
      }
    } else if (roll < 65) {
      this.changeMembership();
    } else if (roll < 75 && lead) {
      // Cut the leader off from its peers (clients still reach it). Briefly,
      // right after it accepted writes: its tail stays unreplicated. Or for
      // longer than an election: until check-quorum deposes it, it still
      // believes it leads while the others elect a leader and commit writes,
      // and it must not answer reads from that stale view.
      const others = ids.filter((i) => i !== lead.id);
      const long = r.float() < 0.5;
      let until = long ? 150 + r.int(300) : 5 + r.int(100);
      const cut = () => {
        this.net.split([lead.id], others);
        // Meanwhile clients write through the others and read from the old leader.
        if (long) this.staleLeader = { id: lead.id, until: this.now + until };
        this.at(this.now + until, () => this.net.heal());
      };
      const f = this.faultRand;
      if (long && f.float() < (this.leaseReads ? 0.9 : 0.3)) {
        // First the followers' path to the leader congests: a queue builds up,
        // each answer waits 1 ms longer than one sent 1 ms before it, so they
        // keep arriving (no gap long enough for check-quorum to notice) while
        // the last ones sent before the cut arrive up to 0.3 s after it. The
        // leader's lease must run from when it sent the heartbeat an answer
        // acknowledges, not from when the answer arrived, or it outlives the
        // followers' promise not to elect anyone else.
        this.stats.slowAcks = (this.stats.slowAcks ?? 0) + 1;
        const rampMs = 150 + f.int(150);
        // The cut outlasts the late answers and an election after them, and
        // no other fault heals it early.
        until = Math.max(until, rampMs + 200 + f.int(200));
        this.faultsPausedUntil = this.now + rampMs + until;
        for (const o of others) this.net.congest(o, lead.id, this.now);
        this.at(this.now + rampMs, () => {
          this.net.clearCongestion();
          if (this.now >= (this.opts.faultPhaseMs ?? 3000)) return; // not into the healed liveness phase
          cut();
          // The clients may all be waiting on the cut-off leader; one more
          // comes along now, writing through the others and reading from it.
          if (this.clientsIssuing) this.scheduleNextOp(this.addClient(others[f.int(others.length)]), 0);
        });
      } else cut();
    } else if (roll >= 85 && roll < 95 && this.pauseRate > 0 && r.float() < this.pauseRate) {
      // A process pause (a long GC, SIGSTOP, a stalled VM), most often the
      // leader's: it resumes with its old view and a backlog of messages.
      // One at a time: the rest can then elect a leader and go on meanwhile.
      if ([...this.nodes.values()].some((n) => n.paused)) return;
      const node = this.pickVictim(lead, 0.7);
      if (node) {
        this.stats.pauses++;
        node.pause();
        this.at(this.now + 100 + r.int(r.float() < 0.3 ? 400 : 2000), () => this.resume(node));
      }
    } else if (roll >= 95 && this.maxSkew > 0) {
      // A small forward jump of one member's clock (within the lease's slack).
      const live = this.liveIds();
      if (live.length === 0) return;
      const node = this.nodes.get(live[r.int(live.length)]);
      if (node) node.drift.jumpedMs += r.int(4);
    } else if (roll < 85 && lead) {
      const voters = lead.rn.voterIds().filter((i) => i !== lead.id);
      if (voters.length > 0) {
        this.stats.transfers++;
        const target = voters[r.int(voters.length)];
        this.guard(lead, () => lead.operator((rt) => rt.transferLeader(target)));
      }
    }
  }

  /** Ends a pause: what came due and what arrived meanwhile run as events now, one at a time. */
  private resume(node: SimNode): void {
    for (const run of node.resume((n) => this.rand.int(n))) this.at(this.now, () => this.guard(node, run));
  }

  private restart(node: SimNode): void {
    if (node.alive) return;
    node.start(this.rand.int(TICK_MS));
    // A WAL may come back with an older commit index than it last reported
    // (a commit-only hard state is not synced) and the state machine starts
    // over from the snapshot once the log is read: both start from zero.
    if (this.opts.disk === "wal") this.checker.restarted(node.id, 0, 0);
    else this.checker.restarted(node.id, node.disk.hardState().commit, node.appliedIndex());
  }

  private changeMembership(): void {
    const lead = this.leader();
    if (!lead) return;
    const r = this.rand;
    const cs = lead.rn.confState();
    if (cs.votersOutgoing.length > 0) return;
    const voters = cs.voters;
    const learners = cs.learners;
    const minVoters = Math.min(3, this.opts.nodes);
    const maxVoters = this.opts.nodes + 1;
    const choice = r.int(4);
    let changes: { type: ConfChangeType; nodeId: NodeId }[] = [];
    if (choice === 0 && learners.length + voters.length < maxVoters + 1) {
      const id = this.nextNodeId++;
      this.createNode(id, new MemoryStorage());
      changes = [{ type: ConfChangeType.AddLearner, nodeId: id }];
    } else if (choice === 1 && learners.length > 0 && voters.length < maxVoters) {
      changes = [{ type: ConfChangeType.AddNode, nodeId: learners[r.int(learners.length)] }];
    } else if (choice === 2 && voters.length > minVoters) {
      changes = [{ type: ConfChangeType.RemoveNode, nodeId: voters[r.int(voters.length)] }];
    } else if (choice === 3 && learners.length > 0) {
      // Replace a voter with a learner in one joint change.
      const out = voters[r.int(voters.length)];
      const added = learners[r.int(learners.length)];
      changes = [
        { type: ConfChangeType.AddNode, nodeId: added },
        { type: ConfChangeType.RemoveNode, nodeId: out },
      ];
      // Aimed at the joint configuration: soon after, the leader and the new
      // voter are cut off from the rest, so a majority of the new voters
      // holds what the old voters' majority does not.
      if (r.float() < 0.5) {
        const side = [lead.id, added];
        const rest = [...this.nodes.keys()].filter((i) => !side.includes(i));
        this.at(this.now + 1 + r.int(30), () => {
          this.stats.partitions++;
          this.net.heal();
          this.net.split(side, rest);
          this.at(this.now + 50 + r.int(300), () => this.net.heal());
        });
      }
    }
    if (changes.length === 0) return;
    this.stats.confChanges++;
    this.guard(lead, () => lead.operator((rt) => rt.proposeConfChange({ transition: "auto", changes })));
  }

  // ---- run -----------------------------------------------------------------------

  /**
   * Runs events in time order up to `time`. After each event the members'
   * promise continuations (the runtime's Ready loop awaits its disk and its
   * state machine) run to completion before the next event: a macrotask
   * boundary drains them, in the same order every time.
   */
  private async runUntil(time: number, stop?: () => boolean): Promise<void> {
    for (;;) {
      const ev = this.events.pop();
      if (!ev) return;
      if (ev.at > time) {
        this.events.push(ev);
        this.now = time;
        return;
      }
      this.now = ev.at;
      this.stats.events++;
      ev.run();
      await drainMicrotasks();
      if (this.crashedWith || stop?.()) return;
    }
  }

  /**
   * Liveness with pre-vote and check-quorum: a member cut off from a
   * healthy, connected leader and then let back must not raise the leader's
   * term (its pre-votes fail while the others still hear from the leader).
   */
  private async probeDisruption(): Promise<void> {
    const lead = this.leader();
    if (!lead || [...this.nodes.values()].some((n) => !n.alive || n.paused)) return;
    const voters = lead.rn.voterIds().filter((i) => i !== lead.id);
    if (voters.length < 2) return;
    const term = lead.rn.term;
    const away = voters[this.rand.int(voters.length)];
    const others = [...this.nodes.keys()].filter((i) => i !== away);
    this.net.split([away], others);
    await this.runUntil(this.now + 300 + this.rand.int(300));
    this.net.heal();
    await this.runUntil(this.now + 500);
    const nowTerm = lead.rn.term;
    if (!lead.isLeader() || nowTerm !== term)
      this.checker.violation(
        `disruption: member ${away}, cut off and let back, deposed healthy leader ${lead.id} (term ${term} -> ${nowTerm})`,
      );
  }

  /**
   * After healing, every live MVCC member's key space hashes as the most
   * advanced member's did at the same revision (etcd's HashKV, what its
   * corruption check compares): members may still be behind, never different.
   */
  private async compareHashKV(): Promise<void> {
    const all = [];
    for (const n of this.nodes.values()) all.push({ n, at: await n.hashKV() });
    const live = all.filter(
      (x): x is { n: SimNode; at: { revision: number; hash: number } } => x.at !== undefined,
    );
    if (live.length < 2) return;
    const ref = live.reduce((a, b) => (b.at.revision > a.at.revision ? b : a));
    for (const { n, at } of live) {
      if (n === ref.n) continue;
      const theirs = (await ref.n.hashKV(at.revision))!.hash;
      if (theirs !== at.hash) {
        this.checker.violation(
          `HashKV at revision ${at.revision}: member ${n.id} has ${(at.hash >>> 0).toString(16)}, member ${ref.n.id} had ${(theirs >>> 0).toString(16)}`,
        );
      }
      this.stats.hashKVCompared = (this.stats.hashKVCompared ?? 0) + 1;
    }
  }

  /**
   * Every read at a past revision returned what the most advanced member's
   * store holds for that key at that revision: history, once written, does
   * not change, whichever member served the read and whatever it went
   * through (restarts, snapshot installs) before.
   */
  private async checkRevisionReads(): Promise<void> {
    let ref: SimNode | undefined;
    for (const n of this.nodes.values())
      if (n.running && (ref === undefined || n.appliedIndex() > ref.appliedIndex())) ref = n;
    if (ref === undefined) return;
    for (const read of this.revisionReads) {
      const now = await ref.valueAt(read.key, read.revision);
      if (now === "none") return;
      if (now !== read.value)
        this.checker.violation(
          `a read of key ${read.key} at revision ${read.revision} returned ${read.value}, member ${ref.id}'s history holds ${now} there`,
        );
      this.stats.revisionReadsChecked = (this.stats.revisionReadsChecked ?? 0) + 1;
    }
  }

  /**
   * Leases end: with the clients stopped and the cluster healed, every lease
   * must be revoked by the leader's keeper, its keys with it, within its TTL
   * (at most 2 s, 4% slower on a skewed clock), the extension a new leader
   * gives (an election timeout), an expiry pass (0.5 s) and one retry of a
   * lost revoke (3 s): "no key kept past its lease's expiry".
   */
  private async checkLeasesExpire(): Promise<void> {
    const deadline = this.now + LEASE_DRAIN_MS;
    // Looked at every 100 ms, so a run ends as soon as its leases have.
    let left = this.leaseHolders();
    while (left.length > 0 && this.now < deadline && !this.crashedWith) {
      await this.runUntil(Math.min(deadline, this.now + 100));
      left = this.leaseHolders();
    }
    for (const { n, held } of left) {
      this.checker.violation(
        `lease expiry: ${LEASE_DRAIN_MS} ms after the clients stopped, member ${n.id} still holds ${held.leases} lease(s) and leased keys [${held.leasedKeys.join(", ")}]`,
      );
    }
    this.stats.leaseExpiryChecked = (this.stats.leaseExpiryChecked ?? 0) + 1;
  }

  /**
   * Live members of the configuration that still hold a lease or a leased
   * key. A member removed from the cluster gets no more entries, revokes
   * included (it may not have applied its own removal): only the most
   * advanced member's configuration counts.
   */
  private leaseHolders(): { n: SimNode; held: { leases: number; leasedKeys: string[] } }[] {
    const live = [...this.nodes.values()].filter((n) => n.running);
    const ref = live.reduce<SimNode | undefined>(
      (a, n) => (a && a.appliedIndex() >= n.appliedIndex() ? a : n),
      undefined,
    );
    const cs = ref?.confState;
    const out: { n: SimNode; held: { leases: number; leasedKeys: string[] } }[] = [];
    for (const n of live) {
      const held = n.leaseState();
      if (held === undefined || !(cs?.voters.includes(n.id) || cs?.learners.includes(n.id))) continue;
      if (held.leases > 0 || held.leasedKeys.length > 0) out.push({ n, held });
    }
    return out;
  }

  async run(): Promise<SimResult> {
    const faultPhase = this.opts.faultPhaseMs ?? 3000;
    const budget = this.opts.livenessBudgetMs ?? 8000;
    for (const c of this.clients) this.scheduleNextOp(c, 50 + this.rand.int(50));
    if (this.faultsOn) {
      const scheduleFault = (): void => {
        if (this.now >= faultPhase) return;
        this.injectFault();
        this.at(this.now + 20 + this.rand.int(300), scheduleFault);
      };
      this.at(100 + this.rand.int(200), scheduleFault);
    }
    await this.runUntil(faultPhase);
    // Liveness phase: heal, restart, stop new work; then every client must complete one operation.
    this.clientsIssuing = false;
    this.net.heal();
    this.net.healthy = true;
    for (const n of this.nodes.values()) {
      if (n.paused) this.resume(n);
      if (!n.alive) this.guardRun(() => this.restart(n));
    }
    const healedAt = this.now;
    const deadline = healedAt + budget;
    await this.runUntil(healedAt + 1100); // outstanding operations complete or time out
    this.clientsIssuing = true;
    const done = new Set<number>();
    const before = this.history.length;
    for (const c of this.clients) this.scheduleNextOp(c, 0);
    let recoveredAt: number | undefined;
    await this.runUntil(deadline, () => {
      for (let i = before; i < this.history.length; i++) {
        const h = this.history[i];
        if (h.ret !== Number.POSITIVE_INFINITY) done.add(h.client);
      }
      if (done.size === this.clients.length) {
        recoveredAt = this.now;
        return true;
      }
      return false;
    });
    this.clientsIssuing = false;
    // Let in-flight operations finish so the history has no artificial "unknown" tails.
    await this.runUntil(this.now + 1100);
    const ok = recoveredAt !== undefined;
    for (const n of this.nodes.values()) {
      try {
        await n.finishWatch();
      } catch (e) {
        this.checker.violation(`watch stream of member ${n.id} could not finish: ${(e as Error).message}`);
      }
    }
    if (ok) {
      try {
        await this.compareHashKV();
        await this.checkRevisionReads();
      } catch (e) {
        this.checker.violation(`HashKV after healing failed: ${(e as Error).message}`);
      }
    }
    if (ok && this.opts.machine === "mvcc") await this.checkLeasesExpire();
    if (ok && this.faultsOn && this.preVote) await this.probeDisruption();
    return {
      seed: this.opts.seed,
      nodes: this.opts.nodes,
      violations: this.checker.violations,
      history: this.history,
      liveness: {
        ok,
        recoveredAfterMs: ok ? recoveredAt! - healedAt : undefined,
        reason: ok ? undefined : `not every client completed an operation within ${budget}ms after healing`,
      },
      stats: {
        ...this.stats,
        ops: this.history.length,
        virtualMs: this.now,
        ...(this.watches
          ? {
              watchStreams: this.watches.stats.streams,
              watchDeliveries: this.watches.stats.deliveries,
              watchRefused: this.watches.stats.refused,
              watchCompleted: this.watches.stats.completed,
            }
          : {}),
      },
      config: this.configText,
      crashed: this.crashedWith,
    };
  }
}
