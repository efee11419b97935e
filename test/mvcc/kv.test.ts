import assert from "node:assert/strict";
import { test } from "node:test";
import { MVCC_ERROR_MESSAGES, prefixEnd, SortOrder, SortTarget } from "../../src/mvcc/index.ts";
import { b, fresh, keys, kv, str, throwsCode } from "./helpers.ts";

const ALL = { key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0) };

test("a put takes the next revision; create, mod and version follow etcd across delete and re-create", () => {
  const { store } = fresh();
  assert.equal(store.revision, 1);
  assert.equal(store.put({ key: b("a"), value: b("1") }).header.revision, 2);
  assert.equal(store.put({ key: b("a"), value: b("2") }).header.revision, 3);
  assert.deepEqual(kv(store.range({ key: b("a") }).kvs[0]), {
    key: "a",
    value: "2",
    create: 2,
    mod: 3,
    ver: 2,
    lease: 0n,
  });
  const del = store.deleteRange({ key: b("a") });
  assert.equal(del.deleted, 1);
  assert.equal(del.header.revision, 4);
  assert.equal(store.range({ key: b("a") }).kvs.length, 0);
  store.put({ key: b("a"), value: b("3") });
  assert.deepEqual(kv(store.range({ key: b("a") }).kvs[0]), {
    key: "a",
    value: "3",
    create: 5,
    mod: 5,
    ver: 1,
    lease: 0n,
  });
  // History stays readable at every revision.
  assert.deepEqual(kv(store.range({ key: b("a"), revision: 2 }).kvs[0]).value, "1");
  assert.deepEqual(kv(store.range({ key: b("a"), revision: 3 }).kvs[0]).ver, 2);
  assert.equal(store.range({ key: b("a"), revision: 4 }).kvs.length, 0);
  assert.equal(
    store.range({ key: b("a"), revision: 4 }).header.revision,
    5,
    "the header shows the current revision",
  );
});

test("a fresh store is at revision 1 like etcd's: reads report it, it is readable and compactable", () => {
  const { store } = fresh();
  const empty = store.range(ALL);
  assert.deepEqual([empty.header.revision, empty.count], [1, 0]);
  assert.equal(store.range({ ...ALL, revision: 1 }).count, 0);
  throwsCode(() => store.range({ ...ALL, revision: 2 }), "FutureRev");
  throwsCode(() => store.compact({ revision: 2 }), "FutureRev");
  assert.equal(store.compact({ revision: 1 }).header.revision, 1);
  assert.equal(store.compactRevision, 1);
  throwsCode(() => store.compact({ revision: 1 }), "Compacted");
  assert.equal(store.range({ ...ALL, revision: 1 }).count, 0, "the compact revision stays readable");
  assert.equal(store.put({ key: b("a") }).header.revision, 2);
});

test("a delete that deletes nothing does not take a revision", () => {
  const { store } = fresh();
  store.put({ key: b("a") });
  const r = store.deleteRange({ key: b("zz") });
  assert.deepEqual([r.deleted, r.header.revision, store.revision], [0, 2, 2]);
  assert.equal(store.appliedIndex, 2, "the entry is still consumed");
});

test("range covers single key, [key, end), prefix, from-key and all keys", () => {
  const { store } = fresh();
  for (const k of ["a", "ab", "abc", "b", "c", "\u00ff"]) store.put({ key: b(k), value: b(k) });
  assert.deepEqual(keys(store.range({ key: b("ab") }).kvs), ["ab"]);
  assert.deepEqual(keys(store.range({ key: b("a"), rangeEnd: b("b") }).kvs), ["a", "ab", "abc"]);
  assert.deepEqual(keys(store.range({ key: b("ab"), rangeEnd: prefixEnd(b("ab")) }).kvs), ["ab", "abc"]);
  assert.deepEqual(keys(store.range({ key: b("b"), rangeEnd: Uint8Array.of(0) }).kvs), ["b", "c", "\u00ff"]);
  assert.deepEqual(keys(store.range(ALL).kvs), ["a", "ab", "abc", "b", "c", "\u00ff"]);
  assert.deepEqual(
    keys(store.range({ key: b("c"), rangeEnd: b("a") }).kvs),
    [],
    "an inverted range is empty",
  );
  assert.deepEqual(prefixEnd(Uint8Array.of(0xff, 0xff)), Uint8Array.of(0));
});

test("limit sets more and count reports every key in range", () => {
  const { store } = fresh();
  for (const k of ["a", "b", "c", "d"]) store.put({ key: b(k) });
  const r = store.range({ ...ALL, limit: 2 });
  assert.deepEqual([keys(r.kvs), r.more, r.count], [["a", "b"], true, 4]);
  const exact = store.range({ ...ALL, limit: 4 });
  assert.deepEqual([exact.kvs.length, exact.more, exact.count], [4, false, 4]);
  const none = store.range({ ...ALL, limit: 0 });
  assert.deepEqual([none.kvs.length, none.more], [4, false]);
});

test("count_only and keys_only", () => {
  const { store } = fresh();
  store.put({ key: b("a"), value: b("x") });
  store.put({ key: b("b"), value: b("y") });
  const c = store.range({ ...ALL, countOnly: true });
  assert.deepEqual([c.kvs.length, c.count, c.more], [0, 2, false]);
  const k = store.range({ ...ALL, keysOnly: true });
  assert.deepEqual(
    k.kvs.map((x) => [str(x.key), x.value.length, x.version]),
    [
      ["a", 0, 1],
      ["b", 0, 1],
    ],
  );
  assert.equal(str(store.range({ key: b("a") }).kvs[0].value), "x", "keys_only did not alter stored values");
});

test("historical reads: future revisions and compacted revisions are refused with etcd's messages", () => {
  const { store } = fresh();
  store.put({ key: b("a"), value: b("1") });
  store.put({ key: b("a"), value: b("2") });
  const future = throwsCode(() => store.range({ key: b("a"), revision: 4 }), "FutureRev");
  assert.equal(future.message, "etcdserver: mvcc: required revision is a future revision");
  store.compact({ revision: 3 });
  const compacted = throwsCode(() => store.range({ key: b("a"), revision: 2 }), "Compacted");
  assert.equal(compacted.message, "etcdserver: mvcc: required revision has been compacted");
  assert.equal(
    str(store.range({ key: b("a"), revision: 3 }).kvs[0].value),
    "2",
    "the compact revision is readable",
  );
  assert.equal(
    str(store.range({ key: b("a"), revision: -1 }).kvs[0].value),
    "2",
    "a negative revision means current",
  );
});

test("sorting follows etcd: NONE with a non-key target ascends, KEY+ASCEND keeps key order, DESCEND reverses", () => {
  const { store } = fresh();
  store.put({ key: b("b"), value: b("3") }); // rev 2
  store.put({ key: b("a"), value: b("1") }); // rev 3
  store.put({ key: b("c"), value: b("2") }); // rev 4
  store.put({ key: b("a"), value: b("1") }); // rev 5: a version 2
  const order = (sortTarget: SortTarget, sortOrder: SortOrder) =>
    keys(store.range({ ...ALL, sortTarget, sortOrder }).kvs);
  assert.deepEqual(order(SortTarget.KEY, SortOrder.NONE), ["a", "b", "c"]);
  assert.deepEqual(order(SortTarget.KEY, SortOrder.ASCEND), ["a", "b", "c"]);
  assert.deepEqual(order(SortTarget.KEY, SortOrder.DESCEND), ["c", "b", "a"]);
  assert.deepEqual(order(SortTarget.MOD, SortOrder.NONE), ["b", "c", "a"]);
  assert.deepEqual(order(SortTarget.MOD, SortOrder.DESCEND), ["a", "c", "b"]);
  assert.deepEqual(order(SortTarget.CREATE, SortOrder.ASCEND), ["b", "a", "c"]);
  assert.deepEqual(order(SortTarget.VALUE, SortOrder.ASCEND), ["a", "c", "b"]);
  assert.deepEqual(order(SortTarget.VERSION, SortOrder.DESCEND), ["a", "b", "c"], "ties keep key order");
  const limited = store.range({ ...ALL, sortTarget: SortTarget.MOD, sortOrder: SortOrder.DESCEND, limit: 2 });
  assert.deepEqual([keys(limited.kvs), limited.more, limited.count], [["a", "c"], true, 3]);
});

test("min/max mod and create revision filters prune after the fetch; count is unfiltered", () => {
  const { store } = fresh();
  store.put({ key: b("a") }); // 2
  store.put({ key: b("b") }); // 3
  store.put({ key: b("c") }); // 4
  store.put({ key: b("a") }); // 5: a mod 5 create 2
  assert.deepEqual(keys(store.range({ ...ALL, minModRevision: 4 }).kvs), ["a", "c"]);
  assert.deepEqual(keys(store.range({ ...ALL, maxModRevision: 3 }).kvs), ["b"]);
  assert.deepEqual(keys(store.range({ ...ALL, minCreateRevision: 3 }).kvs), ["b", "c"]);
  const r = store.range({ ...ALL, maxCreateRevision: 3, limit: 1 });
  assert.deepEqual([keys(r.kvs), r.more, r.count], [["a"], true, 3]);
});

test("put prev_kv returns the previous version; absent on a create", () => {
  const { store } = fresh();
  assert.equal(store.put({ key: b("a"), value: b("1"), prevKv: true }).prevKv, undefined);
  const r = store.put({ key: b("a"), value: b("2"), prevKv: true });
  assert.deepEqual(kv(r.prevKv!), { key: "a", value: "1", create: 2, mod: 2, ver: 1, lease: 0n });
});

test("ignore_value keeps the value, ignore_lease keeps the lease, with etcd's errors", () => {
  const { store } = fresh();
  store.leaseGrant({ id: 7n, ttl: 60 });
  store.put({ key: b("a"), value: b("keep"), lease: 7n });
  store.put({ key: b("a"), ignoreValue: true, lease: 7n });
  assert.deepEqual(kv(store.range({ key: b("a") }).kvs[0]), {
    key: "a",
    value: "keep",
    create: 2,
    mod: 3,
    ver: 2,
    lease: 7n,
  });
  store.put({ key: b("a"), value: b("new"), ignoreLease: true });
  // lease 0 is "no lease given", as the API decodes an absent field
  store.put({ key: b("a"), value: b("new"), lease: 0n, ignoreLease: true });
  assert.deepEqual(kv(store.range({ key: b("a") }).kvs[0]).lease, 7n);
  assert.equal(str(store.range({ key: b("a") }).kvs[0].value), "new");
  const nf = throwsCode(() => store.put({ key: b("zz"), ignoreValue: true }), "KeyNotFound");
  assert.equal(nf.message, "etcdserver: key not found");
  throwsCode(() => store.put({ key: b("zz"), ignoreLease: true }), "KeyNotFound");
  const vp = throwsCode(() => store.put({ key: b("a"), value: b("x"), ignoreValue: true }), "ValueProvided");
  assert.equal(vp.message, "etcdserver: value is provided");
  throwsCode(() => store.put({ key: b("a"), lease: 7n, ignoreLease: true }), "LeaseProvided");
  assert.equal(store.revision, 5, "a lease grant and refused puts take no revision");
});

test("put with an unknown lease and an empty key are refused", () => {
  const { store } = fresh();
  const e = throwsCode(() => store.put({ key: b("a"), lease: 99n }), "LeaseNotFound");
  assert.equal(e.message, "etcdserver: requested lease not found");
  assert.equal(
    throwsCode(() => store.put({ key: new Uint8Array() }), "EmptyKey").message,
    MVCC_ERROR_MESSAGES.EmptyKey,
  );
  throwsCode(() => store.range({ key: new Uint8Array() }), "EmptyKey");
  throwsCode(() => store.deleteRange({ key: new Uint8Array() }), "EmptyKey");
  assert.equal(store.revision, 1);
});

test("delete_range deletes a range in one revision with sub-revisions, returning prev_kvs", () => {
  const { store } = fresh();
  for (const k of ["a", "b", "c", "d"]) store.put({ key: b(k), value: b(`v${k}`) });
  const r = store.deleteRange({ key: b("b"), rangeEnd: Uint8Array.of(0), prevKv: true });
  assert.equal(r.deleted, 3);
  assert.equal(r.header.revision, 6);
  assert.deepEqual(
    r.prevKvs.map((x) => [str(x.key), str(x.value)]),
    [
      ["b", "vb"],
      ["c", "vc"],
      ["d", "vd"],
    ],
  );
  assert.deepEqual(keys(store.range(ALL).kvs), ["a"]);
  assert.deepEqual(keys(store.range({ ...ALL, revision: 5 }).kvs), ["a", "b", "c", "d"]);
  const again = store.deleteRange({ key: b("b"), rangeEnd: Uint8Array.of(0), prevKv: true });
  assert.deepEqual([again.deleted, again.prevKvs.length, again.header.revision], [0, 0, 6]);
});

test("keys are compared as bytes, including bytes above 0x7f and embedded zeros", () => {
  const { store } = fresh();
  const raw = [
    Uint8Array.of(0x61, 0x00),
    Uint8Array.of(0x61),
    Uint8Array.of(0x80),
    Uint8Array.of(0xff, 0x01),
  ];
  for (const k of raw) store.put({ key: k, value: k });
  const got = store.range(ALL).kvs.map((x) => Buffer.from(x.key).toString("hex"));
  assert.deepEqual(got, ["61", "6100", "80", "ff01"]);
  assert.equal(store.range({ key: Uint8Array.of(0x61), rangeEnd: Uint8Array.of(0x61, 0x01) }).count, 2);
});

test("returned values do not alias caller buffers", () => {
  const { store } = fresh();
  const key = b("k");
  const value = b("value");
  store.put({ key, value });
  key[0] = 0x7a;
  value[0] = 0x56;
  assert.equal(str(store.range({ key: b("k") }).kvs[0].value), "value");
});
