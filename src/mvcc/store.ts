// MvccStore: the revisioned key-value state machine. Raft entries go in
// through apply(index, command), in log order; reads, watches, hashes and
// snapshots read the applied state. See index.ts for what it promises.

import { AuthError, type AuthInfo, AuthState } from "../auth/index.ts";
import { ALARM_NOSPACE, AlarmTable, addsData } from "./alarm.ts";
import { checkCommand, checkRangeRead, checkTxn } from "./authz.ts";
import { toLatin1 } from "./bytes.ts";
import { encodeCheckpoint } from "./checkpoint.ts";
import {
  AUTH_KEY,
  CLUSTER_KEY,
  decodeRecord,
  encodeState,
  type MetaState,
  parseRevKey,
  revKey,
  STATE_KEY,
} from "./codec.ts";
import { compaction, type Effects, leaseGrant, leaseRevoke } from "./commands.ts";
import { GarbageQueue } from "./compaction.ts";
import { assert, MvccError } from "./errors.ts";
import { hashRecords, liveFilter, liveRevisionRecords, logicalRecords } from "./hash.ts";
import { KeyIndex } from "./key_index.ts";
import type { LeaseChange } from "./lease.ts";
import type { LeaseSource } from "./lessor.ts";
import { type LoadedState, loadState } from "./load.ts";
import { executeDeleteRange, executePut } from "./ops.ts";
import { executeRange } from "./range.ts";
import { restoreStorage } from "./restore.ts";
import { encodeSnapshot, type RecordPair, SnapshotStream } from "./snapshot.ts";
import type { MvccStorage } from "./storage.ts";
import { runTxn } from "./txn.ts";
import type * as T from "./types.ts";
import { EventType } from "./types.ts";
import { isTxnReadOnly, validateDeleteRange, validatePut, validateRange, validateTxn } from "./validate.ts";
import { readRecord, type StoreParts, StoreView, WriteTxn } from "./view.ts";
import {
  type Watcher,
  WatchHub,
  type WatchHubOptions,
  type WatchRequest,
  type WatchSink,
  type WatchSource,
} from "./watch.ts";

export interface MvccStoreOptions {
  watch?: WatchHubOptions;
  /** Target size of a snapshot chunk (default 1 MiB). */
  snapshotChunkBytes?: number;
}

type LeaseListener = (change: LeaseChange | { type: "reset" }) => void;

export class MvccStore implements LeaseSource {
  readonly hub: WatchHub;
  private parts: StoreParts;
  private state: MetaState;
  private readonly garbage = new GarbageQueue();
  private restoreRequired: boolean;
  private failure: unknown;
  private restoring = false;
  /** Snapshot streams of the current epoch still open; physical compaction waits for them. */
  private snapshotPins = 0;
  /** Bumped by each restore, invalidating older snapshot streams. */
  private epoch = 0;
  private readonly leaseListeners = new Set<LeaseListener>();
  private readonly chunkBytes: number;
  private alarmTable: AlarmTable;
  private authState: AuthState;
  /** Revision of the key index checkpoint in storage (-1: none usable); a save in progress. */
  private checkpointAt = { revision: -1, compactRevision: -1 };
  private checkpointSaving = false;
  /** How the index was built at open (for the start-up log). */
  readonly loadedFrom: string;

  private constructor(
    private readonly storage: MvccStorage,
    options: MvccStoreOptions,
  ) {
    const loaded = loadState(storage);
    this.parts = { storage, index: loaded.index, leases: loaded.leases };
    this.state = loaded.state;
    this.restoreRequired = loaded.restoreRequired;
    this.garbage.add(loaded.garbage);
    this.alarmTable = AlarmTable.load(storage);
    this.authState = AuthState.decode(storage.get(AUTH_KEY));
    this.chunkBytes = options.snapshotChunkBytes ?? 1024 * 1024;
    this.checkpointAt = checkpointOf(loaded);
    this.loadedFrom = loaded.checkpoint.used
      ? `checkpoint at revision ${loaded.checkpoint.revision}`
      : `all records (checkpoint: ${loaded.checkpoint.reason})`;
    this.hub = new WatchHub(this.watchSource(), options.watch);
  }

  /** Opens the state machine over storage, rebuilding the key index from its records. */
  static open(storage: MvccStorage, options: MvccStoreOptions = {}): MvccStore {
    return new MvccStore(storage, options);
  }

  get revision(): number {
    return this.state.revision;
  }
  /** -1 before the first compaction. */
  get compactRevision(): number {
    return this.state.compactRevision;
  }
  get appliedIndex(): number {
    return this.state.appliedIndex;
  }
  get appliedTerm(): number {
    return this.state.appliedTerm;
  }
  /** Keys in the index (live or with history not yet compacted). */
  get keyCount(): number {
    return this.parts.index.size;
  }

  /** Revision of the key index checkpoint in storage, -1 when there is none (or a compaction voided it). */
  get checkpointRevision(): number {
    const c = this.checkpointAt;
    return c.compactRevision === this.state.compactRevision ? c.revision : -1;
  }

  /**
   * Saves the key index (checkpoint.ts) so the next open skips decoding the
   * records at or below the current revision. Declines (resolves false) when
   * the engine keeps no checkpoint, physical compaction has garbage pending,
   * a restore runs, another save is under way, or nothing changed since the
   * last one. The encoding is synchronous, O(keys); the engine then syncs its
   * records and writes the checkpoint in the background.
   */
  async checkpointIndex(): Promise<boolean> {
    if (this.storage.saveCheckpoint === undefined || this.checkpointSaving) return false;
    if (this.failure !== undefined || this.restoreRequired || this.restoring) return false;
    if (this.garbage.size > 0 || this.state.revision === this.checkpointRevision) return false;
    const at = { revision: this.state.revision, compactRevision: this.state.compactRevision };
    const stream = encodeCheckpoint(this.parts.index, at.revision, at.compactRevision);
    const epoch = this.epoch;
    this.checkpointSaving = true;
    try {
      const kept = await this.storage.saveCheckpoint(stream, () => this.epoch === epoch && !this.restoring);
      if (kept) this.checkpointAt = at;
      return kept;
    } finally {
      this.checkpointSaving = false;
    }
  }

  /** Garbage records physical compaction has yet to delete. */
  get compactionPending(): number {
    return this.garbage.size;
  }
  /** Storage holds an interrupted restore: only restore() works until one succeeds. */
  get needsRestore(): boolean {
    return this.restoreRequired;
  }
  /** The cluster record as of the applied index (see the "cluster" command), if one was written. */
  clusterRecord(): Uint8Array | undefined {
    return this.storage.get(CLUSTER_KEY);
  }

  private clusterPair(): [Uint8Array, Uint8Array] | undefined {
    const v = this.clusterRecord();
    return v === undefined ? undefined : [CLUSTER_KEY, v];
  }

  /** The auth store as of the applied index (read it, never change it: changes come through apply). */
  get auth(): AuthState {
    return this.authState;
  }

  private authPair(): [Uint8Array, Uint8Array] | undefined {
    const v = this.storage.get(AUTH_KEY);
    return v === undefined ? undefined : [AUTH_KEY, v];
  }

  /** Active alarms of one type, or all of them for 0 (NONE), as of the applied index. */
  alarms(alarm = 0): T.AlarmMember[] {
    return this.alarmTable.list(alarm);
  }

  /**
   * Applies a committed entry. An index at or below the applied index is
   * skipped (the entry's effects are already durable). Otherwise the command's
   * writes, the applied index and term go to storage in one batch; a refused
   * request still consumes its index. Throws only for storage failures and
   * bugs, after which the store refuses all further work.
   */
  apply<C extends T.MvccCommand>(
    index: number,
    command: C,
    options: {
      term?: number;
      /** The client the request came from; absent for the server's own requests (lease expiry, alarms). */
      auth?: AuthInfo;
    } = {},
  ): T.ApplyResult<T.ResponseFor<C>> {
    this.assertUsable();
    assert(Number.isSafeInteger(index) && index > 0, () => `apply of entry index ${index}`);
    if (index <= this.state.appliedIndex) return { status: "skipped" };
    const txn = new WriteTxn(this.parts, this.state.revision, this.state.compactRevision);
    const effects: Effects = { leaseChanges: [] };
    let result: T.ApplyResult<T.ResponseFor<C>>;
    try {
      result = {
        status: "applied",
        response: this.execute(index, command, txn, effects, options.auth) as T.ResponseFor<C>,
      };
    } catch (err) {
      const mutated = txn.events.length > 0 || txn.batch.puts.length > 0 || effects.leaseChanges.length > 0;
      // A refusal after changes began, corruption, or a bug: memory may be ahead of storage.
      const refusal = (err instanceof MvccError && err.code !== "Corrupt") || err instanceof AuthError;
      if (!refusal || mutated || effects.garbage !== undefined) throw this.fail(err);
      result = { status: "failed", error: err as MvccError | AuthError };
    }
    const next: MetaState = {
      appliedIndex: index,
      appliedTerm: options.term ?? this.state.appliedTerm,
      revision: txn.rev,
      compactRevision: effects.compactRevision ?? this.state.compactRevision,
    };
    txn.batch.puts.push([STATE_KEY, encodeState(next)]);
    try {
      this.storage.write(txn.batch);
    } catch (err) {
      throw this.fail(err);
    }
    this.state = next;
    if (effects.garbage !== undefined) this.garbage.add(effects.garbage);
    if (txn.events.length > 0) this.hub.notify(next.revision, txn.events);
    for (const change of effects.leaseChanges) this.emitLease(change);
    return result;
  }

  private execute(
    index: number,
    c: T.MvccCommand,
    txn: WriteTxn,
    effects: Effects,
    auth: AuthInfo | undefined,
  ): unknown {
    if (auth !== undefined) checkCommand(this.authState, auth, c, this.parts);
    // etcd's capped applier: while any member reports NOSPACE, only requests that free space apply.
    if (addsData(c) && this.alarmTable.has(ALARM_NOSPACE)) {
      throw new MvccError("NoSpace", `${c.type} refused while a NOSPACE alarm is active`);
    }
    switch (c.type) {
      case "put": {
        validatePut(c.request);
        const lease = c.request.lease ?? 0n;
        if (lease !== 0n && !this.parts.leases.has(lease)) {
          throw new MvccError("LeaseNotFound", `put attaching a key to unknown lease ${lease}`);
        }
        return executePut(txn, c.request);
      }
      case "deleteRange":
        validateDeleteRange(c.request);
        return executeDeleteRange(txn, c.request);
      case "txn":
        validateTxn(c.request);
        return runTxn(txn, c.request);
      case "compaction":
        return compaction(this.parts, this.state, c.request, effects);
      case "leaseGrant":
        return leaseGrant(this.parts, this.state, index, c.request, txn, effects);
      case "leaseRevoke":
        return leaseRevoke(this.parts, c.request, txn, effects);
      case "cluster":
        txn.batch.puts.push([CLUSTER_KEY, c.request.value]);
        return { header: { revision: this.state.revision } };
      case "alarm":
        return {
          header: { revision: this.state.revision },
          alarms: this.alarmTable.apply(c.request, txn.batch),
        };
      case "auth":
        if (this.authState.apply(c.request)) txn.batch.puts.push([AUTH_KEY, this.authState.encode()]);
        return { header: { revision: this.state.revision }, authRevision: this.authState.revision };
      case "noop":
        return { header: { revision: this.state.revision } };
    }
  }

  // Local apply helpers: apply at the next index and throw refusals. For tests
  // and single-member tools; a replicated server calls apply() with log indices.
  put(request: T.PutRequest): T.PutResponse {
    return this.local({ type: "put", request });
  }
  deleteRange(request: T.DeleteRangeRequest): T.DeleteRangeResponse {
    return this.local({ type: "deleteRange", request });
  }
  txn(request: T.TxnRequest): T.TxnResponse {
    return this.local({ type: "txn", request });
  }
  compact(request: T.CompactionRequest): T.CompactionResponse {
    return this.local({ type: "compaction", request });
  }
  leaseGrant(request: T.LeaseGrantRequest): T.LeaseGrantResponse {
    return this.local({ type: "leaseGrant", request });
  }
  leaseRevoke(request: T.LeaseRevokeRequest): T.LeaseRevokeResponse {
    return this.local({ type: "leaseRevoke", request });
  }

  private local<C extends T.MvccCommand>(command: C): T.ResponseFor<C> {
    const r = this.apply(this.state.appliedIndex + 1, command);
    if (r.status === "failed") throw r.error;
    assert(r.status === "applied", "a local apply was skipped");
    return r.response;
  }

  /** Reads at the applied state; with `auth`, refuses what the user may not read (AuthError). */
  range(request: T.RangeRequest, auth?: AuthInfo): T.RangeResponse {
    this.assertUsable();
    validateRange(request);
    if (auth !== undefined) checkRangeRead(this.authState, auth, request);
    return executeRange(this.view(), request);
  }

  /** A txn of ranges only (isTxnReadOnly), served without the log and without writing anything. */
  txnReadOnly(request: T.TxnRequest, auth?: AuthInfo): T.TxnResponse {
    this.assertUsable();
    assert(isTxnReadOnly(request), "txnReadOnly of a txn with writes");
    validateTxn(request);
    if (auth !== undefined) checkTxn(this.authState, auth, request, this.parts);
    return runTxn(this.view(), request);
  }

  /** Deletes up to maxRecords garbage records in one batch; returns how many remain. */
  compactSome(maxRecords = 1000): number {
    this.assertUsable();
    if (this.snapshotPins > 0 || this.garbage.size === 0) return this.garbage.size;
    const revs = this.garbage.take(maxRecords);
    try {
      this.storage.write({ puts: [], deletes: revs.map((r) => revKey(r.main, r.sub)) });
    } catch (err) {
      throw this.fail(err);
    }
    return this.garbage.size;
  }

  watch(request: WatchRequest, sink: WatchSink): Watcher {
    this.assertUsable();
    return this.hub.watch(request, sink);
  }

  leaseTtl(id: bigint): number | undefined {
    return this.parts.leases.get(id)?.ttl;
  }

  leaseList(): T.LeaseInfo[] {
    return this.parts.leases.list();
  }

  /** Granted TTL and, when asked, attached keys; undefined for an unknown lease (etcd answers TTL -1). */
  timeToLive(id: bigint, options: { keys?: boolean } = {}): T.LeaseTimeToLive | undefined {
    const lease = this.parts.leases.get(id);
    if (lease === undefined) return undefined;
    const keys = options.keys
      ? this.parts.leases.sortedKeys(id).map((k) => this.parts.index.entry(k)!.key)
      : [];
    return { id, grantedTtl: lease.ttl, keys };
  }

  onLeaseChange(listener: LeaseListener): () => void {
    this.leaseListeners.add(listener);
    return () => this.leaseListeners.delete(listener);
  }

  /** etcd's HashKV: CRC-32C of the live revision records up to rev (0: current). */
  hashKV(rev = 0): T.HashKVResponse {
    this.assertUsable();
    const { revision: cur, compactRevision } = this.state;
    if (rev > 0 && rev < compactRevision)
      throw new MvccError("Compacted", `hashKV at ${rev}, compacted at ${compactRevision}`);
    if (rev > cur) throw new MvccError("FutureRev", `hashKV at ${rev}, current is ${cur}`);
    const upTo = rev <= 0 ? cur : rev;
    const records = liveRevisionRecords(this.logicalSource(), upTo);
    return { header: { revision: cur }, hash: hashRecords(records), compactRevision, hashRevision: upTo };
  }

  /** CRC-32C of the whole logical state, applied index included: equal exactly when snapshots would be. */
  hash(): T.HashResponse {
    this.assertUsable();
    return {
      header: { revision: this.state.revision },
      hash: hashRecords(logicalRecords(this.logicalSource())),
    };
  }

  /**
   * The state at the current applied index as a chunked, checksummed stream
   * (snapshot.ts). Captured now; reading it later still yields this state.
   */
  snapshot(): SnapshotStream {
    return this.openSnapshot((records) => encodeSnapshot(records, this.chunkBytes));
  }

  /**
   * The same state as snapshot(), as records in storage key order (leases,
   * meta records, revisions) rather than framed chunks: for exports in
   * another layout (etcd-backend.ts). Pins compaction the same way.
   */
  snapshotRecords(): SnapshotStream<RecordPair> {
    return this.openSnapshot((records) => records);
  }

  private openSnapshot<T>(wrap: (records: Generator<RecordPair>) => Iterator<T>): SnapshotStream<T> {
    this.assertUsable();
    if (this.snapshotPins === 0) while (this.compactSome(64 * 1024) > 0);
    // Garbage left (another stream pins it) is excluded by name.
    const left = new Set(this.garbage.pending().map((r) => toLatin1(revKey(r.main, r.sub))));
    const records = logicalRecords({
      storage: this.storage,
      state: this.state,
      leases: this.leaseList(),
      alarms: this.alarmTable.records(),
      auth: this.authPair(),
      cluster: this.clusterPair(),
      filter: left.size === 0 ? undefined : (k) => !left.has(toLatin1(k)),
    });
    const epoch = this.epoch;
    this.snapshotPins++;
    return new SnapshotStream(
      wrap(records),
      () => this.epoch === epoch,
      () => {
        if (this.epoch === epoch) this.snapshotPins--;
      },
    );
  }

  /**
   * Replaces the whole state with a snapshot stream. A marker record makes an
   * interrupted restore visible on the next open (needsRestore); watchers
   * survive and catch up from the new history.
   */
  async restore(chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<void> {
    if (this.failure !== undefined) this.assertUsable();
    assert(!this.restoring, "restore while another restore runs");
    this.restoring = true;
    this.epoch++;
    this.snapshotPins = 0;
    const previousRevision = this.state.revision;
    try {
      this.restoreRequired = true;
      // The checkpoint describes the records about to be replaced.
      this.storage.dropCheckpoint?.();
      this.checkpointAt = { revision: -1, compactRevision: -1 };
      await restoreStorage(this.storage, chunks);
      const loaded = loadState(this.storage);
      this.checkpointAt = checkpointOf(loaded);
      this.parts = { storage: this.storage, index: loaded.index, leases: loaded.leases };
      this.state = loaded.state;
      this.garbage.clear();
      this.garbage.add(loaded.garbage);
      this.restoreRequired = loaded.restoreRequired;
      this.alarmTable = AlarmTable.load(this.storage);
      this.authState = AuthState.decode(this.storage.get(AUTH_KEY));
    } finally {
      this.restoring = false;
    }
    this.hub.onRestore(previousRevision);
    this.emitLease({ type: "reset" });
  }

  private view(): StoreView {
    return new StoreView(this.parts, this.state.revision, this.state.compactRevision);
  }

  private logicalSource() {
    const { index } = this.parts;
    const filter = liveFilter(index, this.state.compactRevision);
    return {
      storage: this.storage,
      state: this.state,
      leases: this.leaseList(),
      alarms: this.alarmTable.records(),
      auth: this.authPair(),
      cluster: this.clusterPair(),
      filter,
    };
  }

  private watchSource(): WatchSource {
    const store = this;
    return {
      get currentRevision() {
        return store.state.revision;
      },
      get compactRevision() {
        return store.state.compactRevision;
      },
      readEvents: (fromRev, maxEvents) => this.readEvents(fromRev, maxEvents),
      kvAt: (key, rev) => this.kvAt(key, rev),
    };
  }

  private readEvents(fromRev: number, maxEvents: number): { events: T.Event[]; through: number } {
    const { revision: cur, compactRevision } = this.state;
    const events: T.Event[] = [];
    let last = -1;
    const limit = Math.max(1, maxEvents);
    for (const [k, v] of this.storage.scan(revKey(Math.max(fromRev, 0), 0), revKey(cur + 1, 0))) {
      const rev = parseRevKey(k);
      if (events.length >= limit && rev.main !== last) return { events, through: last };
      const { tombstone, kv } = decodeRecord(rev, v);
      if (rev.main <= compactRevision && !this.parts.index.isRetained(toLatin1(kv.key), rev)) continue;
      events.push({ type: tombstone ? EventType.DELETE : EventType.PUT, kv });
      last = rev.main;
    }
    return { events, through: cur };
  }

  private kvAt(key: Uint8Array, rev: number): T.KeyValue | undefined {
    if (rev < 1 || rev < this.state.compactRevision) return undefined;
    const e = this.parts.index.entry(toLatin1(key));
    const at = e && KeyIndex.at(e, rev);
    return at && readRecord(this.storage, at);
  }

  private emitLease(change: LeaseChange | { type: "reset" }): void {
    for (const listener of this.leaseListeners) listener(change);
  }

  private fail(err: unknown): unknown {
    this.failure = err;
    return err;
  }

  private assertUsable(): void {
    if (this.failure !== undefined) throw new MvccError("Failed", String(this.failure));
    if (this.restoreRequired) throw new MvccError("RestoreRequired", "storage holds an interrupted restore");
  }
}

function checkpointOf(loaded: LoadedState): { revision: number; compactRevision: number } {
  return loaded.checkpoint.used
    ? { revision: loaded.checkpoint.revision, compactRevision: loaded.state.compactRevision }
    : { revision: -1, compactRevision: -1 };
}
