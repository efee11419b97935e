import assert from "node:assert/strict";
import { test } from "node:test";
import { EventType, Lessor, MvccStore, type WatchDelivery } from "../../src/mvcc/index.ts";
import { b, fresh, keys, str, throwsCode } from "./helpers.ts";

test("grant, list and time-to-live; errors for duplicates, huge TTLs and unknown leases", () => {
  const { store } = fresh();
  const g = store.leaseGrant({ id: 10, ttl: 30 });
  assert.deepEqual([g.id, g.ttl, g.header.revision], [10, 30, 1]);
  store.leaseGrant({ id: 3, ttl: 5 });
  assert.deepEqual(store.leaseList(), [
    { id: 3, ttl: 5 },
    { id: 10, ttl: 30 },
  ]);
  assert.equal(
    throwsCode(() => store.leaseGrant({ id: 10, ttl: 1 }), "LeaseExists").message,
    "etcdserver: lease already exists",
  );
  assert.equal(
    throwsCode(() => store.leaseGrant({ id: 11, ttl: 9_000_000_001 }), "LeaseTTLTooLarge").message,
    "etcdserver: too large lease TTL",
  );
  throwsCode(() => store.leaseRevoke({ id: 99 }), "LeaseNotFound");
  assert.equal(store.timeToLive(99), undefined);
  store.put({ key: b("k2"), lease: 10 });
  store.put({ key: b("k1"), lease: 10 });
  const ttl = store.timeToLive(10, { keys: true });
  assert.deepEqual([ttl?.grantedTtl, ttl?.keys.map(str)], [30, ["k1", "k2"]]);
  assert.deepEqual(store.timeToLive(10)?.keys, []);
});

test("lease id 0 takes the entry index, or the next free id", () => {
  const { store } = fresh();
  const first = store.apply(5, { type: "leaseGrant", request: { ttl: 10 } });
  assert.ok(first.status === "applied");
  assert.equal(first.response.id, 5);
  store.apply(6, { type: "leaseGrant", request: { id: 7, ttl: 10 } });
  const third = store.apply(7, { type: "leaseGrant", request: { ttl: 10 } });
  assert.ok(third.status === "applied");
  assert.equal(third.response.id, 8);
});

test("revoke deletes every attached key in one revision, in key order, and forgets the lease", () => {
  const { store } = fresh();
  store.leaseGrant({ id: 1, ttl: 10 });
  store.put({ key: b("c"), lease: 1 });
  store.put({ key: b("a"), lease: 1 });
  store.put({ key: b("b") });
  store.put({ key: b("d"), lease: 1 });
  store.put({ key: b("d") }); // detaches d from the lease
  store.deleteRange({ key: b("c") }); // detaches c
  store.put({ key: b("e"), lease: 1 });
  const events: string[] = [];
  store.watch({ key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0) }, (d: WatchDelivery) => {
    for (const e of d.events)
      events.push(`${e.type === EventType.DELETE ? "del" : "put"} ${str(e.kv.key)}@${e.kv.modRevision}`);
    return true;
  });
  const rev = store.revision;
  const r = store.leaseRevoke({ id: 1 });
  assert.equal(r.header.revision, rev + 1);
  assert.deepEqual(events, [`del a@${rev + 1}`, `del e@${rev + 1}`]);
  assert.deepEqual(keys(store.range({ key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0) }).kvs), ["b", "d"]);
  assert.deepEqual(store.leaseList(), []);
  store.leaseGrant({ id: 2, ttl: 1 });
  const empty = store.leaseRevoke({ id: 2 });
  assert.equal(empty.header.revision, rev + 1, "revoking a lease with no keys takes no revision");
});

test("ignore_lease and re-attachment move keys between leases", () => {
  const { store } = fresh();
  store.leaseGrant({ id: 1, ttl: 10 });
  store.leaseGrant({ id: 2, ttl: 10 });
  store.put({ key: b("k"), lease: 1 });
  store.put({ key: b("k"), value: b("v2"), ignoreLease: true });
  assert.deepEqual(store.timeToLive(1, { keys: true })?.keys.map(str), ["k"]);
  store.put({ key: b("k"), lease: 2 });
  assert.deepEqual(store.timeToLive(1, { keys: true })?.keys, []);
  assert.deepEqual(store.timeToLive(2, { keys: true })?.keys.map(str), ["k"]);
  store.leaseRevoke({ id: 1 });
  assert.equal(store.range({ key: b("k") }).count, 1);
});

test("the lease table and attachments survive reopening", () => {
  const { store, storage } = fresh();
  store.leaseGrant({ id: -4, ttl: 12 });
  store.leaseGrant({ id: 2 ** 40, ttl: 7 });
  store.put({ key: b("x"), lease: 2 ** 40 });
  store.put({ key: b("y"), lease: -4 });
  const reopened = MvccStore.open(storage);
  assert.deepEqual(reopened.leaseList(), store.leaseList());
  assert.deepEqual(reopened.timeToLive(2 ** 40, { keys: true })?.keys.map(str), ["x"]);
  reopened.leaseRevoke({ id: -4 });
  assert.equal(reopened.range({ key: b("y") }).count, 0);
});

test("the lessor: followers track no time, a new leader extends every lease, expired leases come back until revoked", () => {
  const { store } = fresh();
  const lessor = new Lessor(store, { expiredRetryMs: 500 });
  store.leaseGrant({ id: 1, ttl: 10 });
  store.leaseGrant({ id: 2, ttl: 5 });
  assert.deepEqual(lessor.expiredLeases(1_000_000), [], "a follower never reports expiry");
  throwsCode(() => lessor.renew(1, 0), "NotPrimary");

  lessor.promote(0, 1000); // every lease: now + ttl + 1 s
  assert.equal(lessor.remainingMs(2, 0), 6000);
  assert.deepEqual(lessor.expiredLeases(5999), []);
  assert.deepEqual(lessor.expiredLeases(6000), [2]);
  assert.deepEqual(lessor.expiredLeases(6100), [], "reported once per retry interval");
  throwsCode(() => lessor.renew(2, 6100), "LeaseNotFound");
  assert.deepEqual(lessor.expiredLeases(6500), [2], "re-reported when the revoke did not arrive");
  store.leaseRevoke({ id: 2 });
  assert.deepEqual(lessor.expiredLeases(20_000), [1]);
  store.leaseRevoke({ id: 1 });

  store.leaseGrant({ id: 3, ttl: 2 });
  assert.equal(lessor.renew(3, 30_000), 2);
  assert.equal(lessor.remainingMs(3, 31_000), 1000);
  assert.deepEqual(lessor.expiredLeases(31_999, 10), []);
  assert.equal(lessor.renew(3, 31_999), 2);
  assert.deepEqual(lessor.expiredLeases(33_000), []);
  assert.deepEqual(lessor.expiredLeases(34_000), [3]);

  lessor.demote();
  assert.equal(lessor.remainingMs(1, 40_000), undefined);
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
    store.leaseGrant({ id, ttl });
  }
  assert.equal(lessor.remainingMs(6, 100), 1000, "the clock starts at the first call after the grant");
  assert.deepEqual(lessor.expiredLeases(10_000, 3), [6, 8, 7]);
  assert.deepEqual(lessor.expiredLeases(10_000, 3), [5]);
});
