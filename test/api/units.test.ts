// Unit tests of the API's pieces that need no server: the error registry,
// etcd's txn checks, the JSON stream splitter and the bounded queue.

import assert from "node:assert/strict";
import { test } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Errors, errorFromMessage, FloeError, GrpcCode, httpStatusOf } from "../../src/api/errors.ts";
import { type RequestOp, type TxnRequest, TxnRequestSchema } from "../../src/api/gen/etcdserverpb/rpc_pb.ts";
import { jsonValues, parseJsonBody, quoteLongIntegers } from "../../src/api/json-stream.ts";
import { AsyncQueue } from "../../src/api/queue.ts";
import { checkTxn } from "../../src/api/validate.ts";

test("the registry holds etcd's exact messages and codes", () => {
  assert.deepEqual(
    [Errors.COMPACTED.grpcCode, Errors.COMPACTED.message],
    [GrpcCode.OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted"],
  );
  assert.equal(Errors.LEASE_NOT_FOUND.grpcCode, GrpcCode.NOT_FOUND);
  assert.equal(Errors.LEASE_EXIST.grpcCode, GrpcCode.FAILED_PRECONDITION);
  assert.equal(Errors.NO_SPACE.grpcCode, GrpcCode.RESOURCE_EXHAUSTED);
  assert.equal(Errors.REQUEST_TOO_LARGE.message, "etcdserver: request is too large");
  assert.equal(Errors.PEER_URL_EXIST.message, "etcdserver: Peer URLs already exists");
  const names = Object.keys(Errors);
  assert.equal(
    new Set(Object.values(Errors).map((d) => d.message)).size,
    names.length,
    "messages are unique",
  );
  for (const d of Object.values(Errors)) {
    // floe's own errors, and grpc-go's words where etcd's clients see those; etcd's
    // election service has words of its own
    const etcdWords = /^(etcdserver: |election: |"leader" field must be provided$)/;
    assert.ok(d.floeOnly ? /^(floe|grpc): /.test(d.message) : etcdWords.test(d.message), d.name);
  }
});

test("a FloeError carries a detail on the wire only for floe's own errors", () => {
  assert.equal(new FloeError(Errors.COMPACTED, { detail: "rev 3 < 5" }).message, Errors.COMPACTED.message);
  assert.equal(FloeError.of("INVALID_REQUEST", "bad sort").message, "floe: invalid request: bad sort");
  assert.equal(errorFromMessage("etcdserver: no leader"), Errors.NO_LEADER);
  assert.equal(errorFromMessage("floe: invalid request: bad sort"), Errors.INVALID_REQUEST);
  assert.equal(errorFromMessage("something else"), undefined);
  assert.equal(httpStatusOf(GrpcCode.UNAVAILABLE), 503);
  assert.equal(httpStatusOf(GrpcCode.RESOURCE_EXHAUSTED), 429);
});

const enc = (s: string) => new TextEncoder().encode(s);
const put = (key: string) => ({ request: { case: "requestPut" as const, value: { key: enc(key) } } });
const del = (key: string, rangeEnd = "") => ({
  request: { case: "requestDeleteRange" as const, value: { key: enc(key), rangeEnd: enc(rangeEnd) } },
});
const nested = (success: object[], failure: object[] = []) => ({
  request: { case: "requestTxn" as const, value: { success, failure } },
});
const txn = (success: object[], failure: object[] = []): TxnRequest =>
  create(TxnRequestSchema, { success, failure } as MessageInitShape<typeof TxnRequestSchema>);
const dup = (t: TxnRequest) =>
  assert.throws(
    () => checkTxn(t, 128),
    (e: FloeError) => e.def === Errors.DUPLICATE_KEY,
  );

test("txn check refuses a key written twice on one path, as etcd's checkIntervals", () => {
  dup(txn([put("a"), put("a")]));
  dup(txn([put("b"), del("a", "c")]));
  dup(txn([put("x"), del("\0", "\0")]));
  dup(txn([put("a"), nested([put("a")])]));
  dup(txn([del("a", "z"), nested([put("m")])]));
  // allowed: the same key in both branches, overlapping deletes, and a nested txn's two branches
  checkTxn(txn([put("a")], [put("a")]), 128);
  checkTxn(txn([del("a", "m"), del("c", "z")]), 128);
  checkTxn(txn([nested([put("a")], [put("a")])]), 128);
  checkTxn(txn([put("a"), del("b")]), 128);
});

test("txn check counts ops per branch and refuses an empty op", () => {
  const ops = (n: number) => Array.from({ length: n }, (_, i) => put(`k${i}`));
  checkTxn(txn(ops(3)), 3);
  assert.throws(
    () => checkTxn(txn(ops(4)), 3),
    (e: FloeError) => e.def === Errors.TOO_MANY_OPS,
  );
  assert.throws(
    () => checkTxn(txn([nested(ops(4))]), 3),
    (e: FloeError) => e.def === Errors.TOO_MANY_OPS,
  );
  const empty: RequestOp[] = [create(TxnRequestSchema, { success: [{}] }).success[0] as RequestOp];
  assert.throws(
    () => checkTxn(txn(empty), 3),
    (e: FloeError) => e.def === Errors.KEY_NOT_FOUND,
  );
  assert.throws(
    () => checkTxn(txn([put("")]), 3),
    (e: FloeError) => e.def === Errors.EMPTY_KEY,
  );
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function* chunks(...parts: Array<string | Buffer>) {
  for (const p of parts) yield typeof p === "string" ? Buffer.from(p) : p;
}

test("jsonValues splits concatenated objects across arbitrary chunk boundaries", async () => {
  const euro = Buffer.from('{"k":"€}"}');
  const values = await collect(
    jsonValues(
      chunks('{"a":', '1} \n{"b":"}{\\"', '"}', euro.subarray(0, 7), euro.subarray(7), " [1,2]"),
      1024,
    ),
  );
  assert.deepEqual(values, [{ a: 1 }, { b: '}{"' }, { k: "€}" }, [1, 2]]);
});

test("int64 values written as bare JSON numbers keep every digit (Go clients, curl)", async () => {
  assert.deepEqual(parseJsonBody('{"TTL":30,"ID":7972885426054451156}'), {
    TTL: 30,
    ID: "7972885426054451156",
  });
  assert.equal(
    quoteLongIntegers(
      '{"s":"x\\"1234567890123456789","n":-9223372036854775808,"f":1.2345678901234567e5,"ok":9007199254740991}',
    ),
    '{"s":"x\\"1234567890123456789","n":"-9223372036854775808","f":1.2345678901234567e5,"ok":9007199254740991}',
    "strings, fractions and safe integers are left alone",
  );
  const text = '{"a":1}';
  assert.equal(quoteLongIntegers(text), text);
  const [streamed] = await collect(jsonValues(chunks('{"ID":18446744073709551615}'), 1024));
  assert.deepEqual(streamed, { ID: "18446744073709551615" });
});

test("jsonValues refuses scalars, truncated values and values over the size cap", async () => {
  await assert.rejects(
    collect(jsonValues(chunks("42"), 1024)),
    /floe: invalid request: expected a JSON object/,
  );
  await assert.rejects(collect(jsonValues(chunks('{"a":'), 1024)), /ended inside a JSON value/);
  await assert.rejects(collect(jsonValues(chunks(`{"a":"${"x".repeat(100)}`), 50)), /request is too large/);
});

test("AsyncQueue applies backpressure, drains before ending and propagates failure", async () => {
  const q = new AsyncQueue<number>(2);
  await q.push(1);
  await q.push(2);
  let third = false;
  const p = q.push(3).then(() => (third = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(third, false, "push waits while the queue is full");
  const it = q[Symbol.asyncIterator]();
  assert.deepEqual(await it.next(), { value: 1, done: false });
  await p;
  assert.equal(third, true);
  q.end();
  assert.deepEqual(await collect({ [Symbol.asyncIterator]: () => it }), [2, 3]);
  const f = new AsyncQueue<number>(1);
  await f.push(7);
  f.fail(new Error("gone"));
  const seen: number[] = [];
  await assert.rejects(
    (async () => {
      for await (const x of f) seen.push(x);
    })(),
    /gone/,
  );
  assert.deepEqual(seen, [7]);
});

test("grpc-timeout in every unit becomes whole milliseconds of at least 1 (AbortSignal.timeout needs an integer)", async () => {
  const { parseTimeoutMs } = await import("../../src/api/wire.ts");
  assert.equal(parseTimeoutMs("4985874u"), 4986);
  assert.equal(parseTimeoutMs("5S"), 5000);
  assert.equal(parseTimeoutMs("2M"), 120_000);
  assert.equal(parseTimeoutMs("10n"), 1);
  assert.equal(parseTimeoutMs("250m"), 250);
  assert.equal(parseTimeoutMs("bogus"), undefined);
  for (const v of ["4985874u", "10n", "1H"]) AbortSignal.timeout(parseTimeoutMs(v) as number);
});
