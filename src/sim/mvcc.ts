// The member's real state machine under simulation: MvccStateMachine (the
// one the server applies: InternalRequest protobufs into the MVCC store) over
// in-memory MVCC storage. The simulated clients' read / write / cas / delete
// become the etcd requests a client would send: Put, Range, a Txn comparing
// the value, DeleteRange; their grant / revoke become LeaseGrant and
// LeaseRevoke, and the member's LeaseKeeper (the server's) keeps lease time
// on the member's simulated clock, answers keepalives and revokes what expires.

import { create, toBinary } from "@bufbuild/protobuf";
import { etcdserverpb, floepb } from "../api/index.ts";
import {
  type DeleteRangeResponse,
  Lessor,
  MemoryMvccStorage,
  MvccError,
  type MvccStorage,
  MvccStore,
  type RangeResponse,
  type TxnResponse,
  type Watcher,
} from "../mvcc/index.ts";
import {
  type ApplyBatching,
  type KvApplyResult,
  LeaseKeeper,
  type LeaseMutations,
  MvccStateMachine,
  noBatching,
  type SnapshotImage,
} from "../server/index.ts";
import { type KvCommand, type KvResult, keyName } from "./kv.ts";
import type { SimMachine } from "./machine.ts";
import type { WatchStream } from "./watch-check.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const keyOf = (k: number): Uint8Array => enc.encode(keyName(k));
const valueBytes = (v: number): Uint8Array => enc.encode(String(v));

function propose(request: floepb.InternalRequest["request"]): Uint8Array {
  return toBinary(floepb.InternalRequestSchema, create(floepb.InternalRequestSchema, { request }));
}

function rangeOp(key: number) {
  return create(etcdserverpb.RequestOpSchema, {
    request: { case: "requestRange", value: create(etcdserverpb.RangeRequestSchema, { key: keyOf(key) }) },
  });
}

const valueIn = (r: RangeResponse): number | undefined =>
  r.kvs.length === 0 ? undefined : Number(dec.decode(r.kvs[0].value));

/** The machine's watch stream: a new one per store, and how often its consumer is full. */
export interface MvccWatching {
  newStream(): WatchStream;
  /** A float in [0, 1) from the simulation's seeded generator. */
  random(): number;
}

/** What the member's lease keeper needs: its clock, and the runtime to propose revokes through. */
export interface LeaseTime {
  now(): number;
  electionTimeoutMs: number;
  propose(data: Uint8Array): Promise<unknown>;
  mutations?: LeaseMutations;
}

const ALL_KEYS = { key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]) };
/** The share of deliveries the watch consumer refuses (the hub then replays them from storage). */
const REFUSE_SHARE = 0.1;
/** Events per catch-up pass after each apply: small, so catch-up takes several passes. */
const CATCH_UP_EVENTS = 16;

export class MvccMachine implements SimMachine {
  private sm: MvccStateMachine;
  private watcher: Watcher | undefined;
  private stream: WatchStream | undefined;
  /** The leader's lease duties over this store (a new keeper when the store is replaced). */
  leases: LeaseKeeper | undefined;

  /**
   * `storage`: the member's durable store (the server's bitcask storage, on
   * the simulated file system), opened with what survived the last crash;
   * without it the store lives in memory and a restart begins empty.
   */
  constructor(
    private readonly watching?: MvccWatching,
    private readonly leaseTime?: LeaseTime,
    private readonly storage?: MvccStorage & ApplyBatching,
  ) {
    this.sm = new MvccStateMachine(
      MvccStore.open(storage ?? new MemoryMvccStorage()),
      storage ?? noBatching(),
      () => {},
    );
    // A store holding an interrupted restore takes no watch until restore() runs (it starts one).
    if (!this.sm.store.needsRestore) this.watchStore();
    this.keepLeases();
    // A store in memory does not outlive a crash: its snapshots carry the records.
    if (storage === undefined) this.localSnapshot = undefined;
  }

  private keepLeases(): void {
    this.leases?.close();
    const t = this.leaseTime;
    if (t === undefined) return;
    this.leases = new LeaseKeeper(
      new Lessor(this.sm.store),
      () => t.now(),
      t.electionTimeoutMs,
      (id) =>
        t.propose(
          propose({ case: "leaseRevoke", value: create(etcdserverpb.LeaseRevokeRequestSchema, { ID: id }) }),
        ),
      t.mutations,
    );
  }

  /** Leases the store holds now. */
  leaseCount(): number {
    return this.sm.store.leaseList().length;
  }

  /** Names of the live keys in the clients' leased key space ("l..."). */
  leasedKeys(): string[] {
    const r = this.sm.store.range({ key: enc.encode("l"), rangeEnd: enc.encode("m") });
    return r.kvs.map((kv) => dec.decode(kv.key));
  }

  /** One watcher on every key from the first revision, on the current store. */
  private watchStore(): void {
    this.watcher?.cancel();
    const w = this.watching;
    if (w === undefined) return;
    const stream = w.newStream();
    this.stream = stream;
    this.watcher = this.sm.store.watch({ ...ALL_KEYS, startRevision: 1 }, (d) => {
      if (w.random() < REFUSE_SHARE) {
        stream.refused();
        return false;
      }
      stream.accept(d);
      return true;
    });
  }

  /** The store's revision and its HashKV at `rev` (0: the current revision). */
  hashKV(rev = 0): { revision: number; hash: number } {
    const h = this.sm.store.hashKV(rev);
    return { revision: this.sm.store.revision, hash: h.hash };
  }

  /** At the end of a run: catch the stream up (nothing refused now) and check it has every revision. */
  finishWatch(): void {
    if (this.watching === undefined || this.stream === undefined) return;
    const store = this.sm.store;
    const stream = this.stream;
    this.watcher?.cancel();
    this.watcher = store.watch({ ...ALL_KEYS, startRevision: stream.lastRevision + 1 }, (d) => {
      stream.accept(d);
      return true;
    });
    for (let i = 0; i < 10_000 && store.hub.syncSome(CATCH_UP_EVENTS) > 0; i++);
    stream.complete(store.revision);
  }

  apply(index: number, data: Uint8Array): KvApplyResult {
    const r = this.sm.apply(index, data);
    if (this.watcher !== undefined) this.sm.store.hub.syncSome(CATCH_UP_EVENTS);
    return r;
  }

  appliedIndex(): number {
    return this.sm.appliedIndex();
  }

  /** A restore into the durable store was cut short by a crash: it must run again before anything applies. */
  needsRestore(): boolean {
    return this.sm.store.needsRestore;
  }

  snapshot(): Promise<SnapshotImage> {
    return this.sm.snapshot();
  }

  /** A durable store's local snapshot: a reference to itself at the applied index, as the server's. */
  localSnapshot?(): Promise<SnapshotImage> {
    return this.sm.localSnapshot();
  }

  /** The store survives a crash (it is on the member's disk). */
  get durable(): boolean {
    return this.storage !== undefined;
  }

  async restore(image: SnapshotImage, index: number): Promise<void> {
    // The bootstrap snapshot (index 1) carries no image: the empty store. (A
    // real joining member starts from the bootstrap snapshot of its own
    // configuration and is never sent it; a simulated learner starts empty.)
    if (image instanceof Uint8Array && image.length === 0) {
      if (this.storage !== undefined) {
        // A durable store is empty already when it is given the bootstrap snapshot.
        if (this.sm.appliedIndex() > index)
          throw new Error(`an empty image at index ${index} for a store at ${this.sm.appliedIndex()}`);
        return;
      }
      this.sm = new MvccStateMachine(MvccStore.open(new MemoryMvccStorage()), noBatching(), () => {});
      this.keepLeases();
    } else {
      await this.sm.restore(image, index);
    }
    // A restored store is a new history for a watcher: a new stream from its first revision.
    this.watchStore();
  }

  encode(c: KvCommand): Uint8Array {
    switch (c.op) {
      case "write":
        return propose({
          case: "put",
          value: create(etcdserverpb.PutRequestSchema, {
            key: keyOf(c.key),
            value: valueBytes(c.value),
            lease: BigInt(c.lease ?? 0),
          }),
        });
      case "grant":
        return propose({
          case: "leaseGrant",
          value: create(etcdserverpb.LeaseGrantRequestSchema, { ID: BigInt(c.lease), TTL: BigInt(c.ttl) }),
        });
      case "revoke":
        return propose({
          case: "leaseRevoke",
          value: create(etcdserverpb.LeaseRevokeRequestSchema, { ID: BigInt(c.lease) }),
        });
      case "keepalive":
        throw new Error("a keepalive is answered by the leader's lessor, not proposed");
      case "delete":
        return propose({
          case: "deleteRange",
          value: create(etcdserverpb.DeleteRangeRequestSchema, {
            key: keyOf(c.key),
            rangeEnd: c.end === undefined ? new Uint8Array() : keyOf(c.end),
          }),
        });
      case "read":
        // A read through the log: a Txn without compares that ranges over the key.
        return propose({
          case: "txn",
          value: create(etcdserverpb.TxnRequestSchema, { success: [rangeOp(c.key)] }),
        });
      case "cas":
        return propose({
          case: "txn",
          value: create(etcdserverpb.TxnRequestSchema, {
            compare: [
              create(etcdserverpb.CompareSchema, {
                key: keyOf(c.key),
                result: etcdserverpb.Compare_CompareResult.EQUAL,
                target: etcdserverpb.Compare_CompareTarget.VALUE,
                targetUnion: { case: "value", value: valueBytes(c.from) },
              }),
            ],
            success: [
              create(etcdserverpb.RequestOpSchema, {
                request: {
                  case: "requestPut",
                  value: create(etcdserverpb.PutRequestSchema, {
                    key: keyOf(c.key),
                    value: valueBytes(c.to),
                  }),
                },
              }),
            ],
            failure: [rangeOp(c.key)],
          }),
        });
    }
  }

  result(c: KvCommand, applied: unknown): KvResult {
    const r = applied as KvApplyResult;
    if (r.status === "failed" && r.error instanceof MvccError && r.error.code === "LeaseNotFound")
      return { type: "lease_not_found" };
    if (r.status !== "applied") throw new Error(`${c.op} was not applied: ${JSON.stringify(r)}`);
    switch (c.op) {
      case "write":
        return { type: "write_ok" };
      case "delete":
        return { type: "delete_ok", deleted: Number((r.response as DeleteRangeResponse).deleted) };
      case "grant":
        return { type: "grant_ok" };
      case "revoke":
        return { type: "revoke_ok" };
      case "keepalive":
        throw new Error("a keepalive has no applied result");
      case "read": {
        const op = (r.response as TxnResponse).responses[0];
        if (!op || !("responseRange" in op)) throw new Error("a read txn answered without its range");
        return { type: "read_ok", value: valueIn(op.responseRange) };
      }
      case "cas": {
        const t = r.response as TxnResponse;
        if (t.succeeded) return { type: "cas_ok" };
        const op = t.responses[0];
        if (!op || !("responseRange" in op)) throw new Error("a failed cas answered without its range");
        const cur = valueIn(op.responseRange);
        if (cur === undefined) return { type: "error", code: 20, text: `key ${c.key} does not exist` };
        return { type: "error", code: 22, text: `expected ${c.from}, found ${cur}` };
      }
    }
  }

  read(key: number): number | undefined {
    return valueIn(this.sm.store.range({ key: keyOf(key) }));
  }
}
