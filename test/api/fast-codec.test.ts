import assert from "node:assert/strict";
import { test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import fc from "fast-check";
import {
  decodeInternalPut,
  decodePutRequest,
  decodeRangeRequest,
  encodePutResponse,
  encodeRangeResponse,
} from "../../src/api/fast-codec.ts";
import {
  PutRequestSchema,
  PutResponseSchema,
  RangeRequestSchema,
  RangeResponseSchema,
  ResponseHeaderSchema,
} from "../../src/api/gen/etcdserverpb/rpc_pb.ts";
import { InternalRequestSchema } from "../../src/api/gen/floe/raft_internal_pb.ts";
import { KeyValueSchema } from "../../src/api/gen/mvccpb/kv_pb.ts";

const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const uint64 = fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }));
const bytes = fc.uint8Array({ maxLength: 40 });
/** A header's revision: never negative in a response (the encoders decline one, for protobuf-es to write). */
const revision = fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }));

const putRequest = fc.record({
  key: bytes,
  value: bytes,
  lease: fc.oneof(fc.constant(0n), int64),
  prevKv: fc.boolean(),
  ignoreValue: fc.boolean(),
  ignoreLease: fc.boolean(),
});

/** Field by field, bytes compared by content (a decoded field may be a view). */
const plain = (m: Record<string, unknown>) =>
  Object.fromEntries(
    Object.entries(m)
      .filter(([k]) => k !== "$unknown")
      .map(([k, v]) => [k, v instanceof Uint8Array ? [...v] : v]),
  );

test("decodePutRequest reads what protobuf-es writes, as protobuf-es reads it", () => {
  fc.assert(
    fc.property(putRequest, (init) => {
      const wire = toBinary(PutRequestSchema, create(PutRequestSchema, init));
      const fast = decodePutRequest(wire);
      assert.ok(fast !== undefined);
      assert.deepEqual(plain(fast), plain(fromBinary(PutRequestSchema, wire)));
    }),
    { numRuns: 500 },
  );
});

test("decodePutRequest: a repeated field's last occurrence wins, fields in any order, as protobuf-es", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 1, max: 6 }), bytes, int64, fc.boolean()), { maxLength: 12 }),
      (fields) => {
        const w = new BinaryWriter();
        for (const [f, b, n, flag] of fields) {
          if (f <= 2) w.tag(f, WireType.LengthDelimited).bytes(b);
          else if (f === 3) w.tag(3, WireType.Varint).int64(n);
          else w.tag(f, WireType.Varint).bool(flag);
        }
        const wire = w.finish();
        const fast = decodePutRequest(wire);
        assert.ok(fast !== undefined);
        assert.deepEqual(plain(fast), plain(fromBinary(PutRequestSchema, wire)));
      },
    ),
    { numRuns: 300 },
  );
});

test("decodePutRequest declines an unknown field or an unexpected wire type (protobuf-es then decodes it)", () => {
  const unknown = new BinaryWriter()
    .tag(1, WireType.LengthDelimited)
    .bytes(Buffer.from("k"))
    .tag(9, WireType.Varint)
    .uint32(5)
    .finish();
  assert.equal(decodePutRequest(unknown), undefined);
  const wrongType = new BinaryWriter().tag(3, WireType.LengthDelimited).bytes(Buffer.from("x")).finish();
  assert.equal(decodePutRequest(wrongType), undefined);
  // A truncated message fails as protobuf-es fails: with an error, not a wrong value.
  const truncated = new BinaryWriter()
    .tag(1, WireType.LengthDelimited)
    .bytes(Buffer.from("key"))
    .finish()
    .subarray(0, 3);
  assert.throws(() => decodePutRequest(truncated));
  assert.throws(() => fromBinary(PutRequestSchema, truncated));
});

test("encodePutResponse writes bytes protobuf-es reads back as the same response, and declines a prevKv", () => {
  fc.assert(
    fc.property(
      fc.record({
        clusterId: uint64,
        memberId: uint64,
        revision,
        raftTerm: uint64,
      }),
      fc.boolean(),
      (h, withHeader) => {
        const m = create(PutResponseSchema, withHeader ? { header: create(ResponseHeaderSchema, h) } : {});
        const wire = encodePutResponse(m);
        assert.ok(wire !== undefined);
        assert.deepEqual(fromBinary(PutResponseSchema, wire), m);
        assert.deepEqual([...wire], [...toBinary(PutResponseSchema, m)]);
      },
    ),
    { numRuns: 500 },
  );
  const withPrev = create(PutResponseSchema, { prevKv: create(KeyValueSchema, { key: Buffer.from("a") }) });
  assert.equal(encodePutResponse(withPrev), undefined);
  const negative = create(PutResponseSchema, { header: create(ResponseHeaderSchema, { revision: -1n }) });
  assert.equal(encodePutResponse(negative), undefined);
});

const rangeRequest = fc.record({
  key: bytes,
  rangeEnd: bytes,
  limit: fc.oneof(fc.constant(0n), int64),
  revision: fc.oneof(fc.constant(0n), int64),
  sortOrder: fc.integer({ min: -3, max: 5 }),
  sortTarget: fc.integer({ min: 0, max: 6 }),
  serializable: fc.boolean(),
  keysOnly: fc.boolean(),
  countOnly: fc.boolean(),
  minModRevision: fc.oneof(fc.constant(0n), int64),
  maxModRevision: fc.oneof(fc.constant(0n), int64),
  minCreateRevision: fc.oneof(fc.constant(0n), int64),
  maxCreateRevision: fc.oneof(fc.constant(0n), int64),
});

test("decodeRangeRequest reads what protobuf-es writes, as protobuf-es reads it; declines unknown fields", () => {
  fc.assert(
    fc.property(rangeRequest, (init) => {
      const wire = toBinary(RangeRequestSchema, create(RangeRequestSchema, init));
      const fast = decodeRangeRequest(wire);
      assert.ok(fast !== undefined);
      assert.deepEqual(plain(fast), plain(fromBinary(RangeRequestSchema, wire)));
    }),
    { numRuns: 500 },
  );
  const unknown = new BinaryWriter().tag(14, WireType.Varint).uint32(1).finish();
  assert.equal(decodeRangeRequest(unknown), undefined);
  const wrongType = new BinaryWriter().tag(7, WireType.LengthDelimited).bytes(Buffer.from("x")).finish();
  assert.equal(decodeRangeRequest(wrongType), undefined);
});

test("encodeRangeResponse writes the bytes protobuf-es writes", () => {
  const kv = fc.record({
    key: bytes,
    createRevision: fc.oneof(fc.constant(0n), int64),
    modRevision: fc.oneof(fc.constant(0n), int64),
    version: fc.oneof(fc.constant(0n), int64),
    value: bytes,
    lease: fc.oneof(fc.constant(0n), int64),
  });
  fc.assert(
    fc.property(
      fc.record({ clusterId: uint64, memberId: uint64, revision, raftTerm: uint64 }),
      fc.array(kv, { maxLength: 5 }),
      fc.boolean(),
      fc.oneof(fc.constant(0n), int64),
      (h, kvs, more, count) => {
        const m = create(RangeResponseSchema, {
          header: create(ResponseHeaderSchema, h),
          kvs: kvs.map((k) => create(KeyValueSchema, k)),
          more,
          count,
        });
        const wire = encodeRangeResponse(m);
        assert.ok(wire !== undefined);
        assert.deepEqual([...wire], [...toBinary(RangeResponseSchema, m)]);
      },
    ),
    { numRuns: 300 },
  );
});

test("decodeInternalPut reads a proposed put (with or without a header) as protobuf-es does, and declines anything else", () => {
  const header = fc.option(
    fc.record({ id: uint64, username: fc.string({ maxLength: 12 }), authRevision: uint64 }),
    { nil: undefined },
  );
  fc.assert(
    fc.property(putRequest, header, fc.boolean(), (init, h, headerFirst) => {
      const put = create(PutRequestSchema, init);
      let wire = toBinary(
        InternalRequestSchema,
        create(InternalRequestSchema, { request: { case: "put", value: put }, header: h }),
      );
      if (headerFirst && h !== undefined) {
        // the server appends the header field after the client's put bytes; either order is one message
        const onlyPut = toBinary(
          InternalRequestSchema,
          create(InternalRequestSchema, { request: { case: "put", value: put } }),
        );
        wire = Buffer.concat([wire.subarray(onlyPut.length), onlyPut]);
      }
      const fast = decodeInternalPut(wire);
      assert.ok(fast !== undefined && fast.request.case === "put");
      const slow = fromBinary(InternalRequestSchema, wire);
      assert.ok(slow.request.case === "put");
      assert.deepEqual(plain(fast.request.value), plain(slow.request.value));
      assert.deepEqual(fast.header && plain(fast.header), slow.header && plain(slow.header));
      assert.equal(fast.header === undefined, h === undefined);
    }),
    { numRuns: 300 },
  );
  const put = create(PutRequestSchema, { key: Buffer.from("k"), value: Buffer.from("v") });
  const withHeader = toBinary(
    InternalRequestSchema,
    create(InternalRequestSchema, {
      request: { case: "put", value: put },
      header: { username: "u", authRevision: 3n },
    }),
  );
  // two headers are one merged header to protobuf: declined
  const headerOnly = withHeader.subarray(
    toBinary(InternalRequestSchema, create(InternalRequestSchema, { request: { case: "put", value: put } }))
      .length,
  );
  assert.equal(decodeInternalPut(Buffer.concat([withHeader, headerOnly])), undefined);
  assert.equal(decodeInternalPut(headerOnly), undefined);
  const range = toBinary(
    InternalRequestSchema,
    create(InternalRequestSchema, {
      request: { case: "range", value: create(RangeRequestSchema, { key: Buffer.from("k") }) },
    }),
  );
  assert.equal(decodeInternalPut(range), undefined);
  // A put given twice is one merged message to protobuf: not this decoder's job.
  const one = toBinary(
    InternalRequestSchema,
    create(InternalRequestSchema, { request: { case: "put", value: put } }),
  );
  assert.equal(decodeInternalPut(Buffer.concat([one, one])), undefined);
  assert.equal(decodeInternalPut(new Uint8Array(0)), undefined);
});
