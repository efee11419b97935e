// The node runtime: drives the pure Raft core with real time, a durable log,
// a transport and any deterministic state machine. It owns the Ready loop
// (persist, send, apply, advance; one at a time), proposal batching (all
// proposals of one event-loop turn go out as one append), waiters resolved
// when their entry applies, ReadIndex barriers for linearizable reads, and
// periodic snapshots with log compaction. The same runtime serves the etcd
// server, and any other state machine (see README, "Replicating your own
// state machine").

import { randomBytes } from "node:crypto";
import {
  type ConfChange,
  type ConfState,
  coalesceMessages,
  decodeConfChange,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  type NodeId,
  type RaftConfig,
  RawNode,
  type Ready,
  type Snapshot,
  type SnapshotMetadata,
  type SoftState,
  StateRole,
  type Storage,
  seededRand,
} from "../raft/index.ts";

/** A state-machine image: whole, or streamed in chunks (bounded memory). */
export type SnapshotImage = Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** Collects an image into one buffer (for stores that keep images in memory). */
export async function collectImage(image: SnapshotImage): Promise<Uint8Array> {
  if (image instanceof Uint8Array) return image;
  const parts: Uint8Array[] = [];
  for await (const c of image) parts.push(c);
  return Buffer.concat(parts);
}

/** A deterministic state machine: the same entries in the same order give the same state everywhere. */
export interface StateMachine<R> {
  /** Applies one committed command; `index` is its log index. Must not depend on time or randomness. */
  apply(index: number, data: Uint8Array): R | Promise<R>;
  /** Called after the committed entries of one Ready are applied (e.g. to write them out together). */
  afterApply?(): void | Promise<void>;
  /** Called for configuration entries after the core applied them. */
  applyConfChange?(index: number, cc: ConfChange, cs: ConfState): void | Promise<void>;
  /** The index of the last applied entry as durably recorded by the state machine. */
  appliedIndex(): number;
  /** A point-in-time image for a Raft snapshot (the runtime applies nothing until it is consumed). */
  snapshot(): Promise<SnapshotImage>;
  /**
   * For state machines that keep their own durable state (etcd's backend,
   * floe's bitcask store): a small image standing for that state, written
   * for local snapshots instead of snapshot()'s. The log store must make the
   * state durable (at least to the applied index the image names) before it
   * records the snapshot and drops entries. Peers then get a snapshot()
   * image made when they need one, which may be newer than the snapshot's
   * index; restore() must accept that (entries up to the image's applied
   * index are then skipped here).
   */
  localSnapshot?(): Promise<SnapshotImage>;
  /** Replaces the whole state with an image; appliedIndex() is then the image's (at least `index`). */
  restore(image: SnapshotImage, index: number): Promise<void>;
}

/** One Ready's durable state. */
export interface SaveRequest {
  hardState?: HardState;
  entries: readonly Entry[];
  snapshot?: Snapshot;
  /** False when only the commit index changed: write, but no fsync is needed (Ready.mustSync). */
  sync?: boolean;
  /**
   * Nothing else waits for this process while the save runs (a follower's
   * small Ready: at light load it has no other work): the store may block the
   * thread for its fsync rather than hand it to another thread.
   */
  inline?: boolean;
}

/** Durable Raft state: what the core reads (Storage) plus the writes a Ready requires. */
export interface LogStore extends Storage {
  /** Persists one Ready's hard state, entries and snapshot with a single fsync (none when !sync). */
  save(rd: SaveRequest): Promise<void>;
  /** Records a snapshot taken locally and drops log entries before `index - keep`. */
  saveLocalSnapshot(index: number, cs: ConfState, image: SnapshotImage): Promise<void>;
  /**
   * The two halves of saveLocalSnapshot, for stores that can write the image
   * concurrently with appends: write the image (may run alongside save()),
   * then commit it (marker and compaction; called between Ready cycles).
   */
  writeLocalSnapshot?(index: number, cs: ConfState, image: SnapshotImage): Promise<SnapshotMetadata>;
  commitLocalSnapshot?(meta: SnapshotMetadata): Promise<void>;
  /**
   * The image of a stored snapshot, for stores whose snapshot() metadata
   * comes without its data (the image is streamed from a file).
   */
  openSnapshotImage?(index: number): Promise<AsyncIterable<Uint8Array>>;
}

export interface Transport {
  send(messages: readonly Message[]): void;
  reportUnreachable?: (id: NodeId) => void;
}

/** The step of a Ready cycle: writing the log, applying to the state machine, taking a snapshot. */
export type ReadyStage = "persist" | "apply" | "snapshot";

/** The error that stopped the Ready loop, with the step it stopped in; `cause` is what was thrown. */
export class ReadyLoopError extends Error {
  constructor(
    readonly stage: ReadyStage,
    cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = "ReadyLoopError";
  }
}

export type RuntimeErrorCode = "Stopped" | "Timeout" | "ProposalDropped" | "LeaderChanged";

export class RuntimeError extends Error {
  constructor(
    readonly code: RuntimeErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "RuntimeError";
  }
}

/** A timer of a RuntimeClock (opaque: a Node timer, or a simulator event). */
export type ClockTimer = unknown;

/**
 * Time and timers, injected: the process's own by default (realClock), a
 * virtual clock in the deterministic simulator. Times are milliseconds on a
 * monotonic clock.
 */
export interface RuntimeClock {
  now(): number;
  /** Calls `fn` once after `ms`; a `weak` timer does not keep the process alive. */
  setTimeout(fn: () => void, ms: number, weak?: boolean): ClockTimer;
  /** Calls `fn` every `ms` until cleared; a `weak` timer does not keep the process alive. */
  setInterval(fn: () => void, ms: number, weak?: boolean): ClockTimer;
  clear(timer: ClockTimer | undefined): void;
}

/** The process's monotonic clock and Node's timers. */
export const realClock: RuntimeClock = {
  now: () => performance.now(),
  setTimeout(fn, ms, weak) {
    const t = setTimeout(fn, ms);
    if (weak) t.unref();
    return t;
  },
  setInterval(fn, ms, weak) {
    const t = setInterval(fn, ms);
    if (weak) t.unref();
    return t;
  },
  clear: (t) => clearTimeout(t as NodeJS.Timeout | undefined),
};

/** 32 random bits from the operating system. */
export const realRandomUint32 = (): number => randomBytes(4).readUInt32LE(0);

export interface RuntimeOptions {
  id: NodeId;
  /** Time and timers (default: realClock). */
  clock?: RuntimeClock;
  /** Randomness: seeds the election timer jitter and the proposal id prefix (default: the OS's). */
  randomUint32?: () => number;
  log: LogStore;
  transport: Transport;
  tickMs: number;
  electionTicks: number;
  /** Take a snapshot after this many applied entries. */
  snapshotCount: number;
  requestTimeoutMs: number;
  raft?: Partial<Omit<RaftConfig, "id" | "storage" | "rand" | "applied">>;
  logger?: (event: string, fields: Record<string, unknown>) => void;
  onSoftState?: (s: SoftState) => void;
  /** The configuration after each applied configuration change (also when replayed at start). */
  onConfState?: (cs: ConfState) => void;
  /** The Ready loop failed (e.g. an fsync error or a full disk): the member must stop. */
  onFatal?: (e: Error) => void;
  /** Each committed entry as it is applied here (not those a restart skips as already applied). */
  onApplied?: (e: Entry) => void;
  /** A Ready cycle ended (persisted, sent, applied, advanced). */
  onReadyDone?: () => void;
  /** Deliberately broken behaviours, for proving the simulator catches them. Never set in production. */
  mutations?: RuntimeMutations;
}

export interface RuntimeMutations {
  /** Tick the core once per timer callback, however long the process was paused (stale leases). */
  tickOncePerCallback?: boolean;
  /** Send every Ready's messages (acks, votes) before its entries and hard state are durable. */
  sendBeforeDurable?: boolean;
  /** Install a leader's snapshot into the state machine without recording it in the log first. */
  installSnapshotWithoutMarker?: boolean;
}

interface Waiter<R> {
  resolve: (r: R) => void;
  reject: (e: Error) => void;
  timer: ClockTimer;
}

/**
 * A proposal waiting to apply. It has a deadline rather than a timer of its
 * own: proposals are made in deadline order, so the tick sweeps the oldest
 * until one is still in time (a timer per proposal cost an allocation and a
 * timer-list insert and removal on every write).
 */
interface ProposalWaiter<R> {
  resolve: (r: R) => void;
  reject: (e: Error) => void;
  deadlineMs: number;
}

/** One ReadIndex round: the reads it covers and every context it was requested under (retries add one). */
interface ReadRound {
  contexts: string[];
  waiters: Waiter<void>[];
  retry: ClockTimer | undefined;
}

/** A ReadIndex round with no answer after this long is requested again. */
const READ_RETRY_MS = 500;

/** After the leader's connection closes: the first voter campaigns after this long (its peers see the close too). */
const FAST_CAMPAIGN_BASE_MS = 20;
/** ... and each further voter (in id order) this many ticks later. */
const FAST_CAMPAIGN_STEP_TICKS = 2;

/**
 * A follower's save of at most this many entries may block the loop for its
 * fsync (SaveRequest.inline): one or a few entries mean light load, where the
 * loop has nothing else to do meanwhile. Larger saves (a loaded follower, or
 * one catching up) leave the loop free to serve reads and forward proposals.
 */
const INLINE_SAVE_MAX_ENTRIES = 4;

/** Proposals carry an 8-byte id so the proposer can match the applied entry to its waiter. */
const ID_BYTES = 8;

export class RaftRuntime<R> {
  readonly rn: RawNode;
  /** Proposals of this process by their sequence number (the low half of their id), oldest first. */
  private readonly waiters = new Map<number, ProposalWaiter<R>>();
  /**
   * Linearizable reads share ReadIndex rounds, as etcd's read loop does: one
   * round is in flight at a time and covers the reads that arrived before it
   * was requested; reads arriving meanwhile wait for the next one. (A ReadIndex
   * per read cost a heartbeat to every follower and its answer per read.)
   */
  private readQueue: Waiter<void>[] = [];
  private readRound: ReadRound | undefined;
  private readsAwaitingApply: { index: number; waiter: Waiter<void> }[] = [];
  private batch: Uint8Array[] = [];
  private batchScheduled = false;
  private running = false;
  private pumping = false;
  private stopped = false;
  private timer: ClockTimer | undefined;
  private readonly clock: RuntimeClock;
  /** When the core was last ticked up to (a multiple of tickMs after start). */
  private lastTickAt = 0;
  private applied: number;
  private snapIndex: number;
  /**
   * The commit index of the last hard state handed to the log store. A local
   * snapshot may not pass it: a restart finds the snapshot's index at most
   * the log's commit index (Raft asserts it). Applied can run ahead of it for
   * a while after installing a peer's image newer than its snapshot's index.
   */
  private savedCommit: number;
  private confState: ConfState;
  private readSeq = 0;
  private snapshotWriting = false;
  /** Work that must run inside the Ready loop, between Ready cycles (snapshot commits). */
  private readonly pendingCommits: (() => Promise<void>)[] = [];
  private readonly idPrefix: number;
  private idSeq = 0;
  private fatal: Error | undefined;
  /** Proposals that ended without applying (dropped, timed out, or failed with the node): etcd's proposals_failed. */
  proposalsFailed = 0;
  /** What the Ready loop is doing, for the error that stops it. */
  private stage: ReadyStage = "persist";

  constructor(
    private readonly sm: StateMachine<R>,
    private readonly opts: RuntimeOptions,
  ) {
    this.clock = opts.clock ?? realClock;
    this.sendEarly = opts.mutations?.sendBeforeDurable === true;
    this.dropSnapshotMarker = opts.mutations?.installSnapshotWithoutMarker === true;
    const random = opts.randomUint32 ?? realRandomUint32;
    this.idPrefix = random() >>> 0;
    this.applied = sm.appliedIndex();
    const snap = opts.log.snapshot();
    this.snapIndex = snap?.metadata.index ?? 0;
    this.savedCommit = opts.log.initialState().hardState.commit;
    this.confState = opts.log.initialState().confState;
    this.rn = new RawNode({
      ...opts.raft,
      id: opts.id,
      storage: opts.log,
      rand: seededRand(random()),
      electionTicks: opts.electionTicks,
      heartbeatTicks: 1,
      // Raft re-delivers everything after the snapshot: configuration changes
      // must be replayed into the core (its configuration starts from the
      // snapshot's), while entries the state machine already has are skipped.
      applied: this.snapIndex,
      logger: this.log,
    });
  }

  /** Mutations (simulator only), read once rather than on every Ready. */
  private readonly sendEarly: boolean;
  private readonly dropSnapshotMarker: boolean;

  /** The host's logger, each event with the term it happened in (the core's own field wins). */
  private readonly log = (event: string, fields: Readonly<Record<string, unknown>>): void => {
    // this.rn is unset while the core is being built (and logs its first role)
    this.opts.logger?.(event, { term: (this.rn as RawNode | undefined)?.term, ...fields });
  };

  start(): void {
    if (this.running) return;
    this.running = true;
    this.lastTickAt = this.clock.now();
    this.timer = this.clock.setInterval(() => {
      this.catchUpTicks();
      this.expireProposals();
      this.pump();
    }, this.opts.tickMs);
    this.pump();
  }

  /**
   * Ticks the core once per tick period elapsed on the monotonic clock since
   * the last tick, not once per timer callback: a process that was paused
   * (a long GC, SIGSTOP, a stalled VM) gets every tick it missed at once, so
   * its election timer, check-quorum and leader lease have expired before it
   * acts on anything it reads after the pause. Capped: past twice the
   * election timeout, more ticks change nothing.
   */
  private catchUpTicks(): void {
    if (!this.running || this.stopped) return;
    const tickMs = this.opts.tickMs;
    const due = Math.floor((this.clock.now() - this.lastTickAt) / tickMs);
    if (due <= 0) return;
    this.lastTickAt += due * tickMs;
    const n = this.opts.mutations?.tickOncePerCallback ? 1 : Math.min(due, 2 * this.opts.electionTicks + 1);
    for (let i = 0; i < n; i++) this.rn.tick();
  }

  /** Stops ticking and fails every waiter; in-flight persistence finishes. */
  stop(): void {
    this.stopped = true;
    this.clock.clear(this.timer);
    const err = new RuntimeError("Stopped", "the node is stopping");
    for (const w of this.waiters.values()) w.reject(err);
    this.waiters.clear();
    if (this.readRound) this.clock.clear(this.readRound.retry);
    const reads = [
      ...this.readQueue,
      ...(this.readRound?.waiters ?? []),
      ...this.readsAwaitingApply.map((r) => r.waiter),
    ];
    this.readQueue = [];
    this.readRound = undefined;
    this.readsAwaitingApply = [];
    for (const w of reads) this.settle(w, err);
  }

  /** Error that stopped the Ready loop (e.g. a failed fsync); the node must not continue. */
  failure(): Error | undefined {
    return this.fatal;
  }

  step(m: Message): void {
    if (this.stopped) return;
    const err = this.rn.step(m);
    if (err) this.log("step-refused", { from: m.from, type: m.type, reason: err.message });
    this.pump();
  }

  isLeader(): boolean {
    return this.rn.role === StateRole.Leader;
  }

  leader(): NodeId {
    return this.rn.lead;
  }

  /** Proposes a command and resolves with the state machine's result once it applies here. */
  propose(data: Uint8Array): Promise<R> {
    if (this.stopped) return Promise.reject(new RuntimeError("Stopped", "the node is stopping"));
    // A random per-process prefix and a counter: unique without a random draw per call.
    this.idSeq = (this.idSeq + 1) >>> 0;
    const framed = Buffer.allocUnsafe(ID_BYTES + data.length);
    framed.writeUInt32BE(this.idPrefix, 0);
    framed.writeUInt32BE(this.idSeq, 4);
    framed.set(data, ID_BYTES);
    const seq = this.idSeq;
    return new Promise<R>((resolve, reject) => {
      this.waiters.set(seq, { resolve, reject, deadlineMs: this.clock.now() + this.opts.requestTimeoutMs });
      this.batch.push(framed);
      if (!this.batchScheduled) {
        this.batchScheduled = true;
        queueMicrotask(() => this.flushBatch());
      }
    });
  }

  proposeConfChange(cc: ConfChange): void {
    const err = this.rn.proposeConfChange(cc);
    if (err) throw new RuntimeError("ProposalDropped", err.message);
    this.pump();
  }

  private flushBatch(): void {
    this.batchScheduled = false;
    const batch = this.batch;
    this.batch = [];
    const err = this.rn.proposeBatch(batch);
    if (err) {
      for (const framed of batch) {
        const seq = ((framed[4] << 24) | (framed[5] << 16) | (framed[6] << 8) | framed[7]) >>> 0;
        const w = this.waiters.get(seq);
        if (w) {
          this.waiters.delete(seq);
          this.proposalsFailed++;
          w.reject(new RuntimeError("ProposalDropped", err.message));
        }
      }
    }
    this.pump();
  }

  /** Resolves once this member has applied everything committed when the call was made (linearizable). */
  readBarrier(): Promise<void> {
    if (this.stopped) return Promise.reject(new RuntimeError("Stopped", "the node is stopping"));
    // A lease read must see the lease as of now, not as of the last timer callback.
    this.catchUpTicks();
    return new Promise<void>((resolve, reject) => {
      const w: Waiter<void> = {
        resolve,
        reject,
        timer: this.clock.setTimeout(() => this.readTimedOut(w), this.opts.requestTimeoutMs),
      };
      this.readQueue.push(w);
      if (!this.readRound) this.startReadRound();
    });
  }

  /** Requests a ReadIndex for every queued read. */
  private startReadRound(): void {
    if (this.readQueue.length === 0 || this.stopped) return;
    const round: ReadRound = { contexts: [], waiters: this.readQueue, retry: undefined };
    this.readQueue = [];
    this.readRound = round;
    this.requestReadIndex(round);
  }

  /** Asks the core for a read index for `round`; again after READ_RETRY_MS if no answer came (a lost message, a new leader). */
  private requestReadIndex(round: ReadRound): void {
    const ctx = `${this.opts.id}:${++this.readSeq}`;
    const err = this.rn.readIndex(ctx);
    if (err) {
      this.readRound = undefined;
      for (const w of round.waiters) this.settle(w, new RuntimeError("ProposalDropped", err.message));
      this.startReadRound();
      return;
    }
    round.contexts.push(ctx);
    this.clock.clear(round.retry);
    round.retry = this.clock.setTimeout(
      () => {
        if (this.readRound === round && !this.stopped) this.requestReadIndex(round);
      },
      READ_RETRY_MS,
      true,
    );
    this.pump();
  }

  /** A read state from the core: the round it answers may read once `index` is applied here. */
  private onReadState(context: string, index: number): void {
    const round = this.readRound;
    if (!round?.contexts.includes(context)) return;
    this.clock.clear(round.retry);
    this.readRound = undefined;
    for (const w of round.waiters) this.readsAwaitingApply.push({ index, waiter: w });
    this.startReadRound();
  }

  private readTimedOut(w: Waiter<void>): void {
    const drop = <T>(list: T[], match: (x: T) => boolean): boolean => {
      const i = list.findIndex(match);
      if (i >= 0) list.splice(i, 1);
      return i >= 0;
    };
    const found =
      drop(this.readQueue, (x) => x === w) ||
      (this.readRound !== undefined && drop(this.readRound.waiters, (x) => x === w)) ||
      drop(this.readsAwaitingApply, (r) => r.waiter === w);
    if (found) w.reject(new RuntimeError("Timeout", "request timed out"));
  }

  private settle<T>(w: Waiter<T>, e: Error): void {
    this.clock.clear(w.timer);
    w.reject(e);
  }

  /** Runs Ready cycles one at a time until there is nothing to do. */
  private pump(): void {
    if (this.pumping || this.stopped || this.fatal) return;
    this.pumping = true;
    void this.loop().then(
      () => {
        this.pumping = false;
        // Work that arrived after the loop's last look (a step() between its
        // final hasReady() and this callback found `pumping` set and left it):
        // without this it would wait for the next tick.
        if (this.pendingCommits.length > 0 || this.rn.hasReady()) this.pump();
      },
      (e: unknown) => {
        this.pumping = false;
        this.fatal = new ReadyLoopError(this.stage, e);
        this.log("ready-loop-failed", { stage: this.stage, error: this.fatal.message });
        this.stop();
        this.opts.onFatal?.(this.fatal);
      },
    );
  }

  private async loop(): Promise<void> {
    this.stage = "snapshot";
    for (let c = this.pendingCommits.shift(); c !== undefined; c = this.pendingCommits.shift()) await c();
    for (let i = 0; i < 10_000 && !this.stopped && this.rn.hasReady(); i++) {
      await this.handleReady(this.rn.ready());
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    const t0 = this.clock.now();
    this.stage = "persist";
    if (rd.softState) this.opts.onSoftState?.(rd.softState);
    // A leader's appends go out while its own copy is written (its entries
    // count toward commit only after advance(), once durable).
    const early = rd.sendBeforePersist || this.sendEarly;
    if (early) this.send(rd.messages);
    await this.opts.log.save({
      hardState: rd.hardState,
      entries: rd.entries,
      snapshot: this.dropSnapshotMarker ? undefined : rd.snapshot,
      sync: rd.mustSync,
      // a leader's own write runs alongside replication and the acks it waits for
      inline:
        rd.entries.length > 0 &&
        rd.entries.length <= INLINE_SAVE_MAX_ENTRIES &&
        rd.snapshot === undefined &&
        this.rn.role !== StateRole.Leader,
    });
    if (rd.hardState) this.savedCommit = rd.hardState.commit;
    const t1 = this.clock.now();
    if (!early) this.send(rd.messages);
    this.stage = "apply";
    if (rd.snapshot) {
      const { index } = rd.snapshot.metadata;
      const image =
        rd.snapshot.data.length === 0 && this.opts.log.openSnapshotImage
          ? await this.opts.log.openSnapshotImage(index)
          : rd.snapshot.data;
      await this.sm.restore(image, index);
      this.log("snapshot-restored", { index, term: rd.snapshot.metadata.term });
      // An image made after the snapshot's index (a peer's live store) already
      // holds the entries up to its own applied index: they are skipped.
      this.snapIndex = index;
      this.applied = Math.max(index, this.sm.appliedIndex());
      this.confState = rd.snapshot.metadata.confState;
      this.opts.onConfState?.(this.confState);
    }
    // Synchronous state machines (the etcd store) apply without a promise
    // per entry; only what returns one is awaited.
    for (const e of rd.committedEntries) {
      const pending = this.applyEntry(e);
      if (pending) await pending;
    }
    if (rd.committedEntries.length > 0) {
      const pending = this.sm.afterApply?.();
      if (pending) await pending;
    }
    for (const rs of rd.readStates) this.onReadState(rs.context, rs.index);
    this.rn.advance(rd);
    this.opts.onReadyDone?.();
    this.releaseReads();
    const t2 = this.clock.now();
    this.stage = "snapshot";
    if (this.snapshotDue()) await this.takeSnapshot();
    const t3 = this.clock.now();
    // A Ready that holds the loop for a large part of an election timeout
    // delays heartbeats: say where the time went (etcd's "took too long").
    if (t3 - t0 > (this.opts.tickMs * this.opts.electionTicks) / 2) {
      this.log("slow-ready", {
        totalMs: Math.round(t3 - t0),
        persistMs: Math.round(t1 - t0),
        applyMs: Math.round(t2 - t1),
        snapshotMs: Math.round(t3 - t2),
        entries: rd.entries.length,
        committed: rd.committedEntries.length,
      });
    }
  }

  private send(messages: readonly Message[]): void {
    if (messages.length === 0) return;
    this.opts.transport.send(coalesceMessages(messages, this.rn.maxSizePerMsgBytes));
  }

  /** Applies one committed entry; returns a promise only when the state machine did. */
  private applyEntry(e: Entry): Promise<void> | undefined {
    if (e.type === EntryType.ConfChange) {
      const cc = decodeConfChange(e.data);
      this.confState = this.rn.applyConfChange(cc);
      this.opts.onConfState?.(this.confState);
      if (e.index <= this.applied) return; // replayed after a restart
      this.opts.onApplied?.(e);
      const pending = this.sm.applyConfChange?.(e.index, cc, this.confState);
      if (pending) {
        return pending.then(() => {
          this.applied = e.index;
        });
      }
      this.applied = e.index;
      return;
    }
    if (e.index <= this.applied) return; // already reflected in the state machine (restart)
    this.opts.onApplied?.(e);
    if (e.data.length < ID_BYTES) {
      this.applied = e.index; // the leader's empty entry
      return;
    }
    const result = this.sm.apply(e.index, e.data.subarray(ID_BYTES));
    if (result instanceof Promise) return result.then((r: R) => this.settleApplied(e, r));
    this.settleApplied(e, result as R);
  }

  /** The state machine applied `e` with `result`: its proposer, if it is waiting here, gets it. */
  private settleApplied(e: Entry, result: R): void {
    this.applied = e.index;
    const d = e.data;
    // another process's proposal (or one from before a restart) has another prefix
    if (((d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]) >>> 0 !== this.idPrefix) return;
    const seq = ((d[4] << 24) | (d[5] << 16) | (d[6] << 8) | d[7]) >>> 0;
    const w = this.waiters.get(seq);
    if (w) {
      this.waiters.delete(seq);
      w.resolve(result);
    }
  }

  /** Fails the proposals whose deadline passed (the oldest first; they were made in deadline order). */
  private expireProposals(): void {
    const now = this.clock.now();
    for (const [seq, w] of this.waiters) {
      if (w.deadlineMs > now) return;
      this.waiters.delete(seq);
      this.proposalsFailed++;
      w.reject(new RuntimeError("Timeout", "request timed out"));
    }
  }

  private releaseReads(): void {
    for (let i = this.readsAwaitingApply.length - 1; i >= 0; i--) {
      const r = this.readsAwaitingApply[i];
      if (r.index > this.applied) continue;
      this.readsAwaitingApply.splice(i, 1);
      this.clock.clear(r.waiter.timer);
      r.waiter.resolve();
    }
  }

  private snapshotDue(): boolean {
    // (after installing a newer image, applied may run ahead of the log and
    // of the commit index for a while)
    return (
      this.applied - this.snapIndex >= this.opts.snapshotCount &&
      !this.snapshotWriting &&
      this.applied <= this.opts.log.lastIndex() &&
      this.applied <= this.savedCommit
    );
  }

  private async takeSnapshot(): Promise<void> {
    const at = this.applied;
    const cs = this.confState;
    // The image is a consistent view as of `at`, taken here while nothing applies.
    const image = this.sm.localSnapshot ? await this.sm.localSnapshot() : await this.sm.snapshot();
    const log = this.opts.log;
    if (!log.writeLocalSnapshot || !log.commitLocalSnapshot) {
      await log.saveLocalSnapshot(at, cs, image);
      this.snapIndex = at;
      this.log("snapshot", { index: at });
      return;
    }
    // Writing a large image takes seconds: it streams in the background while
    // the loop keeps persisting, sending (heartbeats!) and applying; only the
    // short commit (WAL marker and compaction) runs inside the loop.
    this.snapshotWriting = true;
    const started = this.clock.now();
    const commit = log.commitLocalSnapshot.bind(log);
    log
      .writeLocalSnapshot(at, cs, image)
      .then((meta) => {
        this.pendingCommits.push(async () => {
          await commit(meta);
          this.snapIndex = Math.max(this.snapIndex, at);
          this.log("snapshot", { index: at, writeMs: Math.round(this.clock.now() - started) });
        });
        this.pump();
      })
      .catch((e: unknown) => {
        // e.g. a snapshot from the leader replaced the state meanwhile; the next one will be taken
        this.log("snapshot-abandoned", { index: at, reason: (e as Error).message });
      })
      .finally(() => {
        this.snapshotWriting = false;
      });
    this.snapIndex = Math.max(this.snapIndex, at); // do not start another until this one is done
  }

  /** Proposals waiting to be applied. */
  get pendingProposals(): number {
    return this.waiters.size;
  }

  appliedIndex(): number {
    return this.applied;
  }

  /** The last configuration applied here. */
  confStateNow(): ConfState {
    return this.confState;
  }

  reportUnreachable(id: NodeId): void {
    if (this.stopped) return;
    this.rn.reportUnreachable(id);
    this.pump();
  }

  /**
   * The connection to a peer closed. When the peer is our leader, forget it
   * and campaign soon instead of waiting out the election timeout (a leader
   * killed with kill -9 closes its connections at once). The remaining voters
   * campaign one after another, in id order, so two of them never split the
   * vote; an early campaign that fails costs nothing (pre-vote), and one that
   * is not needed any more (a leader is known again) is skipped.
   */
  peerDisconnected(id: NodeId): void {
    if (this.stopped || this.rn.lead !== id || !this.rn.forgetLeader()) return;
    const others = this.confState.voters.filter((v) => v !== id).sort((a, b) => a - b);
    const rank = others.indexOf(this.opts.id);
    if (rank < 0) return; // a learner does not campaign
    const delayMs = FAST_CAMPAIGN_BASE_MS + rank * FAST_CAMPAIGN_STEP_TICKS * this.opts.tickMs;
    this.clock.setTimeout(
      () => {
        if (this.stopped || this.rn.lead !== 0 || this.isLeader()) return;
        this.log("fast-campaign", { lostLeader: id, rank });
        this.rn.campaign();
        this.pump();
      },
      delayMs,
      true,
    );
    this.pump();
  }

  /** Starts an election now (a single-member cluster need not wait for its timeout). */
  campaign(): void {
    if (this.stopped) return;
    this.rn.campaign();
    this.pump();
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    if (this.stopped) return;
    this.rn.reportSnapshot(id, ok);
    this.pump();
  }

  transferLeader(target: NodeId): void {
    const err = this.rn.transferLeader(target);
    if (err) throw new RuntimeError("ProposalDropped", err.message);
    this.pump();
  }
}
