import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type MvccStore,
  prefixEnd,
  type WatchDelivery,
  WatchFilter,
  type WatchRequest,
} from "../../src/mvcc/index.ts";
import { b, ev, fresh, throwsCode } from "./helpers.ts";

/** A sink recording events as strings, accepting while `accept()` says so. */
function recorder(accept: () => boolean = () => true) {
  const seen: string[] = [];
  const deliveries: WatchDelivery[] = [];
  const sink = (d: WatchDelivery) => {
    if (!accept()) return false;
    deliveries.push(d);
    for (const e of d.events) seen.push(ev(e));
    return true;
  };
  return { seen, deliveries, sink };
}

function watch(store: MvccStore, req: WatchRequest, accept?: () => boolean) {
  const r = recorder(accept);
  return { ...r, watcher: store.watch(req, r.sink) };
}

test("a live watcher on one key gets each of its events once, with the write's revision", () => {
  const { store } = fresh();
  const w = watch(store, { key: b("a") });
  store.put({ key: b("a"), value: b("1") });
  store.put({ key: b("b"), value: b("x") });
  store.deleteRange({ key: b("a") });
  assert.deepEqual(w.seen, ["PUT a@2=1", "DELETE a@4"]);
  assert.deepEqual(
    w.deliveries.map((d) => d.revision),
    [2, 4],
  );
  const del = w.deliveries[1].events[0].kv;
  assert.deepEqual(
    [del.createRevision, del.version, del.value.length, del.lease],
    [0, 0, 0, 0n],
    "etcd's tombstone shape",
  );
});

test("range, prefix and from-key watchers see exactly their keys; a txn arrives as one delivery", () => {
  const { store } = fresh();
  const range = watch(store, { key: b("b"), rangeEnd: b("d") });
  const prefix = watch(store, { key: b("p/"), rangeEnd: prefixEnd(b("p/")) });
  const from = watch(store, { key: b("c"), rangeEnd: Uint8Array.of(0) });
  store.txn({
    success: [
      { requestPut: { key: b("a"), value: b("1") } },
      { requestPut: { key: b("b"), value: b("1") } },
      { requestPut: { key: b("c"), value: b("1") } },
      { requestPut: { key: b("p/x"), value: b("1") } },
      { requestPut: { key: b("d"), value: b("1") } },
    ],
  });
  assert.deepEqual(range.seen, ["PUT b@2=1", "PUT c@2=1"]);
  assert.deepEqual(prefix.seen, ["PUT p/x@2=1"]);
  assert.deepEqual(from.seen, ["PUT c@2=1", "PUT p/x@2=1", "PUT d@2=1"], "in sub-revision order");
  assert.equal(range.deliveries.length, 1);
});

test("prev_kv: the previous version for updates and deletes, none for creations", () => {
  const { store } = fresh();
  const w = watch(store, { key: b("a"), prevKv: true });
  store.put({ key: b("a"), value: b("1") });
  store.put({ key: b("a"), value: b("2") });
  store.deleteRange({ key: b("a") });
  assert.deepEqual(w.seen, ["PUT a@2=1", "PUT a@3=2 (prev 1@2)", "DELETE a@4 (prev 2@3)"]);
  const replay = watch(store, { key: b("a"), prevKv: true, startRevision: 2 });
  store.hub.syncSome();
  assert.deepEqual(replay.seen, w.seen, "historical replay computes the same prev_kv");
});

test("filters drop puts or deletes", () => {
  const { store } = fresh();
  const noPut = watch(store, { key: b("a"), filters: [WatchFilter.NOPUT] });
  const noDel = watch(store, { key: b("a"), filters: [WatchFilter.NODELETE] });
  store.put({ key: b("a"), value: b("1") });
  store.deleteRange({ key: b("a") });
  assert.deepEqual(noPut.seen, ["DELETE a@3"]);
  assert.deepEqual(noDel.seen, ["PUT a@2=1"]);
});

test("a cancelled watcher gets nothing more", () => {
  const { store } = fresh();
  const w = watch(store, { key: b("a") });
  store.put({ key: b("a") });
  w.watcher.cancel();
  w.watcher.cancel();
  store.put({ key: b("a") });
  store.hub.syncSome();
  assert.equal(w.seen.length, 1);
  assert.equal(store.hub.size, 0);
});

test("a watcher starting in the past replays history in order, then goes live", () => {
  const { store } = fresh();
  for (let i = 1; i <= 5; i++) store.put({ key: b("k"), value: b(String(i)) });
  const w = watch(store, { key: b("k"), startRevision: 4 });
  assert.equal(w.watcher.synced, false);
  store.put({ key: b("k"), value: b("6") }); // not delivered yet: the watcher is behind
  assert.deepEqual(w.seen, []);
  assert.equal(store.hub.syncSome(), 0);
  store.put({ key: b("k"), value: b("7") });
  assert.deepEqual(w.seen, ["PUT k@4=3", "PUT k@5=4", "PUT k@6=5", "PUT k@7=6", "PUT k@8=7"]);
  assert.equal(w.watcher.synced, true);
});

test("catch-up reads bounded chunks but never splits a revision", () => {
  const { store } = fresh();
  for (let i = 0; i < 4; i++) store.put({ key: b(`s${i}`) });
  store.txn({ success: Array.from({ length: 6 }, (_, i) => ({ requestPut: { key: b(`t${i}`) } })) }); // rev 6
  store.put({ key: b("u") }); // rev 7
  const w = watch(store, { key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0), startRevision: 2 });
  let calls = 0;
  while (store.hub.syncSome(3) > 0) calls++;
  assert.equal(calls, 2);
  assert.deepEqual(
    w.deliveries.map((d) => [d.events.map((e) => e.kv.modRevision), d.revision]),
    [
      [[2, 3, 4], 4],
      [[5, 6, 6, 6, 6, 6, 6], 6],
      [[7], 7],
    ],
  );
});

test("a start revision below the compact revision reports it and cancels; at it, nothing is missed", () => {
  const { store } = fresh();
  store.put({ key: b("a") }); // 2
  store.put({ key: b("b") }); // 3
  store.deleteRange({ key: b("a") }); // 4
  store.put({ key: b("c") }); // 5
  store.compact({ revision: 4 });
  store.compactSome();
  const old = watch(store, { key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0), startRevision: 3 });
  const at = watch(store, { key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0), startRevision: 4 });
  store.hub.syncSome();
  assert.deepEqual(
    old.deliveries.map((d) => [d.events.length, d.compactRevision]),
    [[0, 4]],
  );
  assert.equal(old.watcher.compacted, true);
  assert.equal(old.watcher.state, "cancelled");
  assert.deepEqual(at.seen, ["DELETE a@4", "PUT c@5="], "the tombstone at the compact revision is kept");
});

test("a slow consumer falls behind without blocking writes and catches up with no loss or duplicates", () => {
  const { store } = fresh();
  let open = true;
  const slow = watch(store, { key: b("k"), rangeEnd: b("l") }, () => open);
  const fast = watch(store, { key: b("k"), rangeEnd: b("l") });
  const want: string[] = [];
  for (let i = 1; i <= 60; i++) {
    if (i % 7 === 0) open = !open;
    if (i % 5 === 0) store.hub.syncSome(4);
    if (i % 3 === 0) store.deleteRange({ key: b("k1") });
    else store.put({ key: b(`k${i % 4}`), value: b(String(i)) });
    want.push(store.hub.progress([fast.watcher]) === store.revision ? "" : "?");
  }
  open = true;
  while (store.hub.syncSome(4) > 0);
  store.put({ key: b("k9"), value: b("last") });
  assert.deepEqual(slow.seen, fast.seen);
  assert.equal(new Set(fast.seen).size, fast.seen.length);
  assert.equal(slow.watcher.synced, true);
  assert.ok(slow.deliveries.length > 1);
  assert.ok(!want.includes("?"), "the fast watcher stayed synced throughout");
});

test("a refusing watcher does not hold back others in the same catch-up", () => {
  const { store } = fresh();
  for (let i = 0; i < 10; i++) store.put({ key: b("k"), value: b(String(i)) });
  const stuck = watch(store, { key: b("k"), startRevision: 2 }, () => false);
  const other = watch(store, { key: b("k"), startRevision: 6 });
  store.hub.syncSome(100);
  assert.equal(other.seen.length, 6);
  assert.equal(other.watcher.synced, true);
  assert.equal(stuck.watcher.synced, false);
  assert.equal(store.hub.progress([other.watcher]), 11);
  assert.equal(store.hub.progress([other.watcher, stuck.watcher]), undefined);
});

test("a future start revision waits for it", () => {
  const { store } = fresh();
  const w = watch(store, { key: b("k"), startRevision: 4 });
  for (let i = 1; i <= 4; i++) store.put({ key: b("k"), value: b(String(i)) });
  assert.deepEqual(w.seen, ["PUT k@4=3", "PUT k@5=4"]);
});

test("a throwing sink costs its watcher, never the write", () => {
  const { store } = fresh();
  const bad = store.watch({ key: b("k") }, () => {
    throw new Error("consumer bug");
  });
  const good = watch(store, { key: b("k") });
  store.put({ key: b("k"), value: b("v") });
  assert.equal(bad.state, "cancelled");
  assert.match(String(bad.error), /consumer bug/);
  assert.deepEqual(good.seen, ["PUT k@2=v"]);
  assert.equal(store.revision, 2);
});

test("the watcher limit is enforced", async () => {
  const { MvccStore, MemoryMvccStorage } = await import("../../src/mvcc/index.ts");
  const store = MvccStore.open(new MemoryMvccStorage(), { watch: { maxWatchers: 2 } });
  store.watch({ key: b("a") }, () => true);
  const w = store.watch({ key: b("b") }, () => true);
  throwsCode(() => store.watch({ key: b("c") }, () => true), "TooManyWatchers");
  w.cancel();
  store.watch({ key: b("c") }, () => true);
});

test("onSync fires after a catch-up that syncs a watcher, and progress ignores cancelled watchers", () => {
  const { store } = fresh();
  for (let i = 0; i < 4; i++) store.put({ key: b("k") });
  const behind = watch(store, { key: b("k"), startRevision: 2 });
  const live = watch(store, { key: b("k") });
  let calls = 0;
  const stop = store.hub.onSync(() => calls++);
  assert.equal(store.hub.progress([behind.watcher, live.watcher]), undefined);
  store.hub.syncSome(2);
  assert.equal(calls, 0, "a partial catch-up syncs nobody");
  store.hub.syncSome(10);
  assert.equal(calls, 1);
  assert.equal(store.hub.progress([behind.watcher, live.watcher]), 5);
  store.hub.syncSome(10);
  assert.equal(calls, 1, "nothing unsynced, nothing to report");
  const lagging = watch(store, { key: b("k"), startRevision: 2 });
  lagging.watcher.cancel();
  assert.equal(store.hub.progress([lagging.watcher, live.watcher]), 5);
  stop();
  watch(store, { key: b("k"), startRevision: 2 });
  store.hub.syncSome(10);
  assert.equal(calls, 1, "unsubscribed");
});

test("the hub counts every event it hands to a watcher, live or caught up from storage; refused ones are not counted", () => {
  const { store } = fresh();
  store.put({ key: b("a"), value: b("1") });
  store.put({ key: b("a"), value: b("2") });
  const live = watch(store, { key: b("a") });
  let open = false;
  const replay = watch(store, { key: b("a"), startRevision: 2 }, () => open);
  assert.equal(store.hub.syncSome(), 1, "the replay's sink refused");
  assert.equal(store.hub.eventsDelivered, 0);
  open = true;
  store.hub.syncSome();
  assert.deepEqual(replay.seen, ["PUT a@2=1", "PUT a@3=2"]);
  assert.equal(store.hub.eventsDelivered, 2, "caught up from storage");
  store.put({ key: b("a"), value: b("3") });
  assert.equal(live.seen.length, 1);
  assert.equal(replay.seen.length, 3);
  assert.equal(store.hub.eventsDelivered, 4, "one live event to each of two watchers");
});
