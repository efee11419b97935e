// Property tests: random sequences of put / delete / txn / compact / range /
// physical compaction / reopen / restore, checked against a model that keeps
// every key's full history as a list of versions. Reopens rebuild the key
// index from the records or from a checkpoint taken at random points.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  CompareResult,
  CompareTarget,
  EventType,
  MemoryMvccStorage,
  MvccError,
  MvccStore,
  type RequestOp,
  type WatchDelivery,
} from "../../src/mvcc/index.ts";
import { b, str } from "./helpers.ts";

interface Version {
  rev: number;
  /** undefined: a tombstone. */
  value?: string;
  create: number;
  ver: number;
}

interface Found {
  key: string;
  value: string;
  create: number;
  mod: number;
  ver: number;
}

class Model {
  readonly history = new Map<string, Version[]>();
  readonly events: string[] = [];
  /** A fresh store is at revision 1, as etcd's is. */
  rev = 1;
  compactRev = -1;

  at(key: string, rev: number): Found | undefined {
    const versions = this.history.get(key) ?? [];
    let found: Version | undefined;
    for (const v of versions) if (v.rev <= rev) found = v;
    if (found?.value === undefined) return undefined;
    return { key, value: found.value, create: found.create, mod: found.rev, ver: found.ver };
  }

  /** Applies one revision's writes in order; returns whether anything changed. */
  write(ops: ({ put: string; value: string } | { del: string; end?: string })[]): void {
    const rev = this.rev + 1;
    let changed = false;
    for (const op of ops) {
      if ("put" in op) {
        const cur = this.at(op.put, rev);
        this.push(op.put, {
          rev,
          value: op.value,
          create: cur ? cur.create : rev,
          ver: cur ? cur.ver + 1 : 1,
        });
        this.events.push(`PUT ${op.put}@${rev}=${op.value}`);
        changed = true;
      } else {
        for (const key of this.keysIn(op.del, op.end)) {
          if (this.at(key, rev) === undefined) continue;
          this.push(key, { rev, create: 0, ver: 0 });
          this.events.push(`DELETE ${key}@${rev}`);
          changed = true;
        }
      }
    }
    if (changed) this.rev = rev;
  }

  keysIn(start: string, end?: string): string[] {
    if (end === undefined) return [start];
    return [...this.history.keys()].filter((k) => k >= start && k < end).sort();
  }

  private push(key: string, v: Version): void {
    const list = this.history.get(key) ?? [];
    list.push(v);
    this.history.set(key, list);
  }
}

/** Raise for a soak: MVCC_PROPERTY_RUNS=20000 node --import tsx --test test/mvcc/model.test.ts */
const RUNS = Number(process.env.MVCC_PROPERTY_RUNS ?? 300);

const KEYS = ["a", "b", "c", "d", "e"];
const key = fc.constantFrom(...KEYS);
const value = fc.constantFrom("", "x", "y", "zz");
const ops = fc.uniqueArray(key, { maxLength: 3 });

const opArb = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant("put" as const), k: key, v: value }) },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant("del" as const), k: key, end: fc.option(key, { nil: undefined }) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("txn" as const),
      k: key,
      ver: fc.nat(3),
      thenPuts: ops,
      thenDel: fc.option(key, { nil: undefined }),
      otherwise: ops,
      v: value,
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("compact" as const), at: fc.nat(1000) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant("range" as const),
      k: key,
      end: fc.option(fc.constantFrom(...KEYS, "\0"), { nil: undefined }),
      at: fc.nat(1000),
      limit: fc.nat(3),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("gc" as const), n: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("reopen" as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("restore" as const) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("checkpoint" as const) }) },
);

type Op = typeof opArb extends fc.Arbitrary<infer T> ? T : never;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (err instanceof MvccError) return err.code;
    throw err;
  }
}

/** A revision from -1 to current + 1 (negative: current; above: future). */
const revAt = (m: Model, at: number) => Math.floor((at / 1000) * (m.rev + 3)) - 1;

async function run(seq: Op[]): Promise<void> {
  const storage = new MemoryMvccStorage();
  let store = MvccStore.open(storage);
  const m = new Model();
  /** The compact revision when the last key index checkpoint was kept (it is void after another compaction). */
  let checkpointedAt: number | undefined;
  for (const op of seq) {
    switch (op.t) {
      case "put":
        store.put({ key: b(op.k), value: b(op.v) });
        m.write([{ put: op.k, value: op.v }]);
        break;
      case "del": {
        const end = op.end !== undefined && op.end > op.k ? op.end : undefined;
        const deleted = store.deleteRange({
          key: b(op.k),
          rangeEnd: end === undefined ? undefined : b(end),
        }).deleted;
        const before = m.rev;
        m.write([{ del: op.k, end }]);
        assert.equal(deleted > 0, m.rev > before);
        break;
      }
      case "txn": {
        const thenOps: RequestOp[] = op.thenPuts.map((k) => ({ requestPut: { key: b(k), value: b(op.v) } }));
        const thenDel =
          op.thenDel !== undefined && !op.thenPuts.includes(op.thenDel) ? op.thenDel : undefined;
        if (thenDel !== undefined) thenOps.push({ requestDeleteRange: { key: b(thenDel) } });
        const cur = m.at(op.k, m.rev);
        const succeeded = (cur?.ver ?? 0) === op.ver;
        const r = store.txn({
          compare: [
            { key: b(op.k), target: CompareTarget.VERSION, result: CompareResult.EQUAL, version: op.ver },
          ],
          success: thenOps,
          failure: op.otherwise.map((k) => ({ requestDeleteRange: { key: b(k) } })),
        });
        assert.equal(r.succeeded, succeeded);
        if (succeeded) {
          const writes: ({ put: string; value: string } | { del: string })[] = op.thenPuts.map((k) => ({
            put: k,
            value: op.v,
          }));
          if (thenDel !== undefined) writes.push({ del: thenDel });
          m.write(writes);
        } else m.write(op.otherwise.map((k) => ({ del: k })));
        assert.equal(r.header.revision, m.rev);
        break;
      }
      case "compact": {
        // Mostly a valid revision, sometimes any (to see the refusals).
        const valid = m.compactRev + 1 + Math.floor((op.at / 1000) * (m.rev - m.compactRev));
        const rev = op.at % 5 === 0 ? revAt(m, op.at) : valid;
        const want = rev <= m.compactRev ? "Compacted" : rev > m.rev ? "FutureRev" : undefined;
        assert.equal(
          codeOf(() => store.compact({ revision: rev })),
          want,
        );
        if (want === undefined) m.compactRev = rev;
        break;
      }
      case "range": {
        const rev = revAt(m, op.at);
        const end = op.end === "\0" ? Uint8Array.of(0) : op.end !== undefined ? b(op.end) : undefined;
        const req = { key: b(op.k), rangeEnd: end, revision: rev, limit: op.limit };
        const atRev = rev <= 0 ? m.rev : rev;
        const want = rev > m.rev ? "FutureRev" : atRev < m.compactRev ? "Compacted" : undefined;
        const got = codeOf(() => store.range(req));
        assert.equal(got, want, `range at ${rev} (current ${m.rev}, compacted ${m.compactRev})`);
        if (want !== undefined) break;
        const keyEnd = op.end === "\0" ? "\uffff" : op.end;
        const expected = (keyEnd === undefined ? [op.k] : KEYS.filter((k) => k >= op.k && k < keyEnd))
          .map((k) => m.at(k, atRev))
          .filter((x): x is Found => x !== undefined);
        const r = store.range(req);
        const limit = op.limit > 0 ? op.limit : expected.length;
        assert.deepEqual(
          r.kvs.map((kv) => ({
            key: str(kv.key),
            value: str(kv.value),
            create: kv.createRevision,
            mod: kv.modRevision,
            ver: kv.version,
          })),
          expected.slice(0, limit),
        );
        assert.deepEqual([r.count, r.more], [expected.length, expected.length > limit]);
        break;
      }
      case "gc":
        store.compactSome(op.n);
        break;
      case "reopen": {
        const hash = store.hash().hash;
        store = MvccStore.open(storage);
        assert.equal(store.hash().hash, hash);
        // Later ranges check the index against the model, whichever way it was rebuilt.
        if (checkpointedAt !== undefined && checkpointedAt === m.compactRev)
          assert.match(store.loadedFrom, /^checkpoint at revision/);
        else assert.match(store.loadedFrom, /^all records/);
        break;
      }
      case "checkpoint": {
        const pending = store.compactionPending > 0;
        const kept = await store.checkpointIndex();
        if (pending) assert.equal(kept, false);
        if (kept) checkpointedAt = m.compactRev;
        break;
      }
      case "restore": {
        const target = MvccStore.open(new MemoryMvccStorage());
        await target.restore(store.snapshot());
        assert.equal(target.hash().hash, store.hash().hash);
        assert.equal(target.hashKV().hash, store.hashKV().hash);
        break;
      }
    }
    assert.equal(store.revision, m.rev);
    assert.equal(store.compactRevision, m.compactRev);
  }
}

test("the store matches a model of per-key version lists under random operations", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { maxLength: 80, size: "max" }), (seq) => run(seq)),
    { numRuns: RUNS },
  );
});

test("watchers, fast or randomly refusing, see exactly the model's events", () => {
  fc.assert(
    fc.property(
      fc.array(opArb, { maxLength: 50 }),
      fc.array(fc.boolean(), { minLength: 1, maxLength: 20 }),
      fc.nat(6),
      (seq, accepts, chunk) => {
        const store = MvccStore.open(new MemoryMvccStorage());
        const m = new Model();
        const seen = { fast: [] as string[], flaky: [] as string[] };
        let calls = 0;
        let draining = false;
        let compacted = false;
        const record = (into: string[]) => (d: WatchDelivery) => {
          if (d.compactRevision !== undefined) compacted = true;
          for (const e of d.events) {
            into.push(
              e.type === EventType.PUT
                ? `PUT ${str(e.kv.key)}@${e.kv.modRevision}=${str(e.kv.value)}`
                : `DELETE ${str(e.kv.key)}@${e.kv.modRevision}`,
            );
          }
        };
        const all = { key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0) };
        const fastSink = record(seen.fast);
        store.watch(all, (d) => {
          fastSink(d);
          return true;
        });
        const flakySink = record(seen.flaky);
        store.watch({ ...all, startRevision: 1 }, (d) => {
          if (!draining && !accepts[calls++ % accepts.length]) return false;
          flakySink(d);
          return true;
        });
        for (const op of seq) {
          if (op.t === "put") {
            store.put({ key: b(op.k), value: b(op.v) });
            m.write([{ put: op.k, value: op.v }]);
          } else if (op.t === "del") {
            const end = op.end !== undefined && op.end > op.k ? op.end : undefined;
            store.deleteRange({ key: b(op.k), rangeEnd: end === undefined ? undefined : b(end) });
            m.write([{ del: op.k, end }]);
          } else if (op.t === "txn") {
            const writes = op.thenPuts.map((k) => ({ put: k, value: op.v }));
            store.txn({ success: writes.map((w) => ({ requestPut: { key: b(w.put), value: b(w.value) } })) });
            m.write(writes);
          } else if (op.t === "gc") {
            store.hub.syncSome(chunk);
          } else if (op.t === "compact" && op.at > 900 && m.rev > m.compactRev) {
            store.compact({ revision: m.rev });
            m.compactRev = m.rev;
          }
        }
        draining = true;
        for (let i = 0; store.hub.syncSome(chunk) > 0; i++) assert.ok(i < 10_000, "catch-up makes progress");
        assert.deepEqual(seen.fast, m.events);
        if (!compacted) assert.deepEqual(seen.flaky, m.events);
        else
          assert.deepEqual(
            seen.flaky,
            m.events.slice(0, seen.flaky.length),
            "a compacted watcher saw a prefix",
          );
      },
    ),
    { numRuns: RUNS },
  );
});
