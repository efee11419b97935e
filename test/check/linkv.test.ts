import assert from "node:assert/strict";
import { test } from "node:test";
import {
  canonicalJson,
  checkOperations,
  type Json,
  KEY_DOES_NOT_EXIST,
  type LinKvInput,
  type LinKvOutput,
  linKvModel,
  linKvOutcome,
  type Operation,
  PRECONDITION_FAILED,
} from "../../src/check/index.ts";
import { op } from "./history-fixtures.ts";

type KvOp = Operation<LinKvInput, LinKvOutput>;
const read = (c: number, call: number, ret: number | null, key: Json, out?: LinKvOutput): KvOp =>
  op(c, call, ret, { type: "read", key }, out);
const write = (c: number, call: number, ret: number | null, key: Json, value: Json): KvOp =>
  op(c, call, ret, { type: "write", key, value }, { type: "write_ok" });
const cas = (
  c: number,
  call: number,
  ret: number | null,
  key: Json,
  from: Json,
  to: Json,
  out?: LinKvOutput,
) => op<LinKvInput, LinKvOutput>(c, call, ret, { type: "cas", key, from, to }, out ?? { type: "cas_ok" });
const value = (v: Json): LinKvOutput => ({ type: "read_ok", value: v });
const error = (code: number): LinKvOutput => ({ type: "error", code });
const verdict = (ops: KvOp[]) => checkOperations(linKvModel, ops).verdict;

test("reading a key that was never written must answer error 20", () => {
  assert.equal(verdict([read(0, 0, 1, "k", error(KEY_DOES_NOT_EXIST))]), "linearizable");
  assert.equal(verdict([read(0, 0, 1, "k", value(null))]), "not-linearizable");
});

test("error 20 on a read after a completed write is a violation", () => {
  assert.equal(
    verdict([write(0, 0, 1, "k", 1), read(1, 2, 3, "k", error(KEY_DOES_NOT_EXIST))]),
    "not-linearizable",
  );
});

test("cas on a missing key fails with 20, not 22", () => {
  assert.equal(verdict([cas(0, 0, 1, "k", 1, 2, error(KEY_DOES_NOT_EXIST))]), "linearizable");
  assert.equal(verdict([cas(0, 0, 1, "k", 1, 2, error(PRECONDITION_FAILED))]), "not-linearizable");
});

test("cas with a mismatching from fails with 22, and a matching one must succeed", () => {
  const base = write(0, 0, 1, "k", 1);
  assert.equal(verdict([base, cas(1, 2, 3, "k", 5, 6, error(PRECONDITION_FAILED))]), "linearizable");
  assert.equal(verdict([base, cas(1, 2, 3, "k", 1, 6, error(PRECONDITION_FAILED))]), "not-linearizable");
  assert.equal(verdict([base, cas(1, 2, 3, "k", 1, 6), read(0, 4, 5, "k", value(6))]), "linearizable");
});

test("values compare by JSON structure, ignoring object key order", () => {
  const h = [write(0, 0, 1, "k", { a: 1, b: [1, 2] }), read(1, 2, 3, "k", value({ b: [1, 2], a: 1 }))];
  assert.equal(verdict(h), "linearizable");
  assert.equal(verdict([write(0, 0, 1, "k", [1, 2]), read(1, 2, 3, "k", value([2, 1]))]), "not-linearizable");
  assert.equal(verdict([write(0, 0, 1, "k", 1), read(1, 2, 3, "k", value("1"))]), "not-linearizable");
});

test("a JSON null value is different from a missing key", () => {
  const h = [write(0, 0, 1, "k", null), read(1, 2, 3, "k", error(KEY_DOES_NOT_EXIST))];
  assert.equal(verdict(h), "not-linearizable");
  assert.equal(verdict([write(0, 0, 1, "k", null), read(1, 2, 3, "k", value(null))]), "linearizable");
});

test("keys are arbitrary JSON and are checked independently", () => {
  const h = [
    write(0, 0, 1, [1, "x"], 1),
    write(0, 2, 3, { id: 2 }, 2),
    read(1, 4, 5, [1, "x"], value(1)),
    read(1, 6, 7, { id: 2 }, value(2)),
  ];
  const r = checkOperations(linKvModel, h);
  assert.equal(r.verdict, "linearizable");
  assert.equal(r.partitions, 2);
});

test("a violation on one key is found even when other keys are fine", () => {
  const h = [write(0, 0, 1, "a", 1), write(0, 2, 3, "b", 1), read(1, 4, 5, "b", value(2))];
  const r = checkOperations(linKvModel, h);
  assert.equal(r.verdict, "not-linearizable");
  assert.ok(r.violation?.stuck.some((s) => s.description === 'read "b" -> 2'));
});

test("linKvOutcome keeps 20 and 22, drops definite errors, and treats timeouts and crashes as unknown", () => {
  assert.equal(linKvOutcome({ type: "read_ok", value: 1 }), "ok");
  assert.equal(linKvOutcome(error(20)), "ok");
  assert.equal(linKvOutcome(error(22)), "ok");
  assert.equal(linKvOutcome(error(11)), "failed");
  assert.equal(linKvOutcome(error(0)), "unknown");
  assert.equal(linKvOutcome(error(13)), "unknown");
  assert.equal(linKvOutcome(error(1000)), "unknown");
});

test("a write answered with a timeout error may have taken effect", () => {
  // The runner recorded the reply as is; partition treats code 0 as unknown outcome.
  const timedOut = op<LinKvInput, LinKvOutput>(0, 0, 1, { type: "write", key: "k", value: 9 }, error(0));
  assert.equal(verdict([timedOut, read(1, 5, 6, "k", value(9))]), "linearizable");
  assert.equal(verdict([timedOut, read(1, 5, 6, "k", error(20))]), "linearizable");
});

test("a write answered with a definite error (11) had no effect", () => {
  const failed = op<LinKvInput, LinKvOutput>(0, 0, 1, { type: "write", key: "k", value: 9 }, error(11));
  assert.equal(verdict([failed, read(1, 5, 6, "k", value(9))]), "not-linearizable");
  assert.equal(verdict([failed, read(1, 5, 6, "k", error(20))]), "linearizable");
});

test("an unknown-outcome cas on the lin-kv model may or may not have applied", () => {
  const pre = write(0, 0, 1, "k", 1);
  assert.equal(verdict([pre, cas(1, 2, null, "k", 1, 2), read(2, 5, 6, "k", value(2))]), "linearizable");
  assert.equal(verdict([pre, cas(1, 2, null, "k", 1, 2), read(2, 5, 6, "k", value(1))]), "linearizable");
  assert.equal(verdict([pre, cas(1, 2, null, "k", 3, 2), read(2, 5, 6, "k", value(2))]), "not-linearizable");
});

test("canonicalJson sorts object keys at every depth", () => {
  assert.equal(
    canonicalJson({ b: { d: 1, c: [true, null] }, a: "x" }),
    '{"a":"x","b":{"c":[true,null],"d":1}}',
  );
});

test("lin-kv operations are described in Maelstrom terms", () => {
  const d = linKvModel.describeOperation!;
  assert.equal(d({ type: "cas", key: "k", from: 1, to: 2 }, error(22)), 'cas "k" 1->2 -> error 22');
  assert.equal(d({ type: "write", key: 3, value: [1] }, undefined), "write 3 [1] (outcome unknown)");
});
