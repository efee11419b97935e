import assert from "node:assert/strict";
import { test } from "node:test";
import { EventType, Lessor, MvccStore, type WatchDelivery } from "../../src/mvcc/index.ts";
import { b, fresh, keys, str, throwsCode } from "./helpers.ts";

test("grant, list and time-to-live; errors for duplicates, huge TTLs and unknown leases", () => {
  const { store } = fresh();
  const g = store.leaseGrant({ id: 10n, ttl: 30 });
  assert.deepEqual([g.id, g.ttl, g.header.revision], [10n, 30, 1]);
  store.leaseGrant({ id: 3n, ttl: 5 });
  assert.deepEqual(store.leaseList(), [
    { id: 3n, ttl: 5 },
    { id: 10n, ttl: 30 },
  ]);
  assert.equal(
    throwsCode(() => store.leaseGrant({ id: 10n, ttl: 1 }), "LeaseExists").message,
    "etcdserver: lease already exists",
  );
  assert.equal(
    throwsCode(() => store.leaseGrant({ id: 11n, ttl: 9_000_000_001 }), "LeaseTTLTooLarge").message,
    "etcdserver: too large lease TTL",
  );
  throwsCode(() => store.leaseRevoke({ id: 99n }), "LeaseNotFound");
  assert.equal(store.timeToLive(99n), undefined);
  store.put({ key: b("k2"), lease: 10n });
  store.put({ key: b("k1"), lease: 10n });
  const ttl = store.timeToLive(10n, { keys: true });
  assert.deepEqual([ttl?.grantedTtl, ttl?.keys.map(str)], [30, ["k1", "k2"]]);
  assert.deepEqual(store.timeToLive(10n)?.keys, []);
});

test("lease id 0 takes the entry index, or the next free id", () => {
  const { store } = fresh();
  const first = store.apply(5, { type: "leaseGrant", request: { ttl: 10 } });
  assert.ok(first.status === "applied");
  assert.equal(first.response.id, 5n);
  store.apply(6, { type: "leaseGrant", request: { id: 7n, ttl: 10 } });
  const third = store.apply(7, { type: "leaseGrant", request: { ttl: 10 } });
  assert.ok(third.status === "applied");
  assert.equal(third.response.id, 8n);
});

test("revoke deletes every attached key in one revision, in key order, and forgets the lease", () => {
  const { store } = fresh();
  store.leaseGrant({ id: 1n, ttl: 10 });
  store.put({ key: b("c"), lease: 1n });
  store.put({ key: b("a"), lease: 1n });
  store.put({ key: b("b") });
  store.put({ key: b("d"), lease: 1n });
  store.put({ key: b("d") }); // detaches d from the lease
  store.deleteRange({ key: b("c") }); // detaches c
  store.put({ key: b("e"), lease: 1n });
  const events: string[] = [];
  store.watch({ key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0) }, (d: WatchDelivery) => {
    for (const e of d.events)
      events.push(`${e.type === EventType.DELETE ? "del" : "put"} ${str(e.kv.key)}@${e.kv.modRevision}`);
    return true;
  });
  const rev = store.revision;
  const r = store.leaseRevoke({ id: 1n });
  assert.equal(r.header.revision, rev + 1);
  assert.deepEqual(events, [`del a@${rev + 1}`, `del e@${rev + 1}`]);
  assert.deepEqual(keys(store.range({ key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0) }).kvs), ["b", "d"]);
  assert.deepEqual(store.leaseList(), []);
  store.leaseGrant({ id: 2n, ttl: 1 });
  const empty = store.leaseRevoke({ id: 2n });
  assert.equal(empty.header.revision, rev + 1, "revoking a lease with no keys takes no revision");
});

test("ignore_lease and re-attachment move keys between leases", () => {
  const { store } = fresh();
  store.leaseGrant({ id: 1n, ttl: 10 });
  store.leaseGrant({ id: 2n, ttl: 10 });
  store.put({ key: b("k"), lease: 1n });
  store.put({ key: b("k"), value: b("v2"), ignoreLease: true });
  assert.deepEqual(store.timeToLive(1n, { keys: true })?.keys.map(str), ["k"]);
  store.put({ key: b("k"), lease: 2n });
  assert.deepEqual(store.timeToLive(1n, { keys: true })?.keys, []);
  assert.deepEqual(store.timeToLive(2n, { keys: true })?.keys.map(str), ["k"]);
  store.leaseRevoke({ id: 1n });
  assert.equal(store.range({ key: b("k") }).count, 1);
});

test("the lease table and attachments survive reopening, with ids across the whole int64 range", () => {
  const { store, storage } = fresh();
  store.leaseGrant({ id: -4n, ttl: 12 });
  store.leaseGrant({ id: 2n ** 62n + 3n, ttl: 7 });
  store.put({ key: b("x"), lease: 2n ** 62n + 3n });
  store.put({ key: b("y"), lease: -4n });
  const reopened = MvccStore.open(storage);
  assert.deepEqual(reopened.leaseList(), store.leaseList());
  assert.deepEqual(reopened.timeToLive(2n ** 62n + 3n, { keys: true })?.keys.map(str), ["x"]);
  reopened.leaseRevoke({ id: -4n });
  assert.equal(reopened.range({ key: b("y") }).count, 0);
});

test("the lessor: followers track no time, a new leader extends every lease, expired leases come back until revoked", () => {
  const { store } = fresh();
  const lessor = new Lessor(store, { expiredRetryMs: 500 });
  store.leaseGrant({ id: 1n, ttl: 10 });
  store.leaseGrant({ id: 2n, ttl: 5 });
  assert.deepEqual(lessor.expiredLeases(1_000_000), [], "a follower never reports expiry");
  throwsCode(() => lessor.renew(1n, 0), "NotPrimary");

  lessor.promote(0, 1000); // every lease: now + ttl + 1 s
  assert.equal(lessor.remainingMs(2n, 0), 6000);
  assert.deepEqual(lessor.expiredLeases(5999), []);
  assert.deepEqual(lessor.expiredLeases(6000), [2n]);
  assert.deepEqual(lessor.expiredLeases(6100), [], "reported once per retry interval");
  throwsCode(() => lessor.renew(2n, 6100), "LeaseNotFound");
  assert.deepEqual(lessor.expiredLeases(6500), [2n], "re-reported when the revoke did not arrive");
  store.leaseRevoke({ id: 2n });
  assert.deepEqual(lessor.expiredLeases(20_000), [1n]);
  store.leaseRevoke({ id: 1n });

  store.leaseGrant({ id: 3n, ttl: 2 });
  assert.equal(lessor.renew(3n, 30_000), 2);
  assert.equal(lessor.remainingMs(3n, 31_000), 1000);
  assert.deepEqual(lessor.expiredLeases(31_999, 10), []);
  assert.equal(lessor.renew(3n, 31_999), 2);
  assert.deepEqual(lessor.expiredLeases(33_000), []);
  assert.deepEqual(lessor.expiredLeases(34_000), [3n]);

  lessor.demote();
  assert.equal(lessor.remainingMs(1n, 40_000), undefined);
  assert.deepEqual(lessor.expiredLeases(1e9), []);
  lessor.close();
});

test("expired leases come out earliest first and at most `limit` at a time", () => {
  const { store } = fresh();
  const lessor = new Lessor(store);
  lessor.promote(0, 0);
  for (const [id, ttl] of [
    [5, 3],
    [6, 1],
    [7, 2],
    [8, 1],
  ]) {
    store.leaseGrant({ id: BigInt(id), ttl });
  }
  assert.equal(lessor.remainingMs(6n, 100), 1000, "the clock starts at the first call after the grant");
  assert.deepEqual(lessor.expiredLeases(10_000, 3), [6n, 8n, 7n]);
  assert.deepEqual(lessor.expiredLeases(10_000, 3), [5n]);
});
