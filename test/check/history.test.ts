import assert from "node:assert/strict";
import { test } from "node:test";
import {
  checkOperations,
  HistoryRecorder,
  type LinKvInput,
  type LinKvOutput,
  linKvModel,
} from "../../src/check/index.ts";

test("HistoryRecorder turns invoke / ok / fail / info into a checkable history", () => {
  const h = new HistoryRecorder<LinKvInput, LinKvOutput>();
  const w = h.invoke(0, { type: "write", key: "x", value: 1 });
  const lost = h.invoke(1, { type: "write", key: "x", value: 2 });
  const timedOut = h.invoke(2, { type: "write", key: "x", value: 3 });
  h.ok(w, { type: "write_ok" });
  h.fail(lost);
  h.info(timedOut);
  const r = h.invoke(0, { type: "read", key: "x" });
  h.ok(r, { type: "read_ok", value: 3 });
  const ops = h.operations();
  assert.deepEqual(
    ops.map((o) => [o.clientId, o.call, o.ret]),
    [
      [0, 0, 3],
      [2, 2, Number.POSITIVE_INFINITY],
      [0, 4, 5],
    ],
  );
  assert.equal(checkOperations(linKvModel, ops).verdict, "linearizable");
});

test("HistoryRecorder treats operations still in flight as unknown and accepts explicit times", () => {
  const h = new HistoryRecorder<LinKvInput, LinKvOutput>();
  h.invoke(0, { type: "write", key: "x", value: 1 }, 100);
  const r = h.invoke(1, { type: "read", key: "x" }, 150);
  h.ok(r, { type: "read_ok", value: 1 }, 160);
  const ops = h.operations();
  assert.equal(ops[0].ret, Number.POSITIVE_INFINITY);
  assert.deepEqual([ops[1].call, ops[1].ret], [150, 160]);
  assert.equal(checkOperations(linKvModel, ops).verdict, "linearizable");
});

test("HistoryRecorder rejects completing an operation twice", () => {
  const h = new HistoryRecorder<LinKvInput, LinKvOutput>();
  const w = h.invoke(0, { type: "write", key: "x", value: 1 });
  h.ok(w, { type: "write_ok" });
  assert.throws(() => h.info(w), /not in flight/);
});
