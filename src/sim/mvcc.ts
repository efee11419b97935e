// The member's real state machine under simulation: MvccStateMachine (the
// one the server applies: InternalRequest protobufs into the MVCC store) over
// in-memory MVCC storage. The simulated clients' read / write / cas become
// the etcd requests a client would send: Put, Range, and a Txn comparing the
// value.

import { create, toBinary } from "@bufbuild/protobuf";
import { etcdserverpb, floepb } from "../api/index.ts";
import { MemoryMvccStorage, MvccStore, type RangeResponse, type TxnResponse } from "../mvcc/index.ts";
import { type KvApplyResult, MvccStateMachine, noBatching, type SnapshotImage } from "../server/index.ts";
import type { KvCommand, KvResult } from "./kv.ts";
import type { SimMachine } from "./machine.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const keyOf = (k: number): Uint8Array => enc.encode(`k${k}`);
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

export class MvccMachine implements SimMachine {
  private sm: MvccStateMachine;

  constructor() {
    this.sm = new MvccStateMachine(MvccStore.open(new MemoryMvccStorage()), noBatching(), () => {});
  }

  apply(index: number, data: Uint8Array): KvApplyResult {
    return this.sm.apply(index, data);
  }

  appliedIndex(): number {
    return this.sm.appliedIndex();
  }

  snapshot(): Promise<SnapshotImage> {
    return this.sm.snapshot();
  }

  async restore(image: SnapshotImage, index: number): Promise<void> {
    // The bootstrap snapshot (index 1) carries no image: the empty store. (A
    // real joining member starts from the bootstrap snapshot of its own
    // configuration and is never sent it; a simulated learner starts empty.)
    if (image instanceof Uint8Array && image.length === 0) {
      this.sm = new MvccStateMachine(MvccStore.open(new MemoryMvccStorage()), noBatching(), () => {});
      return;
    }
    await this.sm.restore(image, index);
  }

  encode(c: KvCommand): Uint8Array {
    switch (c.op) {
      case "write":
        return propose({
          case: "put",
          value: create(etcdserverpb.PutRequestSchema, { key: keyOf(c.key), value: valueBytes(c.value) }),
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
    if (r.status !== "applied") throw new Error(`${c.op} was not applied: ${JSON.stringify(r)}`);
    switch (c.op) {
      case "write":
        return { type: "write_ok" };
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
