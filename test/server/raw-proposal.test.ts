import assert from "node:assert/strict";
import { test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import * as pb from "../../src/api/gen/etcdserverpb/rpc_pb.ts";
import { InternalRequestSchema } from "../../src/api/gen/floe/raft_internal_pb.ts";
import { wrapField } from "../../src/server/etcd.ts";

test("a put proposed as the client's own bytes is the same entry as one encoded again, for every length class", () => {
  for (const size of [0, 1, 100, 127, 128, 16_383, 16_384, 300_000]) {
    const put = create(pb.PutRequestSchema, {
      key: Buffer.from("k"),
      value: Buffer.alloc(size, 7),
      lease: 0x7fff_ffff_ffffn,
      prevKv: true,
    });
    const raw = toBinary(pb.PutRequestSchema, put);
    const wrapped = wrapField(4, raw);
    const encoded = toBinary(
      InternalRequestSchema,
      create(InternalRequestSchema, { request: { case: "put", value: put } }),
    );
    assert.deepEqual(Buffer.from(wrapped), Buffer.from(encoded), `value of ${size} bytes`);
    const back = fromBinary(InternalRequestSchema, wrapped);
    assert.equal(back.request.case, "put");
    assert.equal((back.request.value as pb.PutRequest).value.length, size);
  }
});

test("a delete range proposed as the client's own bytes decodes to the same request", () => {
  const del = create(pb.DeleteRangeRequestSchema, {
    key: Buffer.from("a"),
    rangeEnd: Buffer.from("z"),
    prevKv: true,
  });
  const back = fromBinary(InternalRequestSchema, wrapField(5, toBinary(pb.DeleteRangeRequestSchema, del)));
  assert.equal(back.request.case, "deleteRange");
  assert.deepEqual(Buffer.from((back.request.value as pb.DeleteRangeRequest).rangeEnd), Buffer.from("z"));
});

test("wrapField writes what protobuf-es's BinaryWriter writes for one length-delimited field", () => {
  for (const field of [1, 4, 5, 15, 16, 100, 2047, 2048, 536_870_911]) {
    for (const len of [0, 1, 127, 128, 16_383, 16_384, 70_000]) {
      const data = Buffer.alloc(len, len & 0xff);
      const want = new BinaryWriter().tag(field, WireType.LengthDelimited).bytes(data).finish();
      assert.deepEqual(
        Buffer.from(wrapField(field, data)),
        Buffer.from(want),
        `field ${field}, ${len} bytes`,
      );
    }
  }
});
