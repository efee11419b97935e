import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type Compare,
  CompareResult,
  CompareTarget,
  type RequestOp,
  type TxnRequest,
  validateTxn,
} from "../../src/mvcc/index.ts";
import { b, fresh, keys, str, throwsCode } from "./helpers.ts";

const put = (k: string, v = "", extra = {}): RequestOp => ({
  requestPut: { key: b(k), value: b(v), ...extra },
});
const del = (k: string, end?: Uint8Array | string): RequestOp => ({
  requestDeleteRange: { key: b(k), rangeEnd: typeof end === "string" ? b(end) : end },
});
const get = (k: string, extra = {}): RequestOp => ({ requestRange: { key: b(k), ...extra } });
const txn = (r: TxnRequest): RequestOp => ({ requestTxn: r });
const cmp = (k: string, target: CompareTarget, result: CompareResult, v: Partial<Compare> = {}): Compare => ({
  key: b(k),
  target,
  result,
  ...v,
});

test("compares on every target and result, against the state before the txn", () => {
  const { store } = fresh();
  store.leaseGrant({ id: 5n, ttl: 10 });
  store.put({ key: b("a"), value: b("m"), lease: 5n }); // rev 2
  store.put({ key: b("a"), value: b("m") }); // rev 3: version 2, create 2, mod 3, lease 0
  const T = CompareTarget;
  const R = CompareResult;
  const cases: [Compare, boolean][] = [
    [cmp("a", T.VALUE, R.EQUAL, { value: b("m") }), true],
    [cmp("a", T.VALUE, R.GREATER, { value: b("l") }), true],
    [cmp("a", T.VALUE, R.LESS, { value: b("l") }), false],
    [cmp("a", T.VALUE, R.NOT_EQUAL, { value: b("m") }), false],
    [cmp("a", T.VERSION, R.EQUAL, { version: 2 }), true],
    [cmp("a", T.VERSION, R.LESS, { version: 3 }), true],
    [cmp("a", T.CREATE, R.EQUAL, { createRevision: 2 }), true],
    [cmp("a", T.MOD, R.GREATER, { modRevision: 2 }), true],
    [cmp("a", T.LEASE, R.EQUAL, { lease: 0n }), true],
    [cmp("a", T.LEASE, R.NOT_EQUAL, { lease: 5n }), true],
    // A missing key compares as zeros, except VALUE, which always fails.
    [cmp("nope", T.VERSION, R.EQUAL, { version: 0 }), true],
    [cmp("nope", T.CREATE, R.EQUAL), true],
    [cmp("nope", T.VALUE, R.EQUAL, { value: b("") }), false],
    [cmp("nope", T.VALUE, R.NOT_EQUAL, { value: b("x") }), false],
  ];
  for (const [c, want] of cases) {
    const r = store.txn({ compare: [c] });
    assert.equal(r.succeeded, want, `target ${c.target} result ${c.result} on ${str(c.key)}`);
  }
  assert.equal(store.revision, 3, "txns without writes take no revision");
});

test("a compare with range_end requires every key in the range to satisfy it", () => {
  const { store } = fresh();
  store.put({ key: b("p/1"), value: b("x") });
  store.put({ key: b("p/2"), value: b("x") });
  store.put({ key: b("q"), value: b("y") });
  const all = (value: string, rangeEnd: Uint8Array) =>
    store.txn({
      compare: [{ ...cmp("p/", CompareTarget.VALUE, CompareResult.EQUAL, { value: b(value) }), rangeEnd }],
    }).succeeded;
  assert.equal(all("x", b("p0")), true);
  assert.equal(all("x", Uint8Array.of(0)), false, "from-key includes q");
  store.put({ key: b("p/3"), value: b("z") });
  assert.equal(all("x", b("p0")), false);
  const none = store.txn({
    compare: [
      { ...cmp("r/", CompareTarget.CREATE, CompareResult.EQUAL, { createRevision: 0 }), rangeEnd: b("r0") },
    ],
  });
  assert.equal(none.succeeded, true, "an empty range compares as a zero KeyValue");
});

test("a txn takes one revision for all its writes, with sub-revisions, and reads see earlier writes", () => {
  const { store } = fresh();
  store.put({ key: b("x"), value: b("0") });
  const r = store.txn({
    compare: [cmp("x", CompareTarget.VALUE, CompareResult.EQUAL, { value: b("0") })],
    success: [
      get("a"),
      put("a", "1"),
      get("a"),
      put("b", "2", { prevKv: true }),
      del("x"),
      get("x", { revision: 2 }),
    ],
  });
  assert.equal(r.succeeded, true);
  assert.equal(r.header.revision, 3);
  assert.equal(store.revision, 3);
  const [r0, p1, r2, p3, d4, r5] = r.responses;
  assert.ok("responseRange" in r0 && "responsePut" in p1 && "responseRange" in r2);
  assert.ok("responsePut" in p3 && "responseDeleteRange" in d4 && "responseRange" in r5);
  assert.deepEqual([r0.responseRange.kvs.length, r0.responseRange.header.revision], [0, 2]);
  assert.equal(p1.responsePut.header.revision, 3);
  assert.deepEqual([keys(r2.responseRange.kvs), r2.responseRange.header.revision], [["a"], 3]);
  assert.equal(r2.responseRange.kvs[0].modRevision, 3);
  assert.equal(p3.responsePut.prevKv, undefined);
  assert.equal(d4.responseDeleteRange.deleted, 1);
  assert.equal(str(r5.responseRange.kvs[0].value), "0", "historical read inside a txn");
  const all = store.range({ key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0), revision: 3 }).kvs;
  assert.deepEqual(
    all.map((k) => [str(k.key), k.modRevision]),
    [
      ["a", 3],
      ["b", 3],
    ],
  );
});

test("the failure branch runs when a compare fails", () => {
  const { store } = fresh();
  const r = store.txn({
    compare: [cmp("k", CompareTarget.VERSION, CompareResult.GREATER, { version: 0 })],
    success: [put("k", "then")],
    failure: [put("k", "else")],
  });
  assert.equal(r.succeeded, false);
  assert.equal(str(store.range({ key: b("k") }).kvs[0].value), "else");
});

test("nested txns: compares are all judged before any op runs; the nested header carries revision 0", () => {
  const { store } = fresh();
  const r = store.txn({
    success: [
      put("a", "1"),
      txn({
        // Sees the state before the outer txn: a does not exist yet.
        compare: [cmp("a", CompareTarget.VERSION, CompareResult.EQUAL, { version: 0 })],
        success: [put("b", "nested-then"), get("a")],
        failure: [put("b", "nested-else")],
      }),
    ],
  });
  assert.equal(r.header.revision, 2);
  const nested = r.responses[1];
  assert.ok("responseTxn" in nested);
  assert.equal(nested.responseTxn.succeeded, true);
  assert.equal(nested.responseTxn.header.revision, 0);
  const inner = nested.responseTxn.responses[1];
  assert.ok("responseRange" in inner);
  assert.equal(str(inner.responseRange.kvs[0].value), "1", "ops still see earlier writes");
  assert.equal(str(store.range({ key: b("b") }).kvs[0].value), "nested-then");
});

test("a refused op refuses the whole txn before anything is written", () => {
  const { store } = fresh();
  store.put({ key: b("k"), value: b("v") });
  throwsCode(() => store.txn({ success: [put("a", "1"), put("b", "2", { lease: 42n })] }), "LeaseNotFound");
  throwsCode(
    () => store.txn({ success: [put("a", "1"), put("zz", "", { ignoreValue: true })] }),
    "KeyNotFound",
  );
  throwsCode(() => store.txn({ success: [put("a", "1"), get("k", { revision: 9 })] }), "FutureRev");
  throwsCode(
    () => store.txn({ success: [txn({ success: [put("a", "1"), put("c", "", { lease: 1n })] })] }),
    "LeaseNotFound",
  );
  assert.equal(store.revision, 2);
  assert.equal(store.range({ key: b("a") }).count, 0);
  // A refused op on the branch not taken does not matter.
  const ok = store.txn({
    compare: [cmp("k", CompareTarget.VALUE, CompareResult.EQUAL, { value: b("v") })],
    failure: [put("x", "", { lease: 42n })],
  });
  assert.equal(ok.succeeded, true);
});

test("duplicate keys: etcd's checkIntervals rules", () => {
  const dup = (r: TxnRequest) => throwsCode(() => validateTxn(r), "DuplicateKey");
  const fine = (r: TxnRequest) => assert.doesNotThrow(() => validateTxn(r));
  assert.equal(
    dup({ success: [put("a"), put("a")] }).message,
    "etcdserver: duplicate key given in txn request",
  );
  dup({ success: [put("b"), del("a", "c")] });
  dup({ success: [del("a"), put("a")] });
  dup({ success: [put("q"), del("p", Uint8Array.of(0))] }); // floe: "\0" range_end covers to the end
  dup({ success: [del("a", "z"), txn({ success: [put("m")] })] });
  dup({ success: [put("m"), txn({ success: [put("m")] })] });
  dup({ success: [txn({ success: [del("m")] }), put("m")] });
  dup({ success: [txn({ success: [put("m")] }), txn({ failure: [put("m")] })] });
  dup({ success: [txn({ failure: [put("m")] }), txn({ success: [put("m")] })] });
  dup({ success: [txn({ success: [del("m")] }), txn({ success: [put("m")] })] });
  fine({ success: [put("a")], failure: [put("a")] });
  fine({ success: [del("a", "z"), del("b")] });
  fine({ success: [txn({ success: [put("m")], failure: [put("m")] })] });
  fine({ success: [put("z"), del("a", "m")] });
  // etcd checks a nested txn's puts only against deletes gathered before it.
  fine({ success: [txn({ success: [put("m")] }), txn({ success: [del("m")] })] });
});

test("the put-then-delete that checkIntervals lets through runs in order within one revision", () => {
  const { store } = fresh();
  const r = store.txn({ success: [txn({ success: [put("m", "1")] }), txn({ success: [del("m")] })] });
  assert.equal(r.header.revision, 2);
  assert.equal(store.range({ key: b("m") }).count, 0);
  store.put({ key: b("m"), value: b("2") });
  assert.deepEqual(
    [store.range({ key: b("m") }).kvs[0].version, store.range({ key: b("m") }).kvs[0].createRevision],
    [1, 3],
  );
});

test("too many ops and empty keys are refused by validateTxn with the API's limit", () => {
  const many = Array.from({ length: 5 }, (_, i) => put(`k${i}`));
  const e = throwsCode(() => validateTxn({ success: many }, 4), "TooManyOps");
  assert.equal(e.message, "etcdserver: too many operations in txn request");
  throwsCode(
    () => validateTxn({ success: [txn({ success: many.slice(0, 3) })], compare: [] }, 3),
    "TooManyOps",
  );
  assert.doesNotThrow(() => validateTxn({ success: many }, 5));
  throwsCode(
    () => validateTxn({ compare: [cmp("", CompareTarget.VERSION, CompareResult.EQUAL)] }),
    "EmptyKey",
  );
  throwsCode(() => validateTxn({ success: [put("")] }), "EmptyKey");
  throwsCode(() => validateTxn({ success: [{} as RequestOp] }), "KeyNotFound");
});

test("a read-only txn runs without the log and leaves no trace", () => {
  const { store } = fresh();
  store.put({ key: b("a"), value: b("1") });
  const r = store.txnReadOnly({
    compare: [cmp("a", CompareTarget.VALUE, CompareResult.EQUAL, { value: b("1") })],
    success: [get("a")],
  });
  assert.equal(r.succeeded, true);
  assert.equal(r.header.revision, 2);
  assert.equal(store.appliedIndex, 1);
  assert.throws(() => store.txnReadOnly({ success: [put("b")] }), /txnReadOnly of a txn with writes/);
});
