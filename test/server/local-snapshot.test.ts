import assert from "node:assert/strict";
import { test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import * as pb from "../../src/api/gen/etcdserverpb/rpc_pb.ts";
import { InternalRequestSchema } from "../../src/api/gen/floe/raft_internal_pb.ts";
import {
  encodeStoreReference,
  MemoryMvccStorage,
  MvccStore,
  storeReferenceOf,
} from "../../src/mvcc/index.ts";
import { liveImage, MvccStateMachine, noBatching } from "../../src/server/kvstore.ts";

const putEntry = (key: string, value: string): Uint8Array =>
  toBinary(
    InternalRequestSchema,
    create(InternalRequestSchema, {
      request: {
        case: "put",
        value: create(pb.PutRequestSchema, { key: Buffer.from(key), value: Buffer.from(value) }),
      },
    }),
  );

const machine = () => new MvccStateMachine(MvccStore.open(new MemoryMvccStorage()), noBatching(), () => {});

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const c of chunks) out.push(c);
  return out;
}

test("a store reference names its applied index, for every varint length, and records are never mistaken for one", async () => {
  for (const n of [0, 1, 127, 128, 16_383, 16_384, 2 ** 31, 2 ** 53 - 1]) {
    assert.equal(storeReferenceOf(encodeStoreReference(n)), n, `applied index ${n}`);
  }
  const sm = machine();
  sm.apply(1, putEntry("a", "1"));
  const records = await collect(liveImage(sm));
  assert.equal(storeReferenceOf(records[0]), undefined);
  assert.throws(
    () => storeReferenceOf(encodeStoreReference(300).subarray(0, 9)),
    /truncated store reference/,
  );
});

test("a local snapshot is a reference: restoring it over the store it names keeps the data, over a store that lost it fails naming the cause", async () => {
  const sm = machine();
  for (let i = 1; i <= 5; i++) sm.apply(i, putEntry(`k${i}`, `v${i}`));
  const ref = (await sm.localSnapshot()) as Uint8Array;
  assert.ok(ref.byteLength < 16, "a reference holds no records");
  assert.equal(storeReferenceOf(ref), 5);
  await sm.restore(ref, 5);
  assert.equal(sm.appliedIndex(), 5);
  assert.equal(sm.store.range({ key: Buffer.from("k3") }).kvs.length, 1, "data kept");

  const lost = machine();
  lost.apply(1, putEntry("k1", "v1"));
  await assert.rejects(lost.restore([ref.subarray(0, 4), ref.subarray(4)], 5), (e: Error) => {
    assert.match(
      e.message,
      /own store at applied index 5, but the store is at applied index 1: its data was lost/,
    );
    return true;
  });
});

test("a live image takes its view when first read: later applies are not in it, and it installs on another member past the snapshot's index", async () => {
  const a = machine();
  for (let i = 1; i <= 7; i++) a.apply(i, putEntry(`k${i}`, `v${i}`));
  const image = liveImage(a);
  a.apply(8, putEntry("before-read", "x")); // asked for, not yet read: in it
  const it = image[Symbol.asyncIterator]();
  const first = await it.next();
  a.apply(9, putEntry("after-read", "y")); // read has begun: not in it
  const rest: Uint8Array[] = [];
  for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value);
  const b = machine();
  await b.restore([first.value as Uint8Array, ...rest], 4);
  assert.equal(b.appliedIndex(), 8, "the image's applied index, past the snapshot's");
  assert.equal(b.store.range({ key: Buffer.from("before-read") }).kvs.length, 1);
  assert.equal(b.store.range({ key: Buffer.from("after-read") }).kvs.length, 0);
  assert.equal(b.store.range({ key: Buffer.from("k7") }).kvs.length, 1);
});
