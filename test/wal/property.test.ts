import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { MemoryStorage } from "../../src/raft/storage.ts";
import type { Entry } from "../../src/raft/types.ts";
import { Wal, type WalOptions } from "../../src/wal/index.ts";
import { dump, walView } from "./helpers.ts";
import { applyToModel, applyToWal, CONF, type WalOp } from "./workload.ts";

// Abstract operations: their parameters are read relative to the model's state
// when they run, so every generated sequence is valid (and shrinks well).
type AbstractOp =
  | { t: "append"; sizes: number[]; withHard: boolean }
  | { t: "conflict"; back: number; sizes: number[] }
  | { t: "hard"; newTerm: boolean; vote: number; commitStep: number }
  | { t: "snap"; at: number; keep: number }
  | { t: "compact"; at: number }
  | { t: "install"; ahead: number; sizes: number[] }
  | { t: "reopen" };

const sizes = fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 6 });
const opArb: fc.Arbitrary<AbstractOp> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant("append" as const), sizes, withHard: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("conflict" as const), back: fc.nat(8), sizes }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant("hard" as const),
      newTerm: fc.boolean(),
      vote: fc.nat(3),
      commitStep: fc.nat(5),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant("snap" as const),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      keep: fc.nat(6),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant("compact" as const),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant("install" as const),
      ahead: fc.integer({ min: 1, max: 10 }),
      sizes: fc.array(fc.nat(50), { maxLength: 3 }),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ t: "reopen" as const }) },
);

class Interpreter {
  term = 1;
  vote = 0;
  commit = 0;
  constructor(readonly model: MemoryStorage) {}

  private run(from: number, lens: number[], term: number): Entry[] {
    return lens.map((n, k) => ({
      index: from + k,
      term,
      type: (from + k) % 5 === 0 ? 1 : 0,
      data: Buffer.alloc(n, (from + k + term) % 256),
    }));
  }

  /** The concrete operation, or undefined when the abstract one does not apply to this state. */
  concrete(op: AbstractOp): WalOp | undefined {
    const m = this.model;
    const first = m.firstIndex();
    const last = m.lastIndex();
    const snapIndex = m.snapshot()!.metadata.index;
    const hard = () => ({ term: this.term, vote: this.vote, commit: this.commit });
    switch (op.t) {
      case "append":
        return {
          kind: "save",
          batch: {
            entries: this.run(last + 1, op.sizes, this.term),
            hardState: op.withHard ? hard() : undefined,
          },
        };
      case "conflict":
        this.term++;
        this.vote = 0;
        return {
          kind: "save",
          batch: {
            entries: this.run(Math.max(first, last + 1 - op.back), op.sizes, this.term),
            hardState: hard(),
          },
        };
      case "hard":
        if (op.newTerm) {
          this.term++;
          this.vote = op.vote;
        }
        this.commit += op.commitStep;
        return { kind: "save", batch: { hardState: hard() } };
      case "snap": {
        if (last <= snapIndex) return undefined;
        const index = snapIndex + 1 + Math.floor(op.at * (last - snapIndex - 1));
        return {
          kind: "snap",
          meta: { index, term: m.term(index) ?? 0, confState: CONF },
          compactTo: Math.max(first - 1, index - op.keep),
        };
      }
      case "compact":
        if (snapIndex < first) return undefined;
        return { kind: "compact", index: first + Math.floor(op.at * (snapIndex - first)) };
      case "install": {
        this.term++;
        const index = Math.max(last, snapIndex) + op.ahead;
        this.commit = Math.max(this.commit, index);
        return {
          kind: "save",
          batch: {
            snapshot: { index, term: this.term, confState: CONF },
            entries: this.run(index + 1, op.sizes, this.term),
            hardState: hard(),
          },
        };
      }
      case "reopen":
        return undefined;
    }
  }
}

function check(wal: Wal, model: MemoryStorage, where: string): void {
  assert.deepEqual(dump(walView(wal)), dump(model), where);
  const lo = model.firstIndex();
  const hi = model.lastIndex() + 1;
  for (let i = lo - 1; i <= hi; i++)
    assert.equal(walView(wal).term(i), model.term(i), `${where}: term(${i})`);
  if (lo < hi) {
    for (const max of [0, 200, 1000]) {
      const a = wal
        .entries(lo, hi, max)
        .map((e) => [e.index, e.term, e.type, Buffer.from(e.data).toString("hex")]);
      const b = model
        .entries(lo, hi, max)
        .map((e) => [e.index, e.term, e.type, Buffer.from(e.data).toString("hex")]);
      assert.deepEqual(a, b, `${where}: entries(${lo}, ${hi}, ${max})`);
    }
  }
}

test("any sequence of saves, conflicting suffixes, hard states, snapshots, compactions and reopens yields the model's log", async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), "floe-wal-prop-"));
  let run = 0;
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 300, max: 4000 }),
        fc.integer({ min: 0, max: 3000 }),
        async (ops, segmentSizeBytes, cacheSizeBytes) => {
          const dir = path.join(root, `run-${run++}`);
          const opts: WalOptions = { segmentSizeBytes, cacheSizeBytes, logger: () => {} };
          const model = new MemoryStorage();
          const interp = new Interpreter(model);
          let wal = await Wal.open(dir, opts);
          try {
            for (const [i, op] of ops.entries()) {
              if (op.t === "reopen") {
                await wal.close();
                wal = await Wal.open(dir, opts);
              } else {
                const c = interp.concrete(op);
                if (!c) continue;
                await applyToWal(wal, c);
                applyToModel(model, c);
              }
              check(wal, model, `after op ${i} (${op.t})`);
            }
            await wal.close();
            wal = await Wal.open(dir, opts);
            check(wal, model, "after the final reopen");
          } finally {
            await wal.close();
            await fs.rm(dir, { recursive: true, force: true });
          }
        },
      ),
      { numRuns: 60 },
    );
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});
