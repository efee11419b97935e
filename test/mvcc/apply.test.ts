import assert from "node:assert/strict";
import { test } from "node:test";
import {
  MemoryMvccStorage,
  type MvccCommand,
  MvccError,
  MvccStore,
  type WriteBatch,
} from "../../src/mvcc/index.ts";
import { b, fresh, str, throwsCode } from "./helpers.ts";

const put = (k: string, v: string): MvccCommand => ({ type: "put", request: { key: b(k), value: b(v) } });

test("apply persists the applied index and term with the writes; entries at or below it are skipped", () => {
  const { store, storage } = fresh();
  assert.equal(store.apply(1, put("a", "1"), { term: 1 }).status, "applied");
  assert.equal(store.apply(2, put("a", "2"), { term: 1 }).status, "applied");
  assert.deepEqual(store.apply(2, put("a", "X"), { term: 1 }), { status: "skipped" });
  assert.deepEqual(store.apply(1, put("a", "X")), { status: "skipped" });
  assert.equal(str(store.range({ key: b("a") }).kvs[0].value), "2");
  assert.deepEqual([store.appliedIndex, store.appliedTerm, store.revision], [2, 1, 3]);
  const writes = storage.stats.writes;
  const reopened = MvccStore.open(storage);
  assert.deepEqual([reopened.appliedIndex, reopened.appliedTerm, reopened.revision], [2, 1, 3]);
  assert.deepEqual(reopened.apply(2, put("a", "X")), { status: "skipped" });
  assert.equal(storage.stats.writes, writes, "a skipped entry writes nothing");
  // Gaps (entries the server applied elsewhere) are fine.
  assert.equal(reopened.apply(9, put("a", "3"), { term: 2 }).status, "applied");
  assert.deepEqual([reopened.appliedIndex, reopened.appliedTerm, reopened.revision], [9, 2, 4]);
});

test("each apply is one storage batch holding its records and the applied index", () => {
  const batches: WriteBatch[] = [];
  const inner = new MemoryMvccStorage();
  const storage = {
    get: (k: Uint8Array) => inner.get(k),
    scan: (s: Uint8Array, e: Uint8Array) => inner.scan(s, e),
    write: (batch: WriteBatch) => {
      batches.push(batch);
      inner.write(batch);
    },
  };
  const store = MvccStore.open(storage);
  store.apply(1, {
    type: "txn",
    request: { success: [{ requestPut: { key: b("a") } }, { requestPut: { key: b("b") } }] },
  });
  assert.equal(batches.length, 1);
  assert.equal(batches[0].puts.length, 3, "two revision records and the meta state");
});

test("a refused command consumes its index: it is not retried after a restart", () => {
  const { store, storage } = fresh();
  const r = store.apply(1, { type: "put", request: { key: b("a"), lease: 5n } });
  assert.ok(r.status === "failed");
  assert.ok(r.error instanceof MvccError);
  assert.equal(r.error.code, "LeaseNotFound");
  assert.equal(store.appliedIndex, 1);
  assert.equal(MvccStore.open(storage).appliedIndex, 1);
  assert.deepEqual(store.apply(1, { type: "noop" }), { status: "skipped" });
  const noop = store.apply(2, { type: "noop" });
  assert.ok(noop.status === "applied");
  assert.deepEqual([noop.response.header.revision, store.appliedIndex], [1, 2]);
});

test("replaying a log against a reopened store yields the same state as applying it once", () => {
  const log: MvccCommand[] = [
    put("a", "1"),
    { type: "leaseGrant", request: { ttl: 10 } },
    { type: "put", request: { key: b("b"), value: b("2"), lease: 2n } },
    {
      type: "txn",
      request: { success: [{ requestDeleteRange: { key: b("a") } }, { requestPut: { key: b("c") } }] },
    },
    { type: "compaction", request: { revision: 2 } },
    { type: "leaseRevoke", request: { id: 2n } },
    put("d", "4"),
  ];
  const once = fresh();
  for (const [i, c] of log.entries()) once.store.apply(i + 1, c);
  // Crash after entry 4, then the server re-feeds everything from the start.
  const crashed = fresh();
  for (const [i, c] of log.slice(0, 4).entries()) crashed.store.apply(i + 1, c);
  const reopened = MvccStore.open(crashed.storage);
  const results = log.map((c, i) => reopened.apply(i + 1, c).status);
  assert.deepEqual(results, ["skipped", "skipped", "skipped", "skipped", "applied", "applied", "applied"]);
  assert.equal(reopened.hash().hash, once.store.hash().hash);
  assert.equal(reopened.hashKV().hash, once.store.hashKV().hash);
});

test("the same log applied on two members gives identical storage bytes and responses", () => {
  const a = fresh();
  const c = fresh();
  const log: MvccCommand[] = [];
  for (let i = 0; i < 40; i++) {
    log.push(put(`k${i % 7}`, `v${i}`));
    if (i % 9 === 0) log.push({ type: "deleteRange", request: { key: b("k"), rangeEnd: b("k4") } });
    if (i === 20) log.push({ type: "compaction", request: { revision: 15 } });
    if (i === 25) log.push({ type: "leaseGrant", request: { ttl: 5 } });
  }
  const ra = log.map((cmd, i) => a.store.apply(i + 1, cmd));
  const rc = log.map((cmd, i) => c.store.apply(i + 1, cmd));
  assert.deepEqual(ra, rc);
  a.store.compactSome(1000);
  c.store.compactSome(1000);
  assert.deepEqual([...a.storage.entries()], [...c.storage.entries()]);
});

test("a storage failure fails the store: it refuses all further work", () => {
  const inner = new MemoryMvccStorage();
  let broken = false;
  const storage = {
    get: (k: Uint8Array) => inner.get(k),
    scan: (s: Uint8Array, e: Uint8Array) => inner.scan(s, e),
    write: (batch: WriteBatch) => {
      if (broken) throw new Error("EIO: disk on fire");
      inner.write(batch);
    },
  };
  const store = MvccStore.open(storage);
  store.put({ key: b("a") });
  broken = true;
  assert.throws(() => store.put({ key: b("b") }), /EIO/);
  const e = throwsCode(() => store.range({ key: b("a") }), "Failed");
  assert.match(e.detail ?? "", /EIO/);
  broken = false;
  throwsCode(() => store.apply(9, { type: "noop" }), "Failed");
  assert.equal(MvccStore.open(storage).range({ key: b("b") }).count, 0, "storage never saw the failed batch");
});

test("corrupt records are reported with what and where", () => {
  const { store, storage } = fresh();
  store.put({ key: b("a"), value: b("1") });
  const [k] = [...storage.entries()].find(([key]) => key[0] === 0x72)!;
  storage.write({ puts: [[k, Uint8Array.of(9, 9)]], deletes: [] });
  const e = throwsCode(() => MvccStore.open(storage), "Corrupt");
  assert.match(e.detail ?? "", /revision record 2\.0: unknown record kind 9/);
});
