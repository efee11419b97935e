// gRPC through a Connect client: response headers, error mapping, limits,
// and the streaming RPCs.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Errors, FloeError } from "../../src/api/errors.ts";
import * as pb from "../../src/api/gen/etcdserverpb/rpc_pb.ts";
import { AsyncQueue } from "../../src/api/queue.ts";
import { CLUSTER_ID, MEMBER_ID, RAFT_TERM } from "./fake-backend.ts";
import { type Harness, startHarness, waitFor } from "./helpers.ts";

const MAX_REQUEST_BYTES = 64 * 1024;
let h: Harness;
let transport: ReturnType<typeof createGrpcTransport>;

before(async () => {
  h = await startHarness({
    maxRequestBytes: MAX_REQUEST_BYTES,
    grpcOverheadBytes: 16 * 1024,
    maxWatchersPerStream: 2,
  });
  transport = createGrpcTransport({ baseUrl: h.server.url });
});
after(() => h.close());

const enc = (s: string) => new TextEncoder().encode(s);

async function rejectsWith(p: Promise<unknown>, code: Code, message: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ConnectError, `expected a ConnectError, got ${String(err)}`);
    assert.equal(Code[err.code], Code[code]);
    assert.equal(err.rawMessage, message);
    return true;
  });
}

test("KV.Range over gRPC returns the kvs and a header with cluster, member, revision and term", async () => {
  const kv = createClient(pb.KV, transport);
  await kv.put({ key: enc("a"), value: enc("1") });
  const resp = await kv.range({ key: enc("a") });
  assert.equal(new TextDecoder().decode(resp.kvs[0]?.value), "1");
  assert.equal(resp.count, 1n);
  assert.deepEqual(
    { ...resp.header, $typeName: undefined },
    {
      $typeName: undefined,
      clusterId: CLUSTER_ID,
      memberId: MEMBER_ID,
      revision: h.backend.revision,
      raftTerm: RAFT_TERM,
    },
  );
});

test("every registry error thrown by the backend reaches the client with its gRPC code and etcd's message", async () => {
  const kv = createClient(pb.KV, transport);
  for (const name of [
    "COMPACTED",
    "FUTURE_REV",
    "NO_LEADER",
    "LEASE_NOT_FOUND",
    "NO_SPACE",
    "NOT_CAPABLE",
  ] as const) {
    h.backend.failWith("range", FloeError.of(name));
    await rejectsWith(
      kv.range({ key: enc("a") }),
      Errors[name].grpcCode as number as Code,
      Errors[name].message,
    );
  }
});

test("a non-FloeError from the backend is logged and answered INTERNAL, and the server keeps serving", async () => {
  const kv = createClient(pb.KV, transport);
  h.backend.failWith("range", new TypeError("boom: cannot read properties of undefined"));
  await rejectsWith(kv.range({ key: enc("a") }), Code.Internal, "floe: internal error");
  assert.ok(h.errorLogs.some((l) => l.method === "KV.Range" && JSON.stringify(l).includes("boom")));
  assert.equal((await kv.range({ key: enc("a") })).count, 1n);
});

test("etcd's stateless request checks refuse bad requests before the backend", async () => {
  const kv = createClient(pb.KV, transport);
  await rejectsWith(
    kv.put({ key: new Uint8Array() }),
    Code.InvalidArgument,
    "etcdserver: key is not provided",
  );
  await rejectsWith(
    kv.put({ key: enc("k"), value: enc("v"), ignoreValue: true }),
    Code.InvalidArgument,
    "etcdserver: value is provided",
  );
  const put = (k: string) => ({ request: { case: "requestPut" as const, value: { key: enc(k) } } });
  await rejectsWith(
    kv.txn({ success: [put("x"), put("x")] }),
    Code.InvalidArgument,
    "etcdserver: duplicate key given in txn request",
  );
  await rejectsWith(
    kv.txn({ success: Array.from({ length: 129 }, (_, i) => put(`k${i}`)) }),
    Code.InvalidArgument,
    "etcdserver: too many operations in txn request",
  );
});

test("a request over maxRequestBytes is refused with etcdserver: request is too large", async () => {
  const kv = createClient(pb.KV, transport);
  // just over the limit: refused by the API's size check
  await rejectsWith(
    kv.put({ key: enc("big"), value: new Uint8Array(MAX_REQUEST_BYTES + 1) }),
    Code.InvalidArgument,
    "etcdserver: request is too large",
  );
  // over the receive limit too: refused by the wire layer as grpc-go refuses it for etcd
  await assert.rejects(
    kv.put({ key: enc("big"), value: new Uint8Array(MAX_REQUEST_BYTES * 4) }),
    (err: ConnectError) => {
      assert.equal(Code[err.code], Code[Code.ResourceExhausted]);
      assert.match(err.rawMessage, /^grpc: received message larger than max \(262\d{3} vs\. 81920\)$/);
      return true;
    },
  );
  assert.equal((await kv.range({ key: enc("big") })).count, 0n);
});

test("Watch streams events, and creates beyond maxWatchersPerStream are refused without ending the stream", async () => {
  const watch = createClient(pb.Watch, transport);
  const kv = createClient(pb.KV, transport);
  const requests = new AsyncQueue<pb.WatchRequest>(8);
  const create3 = (key: string) =>
    requests.push(
      create(pb.WatchRequestSchema, { requestUnion: { case: "createRequest", value: { key: enc(key) } } }),
    );
  const responses: pb.WatchResponse[] = [];
  const controller = new AbortController();
  const done = (async () => {
    for await (const r of watch.watch(requests, { signal: controller.signal })) responses.push(r);
  })().catch(() => undefined);
  await create3("w1");
  await create3("w2");
  await create3("w3");
  await waitFor(() => responses.length === 3, "three create responses");
  const refused = responses.find((r) => r.canceled);
  assert.equal(refused?.watchId, -1n);
  assert.equal(refused?.created, true);
  assert.match(refused?.cancelReason ?? "", /^floe: too many watchers on this stream: limit 2$/);
  await kv.put({ key: enc("w2"), value: enc("hello") });
  await waitFor(() => responses.some((r) => r.events.length > 0), "a watch event");
  const event = responses.find((r) => r.events.length > 0);
  assert.equal(new TextDecoder().decode(event?.events[0]?.kv?.value), "hello");
  assert.equal(event?.header?.clusterId, CLUSTER_ID);
  // a cancel frees a slot
  const id = responses.find((r) => r.created && !r.canceled)?.watchId ?? 0n;
  await requests.push(
    create(pb.WatchRequestSchema, { requestUnion: { case: "cancelRequest", value: { watchId: id } } }),
  );
  await waitFor(() => responses.filter((r) => r.canceled).length === 2, "the cancel response");
  await create3("w4");
  await waitFor(() => responses.filter((r) => r.created).length === 4, "the fourth create");
  assert.equal(responses.at(-1)?.canceled, false);
  controller.abort();
  await done;
  await waitFor(() => h.backend.hub.size === 0, "the backend to drop the stream's watchers");
});

test("LeaseKeepAlive answers TTL 0 for an unknown lease instead of failing the stream", async () => {
  const lease = createClient(pb.Lease, transport);
  const granted = await lease.leaseGrant({ TTL: 7n });
  const ids = [granted.ID, 424242n];
  const out: pb.LeaseKeepAliveResponse[] = [];
  for await (const r of lease.leaseKeepAlive(
    (async function* () {
      for (const ID of ids) yield create(pb.LeaseKeepAliveRequestSchema, { ID });
    })(),
  )) {
    out.push(r);
  }
  assert.deepEqual(
    out.map((r) => [r.ID, r.TTL]),
    [
      [granted.ID, 7n],
      [424242n, 0n],
    ],
  );
  assert.equal(out[1]?.header?.memberId, MEMBER_ID);
});

test("Maintenance.Status fills in the claimed etcd version, and Snapshot streams chunks with headers", async () => {
  const m = createClient(pb.Maintenance, transport);
  const status = await m.status({});
  assert.equal(status.version, "3.4.23");
  assert.equal(status.leader, MEMBER_ID);
  const chunks: pb.SnapshotResponse[] = [];
  for await (const c of m.snapshot({})) chunks.push(c);
  assert.equal(chunks.length, 2);
  assert.equal(chunks.at(-1)?.remainingBytes, 0n);
  assert.ok(chunks.every((c) => c.header?.clusterId === CLUSTER_ID));
});

test("Auth answers as etcd does with authentication disabled", async () => {
  const auth = createClient(pb.Auth, transport);
  const status = await auth.authStatus({});
  assert.equal(status.enabled, false);
  assert.equal(status.header?.memberId, MEMBER_ID);
  await rejectsWith(
    auth.authenticate({ name: "root", password: "x" }),
    Code.FailedPrecondition,
    "etcdserver: authentication is not enabled",
  );
  assert.deepEqual((await auth.userList({})).users, []);
  await rejectsWith(
    auth.userGet({ name: "bob" }),
    Code.FailedPrecondition,
    "etcdserver: user name not found",
  );
  await assert.rejects(auth.userAdd({ name: "bob" }), (e: ConnectError) => e.code === Code.Unimplemented);
});

test("an unknown method is answered UNIMPLEMENTED", async () => {
  const t = createGrpcTransport({ baseUrl: `${h.server.url}/nope` });
  await assert.rejects(createClient(pb.KV, t).range({ key: enc("a") }), (e: ConnectError) => {
    return e.code === Code.Unimplemented;
  });
});

test("errors keep etcd's message through a client decoding grpc-message per the gRPC spec", async () => {
  const kv = createClient(pb.KV, transport);
  h.backend.failWith("range", FloeError.of("INVALID_REQUEST", "100% wrong: ünïcode"));
  await rejectsWith(
    kv.range({ key: enc("a") }),
    Code.InvalidArgument,
    "floe: invalid request: 100% wrong: ünïcode",
  );
});
