// The key index checkpoint: a store reopened from it answers exactly as one
// rebuilt from every record, and any doubt about it means a full rebuild.

import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryMvccStorage, MvccStore } from "../../src/mvcc/index.ts";
import { b, kv } from "./helpers.ts";

/** Every key's versions at every revision, leases and hashes: what a rebuilt index decides. */
function observe(store: MvccStore) {
  const all = { key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0) };
  const byRev: unknown[] = [];
  for (let rev = Math.max(1, store.compactRevision); rev <= store.revision; rev++) {
    byRev.push(store.range({ ...all, revision: rev }).kvs.map(kv));
  }
  const leases = store.leaseList().map((l) => ({ ...l, keys: store.timeToLive(l.id, { keys: true })?.keys }));
  return { byRev, leases, hashKV: store.hashKV().hash, hash: store.hash().hash, revision: store.revision };
}

/** The same records without the checkpoint: opening it rebuilds the index from every record. */
function withoutCheckpoint(storage: MemoryMvccStorage): MemoryMvccStorage {
  const copy = new MemoryMvccStorage();
  for (const [k, v] of storage.entries()) copy.write({ puts: [[k, v]], deletes: [] });
  return copy;
}

function history(store: MvccStore, from: number, n: number): void {
  if (store.timeToLive(5n) === undefined) store.leaseGrant({ id: 5n, ttl: 60 });
  for (let i = from; i < from + n; i++) {
    const k = b(`k${i % 37}`);
    if (i % 11 === 0) store.deleteRange({ key: k });
    else if (i % 7 === 0) store.put({ key: k, value: b(`v${i}`), lease: 5n });
    else if (i % 13 === 0)
      store.txn({
        compare: [],
        success: [
          { requestPut: { key: k, value: b("t") } },
          { requestPut: { key: b(`t${i}`), value: b("u") } },
        ],
        failure: [],
      });
    else store.put({ key: k, value: b(`v${i}`) });
  }
}

test("a store reopened from a checkpoint plus later records equals one rebuilt from every record", async () => {
  const storage = new MemoryMvccStorage();
  const store = MvccStore.open(storage);
  store.leaseGrant({ id: -9n, ttl: 60 });
  store.put({ key: b("neg"), value: b("x"), lease: -9n });
  // lease ids from the whole int64 range, as clients may choose them
  store.leaseGrant({ id: 0x7fff_ffff_ffff_fff1n, ttl: 60 });
  store.put({ key: b("big"), value: b("x"), lease: 0x7fff_ffff_ffff_fff1n });
  store.leaseGrant({ id: -(2n ** 63n), ttl: 60 });
  store.put({ key: b("min"), value: b("x"), lease: -(2n ** 63n) });
  history(store, 1, 300);
  assert.equal(await store.checkpointIndex(), true);
  assert.equal(store.checkpointRevision, store.revision);
  assert.equal(await store.checkpointIndex(), false, "nothing changed since the last one");
  history(store, 301, 200);

  const fromCheckpoint = MvccStore.open(storage);
  assert.equal(fromCheckpoint.loadedFrom, `checkpoint at revision ${store.checkpointRevision}`);
  const rebuilt = MvccStore.open(withoutCheckpoint(storage));
  assert.equal(rebuilt.loadedFrom, "all records (checkpoint: none)");
  assert.deepEqual(observe(fromCheckpoint), observe(rebuilt));
  assert.deepEqual(observe(fromCheckpoint), observe(store));
  // Writes go on from the checkpointed index as from the rebuilt one.
  for (const s of [fromCheckpoint, rebuilt]) history(s, 501, 50);
  assert.deepEqual(observe(fromCheckpoint), observe(rebuilt));
});

test("a compaction after the checkpoint voids it; pending garbage postpones the next one", async () => {
  const storage = new MemoryMvccStorage();
  const store = MvccStore.open(storage);
  history(store, 1, 200);
  assert.equal(await store.checkpointIndex(), true);
  store.compact({ revision: 150 });
  assert.equal(store.checkpointRevision, -1, "the compaction voids it");
  assert.ok(store.compactionPending > 0);
  history(store, 201, 10);
  assert.equal(await store.checkpointIndex(), false, "garbage pending: the index names records about to go");
  const reopened = MvccStore.open(storage);
  assert.equal(reopened.loadedFrom, "all records (checkpoint: compacted since it was taken)");
  assert.deepEqual(observe(reopened), observe(store));
  while (store.compactSome(1000) > 0);
  assert.equal(await store.checkpointIndex(), true);
  assert.match(MvccStore.open(storage).loadedFrom, /^checkpoint at revision/);
  assert.deepEqual(observe(MvccStore.open(storage)), observe(store));
});

test("a damaged checkpoint is ignored with its reason; the records still rebuild the index", async () => {
  const storage = new MemoryMvccStorage();
  const store = MvccStore.open(storage);
  history(store, 1, 100);
  await store.checkpointIndex();
  const good = storage.readCheckpoint() as Uint8Array;
  for (const [at, reason] of [
    [good.length - 3, /checksum mismatch/],
    [0, /format version 65, this build reads 1/],
  ] as const) {
    const bad = new Uint8Array(good);
    bad[at] ^= 0x40;
    await storage.saveCheckpoint(bad, () => true);
    const s = MvccStore.open(storage);
    assert.match(s.loadedFrom, reason);
    assert.deepEqual(observe(s), observe(store));
  }
  await storage.saveCheckpoint(good.subarray(0, good.length - 10), () => true);
  assert.match(MvccStore.open(storage).loadedFrom, /^all records \(checkpoint: .*truncated/);
});

test("a restore drops the checkpoint, and a save overtaken by a restore is discarded", async () => {
  const source = MvccStore.open(new MemoryMvccStorage());
  history(source, 1, 50);
  const storage = new MemoryMvccStorage();
  const store = MvccStore.open(storage);
  history(store, 1, 400);
  await store.checkpointIndex();
  assert.ok(storage.readCheckpoint() !== undefined);
  history(store, 401, 5);
  const saving = store.checkpointIndex();
  await store.restore(source.snapshot());
  assert.equal(await saving, false);
  assert.equal(storage.readCheckpoint(), undefined);
  assert.equal(store.checkpointRevision, -1);
  const reopened = MvccStore.open(storage);
  assert.equal(reopened.loadedFrom, "all records (checkpoint: none)");
  assert.deepEqual(observe(reopened), observe(source));
});

test("a checkpoint ahead of the store's records is not used", async () => {
  const storage = new MemoryMvccStorage();
  const store = MvccStore.open(storage);
  history(store, 1, 30);
  const behind = withoutCheckpoint(storage);
  history(store, 31, 30);
  await store.checkpointIndex();
  await behind.saveCheckpoint(storage.readCheckpoint() as Uint8Array, () => true);
  assert.match(MvccStore.open(behind).loadedFrom, /checkpoint: it is at revision \d+, past the store's \d+/);
});
