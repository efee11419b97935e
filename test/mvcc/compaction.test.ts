import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryMvccStorage, MvccStore } from "../../src/mvcc/index.ts";
import { b, fresh, keys, str, throwsCode } from "./helpers.ts";

const ALL = { key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0) };

/** rev 2 a=1, 3 a=2, 4 b=1, 5 del a, 6 a=3, 7 del b, 8 c=1 (a fresh store is at rev 1) */
function history() {
  const t = fresh();
  t.store.put({ key: b("a"), value: b("1") });
  t.store.put({ key: b("a"), value: b("2") });
  t.store.put({ key: b("b"), value: b("1") });
  t.store.deleteRange({ key: b("a") });
  t.store.put({ key: b("a"), value: b("3") });
  t.store.deleteRange({ key: b("b") });
  t.store.put({ key: b("c"), value: b("1") });
  return t;
}

function snapshotAt(store: MvccStore, rev: number): string[] {
  return store
    .range({ ...ALL, revision: rev })
    .kvs.map((k) => `${str(k.key)}=${str(k.value)}@${k.modRevision}v${k.version}`);
}

test("compaction keeps what every revision at or after it needs and refuses reads below it", () => {
  const { store } = history();
  const before = [4, 5, 6, 7, 8].map((r) => snapshotAt(store, r));
  store.compact({ revision: 4 });
  assert.equal(store.compactRevision, 4);
  assert.deepEqual(
    [4, 5, 6, 7, 8].map((r) => snapshotAt(store, r)),
    before,
  );
  throwsCode(() => store.range({ ...ALL, revision: 3 }), "Compacted");
  store.compact({ revision: 7 });
  assert.deepEqual(snapshotAt(store, 7), ["a=3@6v1"]);
  assert.deepEqual(snapshotAt(store, 8), ["a=3@6v1", "c=1@8v1"]);
});

test("compacting at or below the compact revision, or in the future, is refused with etcd's messages", () => {
  const { store } = history();
  store.compact({ revision: 5 });
  assert.equal(
    throwsCode(() => store.compact({ revision: 5 }), "Compacted").message,
    "etcdserver: mvcc: required revision has been compacted",
  );
  throwsCode(() => store.compact({ revision: 3 }), "Compacted");
  assert.equal(
    throwsCode(() => store.compact({ revision: 9 }), "FutureRev").message,
    "etcdserver: mvcc: required revision is a future revision",
  );
  assert.equal(store.compact({ revision: 8 }).header.revision, 8);
});

test("physical compaction deletes garbage records in bounded batches, in revision order", () => {
  const { store, storage } = history();
  const records = storage.size;
  store.compact({ revision: 7 });
  // Garbage: a@2, a@3, b@4, del a@5 (a's first generation ended below 7). Kept: a@6, del b@7 (a tombstone at
  // exactly the compact revision stays, as in etcd >= 3.5.16), c@8.
  assert.equal(store.compactionPending, 4);
  assert.equal(store.compactSome(3), 1);
  assert.equal(store.compactSome(3), 0);
  assert.equal(storage.size, records - 4);
  assert.deepEqual(snapshotAt(store, 7), ["a=3@6v1"]);
});

test("a key deleted below the compact revision leaves the index; one re-created keeps its new generation", () => {
  const { store } = history();
  store.compact({ revision: 8 });
  store.compactSome(100);
  assert.deepEqual(keys(store.range(ALL).kvs), ["a", "c"]);
  store.put({ key: b("b"), value: b("again") });
  assert.deepEqual(
    [store.range({ key: b("b") }).kvs[0].version, store.range({ key: b("b") }).kvs[0].createRevision],
    [1, 9],
  );
  store.put({ key: b("a"), value: b("4") });
  const a = store.range({ key: b("a") }).kvs[0];
  assert.deepEqual(
    [a.version, a.createRevision, a.modRevision],
    [2, 6, 10],
    "versions continue across compaction",
  );
});

test("reopening after any amount of physical deletion rebuilds the same state and finds the rest of the garbage", () => {
  for (let deleted = 0; deleted <= 4; deleted++) {
    const { store, storage } = history();
    store.compact({ revision: 7 });
    store.compactSome(deleted);
    const hash = store.hashKV().hash;
    const reopened = MvccStore.open(storage);
    assert.equal(reopened.compactionPending, 4 - deleted, `after deleting ${deleted}`);
    assert.equal(reopened.hashKV().hash, hash);
    assert.deepEqual(snapshotAt(reopened, 8), snapshotAt(store, 8));
    reopened.put({ key: b("a"), value: b("4") });
    store.put({ key: b("a"), value: b("4") });
    assert.deepEqual(snapshotAt(reopened, 9), snapshotAt(store, 9));
    assert.equal(reopened.hashKV().hash, store.hashKV().hash);
  }
});

test("hashKV ignores deletion progress, refuses compacted and future revisions, and changes with history", () => {
  const { store } = history();
  const at6 = store.hashKV(6);
  assert.equal(at6.hashRevision, 6);
  assert.notEqual(at6.hash, store.hashKV(7).hash);
  store.compact({ revision: 5 });
  const pending = store.hashKV(7);
  store.compactSome(1);
  assert.equal(store.hashKV(7).hash, pending.hash);
  store.compactSome(100);
  assert.equal(store.hashKV(7).hash, pending.hash);
  assert.equal(pending.compactRevision, 5);
  throwsCode(() => store.hashKV(4), "Compacted");
  throwsCode(() => store.hashKV(9), "FutureRev");
});

test("a put and a delete of one key in the same revision compact like etcd's index (the put is garbage)", () => {
  const storage = new MemoryMvccStorage();
  const store = MvccStore.open(storage);
  store.txn({
    success: [
      { requestTxn: { success: [{ requestPut: { key: b("k"), value: b("v") } }] } },
      { requestTxn: { success: [{ requestDeleteRange: { key: b("k") } }] } },
    ],
  });
  store.put({ key: b("other") });
  store.compact({ revision: 2 });
  assert.equal(store.compactionPending, 1);
  store.compactSome();
  assert.equal(MvccStore.open(storage).hashKV().hash, store.hashKV().hash);
});
