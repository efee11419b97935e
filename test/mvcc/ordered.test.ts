import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { KEY_SPACE_END, toLatin1 } from "../../src/mvcc/bytes.ts";
import { OrderedMap } from "../../src/mvcc/ordered.ts";

function model(map: Map<string, number>, start: string, end?: string): [string, number][] {
  return [...map]
    .filter(([k]) => k >= start && (end === undefined || k < end))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

test("the ordered map (set, getOrInsert, delete, range) agrees with a sorted model across chunk splits and removals", () => {
  const keyArb = fc.string({ unit: fc.constantFrom("a", "b", "c", "\u0000", "\u00ff"), maxLength: 6 });
  const opArb = fc.oneof(
    fc.record({ t: fc.constant("set" as const), k: keyArb, v: fc.nat() }),
    fc.record({ t: fc.constant("del" as const), k: keyArb }),
    fc.record({ t: fc.constant("getOrInsert" as const), k: keyArb, v: fc.nat() }),
    fc.record({ t: fc.constant("range" as const), k: keyArb, end: fc.option(keyArb, { nil: undefined }) }),
  );
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 200, maxLength: 2500 }), (ops) => {
      const m = new OrderedMap<number>();
      const ref = new Map<string, number>();
      for (const op of ops) {
        if (op.t === "set") {
          m.set(op.k, op.v);
          ref.set(op.k, op.v);
        } else if (op.t === "del") {
          assert.equal(m.delete(op.k), ref.delete(op.k));
        } else if (op.t === "getOrInsert") {
          const had = ref.get(op.k);
          if (had === undefined) ref.set(op.k, op.v);
          let made = false;
          assert.equal(
            m.getOrInsert(op.k, () => {
              made = true;
              return op.v;
            }),
            had ?? op.v,
          );
          assert.equal(made, had === undefined, "make() runs exactly when the key is missing");
        } else {
          assert.deepEqual([...m.range(op.k, op.end)], model(ref, op.k, op.end));
          assert.equal(m.get(op.k), ref.get(op.k));
        }
        assert.equal(m.size, ref.size);
      }
      assert.deepEqual([...m.range("")], model(ref, ""));
    }),
    { numRuns: 40 },
  );
});

test("latin1 order is byte order, and KEY_SPACE_END is above every key", () => {
  const keys = [
    Uint8Array.of(0xff, 0xff, 0xff),
    Uint8Array.of(0x00),
    Uint8Array.of(0x7f, 0x80),
    Uint8Array.of(0x80),
  ];
  const byBytes = [...keys].sort(Buffer.compare).map(toLatin1);
  const byString = keys.map(toLatin1).sort();
  assert.deepEqual(byString, byBytes);
  for (const k of byBytes) assert.ok(k < KEY_SPACE_END);
});

test("a large map splits into many chunks and ranges stay exact", () => {
  const m = new OrderedMap<number>();
  const n = 20_000;
  for (let i = 0; i < n; i++) m.set(String((i * 7919) % n).padStart(6, "0"), i);
  for (let i = 0; i < n; i += 2) m.delete(String(i).padStart(6, "0"));
  assert.equal(m.size, n / 2);
  const got = [...m.range("010000", "010010")].map(([k]) => k);
  assert.deepEqual(got, ["010001", "010003", "010005", "010007", "010009"]);
  assert.equal([...m.range("")].length, n / 2);
});
