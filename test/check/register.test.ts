import assert from "node:assert/strict";
import { test } from "node:test";
import {
  checkOperations,
  type Operation,
  type RegisterInput,
  type RegisterOutput,
  registerModel,
} from "../../src/check/index.ts";
import { op } from "./history-fixtures.ts";

type RegOp = Operation<RegisterInput, RegisterOutput>;
const read = (c: number, call: number, ret: number | null, value?: number | null): RegOp =>
  op(c, call, ret, { f: "read" }, value === undefined ? undefined : { value });
const write = (c: number, call: number, ret: number | null, value: number): RegOp =>
  op(c, call, ret, { f: "write", value }, { ok: true });
const cas = (c: number, call: number, ret: number | null, from: number, to: number, ok = true): RegOp =>
  op(c, call, ret, { f: "cas", from, to }, { ok });
const verdict = (ops: RegOp[]) => checkOperations(registerModel, ops).verdict;

test("an empty history is linearizable", () => {
  assert.equal(verdict([]), "linearizable");
});

test("sequential write then read of the written value is linearizable", () => {
  assert.equal(verdict([write(0, 0, 1, 5), read(1, 2, 3, 5)]), "linearizable");
});

test("a read of nil before any write is linearizable; after a completed write it is not", () => {
  assert.equal(verdict([read(0, 0, 1, null), write(1, 2, 3, 1)]), "linearizable");
  assert.equal(verdict([write(1, 0, 1, 1), read(0, 2, 3, null)]), "not-linearizable");
});

test("a read concurrent with a write may see either the old or the new value", () => {
  assert.equal(verdict([write(0, 0, 10, 1), read(1, 1, 2, null), read(2, 3, 4, 1)]), "linearizable");
});

test("a stale read after a newer value was observed is not linearizable", () => {
  const h = [write(0, 0, 10, 1), read(1, 1, 2, 1), read(2, 3, 4, null)];
  assert.equal(verdict(h), "not-linearizable");
});

test("intervals that merely touch count as concurrent", () => {
  // write returns at 5, read is called at 5: the read may be ordered first.
  assert.equal(verdict([write(0, 0, 5, 1), read(1, 5, 6, null)]), "linearizable");
  assert.equal(verdict([write(0, 0, 5, 1), read(1, 6, 7, null)]), "not-linearizable");
});

test("an unknown-outcome write must be assumed to have happened when a later read saw its value", () => {
  const h = [write(0, 0, null, 7), read(1, 10, 11, 7)];
  assert.equal(verdict(h), "linearizable");
});

test("an unknown-outcome write may take effect long after its invocation", () => {
  const h = [write(0, 0, 1, 1), write(1, 2, null, 2), read(2, 3, 4, 1), read(2, 5, 6, 2), read(2, 7, 8, 2)];
  assert.equal(verdict(h), "linearizable");
});

test("an unknown-outcome write may never have happened", () => {
  const h = [write(0, 0, 1, 1), write(1, 2, null, 2), read(2, 10, 11, 1), read(2, 12, 13, 1)];
  assert.equal(verdict(h), "linearizable");
});

test("an unknown-outcome write cannot take effect before it was invoked", () => {
  const h = [read(0, 0, 1, 9), write(1, 2, null, 9)];
  assert.equal(verdict(h), "not-linearizable");
});

test("an unknown-outcome cas whose effect never happened is allowed", () => {
  // If the cas 0->1 had applied, the final read could not see 0.
  const h = [write(0, 0, 1, 0), cas(1, 2, null, 0, 1), read(2, 5, 6, 0), read(2, 7, 8, 0)];
  assert.equal(verdict(h), "linearizable");
});

test("an unknown-outcome cas may take effect between two reads", () => {
  const h = [write(0, 0, 1, 0), cas(1, 2, null, 0, 1), read(2, 5, 6, 0), read(2, 7, 8, 1)];
  assert.equal(verdict(h), "linearizable");
});

test("an unknown-outcome cas cannot produce a value its compare forbids", () => {
  const h = [write(0, 0, 1, 3), cas(1, 2, null, 0, 1), read(2, 5, 6, 1)];
  assert.equal(verdict(h), "not-linearizable");
});

test("a cas that succeeded needs the expected value; a failed cas needs a different one", () => {
  assert.equal(verdict([write(0, 0, 1, 1), cas(1, 2, 3, 1, 2), read(0, 4, 5, 2)]), "linearizable");
  assert.equal(verdict([write(0, 0, 1, 1), cas(1, 2, 3, 0, 2)]), "not-linearizable");
  assert.equal(verdict([write(0, 0, 1, 1), cas(1, 2, 3, 1, 2, false)]), "not-linearizable");
  assert.equal(verdict([write(0, 0, 1, 1), cas(1, 2, 3, 0, 2, false), read(0, 4, 5, 1)]), "linearizable");
});

test("unknown-outcome reads are ignored", () => {
  const h = [write(0, 0, 1, 1), read(1, 2, null), read(2, 3, 4, 1)];
  assert.equal(verdict(h), "linearizable");
  assert.equal(checkOperations(registerModel, h).operations, 2);
});

test("malformed operation times are rejected with a RangeError", () => {
  assert.throws(() => checkOperations(registerModel, [write(0, 5, 4, 1)]), RangeError);
  assert.throws(() => checkOperations(registerModel, [write(0, Number.NaN, 4, 1)]), RangeError);
});
