// etcdctl's txn syntax as `floe txn` parses it, and etcdctl's output format.
import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import * as pb from "../../src/api/gen/etcdserverpb/rpc_pb.ts";
import { argify, formatTxn, parseCompare, parseOp, readTxn } from "../../src/cli/txn.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

test("compares parse every etcdctl target, short and long, with each operator", () => {
  const v = parseCompare('value("k") = "a b"');
  assert.equal(v.target, pb.Compare_CompareTarget.VALUE);
  assert.equal(v.result, pb.Compare_CompareResult.EQUAL);
  assert.equal(dec.decode(v.key), "k");
  assert.deepEqual(v.targetUnion, { case: "value", value: enc.encode("a b") });
  const m = parseCompare('mod("key") > "5"');
  assert.deepEqual(
    [m.target, m.result, m.targetUnion.value],
    [pb.Compare_CompareTarget.MOD, pb.Compare_CompareResult.GREATER, 5n],
  );
  assert.equal(parseCompare('m("key")>"5"').targetUnion.case, "modRevision");
  assert.equal(parseCompare('ver("k") < "3"').result, pb.Compare_CompareResult.LESS);
  assert.equal(parseCompare('version("k") != "0"').result, pb.Compare_CompareResult.NOT_EQUAL);
  assert.equal(parseCompare('c("k") = "0"').targetUnion.case, "createRevision");
  assert.equal(parseCompare('create("k") = "0"').target, pb.Compare_CompareTarget.CREATE);
  assert.deepEqual(parseCompare('lease("k") = "1234"').targetUnion, { case: "lease", value: 1234n });
  assert.equal(dec.decode(parseCompare(String.raw`val("q\"k") = "x"`).key), 'q"k');
});

test("malformed compares are refused naming the line", () => {
  assert.throws(() => parseCompare('value(k) = "v"'), /malformed comparison: value\(k\) = "v"/);
  assert.throws(() => parseCompare('size("k") = "1"'), /unknown target size/);
  assert.throws(() => parseCompare('mod("k") = "five"'), /invalid txn compare request/);
  assert.throws(() => parseCompare('mod("k") >= "1"'), /malformed comparison/);
});

test("ops parse put, get and del with quoted words and flags", () => {
  assert.deepEqual(argify('put k "a value" --lease=1f'), ["put", "k", "a value", "--lease=1f"]);
  const put = parseOp('put key1 "overwrote-key1" --lease=1f');
  assert.equal(put.request.case, "requestPut");
  if (put.request.case === "requestPut") {
    assert.equal(dec.decode(put.request.value.value), "overwrote-key1");
    assert.equal(put.request.value.lease, 0x1fn);
  }
  const get = parseOp("get a --prefix --limit 2");
  assert.ok(get.request.case === "requestRange");
  assert.equal(dec.decode(get.request.value.rangeEnd), "b");
  assert.equal(get.request.value.limit, 2n);
  const del = parseOp("del a z");
  assert.ok(del.request.case === "requestDeleteRange");
  assert.equal(dec.decode(del.request.value.rangeEnd), "z");
  assert.throws(() => parseOp("put onlykey"), /put takes a key and a value/);
  assert.throws(() => parseOp("incr k"), /invalid txn request: incr k/);
  assert.throws(() => parseOp("get k --bogus=1"), /unknown flag --bogus/);
});

test("three blank-line separated sections; end of input ends the last one; prompts as etcdctl -i", async () => {
  const input = ['mod("a") > "0"', 'value("b") = "x"', "", "put a 1", "get a", "", "del a"];
  const prompts: string[] = [];
  const req = await readTxn(
    async () => input.shift(),
    (s) => prompts.push(s),
  );
  assert.equal(req.compare.length, 2);
  assert.deepEqual(
    req.success.map((o) => o.request.case),
    ["requestPut", "requestRange"],
  );
  assert.deepEqual(
    req.failure.map((o) => o.request.case),
    ["requestDeleteRange"],
  );
  assert.deepEqual(prompts, [
    "compares:",
    "success requests (get, put, del):",
    "failure requests (get, put, del):",
  ]);
});

test("the result prints as etcdctl's simple printer: SUCCESS/FAILURE, then each op after a blank line", () => {
  const kv = create(pb.RangeResponseSchema, {
    kvs: [{ key: enc.encode("a"), value: enc.encode("1") }],
    count: 1n,
  });
  const r = create(pb.TxnResponseSchema, {
    succeeded: true,
    responses: [
      { response: { case: "responsePut", value: {} } },
      { response: { case: "responseRange", value: kv } },
      { response: { case: "responseDeleteRange", value: { deleted: 2n } } },
    ],
  });
  assert.equal(formatTxn(r), "SUCCESS\n\nOK\n\na\n1\n\n2\n");
  assert.equal(formatTxn(create(pb.TxnResponseSchema, { succeeded: false })), "FAILURE\n");
});
