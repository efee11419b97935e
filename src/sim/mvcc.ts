// The member's real state machine under simulation: MvccStateMachine (the
// one the server applies: InternalRequest protobufs into the MVCC store) over
// the member's storage, and `callBackend`, which is how a simulated client
// talks to a member: its read / write / cas / delete / grant / keepalive /
// revoke become the etcd requests a client would send (Range, Put, a Txn
// comparing the value, DeleteRange, LeaseGrant, LeaseKeepAlive,
// LeaseRevoke), made to the member's EtcdServer (server/etcd.ts), which
// proposes them, waits on ReadIndex barriers and keeps lease time on the
// member's simulated clock.

import { create, toBinary } from "@bufbuild/protobuf";
import { type CallContext, type EtcdBackend, etcdserverpb, FloeError } from "../api/index.ts";
import type { Bitcask } from "../bitcask/index.ts";
import { MemoryMvccStorage, type MvccStorage, MvccStore } from "../mvcc/index.ts";
import {
  type ApplyBatching,
  type KvApplyResult,
  MvccStateMachine,
  noBatching,
  type SnapshotImage,
} from "../server/index.ts";
import { type KvCommand, type KvResult, keyName } from "./kv.ts";
import type { SimMachine } from "./machine.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const keyOf = (k: number): Uint8Array => enc.encode(keyName(k));
const valueBytes = (v: number): Uint8Array => enc.encode(String(v));

function rangeOp(key: number) {
  return create(etcdserverpb.RequestOpSchema, {
    request: { case: "requestRange", value: create(etcdserverpb.RangeRequestSchema, { key: keyOf(key) }) },
  });
}

/** Events per catch-up pass after each apply: small, so catch-up takes several passes. */
const CATCH_UP_EVENTS = 16;

const valueIn = (r: { kvs: { value: Uint8Array }[] }): number | undefined =>
  r.kvs.length === 0 ? undefined : Number(dec.decode(r.kvs[0].value));

/** A call's context as the gRPC layer makes it: never aborted here; `requestBytes` the request as sent. */
function context(requestBytes?: Uint8Array): CallContext {
  return { signal: NEVER_ABORTED, requestBytes };
}
const NEVER_ABORTED = new AbortController().signal;

/**
 * What became of a client's request: its answer (with the revision its
 * response header carried), a definite refusal, or nothing known (it may
 * still apply).
 */
export type BackendOutcome =
  | { ok: true; result: KvResult; revision?: number }
  | { ok: false; reason: string }
  | undefined;

/**
 * A client's command as the etcd request a client sends, made to a member's
 * backend. A "log" read is a Txn with one range (etcd serves a read-only Txn
 * as a linearizable read, not through the log); a "readindex" read a Range.
 * A write the member could not propose (no leader, a change pending) is a
 * definite refusal; one that timed out or whose member stopped is unknown.
 * Any other error is a bug and is thrown: among them a linearizable read at
 * a revision the client has already seen answered "future revision".
 */
export async function callBackend(
  server: EtcdBackend,
  c: KvCommand,
  readMode: "readindex" | "log",
): Promise<BackendOutcome> {
  try {
    const { result, revision } = await request(server, c, readMode);
    return { ok: true, result, revision };
  } catch (e) {
    if (!(e instanceof FloeError)) throw e;
    const name = e.def.name;
    if (name === "LEASE_NOT_FOUND") return { ok: true, result: { type: "lease_not_found" } };
    if (name === "FUTURE_REV")
      throw new Error(`${c.op}${"key" in c ? ` of key ${c.key}` : ""}: ${e.message}`, { cause: e });
    // A read or keepalive that failed had no effect: any failure may be reported as one.
    const noEffect = c.op === "read" || c.op === "readAt" || c.op === "keepalive";
    if (noEffect || name === "NO_LEADER" || name === "NOT_LEADER") return { ok: false, reason: e.message };
    if (name === "TIMEOUT" || name === "STOPPED") return undefined;
    throw e;
  }
}

type Answer = { result: KvResult; revision?: number };
const at = (h: { header?: { revision: bigint } }): number | undefined =>
  h.header === undefined ? undefined : Number(h.header.revision);

async function request(server: EtcdBackend, c: KvCommand, readMode: "readindex" | "log"): Promise<Answer> {
  switch (c.op) {
    case "write": {
      // Encoded as a gRPC client would: the server proposes these bytes as they are.
      const req = create(etcdserverpb.PutRequestSchema, {
        key: keyOf(c.key),
        value: valueBytes(c.value),
        lease: BigInt(c.lease ?? 0),
      });
      const r = await server.put(req, context(toBinary(etcdserverpb.PutRequestSchema, req)));
      return { result: { type: "write_ok" }, revision: at(r) };
    }
    case "delete": {
      const req = create(etcdserverpb.DeleteRangeRequestSchema, {
        key: keyOf(c.key),
        rangeEnd: c.end === undefined ? new Uint8Array() : keyOf(c.end),
      });
      const r = await server.deleteRange(req, context(toBinary(etcdserverpb.DeleteRangeRequestSchema, req)));
      return { result: { type: "delete_ok", deleted: Number(r.deleted) }, revision: at(r) };
    }
    case "read": {
      if (readMode === "readindex") {
        const r = await server.range(
          create(etcdserverpb.RangeRequestSchema, { key: keyOf(c.key) }),
          context(),
        );
        return { result: { type: "read_ok", value: valueIn(r) }, revision: at(r) };
      }
      const t = await server.txn(
        create(etcdserverpb.TxnRequestSchema, { success: [rangeOp(c.key)] }),
        context(),
      );
      const op = t.responses[0]?.response;
      if (op?.case !== "responseRange") throw new Error("a read txn answered without its range");
      return { result: { type: "read_ok", value: valueIn(op.value) }, revision: at(t) };
    }
    case "readAt": {
      const r = await server.range(
        create(etcdserverpb.RangeRequestSchema, { key: keyOf(c.key), revision: BigInt(c.revision) }),
        context(),
      );
      return { result: { type: "read_at_ok", value: valueIn(r) } };
    }
    case "cas": {
      const t = await server.txn(
        create(etcdserverpb.TxnRequestSchema, {
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
                value: create(etcdserverpb.PutRequestSchema, { key: keyOf(c.key), value: valueBytes(c.to) }),
              },
            }),
          ],
          failure: [rangeOp(c.key)],
        }),
        context(),
      );
      if (t.succeeded) return { result: { type: "cas_ok" }, revision: at(t) };
      const op = t.responses[0]?.response;
      if (op?.case !== "responseRange") throw new Error("a failed cas answered without its range");
      const cur = valueIn(op.value);
      if (cur === undefined)
        return { result: { type: "error", code: 20, text: `key ${c.key} does not exist` }, revision: at(t) };
      return {
        result: { type: "error", code: 22, text: `expected ${c.from}, found ${cur}` },
        revision: at(t),
      };
    }
    case "grant":
      await server.leaseGrant(
        create(etcdserverpb.LeaseGrantRequestSchema, { ID: BigInt(c.lease), TTL: BigInt(c.ttl) }),
        context(),
      );
      return { result: { type: "grant_ok" } };
    case "keepalive": {
      const r = await server.leaseKeepAlive(
        create(etcdserverpb.LeaseKeepAliveRequestSchema, { ID: BigInt(c.lease) }),
        context(),
      );
      return { result: { type: "keepalive_ok", ttl: Number(r.TTL) } };
    }
    case "revoke":
      await server.leaseRevoke(
        create(etcdserverpb.LeaseRevokeRequestSchema, { ID: BigInt(c.lease) }),
        context(),
      );
      return { result: { type: "revoke_ok" } };
  }
}

/** A key's value at `revision` in a member's store, as a serializable Range at that revision answers it. */
export async function valueAt(
  server: EtcdBackend,
  key: number,
  revision: number,
): Promise<number | undefined> {
  const r = await server.range(
    create(etcdserverpb.RangeRequestSchema, {
      key: keyOf(key),
      revision: BigInt(revision),
      serializable: true,
    }),
    context(),
  );
  return valueIn(r);
}

export class MvccMachine implements SimMachine {
  private sm: MvccStateMachine;
  /** Told after a snapshot was installed into the store. */
  onRestored: (() => void) | undefined;

  /**
   * `storage`: the member's durable store (the server's bitcask storage, on
   * the simulated file system), opened with what survived the last crash;
   * without it the store lives in memory and a restart begins empty.
   */
  constructor(private readonly storage?: MvccStorage & ApplyBatching & { db: Bitcask }) {
    this.sm = new MvccStateMachine(
      MvccStore.open(storage ?? new MemoryMvccStorage()),
      storage ?? noBatching(),
      () => {},
    );
    // A store in memory does not outlive a crash: its snapshots carry the records.
    if (storage === undefined) this.localSnapshot = undefined;
  }

  /** The MVCC store the member's server reads and its lessor keeps leases in (the same object for the member's life). */
  get store(): MvccStore {
    return this.sm.store;
  }

  /** The storage engine under a durable store. */
  get db(): Bitcask | undefined {
    return this.storage?.db;
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

  apply(index: number, data: Uint8Array): KvApplyResult {
    const r = this.sm.apply(index, data);
    // Catch-up in small steps between the server's passes, so a slow watcher takes several.
    if (this.sm.store.hub.unsyncedCount > 0) this.sm.store.hub.syncSome(CATCH_UP_EVENTS);
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
      // The store is empty already when it is given the bootstrap snapshot.
      if (this.sm.appliedIndex() > index)
        throw new Error(`an empty image at index ${index} for a store at ${this.sm.appliedIndex()}`);
      return;
    }
    await this.sm.restore(image, index);
    this.onRestored?.();
  }
}
