// One simulated member: the member's own runtime (server/runtime.ts: Ready
// loop, proposal batching and waiters, ReadIndex rounds, snapshots) around the
// real Raft core, with the kv state machine, a simulated disk, the
// simulator's network, and a virtual clock. The disk honours the Ready
// contract: a Ready's writes become durable only at its fsync, a crash before
// that loses them, and the runtime sends a Ready's messages only after it (a
// leader's appends as the write starts).

import { create as createMessage } from "@bufbuild/protobuf";
import { type ErrorName, etcdserverpb, FloeError } from "../api/index.ts";
import { Bitcask } from "../bitcask/index.ts";
import {
  type ConfState,
  type Entry,
  MemoryStorage,
  type Message,
  MessageType,
  type NodeId,
  type RaftConfig,
  type RawNode,
  type SnapshotMetadata,
  StateRole,
  seededRand,
  uint32From,
} from "../raft/index.ts";
import {
  BitcaskMvccStorage,
  type ClockTimer,
  collectImage,
  EtcdServer,
  type KvApplyResult,
  type LeaseMutations,
  type LeaseRelay,
  type LogStore,
  RaftRuntime,
  type RuntimeClock,
  RuntimeError,
  type RuntimeMutations,
  type SaveRequest,
  type SnapshotImage,
  type WatchMutations,
  walLogStore,
} from "../server/index.ts";
import { type WalMutations, WalStorage } from "../wal/index.ts";
import { drainMicrotasks } from "./clock.ts";
import { SimFs } from "./fs.ts";
import { decodeCommand, encodeCommand, type KvCommand, type KvResult, KvStateMachine } from "./kv.ts";
import type { SimMachine } from "./machine.ts";
import { callBackend, MvccMachine, valueAt } from "./mvcc.ts";
import type { ClientRequest, NodeEnv, RelayAnswer, RelayCall } from "./types.ts";
import type { WatchStream } from "./watch-check.ts";

export interface SimNodeOptions {
  raft: Omit<RaftConfig, "id" | "storage" | "rand" | "applied" | "electionTicks" | "heartbeatTicks"> & {
    electionTicks: number;
    heartbeatTicks: number;
  };
  tickMs: number;
  /** Take a state-machine snapshot every this many applied entries. */
  snapshotEvery: number;
  /** Entries kept in the log behind a snapshot (so slow followers need not always get a snapshot). */
  snapshotKeep: number;
  seed: number;
  runtimeMutations?: RuntimeMutations;
  leaseMutations?: LeaseMutations;
  watchMutations?: WatchMutations;
  /** The simulator's kv map, or the member's MVCC state machine. */
  machine: "kv" | "mvcc";
  /**
   * The member's disk: "memory", a log that is durable as a whole at each
   * save's simulated fsync, or "wal", the member's own WAL and snapshot files
   * on a simulated file system (src/sim/fs.ts) that a crash cuts back to
   * what was synced, tearing the last unsynced write.
   */
  disk: "memory" | "wal";
  walMutations?: WalMutations;
  /** Runs `fn` as a simulator event now (work a member deferred while it was starting). */
  schedule: (fn: () => void) => void;
}

/** How long a relayed lease call waits for the leader's answer (the server's gRPC deadline). */
const RELAY_TIMEOUT_MS = 5_000;

/** A member's open watch stream, its reader's state and the server it came from. */
interface OpenWatch {
  readonly stream: WatchStream;
  readonly abort: AbortController;
  /** The run is ending: the reader reads without pauses. */
  draining: boolean;
  readonly server: EtcdServer;
  /** Ends the reader's current pause early. */
  resume: (() => void) | undefined;
}

/** Responses a member's watch stream holds while its consumer is not reading (the server's default is 256). */
const WATCH_STREAM_BUFFER = 4;
/** The share of responses after which the watch consumer stops reading for up to 60 ms. */
const WATCH_PAUSE_SHARE = 0.1;

/** The runtime's proposals and reads outlive the simulated client's 1 s timeout: the client decides. */
const RUNTIME_REQUEST_TIMEOUT_MS = 5_000;

/** The simulator's kv map as the runtime's StateMachine. */
class KvMachine implements SimMachine {
  kv = new KvStateMachine();
  private applied: number;

  constructor(image: Uint8Array, index: number) {
    this.kv = KvStateMachine.restore(image);
    this.applied = index;
  }

  apply(index: number, data: Uint8Array): KvResult {
    this.applied = index;
    return this.kv.apply(decodeCommand(data));
  }

  encode(c: KvCommand): Uint8Array {
    return encodeCommand(c);
  }

  read(key: number): number | undefined {
    return this.kv.read(key);
  }

  appliedIndex(): number {
    return this.applied;
  }

  async snapshot(): Promise<SnapshotImage> {
    return this.kv.snapshot();
  }

  async restore(image: SnapshotImage, index: number): Promise<void> {
    this.kv = KvStateMachine.restore(await collectImage(image));
    this.applied = index;
  }
}

/** How a member's clock relates to simulated time: its rate, and how far it has jumped ahead. */
export interface ClockDrift {
  /** Member milliseconds per simulated millisecond (1 = exact). */
  rate: number;
  /** Milliseconds the member's clock has jumped forward so far. */
  jumpedMs: number;
}

/**
 * One incarnation of a member: its timers and disk writes die with it, and
 * stand still while it is paused. Its clock runs at the member's rate.
 */
class Incarnation {
  alive = true;
  /** While paused: callbacks that came due, run in order at resume (before any queued message). */
  private overdue: (() => void)[] | undefined;

  constructor(
    private readonly env: NodeEnv,
    private readonly phaseMs: number,
    private readonly drift: ClockDrift,
  ) {}

  get paused(): boolean {
    return this.overdue !== undefined;
  }

  pause(): void {
    this.overdue ??= [];
  }

  /** Ends the pause; returns what came due meanwhile, in order, for the caller to run. */
  resume(): (() => void)[] {
    const due = this.overdue ?? [];
    this.overdue = undefined;
    return due;
  }

  /** Runs `fn` after `ms` of this member's time, unless it crashed; late if it is paused then. */
  later(ms: number, fn: () => void): void {
    this.env.later(Math.max(0, Math.ceil(ms / this.drift.rate)), () => {
      if (!this.alive) return;
      if (this.overdue) this.overdue.push(fn);
      else fn();
    });
  }

  /** The member's clock: virtual time at its rate, plus its jumps; timers fire as simulator events. */
  clock(): RuntimeClock {
    type T = { cancelled: boolean };
    const fire = (t: T, fn: () => void) => () => {
      if (!t.cancelled) fn();
    };
    return {
      now: () => this.env.now() * this.drift.rate + this.drift.jumpedMs,
      setTimeout: (fn, ms) => {
        const t: T = { cancelled: false };
        this.later(ms, fire(t, fn));
        return t;
      },
      setInterval: (fn, ms) => {
        const t: T = { cancelled: false };
        const every = (): void => {
          fn();
          this.later(ms, fire(t, every));
        };
        // The first tick at a random phase, so members do not tick in lockstep.
        this.later(this.phaseMs + 1, fire(t, every));
        return t;
      },
      clear: (t: ClockTimer | undefined) => {
        if (t) (t as T).cancelled = true;
      },
    };
  }
}

/** The simulated disk as the runtime's LogStore: writes become durable after a simulated fsync. */
class SimLog implements LogStore {
  constructor(
    private readonly id: NodeId,
    private readonly disk: MemoryStorage,
    private readonly env: NodeEnv,
    private readonly inc: Incarnation,
    private readonly keep: number,
    private readonly crash: () => void,
  ) {}

  initialState() {
    return this.disk.initialState();
  }
  entries(lo: number, hi: number, maxSizeBytes: number): Entry[] {
    return this.disk.entries(lo, hi, maxSizeBytes);
  }
  term(i: number): number | undefined {
    return this.disk.term(i);
  }
  firstIndex(): number {
    return this.disk.firstIndex();
  }
  lastIndex(): number {
    return this.disk.lastIndex();
  }
  snapshot() {
    return this.disk.snapshot();
  }

  save(rd: SaveRequest): Promise<void> {
    const needsDisk = rd.entries.length > 0 || rd.hardState !== undefined || rd.snapshot !== undefined;
    if (!needsDisk) return Promise.resolve();
    // A save that the crash interrupts never completes: the runtime of a dead
    // incarnation waits forever and sends nothing more.
    return new Promise((resolve) => {
      this.inc.later(this.env.diskLatencyMs(), () => {
        if (rd.snapshot) this.disk.applySnapshot(rd.snapshot);
        this.disk.append(rd.entries);
        if (rd.hardState) this.disk.setHardState(rd.hardState);
        this.env.observer.persisted(this.id, rd.hardState, rd.entries, rd.snapshot);
        if (rd.hardState && this.env.crashPoint(this.id)) {
          this.crash();
          return;
        }
        resolve();
      });
    });
  }

  async saveLocalSnapshot(index: number, cs: ConfState, image: SnapshotImage): Promise<void> {
    if (!this.inc.alive) return;
    this.disk.createSnapshot(index, cs, await collectImage(image), this.keep);
  }
}

/** Where a member keeps its WAL and snapshots, and its MVCC store, on its simulated file system. */
const WAL_DIR = "/member";
const KV_DIR = "/member/kv";
const quiet = { warn: () => {}, error: () => {} };
/** Simulated time a file-system call other than a sync takes to complete (a trip through the event queue). */
const FS_CALL_MS = 0;

/** The member's log store in "wal" mode, and the save it has in flight (a crash may leave it on disk or not). */
type WalSimLog = LogStore & { inflight: SaveRequest | undefined };

/**
 * The member's own WAL (WalStorage on its simulated file system) as the
 * runtime's LogStore: the server's (walLogStore, so local snapshots are
 * written in the background and committed in the Ready loop as in the
 * server), with `mirror` following what it acknowledged, for the
 * simulator's durability checks and for the check after a crash that the
 * reopened WAL still holds all of it; `images` keeps each snapshot's image.
 */
function walSimLog(
  id: NodeId,
  wal: WalStorage,
  mirror: MemoryStorage,
  images: Map<number, Uint8Array>,
  env: NodeEnv,
  keep: number,
  crash: () => void,
  /** Makes the state machine's store durable: the log then records a snapshot and drops entries before it. */
  beforeCompaction: () => Promise<void>,
): WalSimLog {
  const inner = walLogStore(wal, beforeCompaction, keep);
  const { writeLocalSnapshot, commitLocalSnapshot } = inner as Required<LogStore>;
  const write = async (index: number, cs: ConfState, image: SnapshotImage) => {
    const data = await collectImage(image);
    images.set(index, data);
    return writeLocalSnapshot(index, cs, data);
  };
  const commit = async (meta: SnapshotMetadata) => {
    await commitLocalSnapshot(meta);
    // (the log skips a snapshot that one from the leader overtook; so does the mirror)
    if (meta.index > (mirror.snapshot()?.metadata.index ?? 0)) {
      mirror.createSnapshot(meta.index, meta.confState, images.get(meta.index) as Uint8Array, keep);
    }
  };
  const log: WalSimLog = {
    ...inner,
    inflight: undefined,
    async save(rd: SaveRequest): Promise<void> {
      if (rd.snapshot) images.set(rd.snapshot.metadata.index, rd.snapshot.data);
      log.inflight = rd;
      // A crash during the save leaves this promise pending for good: its
      // file-system calls never complete, and the runtime of a dead
      // incarnation waits forever and sends nothing more.
      await inner.save(rd);
      log.inflight = undefined;
      if (rd.snapshot) mirror.applySnapshot(rd.snapshot);
      mirror.append(rd.entries);
      if (rd.hardState) mirror.setHardState(rd.hardState);
      env.observer.persisted(id, rd.hardState, rd.entries, rd.snapshot);
      if (rd.hardState && env.crashPoint(id)) {
        crash();
        await new Promise<never>(() => {});
      }
    },
    writeLocalSnapshot: write,
    commitLocalSnapshot: commit,
    saveLocalSnapshot: async (index, cs, image) => commit(await write(index, cs, image)),
  };
  return log;
}

export class SimNode {
  /** What the member's disk holds durably (in "wal" mode: what its WAL acknowledged). */
  private durable: MemoryStorage;
  /** "wal" mode: the member's file system, its log store, and snapshot images by index (for sending). */
  private fs: SimFs | undefined;
  private walLog: WalSimLog | undefined;
  private readonly images = new Map<number, Uint8Array>();
  runtime!: RaftRuntime<unknown>;
  /** The incarnation the runtime belongs to (a restarted member rebuilding its store has none yet). */
  private runtimeInc: Incarnation | undefined;
  private machine!: SimMachine;
  /** An MVCC member's etcd server (none on the kv machine). */
  private server: EtcdServer | undefined;
  private inc: Incarnation | undefined;
  incarnation = 0;
  /** Messages that arrived while paused, in arrival order. */
  private inbox: { from: number; run: () => void }[] = [];
  readonly drift: ClockDrift = { rate: 1, jumpedMs: 0 };

  constructor(
    readonly id: NodeId,
    private readonly env: NodeEnv,
    private readonly opts: SimNodeOptions,
    disk: MemoryStorage,
    private readonly reportFatal: (e: Error) => void,
  ) {
    this.durable = disk;
  }

  get disk(): MemoryStorage {
    return this.durable;
  }

  get alive(): boolean {
    return this.inc?.alive ?? false;
  }

  /** Alive with its runtime started (a member still opening its disk after a restart runs none yet). */
  get running(): boolean {
    return this.alive && this.runtimeInc === this.inc;
  }

  /** The Raft core inside the runtime (for the simulator's checks and operator). */
  get rn(): RawNode {
    return this.runtime.rn;
  }

  get confState(): ConfState {
    return this.runtime.confStateNow();
  }

  /** `phaseMs`: when in the tick period this incarnation's first tick falls. */
  start(phaseMs: number): void {
    this.incarnation++;
    const inc = new Incarnation(this.env, phaseMs, this.drift);
    this.inbox = [];
    this.inc = inc;
    // One clock per incarnation: the runtime's and the lease keeper's.
    const clock = inc.clock();
    if (this.opts.disk === "wal") {
      this.startFromWal(inc, clock);
      return;
    }
    const snap = this.disk.snapshot();
    const image = snap?.data ?? new Uint8Array();
    const index = snap?.metadata.index ?? 0;
    if (this.opts.machine === "kv") {
      this.machine = new KvMachine(image, index);
      this.startRuntime(inc, clock);
      return;
    }
    const machine = this.newMachine();
    this.machine = machine;
    if (image.length === 0) {
      this.startRuntime(inc, clock);
      return;
    }
    // The store is rebuilt from the snapshot image before the runtime starts;
    // anything that arrives meanwhile waits, as for a paused process.
    inc.pause();
    machine.restore(image, index).then(
      () => {
        if (!inc.alive) return;
        this.startRuntime(inc, clock);
        for (const run of this.resume(() => 0)) this.opts.schedule(run);
      },
      (e: Error) => this.onFatal(e),
    );
  }

  /** A state machine of the configured kind: empty, or over the member's durable store. */
  private newMachine(storage?: BitcaskMvccStorage): SimMachine {
    if (this.opts.machine === "kv") return new KvMachine(new Uint8Array(), 0);
    return new MvccMachine(storage);
  }

  /** The member's etcd server over its MVCC machine and runtime: what its clients call. */
  private newServer(machine: MvccMachine, clock: RuntimeClock): EtcdServer {
    const id64 = BigInt(this.id);
    const server = new EtcdServer(
      this.runtime as RaftRuntime<KvApplyResult>,
      machine.store,
      machine.db,
      {
        name: `n${this.id}`,
        memberId: this.id,
        clusterId: 1,
        memberId64: id64,
        clusterId64: 1n,
        peerUrls: [],
        clientUrls: [],
        electionTimeoutMs: this.opts.tickMs * this.opts.raft.electionTicks,
      },
      {
        clock,
        leaseMutations: this.opts.leaseMutations,
        watchMutations: this.opts.watchMutations,
        watchStreamBuffer: WATCH_STREAM_BUFFER,
        relay: this.leaseRelay(clock),
        clientUrlOf: (id) => `sim://${id}`,
      },
    );
    server.onDutyError = (what, e) =>
      this.onFatal(new Error(`member ${this.id}: ${what} failed: ${e.message}`, { cause: e }));
    return server;
  }

  /** Lease calls relayed to the leader over the simulated network, waiting for its answer. */
  private readonly relayWaits = new Map<number, (a: RelayAnswer) => void>();
  private relaySeq = 0;

  /** The server's relay of lease calls to the leader: a message to the member the URL names, as gRPC would. */
  private leaseRelay(clock: RuntimeClock): LeaseRelay {
    const call = <T>(url: string, c: RelayCall): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        const id = ++this.relaySeq;
        const timer = clock.setTimeout(() => {
          this.relayWaits.delete(id);
          reject(FloeError.of("NO_LEADER", "forwarding to the leader failed: deadline exceeded"));
        }, RELAY_TIMEOUT_MS);
        this.relayWaits.set(id, (a) => {
          clock.clear(timer);
          this.relayWaits.delete(id);
          if (a.ok) resolve(a.response as T);
          else reject(FloeError.of(a.error));
        });
        this.env.send(this.id, Number(url.slice("sim://".length)), { kind: "relay", id, call: c });
      });
    return {
      keepAlive: (url, req) => call(url, { method: "keepAlive", req }),
      timeToLive: (url, req) => call(url, { method: "timeToLive", req }),
    };
  }

  /** A peer's server relayed a lease call here: answer it as the leader's gRPC service would. */
  handleRelay(from: NodeId, id: number, c: RelayCall): void {
    const inc = this.inc;
    const server = this.server;
    if (!inc?.alive || server === undefined) return;
    const answer = (a: RelayAnswer) =>
      inc.alive && this.env.send(this.id, from, { kind: "relay-reply", id, answer: a });
    const pending: Promise<unknown> =
      c.method === "keepAlive" ? server.leaseKeepAlive(c.req) : server.leaseTimeToLive(c.req);
    pending.then(
      (response) => answer({ ok: true, response }),
      (e: Error) => {
        if (e instanceof FloeError) answer({ ok: false, error: e.def.name as ErrorName });
        else if (inc.alive) this.onFatal(e);
      },
    );
  }

  onRelayAnswer(id: number, a: RelayAnswer): void {
    if (this.alive) this.relayWaits.get(id)?.(a); // a duplicate or late answer finds nothing waiting
  }

  private startRuntime(inc: Incarnation, clock: RuntimeClock, walLog?: WalSimLog): void {
    this.runtimeInc = inc;
    const { electionTicks, heartbeatTicks, ...raft } = this.opts.raft;
    const rand = seededRand(this.opts.seed * 1_000_003 + this.id * 101 + this.incarnation);
    const log =
      walLog ?? new SimLog(this.id, this.disk, this.env, inc, this.opts.snapshotKeep, () => this.crash());
    this.runtime = new RaftRuntime(this.machine, {
      id: this.id,
      clock,
      randomUint32: uint32From(rand),
      log,
      transport: {
        send: (messages) => {
          if (!inc.alive) return;
          for (const m of messages) {
            if (this.sendsLiveImage(m)) {
              // The local snapshot is a reference to the store: a peer gets
              // the store's records as they are now, as the server streams them.
              void this.withLiveImage(m).then(
                (live) => inc.alive && this.env.send(this.id, m.to, { kind: "raft", msg: live }),
                (e: Error) => inc.alive && this.onFatal(e),
              );
              continue;
            }
            this.env.send(this.id, m.to, { kind: "raft", msg: this.withImage(m) });
          }
        },
      },
      tickMs: this.opts.tickMs,
      electionTicks,
      snapshotCount: this.opts.snapshotEvery,
      requestTimeoutMs: RUNTIME_REQUEST_TIMEOUT_MS,
      raft: { ...raft, heartbeatTicks },
      onSoftState: (s) => {
        if (!inc.alive) return;
        this.server?.onRole(s.role === StateRole.Leader);
        if (s.role !== StateRole.Leader) return;
        const rn = this.rn;
        this.env.observer.leader(this.id, rn.term, (i) => rn.logTerm(i), rn.firstIndex());
      },
      onApplied: (e) => {
        if (inc.alive) this.env.observer.applied(this.id, e);
      },
      onReadyDone: () => {
        if (inc.alive) this.observeCommit();
      },
      onFatal: (e) => {
        if (inc.alive) this.onFatal(e);
      },
      mutations: this.opts.runtimeMutations,
    });
    // The member's server: its lease keeper learns the role from the first Ready on.
    this.server = this.machine instanceof MvccMachine ? this.newServer(this.machine, clock) : undefined;
    this.runtime.start();
    // Its background duties (watch catch-up, compaction, lease expiry), on the member's clock.
    this.server?.start();
    const server = this.server;
    if (server !== undefined && this.machine instanceof MvccMachine) {
      // A store whose restore a crash interrupted takes no watch until the restore has run again.
      if (!server.store.needsRestore) this.openWatch(server, inc);
      this.machine.onRestored = () => {
        if (inc.alive && this.watch === undefined) this.openWatch(server, inc);
      };
    }
  }

  crash(): void {
    if (!this.stopProcess()) return;
    // Power loss: the files keep what was synced (and maybe part of what was
    // not); the next incarnation is a new process on them.
    this.fs?.crash(WAL_DIR);
    this.fs = this.fs?.reboot();
  }

  /** Ends the incarnation: its timers, disk completions and replies are dropped. False if it had ended. */
  private stopProcess(): boolean {
    const inc = this.inc;
    if (!inc?.alive) return false;
    inc.alive = false;
    this.runtime?.stop();
    this.watch?.abort.abort();
    this.watch = undefined;
    this.server?.stop();
    this.server = undefined;
    this.relayWaits.clear();
    return true;
  }

  /** The incarnation a simulated disk error was injected into (its fatal errors are that error's). */
  private diskFaulted: Incarnation | undefined;
  /** "wal" mode: the simulator's initial disk was written to the member's WAL. */
  private walSetUp = false;

  /**
   * A fatal error. After a simulated disk error the member stops as the
   * server does (the process exits; the machine and its page cache stay)
   * and the simulator restarts it; any other fatal error fails the run.
   */
  private onFatal(e: Error): void {
    const inc = this.inc;
    if (inc === undefined || inc !== this.diskFaulted) {
      this.reportFatal(e);
      return;
    }
    if (!this.stopProcess()) return;
    this.fs = this.fs?.reboot();
    this.env.exited(this.id, e);
  }

  private sendsLiveImage(m: Message): boolean {
    return m.type === MessageType.Snap && this.machine instanceof MvccMachine && this.machine.durable;
  }

  private async withLiveImage(m: Message): Promise<Message> {
    const data = await collectImage(await this.machine.snapshot());
    return { ...m, snapshot: { metadata: m.snapshot!.metadata, data } };
  }

  /** A snapshot message from the WAL carries no image (the WAL keeps it in a file): attach it, as the transport does. */
  private withImage(m: Message): Message {
    if (this.walLog === undefined || m.type !== MessageType.Snap || !m.snapshot || m.snapshot.data.length > 0)
      return m;
    const data = this.images.get(m.snapshot.metadata.index);
    if (data === undefined)
      throw new Error(`member ${this.id} has no image for snapshot ${m.snapshot.metadata.index}`);
    return { ...m, snapshot: { ...m.snapshot, data } };
  }

  /**
   * "wal" mode: opens the member's WAL on its file system (after a crash:
   * recovers it, and checks that it still holds everything it acknowledged),
   * rebuilds the state machine from its snapshot, then starts the runtime.
   * Messages that arrive meanwhile wait, as for a paused process.
   */
  private startFromWal(inc: Incarnation, clock: RuntimeClock): void {
    // Until the simulator's initial disk is on the WAL (a disk error may stop the first start), each start sets it up.
    const first = !this.walSetUp;
    const fsRand = seededRand(this.opts.seed * 7919 + this.id * 31 + 5);
    this.fs ??= new SimFs({
      rand: () => fsRand.float(),
      fault: (op) => {
        const inc = this.inc;
        if (!inc?.alive) return undefined;
        const code = this.env.diskFault(this.id, op);
        if (code !== undefined) this.diskFaulted = inc;
        return code;
      },
      // Completions belong to the incarnation that made the call: a crash drops them.
      later: (op, done) => {
        const at = this.inc;
        const ms = op === "sync" || op === "datasync" ? this.env.diskLatencyMs() : FS_CALL_MS;
        if (at !== undefined && this.runtimeInc === at) at.later(ms, done);
        else this.env.later(ms, () => at?.alive && done());
      },
    });
    const inflight = this.walLog?.inflight;
    this.walLog = undefined;
    inc.pause();
    // Until its store is open the member has an empty machine (no runtime runs on it yet).
    let machine = this.newMachine();
    this.machine = machine;
    (async () => {
      const wal = await WalStorage.open(WAL_DIR, {
        fs: this.fs,
        logger: () => {},
        verifySnapshotOnOpen: false,
        // Small segments and cache: cuts, compactions and reads from segment files happen often.
        segmentSizeBytes: 16 * 1024,
        preallocateBytes: 4 * 1024,
        cacheSizeBytes: 8 * 1024,
        // The simulated disk's latency applies to asynchronous calls: an inline
        // fdatasync would be instant here. Saves stay asynchronous, which allows
        // every interleaving an inline one does (and more).
        inlineSyncMaxMs: 0,
        mutations: this.opts.walMutations,
      });
      if (first) {
        // A new member's disk as the simulator set it up (a bootstrapped log, or nothing).
        const d = this.durable;
        const snap = d.snapshot();
        if (snap && snap.metadata.index > 0) await wal.save({ snapshot: snap, hardState: d.hardState() });
        this.walSetUp = true;
      } else {
        const lost = checkRecovered(wal, this.durable, inflight);
        if (lost) this.env.observer.violation(`member ${this.id} after a crash: ${lost}`);
      }
      const meta = wal.snapshot().metadata;
      let image = this.images.get(meta.index);
      if (meta.index > 0 && image === undefined)
        image = await collectImage((await wal.openSnapshot(meta.index)).chunks);
      image ??= new Uint8Array();
      if (meta.index > 0) this.images.set(meta.index, image);
      // What the disk holds now is the mirror the simulator's checks read.
      const mirror = new MemoryStorage({ metadata: meta, data: image });
      mirror.append(wal.entries(wal.firstIndex(), wal.lastIndex() + 1, Number.MAX_SAFE_INTEGER));
      mirror.setHardState(wal.hardState());
      this.durable = mirror;
      let flush = async () => {};
      if (this.opts.machine === "mvcc") {
        // The server's store: MVCC over bitcask, synced only before the log
        // records a snapshot (a crash otherwise leaves it behind the log,
        // which replays the rest). Files roll over at 16 KiB, so rollovers
        // and hints happen; a batch may still take up to 1 MiB (the store
        // coalesces a Ready's writes into one batch).
        const db = await Bitcask.open(KV_DIR, {
          fs: this.fs,
          sync: "none",
          maxFileBytes: 1024 * 1024,
          rolloverBytes: 16 * 1024,
          logger: quiet,
        });
        const storage = new BitcaskMvccStorage(db);
        machine = this.newMachine(storage);
        this.machine = machine;
        flush = () => storage.flush();
      }
      // A store behind the snapshot (a crash lost applies the log no longer
      // holds, or an installed snapshot not yet synced) or holding a restore
      // cut short is replaced by its image (as server/start.ts does); one at
      // or past it replays the log from its own applied index.
      const interrupted = machine instanceof MvccMachine && machine.needsRestore();
      if (image.length > 0 && (interrupted || machine.appliedIndex() < meta.index))
        await machine.restore(image, meta.index);
      return walSimLog(
        this.id,
        wal,
        mirror,
        this.images,
        this.env,
        this.opts.snapshotKeep,
        () => this.crash(),
        flush,
      );
    })()
      .then((log) => {
        if (!inc.alive) return;
        this.walLog = log;
        this.startRuntime(inc, clock, log);
        for (const run of this.resume(() => 0)) this.opts.schedule(run);
      })
      .catch((e: Error) => {
        if (inc.alive) this.onFatal(e);
      });
  }

  get paused(): boolean {
    return this.inc?.paused ?? false;
  }

  /**
   * The process stops: no timer fires, no message is read, no write
   * completes until resume(). (A member still opening its disk after a
   * restart waits already, and its opening ends that wait, not a resume().)
   */
  pause(): void {
    if (this.running) this.inc?.pause();
  }

  /**
   * The process continues. Returns, for the caller to run one at a time, the
   * timers that came due (first, as Node's event loop runs timers before
   * I/O), then the messages that arrived: each sender's in order, the senders
   * interleaved as `pick` chooses (the order in which a process finds its
   * sockets readable is arbitrary).
   */
  resume(pick: (n: number) => number): (() => void)[] {
    const inc = this.inc;
    if (!inc?.paused || !this.running) return [];
    const out = inc.resume();
    const bySender = new Map<number, (() => void)[]>();
    for (const m of this.inbox) {
      const q = bySender.get(m.from);
      if (q) q.push(m.run);
      else bySender.set(m.from, [m.run]);
    }
    this.inbox = [];
    const queues = [...bySender.values()];
    while (queues.length > 0) {
      const i = pick(queues.length);
      const run = queues[i].shift();
      if (queues[i].length === 0) queues.splice(i, 1);
      if (run) out.push(run);
    }
    return out.map((run) => () => {
      if (inc.alive) run();
    });
  }

  /** Delivers a message now, or queues it while the process is paused. */
  receive(from: number, run: () => void): void {
    if (!this.alive) return;
    if (this.paused) this.inbox.push({ from, run });
    else run();
  }

  /** HashKV at `rev` (0: the current revision) and the revision it covers, from a live MVCC member's server. */
  async hashKV(rev = 0): Promise<{ revision: number; hash: number } | undefined> {
    if (!this.running || this.server === undefined) return undefined;
    const h = await this.server.hashKV(
      createMessage(etcdserverpb.HashKVRequestSchema, { revision: BigInt(rev) }),
    );
    return { revision: Number(h.hashRevision), hash: h.hash };
  }

  /** A key's value at `revision` in a live MVCC member's store ("none": the member has no server). */
  async valueAt(key: number, revision: number): Promise<number | undefined | "none"> {
    if (!this.running || this.server === undefined) return "none";
    return valueAt(this.server, key, revision);
  }

  /** A live MVCC member's leases and the leased keys (clients' "l<c>") its store holds. */
  leaseState(): { leases: number; leasedKeys: string[] } | undefined {
    if (!this.alive || !(this.machine instanceof MvccMachine)) return undefined;
    return { leases: this.machine.leaseCount(), leasedKeys: this.machine.leasedKeys() };
  }

  /**
   * The member's client watch stream: the server's Watch call on every key
   * from revision 1, read by a consumer that now and then stops reading for a
   * while (so the stream's buffer fills and the hub must catch it up from
   * storage). It lasts as long as the incarnation, snapshot installs included.
   */
  private openWatch(server: EtcdServer, inc: Incarnation): void {
    const check = this.env.watches;
    if (check === undefined) return;
    const stream = check.stream(this.id, this.incarnation);
    const abort = new AbortController();
    const watch: OpenWatch = { stream, abort, draining: false, server, resume: undefined };
    this.watch = watch;
    const create = etcdserverpb.WatchRequestSchema;
    const requests = (async function* () {
      yield createMessage(create, {
        requestUnion: {
          case: "createRequest",
          value: { key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]), startRevision: 1n },
        },
      });
      // The client keeps its request stream open until it goes away.
      await new Promise((resolve) => abort.signal.addEventListener("abort", resolve));
    })();
    const hub = server.store.hub;
    let refusedBefore = hub.refusedDeliveries;
    const consume = async (): Promise<void> => {
      for await (const r of server.watch(requests, { signal: abort.signal })) {
        if (!inc.alive || abort.signal.aborted) return;
        stream.accept(r);
        stream.refused(hub.refusedDeliveries - refusedBefore);
        refusedBefore = hub.refusedDeliveries;
        if (!watch.draining && this.env.random() < WATCH_PAUSE_SHARE) {
          await new Promise<void>((resolve) => {
            watch.resume = resolve;
            this.env.later(1 + Math.floor(this.env.random() * 60), resolve);
          });
          watch.resume = undefined;
        }
      }
    };
    consume().catch((e: Error) => inc.alive && this.onFatal(e));
  }

  private watch: OpenWatch | undefined;

  /** End of a run: the member's watch stream, read without pauses now, must reach every revision its store has. */
  async finishWatch(): Promise<void> {
    const w = this.watch;
    if (!this.alive || w === undefined) return;
    w.draining = true;
    w.resume?.(); // a reader waiting out a pause reads on now
    const store = w.server.store;
    // Until the hub has caught the watcher up and the reader has taken every response (bounded: a
    // stream that never gets there fails complete() below).
    for (let i = 0; i < 10_000; i++) {
      const unsynced = store.hub.syncSome(1000);
      await drainMicrotasks();
      if (unsynced === 0 && w.stream.lastRevision >= store.revision) break;
    }
    w.stream.complete(store.revision);
    w.abort.abort();
  }

  isLeader(): boolean {
    return this.running && this.runtime.isLeader();
  }

  private observeCommit(): void {
    const rn = this.rn;
    this.env.observer.committed(this.id, rn.committed, (i) => rn.logTerm(i), rn.firstIndex());
  }

  stepPeer(msg: Parameters<RawNode["step"]>[0]): void {
    if (!this.alive) return;
    const before = this.rn.committed;
    this.runtime.step(msg);
    // Report a commit the moment it happens (not at the next fsync), so a
    // commit that counted a copy still being written is seen as such.
    if (this.rn.committed > before) this.observeCommit();
  }

  handleRequest(client: number, request: ClientRequest): void {
    const inc = this.inc;
    if (!inc?.alive) return;
    const reply = (
      r: { ok: true; result: KvResult; revision?: number } | { ok: false; reason: string },
    ): void => {
      if (!inc.alive) return; // a dead member answers nothing
      const body = r.ok
        ? { req: request.req, ok: true as const, result: r.result, revision: r.revision }
        : { req: request.req, ok: false as const, reason: r.reason, leaderHint: this.runtime.leader() };
      this.env.send(this.id, client, { kind: "reply", reply: body });
    };
    if (this.runtime.leader() === 0) {
      reply({ ok: false, reason: "no leader known" });
      return;
    }
    const { readMode, ...cmd } = request;
    if (this.server !== undefined) {
      // An MVCC member: the request goes to its etcd server, as a client's does.
      callBackend(this.server, cmd, readMode).then(
        (outcome) => outcome && reply(outcome),
        (e: Error) => inc.alive && this.onFatal(e),
      );
      return;
    }
    const machine = this.machine as KvMachine;
    if (request.op === "read" && readMode === "readindex") {
      // A read that fails had no effect: any failure may be reported as one.
      this.runtime.readBarrier().then(
        () => reply({ ok: true, result: { type: "read_ok", value: machine.read(request.key) } }),
        (e: Error) => reply({ ok: false, reason: e.message }),
      );
      return;
    }
    this.runtime.propose(machine.encode(cmd)).then(
      (applied) => reply({ ok: true, result: applied as KvResult }),
      (e: Error) => {
        // Only a proposal the core refused is a definite failure; one that
        // timed out or outlived its member may still commit.
        if (e instanceof RuntimeError && e.code === "ProposalDropped")
          reply({ ok: false, reason: e.message });
      },
    );
  }

  /** The simulated operator: a refused request (not leader, change pending) is no failure of the member. */
  operator(fn: (rt: RaftRuntime<unknown>) => void): void {
    if (!this.alive) return;
    try {
      fn(this.runtime);
    } catch (e) {
      if (!(e instanceof RuntimeError)) throw e;
    }
  }

  /** The applied index (while a restarted member rebuilds its store: the snapshot's). */
  appliedIndex(): number {
    return this.runtimeInc === this.inc ? this.runtime.appliedIndex() : this.machine.appliedIndex();
  }
}

/**
 * After a crash: does the reopened WAL still hold everything it acknowledged
 * (`acked`), allowing for the save that was in flight, which may or may not
 * have reached the disk? Returns what was lost, or undefined.
 */
function checkRecovered(
  wal: WalStorage,
  acked: MemoryStorage,
  inflight: SaveRequest | undefined,
): string | undefined {
  const had = acked.snapshot()?.metadata.index ?? 0;
  const snap = wal.snapshot().metadata.index;
  if (snap < had) return `its snapshot went back from ${had} to ${snap}`;
  const hs = wal.hardState();
  const was = acked.hardState();
  if (hs.term < was.term) return `its term went back from ${was.term} to ${hs.term}`;
  if (hs.term === was.term && was.vote !== 0 && hs.vote !== was.vote)
    return `its vote in term ${hs.term} changed from ${was.vote} to ${hs.vote}`;
  // The in-flight save may have replaced entries from its first one on (or,
  // installing a snapshot, the whole log).
  const from = inflight?.snapshot ? inflight.snapshot.metadata.index : inflight?.entries[0]?.index;
  for (let i = Math.max(acked.firstIndex(), wal.firstIndex()); i <= acked.lastIndex(); i++) {
    const t = wal.term(i);
    if (t === acked.term(i)) continue;
    if (from !== undefined && i >= from) {
      if (t === undefined || inflight?.entries.find((e) => e.index === i)?.term === t) continue;
    }
    return `entry ${i} (term ${acked.term(i)}) was acknowledged as durable, the log now holds ${t === undefined ? "nothing" : `term ${t}`} there`;
  }
  return undefined;
}
