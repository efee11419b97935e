// A real floe process over raw gRPC (Connect client, floe's generated etcd
// types): etcd's revision numbering, watch progress requests and fragments.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as pb from "../../src/api/gen/etcdserverpb/rpc_pb.ts";
import { AsyncQueue } from "../../src/api/queue.ts";
import { type FloeProcess, startFloe } from "./floe-process.ts";

let floe: FloeProcess;
let transport: ReturnType<typeof createGrpcTransport>;

before(async () => {
  floe = await startFloe();
  transport = createGrpcTransport({ baseUrl: floe.endpoint });
});

after(async () => {
  await floe?.stop();
});

const enc = (s: string) => new TextEncoder().encode(s);

async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** One Watch stream; responses collect in `got` until close(). */
function watchStream() {
  const requests = new AsyncQueue<pb.WatchRequest>(16);
  const controller = new AbortController();
  const got: pb.WatchResponse[] = [];
  const done = (async () => {
    for await (const r of createClient(pb.Watch, transport).watch(requests, { signal: controller.signal })) {
      got.push(r);
    }
  })().catch(() => undefined);
  return {
    got,
    send: (requestUnion: MessageInitShape<typeof pb.WatchRequestSchema>["requestUnion"]) =>
      requests.push(create(pb.WatchRequestSchema, { requestUnion })),
    async close() {
      controller.abort();
      await done;
    },
  };
}

test("a fresh member is at revision 1, as etcd is: an empty range reports it and the first put gets 2", async () => {
  const kv = createClient(pb.KV, transport);
  const empty = await kv.range({ key: enc("\0"), rangeEnd: enc("\0") });
  assert.deepEqual([empty.header?.revision, empty.count], [1n, 0n]);
  const put = await kv.put({ key: enc("first"), value: enc("1") });
  assert.equal(put.header?.revision, 2n);
  const got = await kv.range({ key: enc("first") });
  assert.deepEqual([got.kvs[0]?.createRevision, got.kvs[0]?.modRevision], [2n, 2n]);
});

test("a progress request is answered with watch id -1 at the member's current revision", async () => {
  const kv = createClient(pb.KV, transport);
  const s = watchStream();
  await s.send({ case: "createRequest", value: { key: enc("p/a") } });
  await waitFor(() => s.got.some((r) => r.created), "the created response");
  await kv.put({ key: enc("p/other"), value: enc("x") });
  const last = await kv.put({ key: enc("p/other"), value: enc("y") });
  await s.send({ case: "progressRequest", value: {} });
  await waitFor(() => s.got.some((r) => r.watchId === -1n), "the progress response");
  const progress = s.got.find((r) => r.watchId === -1n)!;
  assert.equal(progress.events.length, 0);
  assert.equal(progress.header?.revision, last.header?.revision);
  assert.notEqual(progress.header?.memberId, 0n, "a full header, like every response");
  await s.close();
});

test("fragment: a catch-up over --max-request-bytes arrives in fragments; without it, in one response", async () => {
  const kv = createClient(pb.KV, transport);
  const big = new Uint8Array(1024 * 1024).fill(0x61);
  const first = await kv.put({ key: enc("frag/a"), value: big });
  await kv.put({ key: enc("frag/b"), value: big });
  const s = watchStream();
  const span = { key: enc("frag/"), rangeEnd: enc("frag0"), startRevision: first.header!.revision };
  await s.send({ case: "createRequest", value: { ...span, watchId: 1n, fragment: true } });
  await s.send({ case: "createRequest", value: { ...span, watchId: 2n } });
  const withEvents = (id: bigint) => s.got.filter((r) => r.watchId === id && r.events.length > 0);
  await waitFor(
    () => withEvents(1n).flatMap((r) => r.events).length === 2 && withEvents(2n).length > 0,
    "both watchers' events",
  );
  assert.deepEqual(
    withEvents(1n).map((r) => [r.events.length, r.fragment]),
    [
      [1, true],
      [1, false],
    ],
  );
  assert.deepEqual(
    withEvents(2n).map((r) => [r.events.length, r.fragment]),
    [[2, false]],
  );
  await s.close();
});
