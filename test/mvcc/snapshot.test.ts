import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryMvccStorage, type MvccCommand, MvccStore } from "../../src/mvcc/index.ts";
import { b, fresh, keys, str, throwsCode } from "./helpers.ts";

const ALL = { key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0) };

function workload(n: number, offset = 0): MvccCommand[] {
  const log: MvccCommand[] = [{ type: "leaseGrant", request: { id: 77n, ttl: 9 } }];
  for (let i = offset; i < offset + n; i++) {
    log.push({
      type: "put",
      request: { key: b(`key/${i % 13}`), value: b(`value-${i}`), lease: i % 5 === 0 ? 77n : 0n },
    });
    if (i % 11 === 0) log.push({ type: "deleteRange", request: { key: b("key/1"), rangeEnd: b("key/3") } });
  }
  return log;
}

function populated() {
  const t = fresh();
  for (const [i, c] of workload(120).entries()) t.store.apply(i + 1, c);
  t.store.compact({ revision: 60 });
  t.store.compactSome(10); // leave most garbage unreclaimed
  return t;
}

function concat(chunks: Iterable<Uint8Array>): Uint8Array {
  return new Uint8Array(Buffer.concat([...chunks])); // a copy, not a Buffer: Buffer#slice would alias
}

test("snapshot then restore yields the same state: hashes, reads, leases, applied index", async () => {
  const { store } = populated();
  const chunks = [...MvccStore.open(new MemoryMvccStorage()).snapshot()];
  assert.equal(chunks.length, 2, "an empty store's snapshot: the meta state and the END frame");
  const target = fresh();
  target.store.put({ key: b("stale"), value: b("gone after restore") });
  await target.store.restore(store.snapshot());
  assert.equal(target.store.hash().hash, store.hash().hash);
  for (const rev of [0, 60, 90, store.revision])
    assert.equal(target.store.hashKV(rev).hash, store.hashKV(rev).hash);
  assert.deepEqual(target.store.range(ALL), store.range(ALL));
  assert.deepEqual(target.store.range({ ...ALL, revision: 61 }), store.range({ ...ALL, revision: 61 }));
  assert.deepEqual(target.store.leaseList(), store.leaseList());
  assert.deepEqual(target.store.timeToLive(77n, { keys: true }), store.timeToLive(77n, { keys: true }));
  assert.deepEqual(
    [target.store.appliedIndex, target.store.revision, target.store.compactRevision],
    [store.appliedIndex, store.revision, store.compactRevision],
  );
  assert.equal(target.store.compactionPending, 0, "snapshots carry no garbage");
  // Both continue identically.
  const more = workload(30, 500);
  const start = store.appliedIndex + 1;
  more.slice(1).forEach((c, i) => {
    store.apply(start + i, c);
    target.store.apply(start + i, c);
  });
  assert.equal(target.store.hash().hash, store.hash().hash);
  assert.equal(MvccStore.open(target.storage).hash().hash, store.hash().hash, "and after reopening");
});

test("a snapshot is a byte stream: any re-chunking restores, async sources too", async () => {
  const { store } = populated();
  const bytes = concat(MvccStore.open(new MemoryMvccStorage(), { snapshotChunkBytes: 256 }).snapshot());
  assert.ok(bytes.length > 0);
  const small = concat(store.snapshot());
  const pieces: Uint8Array[] = [];
  for (let at = 0; at < small.length; at += 7) pieces.push(small.subarray(at, at + 7));
  const t1 = fresh();
  await t1.store.restore(pieces);
  assert.equal(t1.store.hash().hash, store.hash().hash);
  async function* slowly() {
    for (const p of [small.subarray(0, 3), small.subarray(3, 1000), small.subarray(1000)]) yield p;
  }
  const t2 = fresh();
  await t2.store.restore(slowly());
  assert.equal(t2.store.hash().hash, store.hash().hash);
});

test("small chunks: a snapshot streams in bounded frames", () => {
  const t = fresh();
  const big = new Uint8Array(300).fill(0x61);
  for (let i = 0; i < 50; i++) t.store.put({ key: b(`k${i}`), value: big });
  const s = MvccStore.open(t.storage, { snapshotChunkBytes: 1024 }).snapshot();
  const sizes = [...s].map((c) => c.length);
  assert.ok(sizes.length > 10);
  assert.ok(Math.max(...sizes) < 1024 + 400, `largest chunk ${Math.max(...sizes)}`);
});

test("a snapshot is the state when it was taken, even if writes and compactions follow mid-stream", async () => {
  const { store } = populated();
  const hash = store.hash().hash;
  const stream = store.snapshot();
  const first = stream.next();
  assert.equal(first.done, false);
  for (let i = 0; i < 20; i++) store.put({ key: b(`key/${i}`), value: b("after") });
  store.compact({ revision: store.revision - 1 });
  assert.equal(
    store.compactSome(1_000_000),
    store.compactionPending,
    "physical compaction waits for the stream",
  );
  assert.ok(store.compactionPending > 0);
  const second = store.snapshot(); // another stream while the first pins garbage
  const rest = [...stream];
  const target = fresh();
  await target.store.restore([first.value as Uint8Array, ...rest]);
  assert.equal(target.store.hash().hash, hash);
  const t2 = fresh();
  await t2.store.restore(second);
  assert.equal(t2.store.hash().hash, store.hash().hash);
  assert.equal(store.compactSome(1_000_000), 0, "both streams ended: deletion resumes");
});

test("a stream abandoned with break releases physical compaction", () => {
  const { store } = populated();
  for (const _chunk of store.snapshot()) break;
  store.compact({ revision: 100 });
  assert.equal(store.compactSome(1_000_000), 0);
});

test("a damaged or truncated snapshot is refused, and the store needs a restore until one succeeds", async () => {
  const { store } = populated();
  const bytes = concat(store.snapshot());
  const damaged = bytes.slice();
  damaged[Math.floor(bytes.length / 2)] ^= 0x01;
  const t = fresh();
  t.store.put({ key: b("x") });
  await assert.rejects(t.store.restore([damaged]), (e: Error & { code?: string; detail?: string }) => {
    assert.equal(e.code, "Corrupt");
    assert.match(e.detail ?? "", /CRC-32C/);
    return true;
  });
  assert.equal(t.store.needsRestore, true);
  throwsCode(() => t.store.range({ key: b("x") }), "RestoreRequired");
  const reopened = MvccStore.open(t.storage);
  assert.equal(reopened.needsRestore, true);
  await assert.rejects(reopened.restore([bytes.subarray(0, bytes.length - 3)]), /corrupt/);
  await assert.rejects(reopened.restore([b("not a snapshot at all")]), /corrupt/);
  await reopened.restore([bytes]);
  assert.equal(reopened.needsRestore, false);
  assert.equal(reopened.hash().hash, store.hash().hash);
});

test("restore leaves records outside MVCC's prefixes alone", async () => {
  const { store } = populated();
  const t = fresh();
  t.storage.write({ puts: [[b("zzz/other-module"), b("keep")]], deletes: [] });
  await t.store.restore(store.snapshot());
  assert.equal(str(t.storage.get(b("zzz/other-module"))!), "keep");
});

test("watchers survive a restore and catch up from the new history", async () => {
  const source = fresh();
  for (let i = 1; i <= 6; i++) source.store.put({ key: b("w"), value: b(String(i)) });
  const follower = fresh();
  for (let i = 1; i <= 2; i++) follower.store.put({ key: b("w"), value: b(String(i)) });
  const seen: string[] = [];
  const w = follower.store.watch({ key: b("w") }, (d) => {
    for (const e of d.events) seen.push(`${str(e.kv.value)}@${e.kv.modRevision}`);
    return true;
  });
  await follower.store.restore(source.store.snapshot());
  assert.equal(w.synced, false);
  follower.store.hub.syncSome();
  follower.store.put({ key: b("w"), value: b("7") });
  assert.deepEqual(seen, ["3@4", "4@5", "5@6", "6@7", "7@8"]);
  assert.deepEqual(keys(follower.store.range(ALL).kvs), ["w"]);
});

test("data written when revisions started at 0 opens without migration and keeps its history", async () => {
  const { encodePut, encodeState, revKey, STATE_KEY } = await import("../../src/mvcc/codec.ts");
  // Before floe numbered like etcd, a fresh store stored revision 0 until its first write (at 1).
  const untouched = new MemoryMvccStorage();
  untouched.write({
    puts: [[STATE_KEY, encodeState({ appliedIndex: 3, appliedTerm: 1, revision: 0, compactRevision: -1 })]],
    deletes: [],
  });
  const a = MvccStore.open(untouched);
  assert.deepEqual([a.revision, a.appliedIndex], [1, 3]);
  assert.equal(a.put({ key: b("k") }).header.revision, 2);

  const written = new MemoryMvccStorage();
  written.write({
    puts: [
      [revKey(1, 0), encodePut(b("old"), b("v"), 1, 1, 0n).bytes],
      [STATE_KEY, encodeState({ appliedIndex: 1, appliedTerm: 1, revision: 1, compactRevision: -1 })],
    ],
    deletes: [],
  });
  const c = MvccStore.open(written);
  assert.deepEqual(
    c.range({ key: b("old") }).kvs.map((k) => [str(k.value), k.createRevision, k.modRevision]),
    [["v", 1, 1]],
  );
  assert.equal(c.put({ key: b("old"), value: b("w") }).header.revision, 2);
  const restored = fresh();
  await restored.store.restore(c.snapshot());
  assert.equal(restored.store.hashKV().hash, c.hashKV().hash);
  assert.equal(restored.store.revision, 2);
});
