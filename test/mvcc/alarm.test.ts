// The alarm table as state-machine state: raised and cleared by applied
// commands, refusing writes while NOSPACE is active, durable across reopen,
// carried by snapshots.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ALARM_NOSPACE, type MvccCommand, MvccError, MvccStore } from "../../src/mvcc/index.ts";
import { b, fresh } from "./helpers.ts";

type AlarmCommand = Extract<MvccCommand, { type: "alarm" }>;
const activate = (memberId: number, alarm = ALARM_NOSPACE): AlarmCommand => ({
  type: "alarm",
  request: { action: "activate", memberId, alarm },
});
const deactivate = (memberId: number, alarm = ALARM_NOSPACE): AlarmCommand => ({
  type: "alarm",
  request: { action: "deactivate", memberId, alarm },
});

function applyNext<C extends MvccCommand>(store: MvccStore, c: C) {
  return store.apply(store.appliedIndex + 1, c);
}

test("a NOSPACE alarm refuses put, txn with a put and lease grant, but not deletes, compaction or revoke", () => {
  const { store } = fresh();
  store.put({ key: b("a"), value: b("1") });
  const lease = store.leaseGrant({ ttl: 60 });
  const r = applyNext(store, activate(7));
  assert.equal(r.status, "applied");
  assert.deepEqual(store.alarms(), [{ memberId: 7, alarm: ALARM_NOSPACE }]);
  for (const c of [
    { type: "put", request: { key: b("b"), value: b("2") } },
    { type: "txn", request: { success: [], failure: [{ requestPut: { key: b("b"), value: b("2") } }] } },
    { type: "leaseGrant", request: { ttl: 60 } },
  ] as MvccCommand[]) {
    const res = applyNext(store, c);
    assert.equal(res.status, "failed", c.type);
    assert.ok(res.status === "failed" && res.error instanceof MvccError && res.error.code === "NoSpace");
    assert.equal(res.status === "failed" && res.error.message, "etcdserver: mvcc: database space exceeded");
  }
  assert.equal(
    applyNext(store, { type: "txn", request: { success: [{ requestRange: { key: b("a") } }] } }).status,
    "applied",
  );
  assert.equal(applyNext(store, { type: "deleteRange", request: { key: b("a") } }).status, "applied");
  assert.equal(applyNext(store, { type: "leaseRevoke", request: { id: lease.id } }).status, "applied");
  assert.equal(
    applyNext(store, { type: "compaction", request: { revision: store.revision } }).status,
    "applied",
  );
  applyNext(store, deactivate(7));
  assert.deepEqual(store.alarms(), []);
  assert.equal(applyNext(store, { type: "put", request: { key: b("b"), value: b("2") } }).status, "applied");
});

test("raising an active alarm returns it again and clearing an absent one returns nothing, as etcd's applier", () => {
  const { store } = fresh();
  const first = applyNext(store, activate(1));
  const again = applyNext(store, activate(1));
  assert.deepEqual(first.status === "applied" && first.response, {
    header: { revision: store.revision },
    alarms: [{ memberId: 1, alarm: ALARM_NOSPACE }],
  });
  assert.deepEqual(again.status === "applied" && again.response.alarms, [
    { memberId: 1, alarm: ALARM_NOSPACE },
  ]);
  const none = applyNext(store, activate(1, 0));
  assert.deepEqual(none.status === "applied" && none.response.alarms, []);
  const absent = applyNext(store, deactivate(2));
  assert.deepEqual(absent.status === "applied" && absent.response.alarms, []);
  applyNext(store, activate(2, 2));
  assert.deepEqual(store.alarms(), [
    { memberId: 1, alarm: ALARM_NOSPACE },
    { memberId: 2, alarm: 2 },
  ]);
  assert.deepEqual(store.alarms(2), [{ memberId: 2, alarm: 2 }]);
});

test("alarms survive reopening the storage and travel in a snapshot; a restore replaces them", async () => {
  const { store, storage } = fresh();
  store.put({ key: b("k"), value: b("v") });
  applyNext(store, activate(0x1234_5678_9abc));
  const reopened = MvccStore.open(storage);
  assert.deepEqual(reopened.alarms(), [{ memberId: 0x1234_5678_9abc, alarm: ALARM_NOSPACE }]);
  assert.equal(reopened.hash().hash, store.hash().hash);

  const target = fresh();
  applyNext(target.store, activate(99));
  await target.store.restore(store.snapshot());
  assert.deepEqual(target.store.alarms(), [{ memberId: 0x1234_5678_9abc, alarm: ALARM_NOSPACE }]);
  assert.equal(target.store.hash().hash, store.hash().hash);

  applyNext(store, deactivate(0x1234_5678_9abc));
  await target.store.restore(store.snapshot());
  assert.deepEqual(target.store.alarms(), []);
});

test("the alarm table is part of the hashed state", () => {
  const withAlarm = fresh().store;
  const without = fresh().store;
  applyNext(withAlarm, activate(1));
  applyNext(without, { type: "noop" });
  assert.equal(withAlarm.appliedIndex, without.appliedIndex);
  assert.notEqual(withAlarm.hash().hash, without.hash().hash);
});
