import assert from "node:assert/strict";
import { test } from "node:test";
import {
  checkOperations,
  type KvInput,
  type KvOutput,
  kvModel,
  type Operation,
} from "../../src/check/index.ts";
import { op } from "./history-fixtures.ts";

type KvOp = Operation<KvInput, KvOutput>;
const get = (c: number, call: number, ret: number | null, key: string, value?: string): KvOp =>
  op(c, call, ret, { f: "get", key }, value === undefined ? undefined : { value });
const append = (c: number, call: number, ret: number | null, key: string, value: string): KvOp =>
  op(c, call, ret, { f: "append", key, value }, { ok: true });
const put = (c: number, call: number, ret: number | null, key: string, value: string): KvOp =>
  op(c, call, ret, { f: "put", key, value }, { ok: true });
const verdict = (ops: KvOp[]) => checkOperations(kvModel, ops).verdict;

test("an absent key reads as the empty string", () => {
  assert.equal(verdict([get(0, 0, 1, "k", "")]), "linearizable");
});

test("concurrent appends may land in either order, but one order for everyone", () => {
  const both = [append(0, 0, 10, "k", "a"), append(1, 0, 10, "k", "b")];
  assert.equal(verdict([...both, get(2, 11, 12, "k", "ba")]), "linearizable");
  assert.equal(verdict([...both, get(2, 11, 12, "k", "ab")]), "linearizable");
  assert.equal(verdict([...both, get(2, 11, 12, "k", "ab"), get(2, 13, 14, "k", "ba")]), "not-linearizable");
});

test("put replaces the value and appends then extend it", () => {
  const h = [
    append(0, 0, 1, "k", "x"),
    put(0, 2, 3, "k", "y"),
    append(0, 4, 5, "k", "z"),
    get(1, 6, 7, "k", "yz"),
  ];
  assert.equal(verdict(h), "linearizable");
});

test("kv histories are partitioned per key", () => {
  const h = [
    append(0, 0, 1, "a", "x"),
    append(0, 2, 3, "b", "y"),
    get(1, 4, 5, "a", "x"),
    get(1, 6, 7, "b", "y"),
  ];
  const r = checkOperations(kvModel, h);
  assert.equal(r.verdict, "linearizable");
  assert.equal(r.partitions, 2);
});

test("an unknown-outcome append is included when a later get saw it, and excluded otherwise", () => {
  assert.equal(verdict([append(0, 0, null, "k", "a"), get(1, 5, 6, "k", "a")]), "linearizable");
  assert.equal(verdict([append(0, 0, null, "k", "a"), get(1, 5, 6, "k", "")]), "linearizable");
  assert.equal(verdict([append(0, 0, null, "k", "a"), get(1, 5, 6, "k", "aa")]), "not-linearizable");
});
