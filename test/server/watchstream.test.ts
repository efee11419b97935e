// The watch stream over a real mvcc store (memory storage): progress
// requests, progress_notify and fragments, with etcd's semantics.

import assert from "node:assert/strict";
import { afterEach, mock, test } from "node:test";
import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import * as pb from "../../src/api/gen/etcdserverpb/rpc_pb.ts";
import { EventSchema } from "../../src/api/gen/mvccpb/kv_pb.ts";
import { AsyncQueue } from "../../src/api/queue.ts";
import { MemoryMvccStorage, MvccStore } from "../../src/mvcc/index.ts";
import { fragments, type WatchStreamOptions, watchStream } from "../../src/server/watchstream.ts";

const enc = (s: string) => new TextEncoder().encode(s);

/** Polls `cond` until it holds or the deadline passes (no fixed sleeps). */
async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

/** Lets queued requests and responses move through the stream's async loops. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

type CreateInit = MessageInitShape<typeof pb.WatchCreateRequestSchema>;

function open(options: WatchStreamOptions = {}) {
  const store = MvccStore.open(new MemoryMvccStorage());
  const requests = new AsyncQueue<pb.WatchRequest>(64);
  const controller = new AbortController();
  const got: pb.WatchResponse[] = [];
  const done = (async () => {
    for await (const r of watchStream(store, requests, { signal: controller.signal }, options)) got.push(r);
  })();
  const send = (requestUnion: MessageInitShape<typeof pb.WatchRequestSchema>["requestUnion"]) =>
    requests.push(create(pb.WatchRequestSchema, { requestUnion }));
  return {
    store,
    got,
    /** Creates a watch and waits for its created response; returns its id. */
    async watch(init: CreateInit): Promise<bigint> {
      const before = got.length;
      await send({ case: "createRequest", value: init });
      await waitFor(() => got.slice(before).some((r) => r.created), "the created response");
      return got.slice(before).find((r) => r.created)!.watchId;
    },
    progressRequest: () => send({ case: "progressRequest", value: {} }),
    cancel: (watchId: bigint) => send({ case: "cancelRequest", value: { watchId } }),
    async close() {
      controller.abort();
      await done;
    },
  };
}

const isProgress = (r: pb.WatchResponse) => !r.created && !r.canceled && r.events.length === 0;
const revisionOf = (r: pb.WatchResponse | undefined) => Number(r?.header?.revision ?? -1n);

afterEach(() => mock.timers.reset());

test("a progress request with every watcher synced is answered at once: watch id -1 at the current revision", async () => {
  const s = open();
  await s.watch({ key: enc("a") });
  s.store.put({ key: enc("b") });
  s.store.put({ key: enc("b") });
  await s.progressRequest();
  await waitFor(() => s.got.some(isProgress), "the progress response");
  const progress = s.got.filter(isProgress);
  assert.deepEqual(
    progress.map((r) => [r.watchId, revisionOf(r)]),
    [[-1n, 3]],
  );
  await s.close();
});

test("a progress request while a watcher catches up waits for it, comes after its events, and is answered once", async () => {
  const s = open();
  for (let i = 0; i < 5; i++) s.store.put({ key: enc("k"), value: enc(String(i)) });
  await s.watch({ key: enc("live") });
  const behind = await s.watch({ key: enc("k"), startRevision: 2n });
  await s.progressRequest();
  await s.progressRequest();
  await settle();
  assert.equal(s.got.filter(isProgress).length, 0, "no progress claimed for a watcher that is behind");
  s.store.hub.syncSome(2);
  await settle();
  assert.equal(s.got.filter(isProgress).length, 0, "still behind after a partial catch-up");
  while (s.store.hub.syncSome(2) > 0);
  await waitFor(() => s.got.some(isProgress), "the deferred progress response");
  await settle();
  const events = s.got.filter((r) => r.watchId === behind && r.events.length > 0);
  assert.equal(
    events.flatMap((r) => r.events).length,
    5,
    "the catch-up delivered every event of the watcher",
  );
  const progress = s.got.filter(isProgress);
  assert.deepEqual(
    progress.map((r) => [r.watchId, revisionOf(r)]),
    [[-1n, 6]],
  );
  assert.ok(s.got.indexOf(progress[0]) > s.got.indexOf(events.at(-1)!), "progress follows the events");
  await s.progressRequest();
  await waitFor(() => s.got.filter(isProgress).length === 2, "a later request answered at once");
  await s.close();
});

test("a cancelled lagging watcher no longer holds back a deferred progress response", async () => {
  const s = open();
  s.store.put({ key: enc("k") });
  const behind = await s.watch({ key: enc("k"), startRevision: 1n });
  await s.progressRequest();
  await settle();
  assert.equal(s.got.filter(isProgress).length, 0);
  await s.cancel(behind);
  await waitFor(() => s.got.some(isProgress), "the progress response after the cancel");
  assert.deepEqual(
    s.got.filter((r) => !r.created).map((r) => [r.watchId, r.canceled, revisionOf(r)]),
    [
      [behind, true, -1],
      [-1n, false, 2],
    ],
  );
  await s.close();
});

test("progress_notify: an idle synced watcher gets an empty response with its id each interval; busy or behind ones do not", async () => {
  mock.timers.enable({ apis: ["setInterval"] });
  const s = open({ progressNotifyIntervalMs: 100 });
  const idle = await s.watch({ key: enc("idle"), progressNotify: true });
  const busy = await s.watch({ key: enc("busy"), progressNotify: true });
  const plain = await s.watch({ key: enc("plain") });
  s.store.put({ key: enc("other") });
  s.store.put({ key: enc("busy") });
  await settle();
  mock.timers.tick(100);
  await settle();
  const first = s.got.filter(isProgress);
  assert.deepEqual(
    first.map((r) => [r.watchId, revisionOf(r)]),
    [[idle, 3]],
    "the busy watcher was sent an event this interval, the plain one never asked",
  );
  mock.timers.tick(100);
  await settle();
  assert.deepEqual(
    s.got.filter(isProgress).map((r) => [r.watchId, revisionOf(r)]),
    [
      [idle, 3],
      [idle, 3],
      [busy, 3],
    ],
    "idle for a whole interval, the busy watcher gets one too",
  );
  assert.ok(!s.got.some((r) => isProgress(r) && r.watchId === plain));
  const behind = await s.watch({ key: enc("busy"), startRevision: 1n, progressNotify: true });
  mock.timers.tick(100);
  await settle();
  assert.ok(!s.got.some((r) => isProgress(r) && r.watchId === behind), "a watcher that is behind gets none");
  await s.close();
});

test("fragment: a catch-up response over the limit arrives in parts, fragment set on all but the last", async () => {
  const maxRequestBytes = 1000;
  const s = open({ maxRequestBytes });
  const value = "v".repeat(300);
  s.store.txn({
    success: Array.from({ length: 7 }, (_, i) => ({ requestPut: { key: enc(`f/${i}`), value: enc(value) } })),
  });
  const frag = await s.watch({ key: enc("f/"), rangeEnd: enc("f0"), startRevision: 1n, fragment: true });
  const whole = await s.watch({ key: enc("f/"), rangeEnd: enc("f0"), startRevision: 1n });
  while (s.store.hub.syncSome() > 0);
  await waitFor(() => s.got.some((r) => r.watchId === whole && r.events.length > 0), "the whole response");
  await waitFor(
    () => s.got.some((r) => r.watchId === frag && r.events.length > 0 && !r.fragment),
    "the last fragment",
  );
  const parts = s.got.filter((r) => r.watchId === frag && r.events.length > 0);
  assert.ok(parts.length >= 3, `7 events of 300 bytes in parts under 1000 bytes, got ${parts.length}`);
  assert.deepEqual(
    parts.map((r) => r.fragment),
    [...parts.slice(1).map(() => true), false],
  );
  for (const p of parts) {
    assert.ok(toBinary(pb.WatchResponseSchema, p).length < maxRequestBytes, "each part is under the limit");
    assert.equal(revisionOf(p), 2, "every part carries the response's header");
  }
  assert.deepEqual(
    parts.flatMap((r) => r.events.map((e) => new TextDecoder().decode(e.kv?.key))),
    Array.from({ length: 7 }, (_, i) => `f/${i}`),
  );
  const wholes = s.got.filter((r) => r.watchId === whole && r.events.length > 0);
  assert.deepEqual(
    wholes.map((r) => [r.events.length, r.fragment]),
    [[7, false]],
    "without fragment the revision is sent whole",
  );
  await s.close();
});

test("fragments() leaves a small response or a single event alone", () => {
  const event = (key: string, size: number) => [
    create(EventSchema, { kv: { key: enc(key), value: new Uint8Array(size) } }),
  ];
  const small = create(pb.WatchResponseSchema, {
    watchId: 1n,
    events: [...event("a", 10), ...event("b", 10)],
  });
  assert.deepEqual(fragments(small, 1000), [small]);
  const huge = create(pb.WatchResponseSchema, { watchId: 1n, events: event("a", 5000) });
  assert.deepEqual(fragments(huge, 1000), [huge]);
  const two = create(pb.WatchResponseSchema, {
    watchId: 1n,
    events: [...event("a", 5000), ...event("b", 5000)],
  });
  assert.deepEqual(
    fragments(two, 1000).map((r) => [r.events.length, r.fragment, r.watchId]),
    [
      [1, true, 1n],
      [1, false, 1n],
    ],
  );
});
