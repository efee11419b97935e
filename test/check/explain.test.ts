import assert from "node:assert/strict";
import { test } from "node:test";
import {
  checkOperations,
  formatViolation,
  type Operation,
  type RegisterInput,
  type RegisterOutput,
  registerModel,
} from "../../src/check/index.ts";
import { op } from "./history-fixtures.ts";

type RegOp = Operation<RegisterInput, RegisterOutput>;
// write 1, then a read sees 1, then a later read sees nil again: stale.
const stale: RegOp[] = [
  op(0, 0, 10, { f: "write", value: 1 }, { ok: true }),
  op(1, 20, 30, { f: "read" }, { value: 1 }),
  op(2, 40, 50, { f: "read" }, { value: null }),
  op(3, 45, null, { f: "write", value: 2 }),
];

test("a violation reports the longest linearizable prefix in order, with states", () => {
  const v = checkOperations(registerModel, stale).violation!;
  // The unknown write was callable before the stale read returned, so the
  // deepest legal order includes it (as having taken effect).
  assert.deepEqual(
    v.prefix.map((s) => [s.description, s.stateAfter]),
    [
      ["write 1", "1"],
      ["read -> 1", "1"],
      ["write 2 (outcome unknown)", "2"],
    ],
  );
  assert.equal(v.initialState, "nil");
  assert.equal(v.finalState, "2");
  assert.equal(v.partitionSize, 4);
});

test("a violation names the overdue operation that cannot take effect next", () => {
  const v = checkOperations(registerModel, stale).violation!;
  assert.equal(v.stuck.length, 1);
  assert.equal(v.stuck[0].description, "read -> nil");
  assert.equal(v.stuck[0].overdue, true);
  assert.equal(v.stuck[0].op, stale[2]);
});

test("every stuck operation lists the concurrent candidates, all rejected in the final state", () => {
  // Two reads overlap after write 1; both saw values the register never held then.
  const h: RegOp[] = [
    op(0, 0, 10, { f: "write", value: 1 }, { ok: true }),
    op(1, 20, 30, { f: "read" }, { value: 7 }),
    op(2, 21, 40, { f: "read" }, { value: 8 }),
  ];
  const v = checkOperations(registerModel, h).violation!;
  assert.equal(v.finalState, "1");
  assert.deepEqual(
    v.stuck.map((s) => [s.description, s.overdue]),
    [
      ["read -> 7", true],
      ["read -> 8", false],
    ],
  );
});

test("formatViolation renders the prefix and the stuck operations readably", () => {
  const text = formatViolation(checkOperations(registerModel, stale).violation!);
  assert.match(text, /^not linearizable \(4 operations\)/);
  assert.match(text, /longest linearizable prefix: 3 operations:/);
  assert.match(text, /1\. \[client 0 @0\.\.10\] write 1 +=> state 1/);
  assert.match(text, /3\. \[client 3 @45\.\.\?\] write 2 \(outcome unknown\) +=> state 2/);
  assert.match(text, /then, in state 2, none of these is allowed to take effect next:/);
  assert.match(
    text,
    /! \[client 2 @40\.\.50\] read -> nil \(returned at 50: it cannot be put off any longer\)/,
  );
});

test("formatViolation elides all but the last maxPrefix prefix operations", () => {
  const ops: RegOp[] = [];
  for (let i = 0; i < 30; i++) ops.push(op(0, 2 * i, 2 * i + 1, { f: "write", value: i }, { ok: true }));
  ops.push(op(1, 100, 101, { f: "read" }, { value: 3 }));
  const text = formatViolation(checkOperations(registerModel, ops).violation!, { maxPrefix: 5 });
  assert.match(text, /30 operations, the last 5:/);
  assert.match(text, /\.\.\. 25 earlier/);
  assert.match(text, /26\. .*write 25/);
  assert.doesNotMatch(text, /write 24 /);
});

test("a history that fails at its first operation has an empty prefix", () => {
  const v = checkOperations(registerModel, [op(0, 0, 1, { f: "read" }, { value: 4 })]).violation!;
  assert.equal(v.prefix.length, 0);
  assert.match(
    formatViolation(v),
    /in the initial state nil, none of these is allowed to take effect first:/,
  );
});

test("models without describe hooks get JSON descriptions", () => {
  const counter = {
    init: () => 0,
    step: (s: number, input: { add: number }, output: number | undefined) => ({
      ok: output === undefined || output === s + input.add,
      state: s + input.add,
    }),
    equal: (a: number, b: number) => a === b,
    hash: (s: number) => s,
  };
  const v = checkOperations(counter, [op(0, 0, 1, { add: 1 }, 5)]).violation!;
  assert.equal(v.stuck[0].description, '{"add":1} -> 5');
  assert.equal(v.initialState, "0");
});
