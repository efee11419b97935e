import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  checkOperations,
  type LinKvInput,
  type LinKvOutput,
  type LinKvState,
  linKvModel,
  type Model,
  type Operation,
  type RegisterInput,
  type RegisterOutput,
  registerModel,
} from "../../src/check/index.ts";
import { bruteForceLinearizable } from "./brute.ts";

type RegOp = Operation<RegisterInput, RegisterOutput>;

const timing = fc.record({
  call: fc.integer({ min: 0, max: 12 }),
  length: fc.integer({ min: 0, max: 8 }),
  unknown: fc.integer({ min: 0, max: 4 }).map((k) => k === 0),
});
const small = fc.constantFrom(0, 1, 2);

const registerOp: fc.Arbitrary<RegOp> = fc
  .tuple(
    timing,
    fc.oneof(
      fc.record({ f: fc.constant("read" as const) }),
      fc.record({ f: fc.constant("write" as const), value: small }),
      fc.record({ f: fc.constant("cas" as const), from: small, to: small }),
    ),
    fc.option(small, { nil: null }),
    fc.boolean(),
    fc.nat(5),
  )
  .map(([t, input, seen, ok, clientId]) => ({
    clientId,
    input,
    call: t.call,
    ret: t.unknown ? Number.POSITIVE_INFINITY : t.call + t.length,
    output: t.unknown ? undefined : input.f === "read" ? { value: seen } : { ok: input.f === "write" || ok },
  }));

const linKvOp: fc.Arbitrary<Operation<LinKvInput, LinKvOutput>> = fc
  .tuple(
    timing,
    fc.constantFrom("a", "b"),
    fc.constantFrom("read", "write", "cas"),
    small,
    small,
    fc.constantFrom(0, 1, 2),
  )
  .map(([t, key, type, x, y, flavour]) => {
    const input: LinKvInput =
      type === "read"
        ? { type, key }
        : type === "write"
          ? { type, key, value: x }
          : { type, key, from: x, to: y };
    const output: LinKvOutput =
      flavour === 0
        ? { type: "error", code: type === "cas" ? 22 : 20 }
        : flavour === 1 && type === "cas"
          ? { type: "error", code: 20 }
          : type === "read"
            ? { type: "read_ok", value: y }
            : type === "write"
              ? { type: "write_ok" }
              : { type: "cas_ok" };
    return t.unknown
      ? { clientId: 0, input, call: t.call, output: undefined, ret: Number.POSITIVE_INFINITY }
      : { clientId: 0, input, call: t.call, output, ret: t.call + t.length };
  });

/** lin-kv over all keys at once, without partitioning: the state maps key to value. */
const unpartitioned: Model<Record<string, LinKvState>, LinKvInput, LinKvOutput> = {
  init: () => ({}),
  step(state, input, output) {
    const key = JSON.stringify(input.key);
    const r = linKvModel.step(state[key] ?? null, input, output);
    return { ok: r.ok, state: { ...state, [key]: r.state } };
  },
  equal: (a, b) => JSON.stringify(a) === JSON.stringify(b),
  hash: (s) => JSON.stringify(Object.entries(s).sort()),
};

/** Replays a violation's prefix and checks every stuck op is rejected at its end. */
function assertExplanationConsistent<S, I, O>(model: Model<S, I, O>, ops: Operation<I, O>[]): void {
  const v = checkOperations(model, ops).violation;
  if (!v) return;
  let state = model.init();
  for (const step of v.prefix) {
    const unknown = step.op.ret === Number.POSITIVE_INFINITY;
    const r = model.step(state, step.op.input, unknown ? undefined : step.op.output);
    assert.ok(r.ok, "prefix must be a legal sequence");
    state = r.state;
  }
  assert.ok(v.stuck.length > 0);
  assert.equal(v.stuck.filter((s) => s.overdue).length, 1);
  for (const s of v.stuck)
    assert.ok(!model.step(state, s.op.input, s.op.output).ok, "stuck op must be rejected");
}

test("register verdicts agree with brute-force enumeration on random small histories", () => {
  fc.assert(
    fc.property(fc.array(registerOp, { minLength: 1, maxLength: 8 }), (ops) => {
      const expected = bruteForceLinearizable(registerModel, ops) ? "linearizable" : "not-linearizable";
      assert.equal(checkOperations(registerModel, ops).verdict, expected);
      assertExplanationConsistent(registerModel, ops);
    }),
    { numRuns: 1000, seed: 42 },
  );
});

test("lin-kv verdicts agree with brute-force enumeration of the unpartitioned history", () => {
  fc.assert(
    fc.property(fc.array(linKvOp, { minLength: 1, maxLength: 7 }), (ops) => {
      const expected = bruteForceLinearizable(unpartitioned, ops) ? "linearizable" : "not-linearizable";
      assert.equal(checkOperations(linKvModel, ops).verdict, expected);
      assert.equal(checkOperations(unpartitioned, ops).verdict, expected);
      assertExplanationConsistent(linKvModel, ops);
    }),
    { numRuns: 1000, seed: 7 },
  );
});

test("histories generated from a real atomic register are always linearizable", () => {
  const event = fc.record({
    client: fc.integer({ min: 0, max: 5 }),
    gap: fc.integer({ min: 0, max: 3 }),
    length: fc.integer({ min: 1, max: 30 }),
    at: fc.integer({ min: 1, max: 99 }),
    kind: fc.constantFrom("read", "write", "cas"),
    value: small,
    to: small,
    fate: fc.constantFrom("ok", "ok", "ok", "ok", "applied-unknown", "lost-unknown"),
  });
  fc.assert(
    fc.property(fc.array(event, { minLength: 1, maxLength: 60 }), (events) => {
      // Each op takes effect atomically at a point inside its interval.
      let time = 0;
      const planned = events.map((e, i) => {
        time += e.gap;
        const point = time + (e.length * e.at) / 100 + i * 1e-9;
        return { e, call: time, ret: time + e.length, point };
      });
      let register: number | null = null;
      const ops: RegOp[] = [];
      for (const p of [...planned].sort((a, b) => a.point - b.point)) {
        const { e } = p;
        const input: RegisterInput =
          e.kind === "read"
            ? { f: "read" }
            : e.kind === "write"
              ? { f: "write", value: e.value }
              : { f: "cas", from: e.value, to: e.to };
        let output: RegisterOutput;
        if (e.fate === "lost-unknown") {
          ops.push({
            clientId: e.client,
            input,
            call: p.call,
            output: undefined,
            ret: Number.POSITIVE_INFINITY,
          });
          continue;
        }
        if (input.f === "read") output = { value: register };
        else if (input.f === "write") {
          register = input.value;
          output = { ok: true };
        } else {
          const swapped = register === input.from;
          if (swapped) register = input.to;
          output = { ok: swapped };
        }
        if (e.fate === "applied-unknown") {
          ops.push({
            clientId: e.client,
            input,
            call: p.call,
            output: undefined,
            ret: Number.POSITIVE_INFINITY,
          });
        } else ops.push({ clientId: e.client, input, call: p.call, output, ret: p.ret });
      }
      assert.equal(checkOperations(registerModel, ops).verdict, "linearizable");
    }),
    { numRuns: 200, seed: 3 },
  );
});

test("a search that runs out of time answers unknown", () => {
  // 24 concurrent unknown writes and a read of a value nobody wrote: refuting it
  // means trying every subset of the writes.
  const ops: RegOp[] = [];
  for (let i = 0; i < 24; i++) {
    ops.push({ clientId: i, input: { f: "write", value: i }, call: 0, output: undefined, ret: Infinity });
  }
  ops.push({ clientId: 99, input: { f: "read" }, call: 1, output: { value: 999 }, ret: 1000 });
  const r = checkOperations(registerModel, ops, { timeoutMs: 50 });
  assert.equal(r.verdict, "unknown");
  assert.equal(r.unknownReason, "timeout");
  assert.ok(r.elapsedMs < 2000, `took ${r.elapsedMs} ms`);
});

test("a violation in one partition is found while another partition is still expensive", () => {
  // Key "hard" alone would take very long to refute; key "easy" fails at once.
  const ops: Operation<LinKvInput, LinKvOutput>[] = [];
  for (let i = 0; i < 24; i++) {
    ops.push({
      clientId: i,
      input: { type: "write", key: "hard", value: i },
      call: 0,
      output: undefined,
      ret: Infinity,
    });
  }
  ops.push({
    clientId: 98,
    input: { type: "read", key: "hard" },
    call: 1,
    output: { type: "read_ok", value: -1 },
    ret: 1e6,
  });
  ops.push({
    clientId: 99,
    input: { type: "read", key: "easy" },
    call: 5,
    output: { type: "read_ok", value: 1 },
    ret: 6,
  });
  const r = checkOperations(linKvModel, ops, { timeoutMs: 5000 });
  assert.equal(r.verdict, "not-linearizable");
  assert.equal(r.violation?.stuck[0].description, 'read "easy" -> 1');
  assert.ok(r.elapsedMs < 1000, `took ${r.elapsedMs} ms`);
});
