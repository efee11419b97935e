// The watch hub (etcd's watchable_store.go). A watcher is either synced (it
// has every event up to the current revision, and the store's notify() after
// each committed write hands it the new ones) or unsynced (it is behind, and
// syncSome() replays history from storage in bounded chunks). Writes never
// wait for watchers: a sink that returns false (its consumer is full) drops
// that delivery and the watcher turns unsynced at the refused revision, so
// storage is the only buffer and the hub holds no per-watcher queue. Events
// reach a watcher in revision order, with no gaps or duplicates, and a
// revision's events are never split between deliveries.
//
// A watcher that needs revisions below the compact revision gets one delivery
// with compactRevision set and is cancelled, as etcd does. Nothing here reads a
// clock: the server calls syncSome() from a timer (etcd: every 100 ms).
//
// Cost: notify() finds single-key watchers by hash lookup and tests every
// synced range watcher against each event, O(events x range watchers); etcd
// uses an interval tree there, which is the upgrade if range watchers become
// many. Catch-up reads storage once per chunk for all unsynced watchers.

import { type KeySpan, keySpan, spanContains, toLatin1 } from "./bytes.ts";
import { MvccError } from "./errors.ts";
import { type Event, EventType, type KeyValue } from "./types.ts";

export const WatchFilter = { NOPUT: 0, NODELETE: 1 } as const;
export type WatchFilter = (typeof WatchFilter)[keyof typeof WatchFilter];

export interface WatchRequest {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  /** 0 or absent: from the next revision. A future revision waits for it. */
  startRevision?: number;
  prevKv?: boolean;
  filters?: WatchFilter[];
}

export interface WatchDelivery {
  watchId: number;
  events: Event[];
  /** Every event for this watcher up to this revision has now been delivered. */
  revision: number;
  /** Set when the watcher's start revision was compacted; the watcher is cancelled. */
  compactRevision?: number;
}

/** Returns false when the consumer cannot take the delivery now; it is then retried from storage. */
export type WatchSink = (delivery: WatchDelivery) => boolean;

/** What the hub reads from the store. */
export interface WatchSource {
  readonly currentRevision: number;
  readonly compactRevision: number;
  /**
   * Events from revision `fromRev` on, at least one whole revision and then
   * whole revisions while fewer than maxEvents; `through` is the last revision
   * covered (the current revision when the end was reached).
   */
  readEvents(fromRev: number, maxEvents: number): { events: Event[]; through: number };
  /** The key's version at rev, or undefined (absent or compacted). */
  kvAt(key: Uint8Array, rev: number): KeyValue | undefined;
}

export interface WatchHubOptions {
  /** Named limit on live watchers (default 100 000). */
  maxWatchers?: number;
}

export type WatcherState = "synced" | "unsynced" | "cancelled";

export class Watcher {
  /** The next revision this watcher needs (for a synced watcher, a lower bound). Hub-maintained. */
  minRevision: number;
  /** Hub-maintained; read it, do not set it. */
  state: WatcherState;
  /** Set when the hub cancelled the watcher because its start revision was compacted. */
  compacted = false;
  /** Set when the sink threw; the watcher was cancelled. */
  error: unknown;

  constructor(
    private readonly hub: WatchHub,
    readonly id: number,
    readonly span: KeySpan,
    readonly prevKv: boolean,
    readonly filters: readonly WatchFilter[],
    readonly sink: WatchSink,
    minRevision: number,
    state: WatcherState,
  ) {
    this.minRevision = minRevision;
    this.state = state;
  }

  get synced(): boolean {
    return this.state === "synced";
  }

  cancel(): void {
    this.hub.remove(this);
  }

  wants(ev: Event): boolean {
    if (ev.kv.modRevision < this.minRevision) return false;
    if (ev.type === EventType.PUT && this.filters.includes(WatchFilter.NOPUT)) return false;
    if (ev.type === EventType.DELETE && this.filters.includes(WatchFilter.NODELETE)) return false;
    return spanContains(this.span, toLatin1(ev.kv.key));
  }
}

export class WatchHub {
  private nextId = 1;
  private readonly maxWatchers: number;
  /** Synced single-key watchers by latin1 key, and synced range watchers. */
  private readonly byKey = new Map<string, Set<Watcher>>();
  private readonly ranges = new Set<Watcher>();
  private syncedCount = 0;
  private readonly unsynced = new Map<number, Watcher>();
  private readonly syncListeners = new Set<() => void>();
  /** Deliveries a consumer refused (its stream was full), each followed by a catch-up from storage. */
  refusedDeliveries = 0;
  /** Events handed to watchers, live or caught up from storage (etcd_debugging_mvcc_events_total). */
  eventsDelivered = 0;

  constructor(
    private readonly source: WatchSource,
    options: WatchHubOptions = {},
  ) {
    this.maxWatchers = options.maxWatchers ?? 100_000;
  }

  get size(): number {
    return this.syncedCount + this.unsynced.size;
  }

  get unsyncedCount(): number {
    return this.unsynced.size;
  }

  watch(req: WatchRequest, sink: WatchSink): Watcher {
    if (this.size >= this.maxWatchers) {
      throw new MvccError(
        "TooManyWatchers",
        `watch refused: ${this.size} watchers, limit ${this.maxWatchers}`,
      );
    }
    const start = req.startRevision ?? 0;
    const cur = this.source.currentRevision;
    const synced = start <= 0 || start > cur;
    const minRev = synced ? Math.max(cur + 1, start) : start;
    const span = keySpan(req.key, req.rangeEnd);
    const w = new Watcher(
      this,
      this.nextId++,
      span,
      req.prevKv ?? false,
      req.filters ?? [],
      sink,
      minRev,
      "unsynced",
    );
    if (synced) this.addSynced(w);
    else this.unsynced.set(w.id, w);
    return w;
  }

  /** Called by the store after each committed write revision, with its events in sub order. */
  notify(revision: number, events: Event[]): void {
    // no synced watcher: nothing to match (and no key conversion per event)
    if (this.byKey.size === 0 && this.ranges.size === 0) return;
    const batches = new Map<Watcher, Event[]>();
    const add = (w: Watcher, ev: Event) => {
      if (!w.wants(ev)) return;
      const list = batches.get(w);
      if (list === undefined) batches.set(w, [ev]);
      else list.push(ev);
    };
    for (const ev of events) {
      for (const w of this.byKey.get(toLatin1(ev.kv.key)) ?? []) add(w, ev);
      for (const w of this.ranges) add(w, ev);
    }
    const prevKvs = new Map<Event, KeyValue | undefined>();
    for (const [w, evs] of [...batches].sort((a, b) => a[0].id - b[0].id)) {
      if (w.state !== "synced") continue;
      const delivery = { watchId: w.id, events: this.withPrevKv(w, evs, prevKvs), revision };
      if (this.deliver(w, delivery)) w.minRevision = revision + 1;
      else if (w.state === "synced") {
        this.removeSynced(w);
        w.minRevision = revision;
        w.state = "unsynced";
        this.unsynced.set(w.id, w);
      }
    }
  }

  /**
   * Replays history to unsynced watchers, reading about maxEvents events from
   * storage in all. A watcher whose sink refuses is skipped for the rest of the
   * call, so a slow consumer does not hold back the others. Returns how many
   * watchers are still unsynced.
   */
  syncSome(maxEvents = 1000): number {
    if (this.unsynced.size === 0) return 0;
    const before = this.unsynced.size;
    const left = this.catchUp(maxEvents);
    if (left < before) for (const listener of [...this.syncListeners]) listener();
    return left;
  }

  /**
   * Calls listener after each syncSome() that synced or ended an unsynced
   * watcher, so a deferred progress answer (etcd's RequestProgressAll) can go
   * out once its watchers have caught up. Returns the unsubscribe function.
   */
  onSync(listener: () => void): () => void {
    this.syncListeners.add(listener);
    return () => this.syncListeners.delete(listener);
  }

  private catchUp(maxEvents: number): number {
    const cur = this.source.currentRevision;
    const compactRev = this.source.compactRevision;
    const candidates: Watcher[] = [];
    for (const w of [...this.unsynced.values()].sort((a, b) => a.id - b.id)) {
      if (w.minRevision > cur) this.promote(w);
      else if (w.minRevision < compactRev) {
        if (this.deliver(w, { watchId: w.id, events: [], revision: cur, compactRevision: compactRev })) {
          w.compacted = true;
          this.remove(w);
        }
      } else candidates.push(w);
    }
    const refused = new Set<Watcher>();
    let budget = Math.max(1, maxEvents);
    while (budget > 0) {
      const active = candidates.filter((w) => w.state === "unsynced" && !refused.has(w));
      if (active.length === 0) break;
      const from = active.reduce((m, w) => Math.min(m, w.minRevision), Number.POSITIVE_INFINITY);
      const { events, through } = this.source.readEvents(from, budget);
      budget -= Math.max(events.length, 1);
      const prevKvs = new Map<Event, KeyValue | undefined>();
      for (const w of active) {
        if (w.minRevision > through) continue;
        const evs = events.filter((ev) => w.wants(ev));
        if (evs.length > 0) {
          const delivery = { watchId: w.id, events: this.withPrevKv(w, evs, prevKvs), revision: through };
          if (!this.deliver(w, delivery)) {
            refused.add(w);
            continue;
          }
        }
        w.minRevision = through + 1;
        if (w.minRevision > cur && w.state === "unsynced") this.promote(w);
      }
    }
    return this.unsynced.size;
  }

  /**
   * The revision a progress notification may report for these watchers: the
   * current one when none is unsynced, else undefined (an unsynced watcher
   * would be told it has seen revisions it has not). A cancelled watcher needs
   * nothing more, so it does not hold the answer back.
   */
  progress(watchers: Iterable<Watcher>): number | undefined {
    for (const w of watchers) if (w.state === "unsynced") return undefined;
    return this.source.currentRevision;
  }

  /** After a snapshot restore replaced history: everyone catches up from storage. */
  onRestore(previousRevision: number): void {
    const synced = [...this.ranges, ...[...this.byKey.values()].flatMap((s) => [...s])];
    for (const w of synced) {
      this.removeSynced(w);
      w.minRevision = Math.max(w.minRevision, previousRevision + 1);
      w.state = "unsynced";
      this.unsynced.set(w.id, w);
    }
  }

  /** Cancels a watcher; idempotent. */
  remove(w: Watcher): void {
    if (w.state === "synced") this.removeSynced(w);
    else if (w.state === "unsynced") this.unsynced.delete(w.id);
    w.state = "cancelled";
  }

  private promote(w: Watcher): void {
    this.unsynced.delete(w.id);
    this.addSynced(w);
  }

  private addSynced(w: Watcher): void {
    w.state = "synced";
    this.syncedCount++;
    if (w.span.end !== null) {
      this.ranges.add(w);
      return;
    }
    let set = this.byKey.get(w.span.start);
    if (set === undefined) this.byKey.set(w.span.start, (set = new Set()));
    set.add(w);
  }

  private removeSynced(w: Watcher): void {
    this.syncedCount--;
    if (w.span.end !== null) {
      this.ranges.delete(w);
      return;
    }
    const set = this.byKey.get(w.span.start);
    set?.delete(w);
    if (set?.size === 0) this.byKey.delete(w.span.start);
  }

  /** A throwing sink is a bug in its owner; it costs that watcher, never the write that notified it. */
  private deliver(w: Watcher, delivery: WatchDelivery): boolean {
    try {
      if (w.sink(delivery)) {
        this.eventsDelivered += delivery.events.length;
        return true;
      }
      this.refusedDeliveries++;
      return false;
    } catch (err) {
      w.error = err;
      this.remove(w);
      return true;
    }
  }

  private withPrevKv(w: Watcher, evs: Event[], cache: Map<Event, KeyValue | undefined>): Event[] {
    if (!w.prevKv) return evs;
    return evs.map((ev) => {
      // etcd's watch server reads the previous version at modRevision - 1, except for creations.
      if (ev.type === EventType.PUT && ev.kv.createRevision === ev.kv.modRevision) return ev;
      if (!cache.has(ev)) cache.set(ev, this.source.kvAt(ev.kv.key, ev.kv.modRevision - 1));
      const prevKv = cache.get(ev);
      return prevKv === undefined ? ev : { ...ev, prevKv };
    });
  }
}
