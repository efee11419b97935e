// The JSON gateway runs at most --max-concurrent-streams calls at once, as
// etcd's gateway does over its one loopback gRPC connection; the rest wait.

import assert from "node:assert/strict";
import http from "node:http";
import { test } from "node:test";
import { GatewaySlots } from "../../src/api/http.ts";
import { b64, startHarness, waitFor } from "./helpers.ts";

test("GatewaySlots hands slots out in order and drops a waiter whose client left", async () => {
  const slots = new GatewaySlots(1);
  const never = new AbortController().signal;
  await slots.acquire(never);
  const order: string[] = [];
  const gone = new AbortController();
  const second = slots.acquire(gone.signal).then(
    () => order.push("second"),
    (e: Error) => order.push(`second refused: ${e.message}`),
  );
  const third = slots.acquire(never).then(() => order.push("third"));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, [], "nobody gets a slot while it is held");
  gone.abort();
  await second;
  slots.release();
  await third;
  assert.deepEqual(order, ["second refused: floe: request cancelled", "third"]);
  assert.equal(slots.active, 1);
  slots.release();
  assert.equal(slots.active, 0);
});

function openWatch(url: string): { ready: Promise<void>; close: () => void } {
  const req = http.request(`${url}/v3/watch`, { method: "POST", agent: false });
  req.on("error", () => undefined);
  const ready = new Promise<void>((resolve) =>
    req.on("response", (res) => {
      res.on("error", () => undefined);
      res.once("data", () => resolve());
    }),
  );
  req.end(JSON.stringify({ create_request: { key: b64("foo") } }));
  return { ready, close: () => req.destroy() };
}

test("a gateway call waits while --max-concurrent-streams watches are open, and runs when one ends", async () => {
  const h = await startHarness({ maxConcurrentStreams: 2 });
  try {
    const w1 = openWatch(h.server.url);
    const w2 = openWatch(h.server.url);
    await Promise.all([w1.ready, w2.ready]);
    let answered = false;
    const range = fetch(`${h.server.url}/v3/kv/range`, {
      method: "POST",
      body: JSON.stringify({ key: b64("foo") }),
    }).then(async (r) => {
      answered = true;
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    });
    // the range is queued behind the two watches (the member counts it)...
    const waiting = async () =>
      /^floe_api_gateway_waiting_calls (\d+)$/m.exec(
        await (await fetch(`${h.server.url}/metrics`)).text(),
      )?.[1];
    const deadline = Date.now() + 5000;
    while ((await waiting()) !== "1") {
      assert.ok(Date.now() < deadline, "the range never queued for a stream");
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(answered, false, "the range must wait for a free stream");
    w1.close();
    const r = await range;
    assert.equal(r.status, 200);
    assert.equal(await waiting(), "0");
    assert.ok(r.body.header, "the range is answered once a watch ended");
    w2.close();
    await waitFor(() => h.backend.hub.size === 0, "both watchers released");
  } finally {
    await h.close();
  }
});
