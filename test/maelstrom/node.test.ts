import assert from "node:assert/strict";
import { test } from "node:test";
import { type Envelope, MaelstromNode } from "../../src/maelstrom/node.ts";
import { drainMicrotasks, ManualClock } from "../../src/sim/index.ts";

const TICK_MS = 25;

/** Three nodes wired in-process: messages between nodes go through a queue we control. */
class LocalNet {
  readonly nodes = new Map<string, MaelstromNode>();
  queue: Envelope[] = [];
  replies: Envelope[] = [];
  cut = new Set<string>();
  readonly clock = new ManualClock();
  private msgId = 1;

  constructor(names: string[], unsafeLocalReads = false) {
    for (const n of names) {
      this.nodes.set(
        n,
        new MaelstromNode({
          send: (e) => (e.dest.startsWith("n") ? this.queue.push(e) : this.replies.push(e)),
          log: () => {},
          unsafeLocalReads,
          seed: names.indexOf(n) + 1,
          clock: this.clock,
          tickMs: TICK_MS,
        }),
      );
    }
    for (const n of names)
      this.node(n).handle({
        src: "c0",
        dest: n,
        body: { type: "init", msg_id: this.msgId++, node_id: n, node_ids: names },
      });
  }

  node(n: string): MaelstromNode {
    const node = this.nodes.get(n);
    assert.ok(node);
    return node;
  }

  /** Moves time on by one tick and delivers messages, for `rounds` rounds. */
  async run(rounds: number): Promise<void> {
    for (let i = 0; i < rounds; i++) {
      await this.clock.advance(TICK_MS);
      for (let j = 0; j < 50 && this.queue.length > 0; j++) {
        const q = this.queue;
        this.queue = [];
        for (const e of q) {
          if (!this.cut.has(e.src) && !this.cut.has(e.dest)) this.node(e.dest).handle(e);
          await drainMicrotasks();
        }
      }
    }
  }

  stop(): void {
    for (const n of this.nodes.values()) n.stop();
  }

  request(node: string, body: Record<string, unknown> & { type: string }): number {
    const id = this.msgId++;
    this.node(node).handle({ src: "c1", dest: node, body: { ...body, msg_id: id } });
    return id;
  }

  replyTo(id: number): Envelope["body"] | undefined {
    return this.replies.find((r) => r.body.in_reply_to === id)?.body;
  }
}

test("maelstrom node: write, read and cas through any node of a three-node cluster", async () => {
  const net = new LocalNet(["n0", "n1", "n2"]);
  await net.run(40);
  const w = net.request("n1", { type: "write", key: 1, value: 3 });
  await net.run(5);
  assert.deepEqual(net.replyTo(w)?.type, "write_ok");
  const r = net.request("n2", { type: "read", key: 1 });
  await net.run(5);
  assert.equal(net.replyTo(r)?.type, "read_ok");
  assert.equal(net.replyTo(r)?.value, 3);
  const c1 = net.request("n0", { type: "cas", key: 1, from: 2, to: 4 });
  const c2 = net.request("n0", { type: "cas", key: 1, from: 3, to: 4 });
  const c3 = net.request("n0", { type: "cas", key: 9, from: 3, to: 4 });
  await net.run(5);
  assert.equal(net.replyTo(c1)?.code, 22);
  assert.equal(net.replyTo(c2)?.type, "cas_ok");
  assert.equal(net.replyTo(c3)?.code, 20);
  const missing = net.request("n0", { type: "read", key: "absent" });
  await net.run(5);
  assert.equal(net.replyTo(missing)?.code, 20);
});

test("maelstrom node: keys and values are arbitrary JSON compared structurally", async () => {
  const net = new LocalNet(["n0"]);
  await net.run(2);
  const w = net.request("n0", { type: "write", key: { b: 1, a: [2] }, value: { y: null, x: "s" } });
  await net.run(2);
  assert.equal(net.replyTo(w)?.type, "write_ok");
  const c = net.request("n0", { type: "cas", key: { a: [2], b: 1 }, from: { x: "s", y: null }, to: 7 });
  await net.run(2);
  assert.equal(net.replyTo(c)?.type, "cas_ok");
});

test("maelstrom node: a node cut off from the leader never serves a stale read", async () => {
  const net = new LocalNet(["n0", "n1", "n2"]);
  await net.run(40);
  net.request("n0", { type: "write", key: 1, value: 1 });
  await net.run(5);
  net.cut.add("n2");
  const w = net.request("n0", { type: "write", key: 1, value: 2 });
  await net.run(40);
  assert.equal(net.replyTo(w)?.type, "write_ok");
  const r = net.request("n2", { type: "read", key: 1 });
  await net.run(10);
  const reply = net.replyTo(r);
  assert.ok(reply === undefined || reply.type === "error", `isolated node answered ${JSON.stringify(reply)}`);
  if (reply) assert.equal(reply.code, 11, "a definite error, since nothing was proposed");
});

test("maelstrom node: the unsafe variant serves stale reads from a cut-off node (what the runner must catch)", async () => {
  const net = new LocalNet(["n0", "n1", "n2"], true);
  await net.run(40);
  net.request("n0", { type: "write", key: 1, value: 1 });
  await net.run(5);
  net.cut.add("n2");
  net.request("n0", { type: "write", key: 1, value: 2 });
  await net.run(40);
  const r = net.request("n2", { type: "read", key: 1 });
  assert.equal(net.replyTo(r)?.value, 1);
});

test("maelstrom node: malformed requests get an error naming the problem", async () => {
  const net = new LocalNet(["n0"]);
  await net.run(2);
  const a = net.request("n0", { type: "write", key: 1 });
  const b = net.request("n0", { type: "frobnicate" });
  assert.match(String(net.replyTo(a)?.text), /without a value/);
  assert.equal(net.replyTo(b)?.code, 10);
});
