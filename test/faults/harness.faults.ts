// Tests of the harness itself: the proxy enforces directed rules and delays,
// and a history the harness records from a real cluster is judged
// non-linearizable when it should be, so a passing fault run means something.
import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import type { LinKvInput, LinKvOutput } from "../../src/check/index.ts";
import { checkOperations, formatViolation, HistoryRecorder, linKvModel } from "../../src/check/index.ts";
import { encodeHello, PURPOSE_MESSAGES, PURPOSE_QUERY } from "../../src/transport/codec.ts";
import { encodeFrame, FrameType } from "../../src/transport/frame.ts";
import { freePort } from "../integration/floe-process.ts";
import { FaultCluster } from "./cluster.ts";
import { LinkRules, PeerProxy } from "./proxy.ts";
import { poll } from "./util.ts";

/** A stand-in member: records what each accepted connection delivered. */
async function sink(): Promise<{ port: number; received: Buffer[]; close: () => Promise<void> }> {
  const received: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    const i = received.push(Buffer.alloc(0)) - 1;
    s.on("data", (d: Buffer) => {
      received[i] = Buffer.concat([received[i], d]);
    });
    s.on("error", () => {});
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  return {
    port,
    received,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

function hello(from: number, to: number, purpose = PURPOSE_MESSAGES): Buffer {
  return encodeFrame(FrameType.Hello, encodeHello({ clusterId: 7, from, to, purpose }));
}

async function dial(port: number): Promise<net.Socket> {
  const s = net.connect(port, "127.0.0.1");
  s.on("error", () => {});
  await new Promise<void>((r) => s.once("connect", () => r()));
  return s;
}

const closed = (s: net.Socket) => new Promise<void>((r) => (s.destroyed ? r() : s.once("close", () => r())));

test("proxy refuses a blocked directed link, cuts its open connection, and still forwards the reverse direction and queries", async () => {
  const member = await sink();
  const rules = new LinkRules();
  const proxy = new PeerProxy(2, await freePort(), member.port, rules);
  await proxy.listen();
  try {
    const open = await dial(proxy.listenPort);
    open.write(Buffer.concat([hello(1, 2), Buffer.from("before")]));
    await poll("the first link's bytes", 5000, async () =>
      member.received[0]?.includes("before") ? true : undefined,
    );

    rules.block(1, 2);
    await closed(open);
    const refused = await dial(proxy.listenPort);
    refused.write(hello(1, 2));
    await closed(refused);
    assert.equal(member.received.length, 1, "a blocked link never reaches the member");

    // The rule is directed: 3 -> 2 flows, and so does a query from a joining member (from 0).
    const other = await dial(proxy.listenPort);
    other.write(Buffer.concat([hello(3, 2), Buffer.from("other")]));
    const query = await dial(proxy.listenPort);
    query.write(hello(0, 0, PURPOSE_QUERY));
    await poll("the other links' bytes", 5000, async () => (member.received.length === 3 ? true : undefined));
    assert.ok(member.received.some((b) => b.includes("other")));
    assert.equal(proxy.refused, 2);
    other.destroy();
    query.destroy();

    rules.healAll();
    const again = await dial(proxy.listenPort);
    again.write(Buffer.concat([hello(1, 2), Buffer.from("after")]));
    await poll("the healed link's bytes", 5000, async () =>
      member.received[3]?.includes("after") ? true : undefined,
    );
    again.destroy();
  } finally {
    await proxy.close();
    await member.close();
  }
});

test("proxy holds a slowed link's bytes for the delay and delivers them in order", async () => {
  const member = await sink();
  const rules = new LinkRules();
  const proxy = new PeerProxy(2, await freePort(), member.port, rules);
  await proxy.listen();
  try {
    rules.setDelay(1, 2, 300);
    const s = await dial(proxy.listenPort);
    const sent = Date.now();
    s.write(hello(1, 2));
    for (let i = 0; i < 20; i++) s.write(Buffer.from(`<${i}>`));
    const expected = Array.from({ length: 20 }, (_, i) => `<${i}>`).join("");
    await poll("the delayed bytes", 5000, async () =>
      member.received[0]?.toString("latin1").endsWith(expected) ? true : undefined,
    );
    assert.ok(Date.now() - sent >= 290, `delivered after ${Date.now() - sent} ms, before the 300 ms delay`);
    s.destroy();
  } finally {
    await proxy.close();
    await member.close();
  }
});

test("proxy stalls a silently dropped link without closing it and delivers the backlog in order on healing", async () => {
  const member = await sink();
  const rules = new LinkRules();
  const proxy = new PeerProxy(2, await freePort(), member.port, rules);
  await proxy.listen();
  try {
    const s = await dial(proxy.listenPort);
    s.write(Buffer.concat([hello(1, 2), Buffer.from("[a]")]));
    await poll("the first bytes", 5000, async () => (member.received[0]?.includes("[a]") ? true : undefined));
    rules.block(1, 2, "stall");
    s.write(Buffer.from("[b]"));
    // A connection opened during the stall is held, not refused.
    const late = await dial(proxy.listenPort);
    late.write(Buffer.concat([hello(1, 2), Buffer.from("[late]")]));
    s.write(Buffer.from("[c]"));
    // Nothing flows while stalled: a later link that is not blocked shows the proxy is serving.
    const witness = await dial(proxy.listenPort);
    witness.write(Buffer.concat([hello(3, 2), Buffer.from("[w]")]));
    await poll("the unblocked link", 5000, async () =>
      member.received.some((b) => b.includes("[w]")) ? true : undefined,
    );
    assert.ok(!member.received[0].includes("[b]"), "bytes crossed a stalled link");
    assert.ok(!s.destroyed && !late.destroyed, "a stall must not close connections");
    assert.equal(proxy.refused, 0);

    rules.healAll();
    await poll("the backlog", 5000, async () =>
      member.received[0].toString().endsWith("[a][b][c]") && member.received.some((b) => b.includes("[late]"))
        ? true
        : undefined,
    );
    for (const x of [s, late, witness]) x.destroy();
  } finally {
    await proxy.close();
    await member.close();
  }
});

test("serializable reads from an isolated member yield a history the checker rejects with a counterexample", {
  timeout: 120_000,
}, async () => {
  const cluster = new FaultCluster({ size: 3, label: "selfcheck" });
  let ok = false;
  try {
    await cluster.start();
    const leader = await cluster.waitHealthy(20_000);
    const isolated = cluster.current().find((m) => m !== leader)!;
    const rest = cluster.current().filter((m) => m !== isolated);
    cluster.partition([[isolated], rest]);

    const history = new HistoryRecorder<LinKvInput, LinKvOutput>();
    const key = Buffer.from("stale");
    for (let v = 1; v <= 3; v++) {
      const w = history.invoke(1, { type: "write", key: "stale", value: v });
      await poll("a write through the majority", 20_000, async () => {
        const l = await cluster.waitForLeader(10_000, isolated);
        return l.member.client.kv.put(
          { key, value: Buffer.from(String(v)) },
          { deadline: Date.now() + 2000 },
        );
      });
      history.ok(w, { type: "write_ok" });
    }
    // Serializable: answered from the isolated member's own (stale) state, no ReadIndex.
    const r = history.invoke(2, { type: "read", key: "stale" });
    const got = await isolated.client.kv.range({ key, serializable: true }, { deadline: Date.now() + 2000 });
    if (got.kvs.length === 0) history.ok(r, { type: "error", code: 20 });
    else history.ok(r, { type: "read_ok", value: Number(got.kvs[0].value.toString()) });

    const result = checkOperations(linKvModel, history.operations());
    assert.equal(
      result.verdict,
      "not-linearizable",
      "a stale read after an acknowledged write must be rejected",
    );
    assert.ok(result.violation);
    assert.match(formatViolation(result.violation), /not linearizable/);
    ok = true;
  } finally {
    await cluster.close(!ok);
  }
});
