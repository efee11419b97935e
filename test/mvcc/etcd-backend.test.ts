// The MVCC state in etcd's backend layout (the buckets of an etcd snapshot
// file) and back: floe -> etcd layout -> floe loses nothing, and a file
// without floe's own bucket (one etcd wrote) still gives the key space,
// every kept revision, leases, the compaction point and users and roles.

import assert from "node:assert/strict";
import { test } from "node:test";
import { PermType } from "../../src/auth/index.ts";
import {
  encodeSnapshot,
  etcdBuckets,
  MemoryMvccStorage,
  MvccError,
  MvccStore,
  recordsFromEtcdBuckets,
} from "../../src/mvcc/index.ts";
import { b, fresh, kv } from "./helpers.ts";

function sample(): MvccStore {
  const { store } = fresh();
  store.leaseGrant({ id: 7972885426054451156n, ttl: 60 });
  store.leaseGrant({ id: -5n, ttl: 10 });
  for (let i = 0; i < 50; i++) store.put({ key: b(`k${i % 7}`), value: b(`v${i}`) });
  store.put({ key: b("leased"), value: b("x"), lease: 7972885426054451156n });
  store.put({ key: b("neg"), value: b("y"), lease: -5n });
  store.deleteRange({ key: b("k3") });
  store.compact({ revision: 20 });
  store.put({ key: b("after"), value: new Uint8Array([0, 255, 1]) });
  return store;
}

function observe(store: MvccStore) {
  const all = { key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0) };
  const byRev: unknown[] = [];
  for (let rev = store.compactRevision; rev <= store.revision; rev++) {
    byRev.push(store.range({ ...all, revision: rev }).kvs.map(kv));
  }
  return {
    byRev,
    leases: store.leaseList(),
    compact: store.compactRevision,
    revision: store.revision,
    hashKV: store.hashKV().hash,
  };
}

async function throughEtcdLayout(store: MvccStore, drop: string[] = []): Promise<MvccStore> {
  const s = store.snapshotRecords();
  const buckets = etcdBuckets(s);
  const map = new Map(
    buckets
      .filter((bk) => !drop.includes(Buffer.from(bk.name).toString("latin1")))
      .map((bk) => [Buffer.from(bk.name).toString("latin1"), bk.entries] as const),
  );
  const restored = MvccStore.open(new MemoryMvccStorage());
  await restored.restore(encodeSnapshot(recordsFromEtcdBuckets(map), 64 * 1024));
  return restored;
}

test("etcd's buckets: revisions as mvccpb records under 17/18-byte revision keys, meta, leases", () => {
  const store = sample();
  const buckets = new Map(
    etcdBuckets(store.snapshotRecords()).map((bk) => [Buffer.from(bk.name).toString(), bk]),
  );
  assert.deepEqual([...buckets.keys()].sort(), [
    "alarm",
    "auth",
    "authRoles",
    "authUsers",
    "cluster",
    "floe",
    "key",
    "lease",
    "members",
    "members_removed",
    "meta",
  ]);
  const keyBucket = buckets.get("key")?.entries ?? [];
  for (let i = 1; i < keyBucket.length; i++) {
    assert.ok(Buffer.compare(keyBucket[i - 1][0], keyBucket[i][0]) < 0, `key ${i} sorts after key ${i - 1}`);
  }
  const tombstones = keyBucket.filter(([k]) => k.length === 18 && k[17] === 0x74);
  assert.equal(tombstones.length, 1, "the delete of k3 is a tombstone key ending in 't'");
  assert.deepEqual(
    buckets.get("lease")?.entries.map(([k]) => Buffer.from(k).toString("hex")),
    ["6ea5610d86dd4fd4", "fffffffffffffffb"], // 7972885426054451156 and -5
    "8-byte big-endian ids, in byte order as bbolt keeps them",
  );
  const meta = new Map(buckets.get("meta")?.entries.map(([k, v]) => [Buffer.from(k).toString(), v]));
  assert.equal(Buffer.from(meta.get("finishedCompactRev") ?? []).readBigUInt64BE(0), 20n);
});

test("floe -> etcd layout -> floe keeps every revision, lease, the compaction point and the hash", async () => {
  const store = sample();
  assert.deepEqual(observe(await throughEtcdLayout(store)), observe(store));
});

test("a file without floe's bucket (as etcd writes it) restores the same key space and leases", async () => {
  const store = sample();
  const restored = await throughEtcdLayout(store, ["floe"]);
  assert.deepEqual(observe(restored), observe(store));
});

test("users and roles come back from etcd's auth buckets when floe's bucket is absent", async () => {
  const { store } = fresh();
  store.apply(1, { type: "auth", request: { op: "roleAdd", name: "reader" } });
  store.apply(2, {
    type: "auth",
    request: {
      op: "roleGrantPermission",
      name: "reader",
      perm: { type: PermType.READ, key: b("a"), rangeEnd: b("c") },
    },
  });
  store.apply(3, {
    type: "auth",
    request: { op: "userAdd", name: "alice", passwordHash: "h", noPassword: false },
  });
  store.apply(4, { type: "auth", request: { op: "userGrantRole", name: "alice", role: "reader" } });
  const restored = await throughEtcdLayout(store, ["floe"]);
  assert.deepEqual(restored.auth.user("alice")?.roles, ["reader"]);
  assert.equal(restored.auth.user("alice")?.passwordHash, "h");
  assert.deepEqual(
    restored.auth
      .role("reader")
      ?.perms.map((p) => [p.type, Buffer.from(p.key).toString(), Buffer.from(p.rangeEnd).toString()]),
    [[PermType.READ, "a", "c"]],
  );
});

test("a damaged record in etcd's buckets is a Corrupt error naming it, not a wrong value", () => {
  const buckets = new Map(
    etcdBuckets(sample().snapshotRecords()).map((bk) => [Buffer.from(bk.name).toString(), bk.entries]),
  );
  const keys = buckets.get("key") ?? [];
  const [k, v] = keys[0];
  keys[0] = [k, v.subarray(0, v.length - 3)]; // the value field cut short
  assert.throws(
    () => recordsFromEtcdBuckets(buckets),
    (e: unknown) =>
      e instanceof MvccError && e.code === "Corrupt" && /^revision \d+\.0: /.test(e.detail ?? ""),
  );
});
