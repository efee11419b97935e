import assert from "node:assert/strict";
import { test } from "node:test";
import { BitcaskError } from "../../src/bitcask/index.ts";
import { type Message, MessageType, type NodeId, newMessage } from "../../src/raft/index.ts";
import { MemoryLogStore } from "../../src/server/memlog.ts";
import {
  RaftRuntime,
  ReadyLoopError,
  RuntimeError,
  type RuntimeOptions,
  type StateMachine,
} from "../../src/server/runtime.ts";
import { describeFatal } from "../../src/server/start.ts";

/** A counter: each command adds its byte value; the result is the new total. */
class Counter implements StateMachine<number> {
  total = 0;
  protected applied = 0;
  apply(index: number, data: Uint8Array): number {
    this.applied = index;
    this.total += data[0] ?? 0;
    return this.total;
  }
  appliedIndex(): number {
    return this.applied;
  }
  async snapshot(): Promise<Uint8Array> {
    return new TextEncoder().encode(String(this.total));
  }
  async restore(image: Uint8Array, index: number): Promise<void> {
    this.total = image.length === 0 ? 0 : Number(new TextDecoder().decode(image));
    this.applied = index;
  }
}

/**
 * n members over in-memory logs, messages delivered on the next turn unless
 * a member is down. `relay` may rewrite a message on its way (as the peer
 * transport fills in snapshot images).
 */
function cluster<S extends Counter = Counter>(
  n: number,
  makeSm: () => S = () => new Counter() as S,
  relay?: (sender: S, m: Message) => Promise<Message>,
) {
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  const nodes = new Map<NodeId, { rt: RaftRuntime<number>; sm: S; log: MemoryLogStore }>();
  const down = new Set<NodeId>();
  /** Every message sent, for assertions on traffic. */
  const sent: Message[] = [];
  for (const id of ids) {
    const sm = makeSm();
    const log = MemoryLogStore.bootstrapped(ids, 5);
    const rt: RaftRuntime<number> = new RaftRuntime(sm, {
      id,
      log,
      tickMs: 5,
      electionTicks: 10,
      snapshotCount: 20,
      requestTimeoutMs: 3000,
      transport: {
        send: (msgs: readonly Message[]) => {
          for (const m of msgs) {
            sent.push(m);
            if (down.has(id) || down.has(m.to)) continue;
            if (relay) void relay(sm, m).then((out) => setImmediate(() => nodes.get(m.to)?.rt.step(out)));
            else setImmediate(() => nodes.get(m.to)?.rt.step(m));
          }
        },
      },
    });
    nodes.set(id, { rt, sm, log });
  }
  for (const { rt } of nodes.values()) rt.start();
  const stop = (): void => {
    for (const { rt } of nodes.values()) rt.stop();
  };
  return { nodes, down, sent, stop };
}

async function waitFor<T>(what: string, f: () => T | undefined, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A one-member runtime over an in-memory log that sends nothing; `opts` overrides the defaults. */
function soloRuntime(sm: Counter, opts: Partial<RuntimeOptions> = {}): RaftRuntime<number> {
  return new RaftRuntime(sm, {
    id: 1,
    log: MemoryLogStore.bootstrapped([1]),
    tickMs: 5,
    electionTicks: 10,
    snapshotCount: 1000,
    requestTimeoutMs: 3000,
    transport: { send: () => {} },
    ...opts,
  });
}

const leaderOf = (c: ReturnType<typeof cluster>) =>
  [...c.nodes.values()].find(({ rt }, i) => rt.isLeader() && !c.down.has(i + 1))?.rt;

test("runtime: concurrent proposals are batched, applied in order everywhere and resolve with their results", async () => {
  const c = cluster(3);
  try {
    const leader = await waitFor("a leader", () => leaderOf(c));
    const results = await Promise.all(Array.from({ length: 50 }, () => leader.propose(new Uint8Array([1]))));
    assert.deepEqual(
      [...results].sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    await waitFor("followers to apply", () =>
      [...c.nodes.values()].every(({ sm }) => sm.total === 50) ? true : undefined,
    );
  } finally {
    c.stop();
  }
});

test("runtime: a follower's proposal is forwarded and resolves when it applies locally", async () => {
  const c = cluster(3);
  try {
    const leader = await waitFor("a leader", () => leaderOf(c));
    const follower = [...c.nodes.values()].find(({ rt }) => rt !== leader)?.rt;
    assert.ok(follower);
    await waitFor("follower knows the leader", () => (follower.leader() !== 0 ? true : undefined));
    assert.equal(await follower.propose(new Uint8Array([7])), 7);
  } finally {
    c.stop();
  }
});

test("runtime: a read barrier on a follower waits until it applied the leader's commit index", async () => {
  const c = cluster(3);
  try {
    const leader = await waitFor("a leader", () => leaderOf(c));
    await leader.propose(new Uint8Array([3]));
    const entry = [...c.nodes.entries()].find(([, n]) => n.rt !== leader);
    assert.ok(entry);
    await entry[1].rt.readBarrier();
    assert.equal(entry[1].sm.total, 3);
  } finally {
    c.stop();
  }
});

test("runtime: concurrent linearizable reads share ReadIndex rounds instead of one heartbeat round each", async () => {
  const c = cluster(3);
  try {
    const leader = await waitFor("a leader", () => leaderOf(c));
    await leader.propose(new Uint8Array([1]));
    // A round is a heartbeat with the round's context (repeated on a tick while it is pending).
    const contexts = () =>
      new Set(
        c.sent.filter((m) => m.type === MessageType.Heartbeat && m.context !== "").map((m) => m.context),
      );
    const before = contexts().size;
    await Promise.all(Array.from({ length: 100 }, () => leader.readBarrier()));
    // At most two rounds: the first read's, then one for all that queued behind it.
    const rounds = contexts().size - before;
    assert.ok(rounds > 0 && rounds <= 2, `${rounds} ReadIndex rounds for 100 reads`);
    const follower = [...c.nodes.values()].find(({ rt }) => rt !== leader)?.rt;
    assert.ok(follower);
    await Promise.all(Array.from({ length: 50 }, () => follower.readBarrier()));
  } finally {
    c.stop();
  }
});

test("runtime: after the leader is cut off the others elect a new one, and snapshots let a lagging member catch up", async () => {
  const c = cluster(3);
  try {
    const first = await waitFor("a leader", () => leaderOf(c));
    const firstId = [...c.nodes.entries()].find(([, n]) => n.rt === first)?.[0] as NodeId;
    c.down.add(firstId);
    const second = await waitFor(
      "a new leader",
      () => [...c.nodes.entries()].find(([id, n]) => id !== firstId && n.rt.isLeader())?.[1].rt,
    );
    for (let i = 0; i < 60; i++) await second.propose(new Uint8Array([1]));
    c.down.delete(firstId);
    await waitFor("the old leader to catch up", () =>
      c.nodes.get(firstId)?.sm.total === 60 ? true : undefined,
    );
  } finally {
    c.stop();
  }
});

test("runtime: a proposal with no leader anywhere fails with a clear error instead of hanging", async () => {
  const c = cluster(3);
  try {
    for (const id of c.nodes.keys()) c.down.add(id);
    const rt = c.nodes.get(1)?.rt;
    assert.ok(rt);
    await assert.rejects(rt.propose(new Uint8Array([1])), (e: unknown) => e instanceof RuntimeError);
  } finally {
    c.stop();
  }
});

/**
 * A one-member runtime that commits a proposal, then has `breakIt` make its
 * disk fail: the next proposal must fail with Stopped. Returns the error the
 * runtime stopped with (the one onFatal got).
 */
async function stoppedBy(
  breakIt: () => void,
  sm: Counter,
  opts: Partial<RuntimeOptions> = {},
): Promise<Error> {
  let fatal: Error | undefined;
  const rt = soloRuntime(sm, {
    ...opts,
    onFatal: (e) => {
      fatal = e;
    },
  });
  rt.start();
  try {
    await waitFor("leadership", () => (rt.isLeader() ? true : undefined));
    assert.equal(await rt.propose(new Uint8Array([1])), 1);
    breakIt();
    await assert.rejects(
      rt.propose(new Uint8Array([1])),
      (e: unknown) => e instanceof RuntimeError && e.code === "Stopped",
    );
    assert.ok(fatal !== undefined && rt.failure() === fatal, "the runtime reports what stopped it");
    return fatal;
  } finally {
    rt.stop();
  }
}

const enospc = () => Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });

test("runtime: a log store that cannot persist (full disk) stops the member and fails its waiters", async () => {
  const log = MemoryLogStore.bootstrapped([1]);
  let fail = false;
  const save = log.save.bind(log);
  log.save = async (rd) => {
    if (fail) throw enospc();
    return save(rd);
  };
  const fatal = await stoppedBy(() => (fail = true), new Counter(), { log });
  assert.match(fatal.message, /ENOSPC/);
  assert.ok(fatal instanceof ReadyLoopError && fatal.stage === "persist", String(fatal));
  assert.equal(
    describeFatal(fatal, "/data"),
    "the disk is full: the Raft log in /data/wal could not be written (ENOSPC)",
  );
});

test("runtime: a state machine whose store fails stops the member, and the message blames the store, not the log", async () => {
  const sm = new Counter();
  let fail = false;
  const apply = sm.apply.bind(sm);
  sm.apply = (index, data) => {
    if (!fail) return apply(index, data);
    const cause = enospc();
    throw new BitcaskError(
      "WriteFailed",
      `bitcask: writing 300 bytes to /data/kv/000001.data failed (${cause})`,
      {
        cause,
      },
    );
  };
  const fatal = await stoppedBy(() => (fail = true), sm);
  assert.ok(fatal instanceof ReadyLoopError && fatal.stage === "apply", String(fatal));
  assert.equal(
    describeFatal(fatal, "/data"),
    "the disk is full: the key-value store in /data/kv could not be written (ENOSPC)",
  );
});

test("runtime: a local snapshot that takes long to write does not stop proposals from committing meanwhile", async () => {
  const ids = [1];
  const log = MemoryLogStore.bootstrapped(ids, 5);
  let release: (() => void) | undefined;
  let writes = 0;
  let commits = 0;
  const slow = Object.assign(log, {
    writeLocalSnapshot: async (
      index: number,
      cs: Parameters<typeof log.saveLocalSnapshot>[1],
      image: unknown,
    ) => {
      writes++;
      await new Promise<void>((r) => {
        release = r;
      });
      await log.saveLocalSnapshot(index, cs, image as Uint8Array);
      return { index, term: log.term(index) ?? 0, confState: cs };
    },
    commitLocalSnapshot: async () => {
      commits++;
    },
  });
  const sm = new Counter();
  const rt = soloRuntime(sm, { log: slow, snapshotCount: 10 });
  rt.start();
  try {
    rt.rn.campaign();
    await waitFor("leadership", () => (rt.isLeader() ? true : undefined));
    for (let i = 0; i < 15; i++) await rt.propose(new Uint8Array([1]));
    await waitFor("the snapshot write to start", () => (writes === 1 ? true : undefined));
    // The image is still being written: proposals keep committing and applying.
    for (let i = 0; i < 30; i++) await rt.propose(new Uint8Array([1]));
    assert.equal(sm.total, 45);
    assert.equal(writes, 1, "one snapshot at a time");
    assert.equal(commits, 0);
    release?.();
    await waitFor("the commit inside the loop", () => (commits === 1 ? true : undefined));
  } finally {
    rt.stop();
  }
});

test("runtime: work that arrives while a Ready loop is finishing is picked up at once, not at the next tick", async () => {
  // Ticks are a minute apart: anything left for the tick would time out.
  const rt = soloRuntime(new Counter(), { tickMs: 60_000, requestTimeoutMs: 2000 });
  rt.start();
  try {
    rt.rn.campaign();
    rt.reportUnreachable(2); // pumps the campaign's Ready
    await waitFor("leadership", () => (rt.isLeader() ? true : undefined));
    assert.equal(await rt.propose(new Uint8Array([1])), 1);
    await new Promise((r) => setImmediate(r)); // the proposal's Ready loop has ended
    // A message that changes nothing starts a loop that ends at once; the
    // read request made right after it, in the same turn, finds that loop
    // still marked as running.
    rt.step(newMessage(MessageType.HeartbeatResp, { from: 99, to: 1 }));
    await rt.readBarrier();
  } finally {
    rt.stop();
  }
});

/**
 * A counter that keeps its own state (as the bitcask store does): its local
 * snapshots are a reference ("ref"), and peers get "total@applied" made at
 * send time, which may be newer than the snapshot's index.
 */
class DurableCounter extends Counter {
  refs = 0;
  async localSnapshot(): Promise<Uint8Array> {
    this.refs++;
    return new TextEncoder().encode("ref");
  }
  override async snapshot(): Promise<Uint8Array> {
    return new TextEncoder().encode(`${this.total}@${this.appliedIndex()}`);
  }
  override async restore(image: Uint8Array, index: number): Promise<void> {
    const text = new TextDecoder().decode(image);
    if (text === "ref") {
      if (this.appliedIndex() < index) throw new Error("reference to a store that lost its data");
      return;
    }
    const [total, applied] = text.split("@").map(Number);
    await super.restore(new TextEncoder().encode(String(total || 0)), index);
    this.applied = Math.max(index, applied || 0);
  }
}

test("runtime: with a state machine that keeps its own state, local snapshots are references and a lagging member installs a newer live image once", async () => {
  /** [snapshot index, applied index of the image sent] for every snapshot message. */
  const snaps: [number, number][] = [];
  const { nodes, down, stop } = cluster(
    3,
    () => new DurableCounter(),
    async (sender, m) => {
      if (m.type !== MessageType.Snap || !m.snapshot) return m;
      // as the peer transport does: the image comes from the sender's live store
      const data = await sender.snapshot();
      snaps.push([m.snapshot.metadata.index, Number(new TextDecoder().decode(data).split("@")[1])]);
      return { ...m, snapshot: { ...m.snapshot, data } };
    },
  );
  const ids = [...nodes.keys()];
  try {
    const leader = await waitFor("a leader", () => [...nodes.values()].find((n) => n.rt.isLeader()));
    const lagging = ids.find((id) => nodes.get(id)?.rt !== leader.rt) as NodeId;
    down.add(lagging);
    for (let i = 0; i < 60; i++) await leader.rt.propose(new Uint8Array([1]));
    // applies continue while the lagging member is away, so the image it gets is newer than the snapshot
    for (let i = 0; i < 3; i++) await leader.rt.propose(new Uint8Array([1]));
    down.delete(lagging);
    const n = nodes.get(lagging);
    await waitFor("the lagging member to catch up", () => (n?.sm.total === 63 ? true : undefined));
    for (let i = 0; i < 5; i++) await leader.rt.propose(new Uint8Array([1]));
    for (const [id, node] of nodes) {
      await waitFor(`member ${id} to apply everything`, () => (node.sm.total === 68 ? true : undefined));
    }
    assert.ok(snaps.length >= 1, "the lagging member got a snapshot");
    assert.ok(
      snaps.some(([index, applied]) => applied > index),
      `an image newer than its snapshot's index was installed: ${JSON.stringify(snaps)}`,
    );
    assert.ok(leader.sm.refs >= 3, `the leader took local snapshots as references (${leader.sm.refs})`);
    const kept = new TextDecoder().decode(leader.log.snapshot()?.data);
    assert.equal(kept, "ref", "the log keeps the reference, not the records");
    // every entry counted exactly once everywhere: the entries the image already held were skipped
    for (const node of nodes.values()) assert.equal(node.sm.total, 68);
  } finally {
    stop();
  }
});

test("runtime: a follower's small save may fsync inline; the leader's, and a follower's large one, may not", async () => {
  const c = cluster(3);
  // every save each member asks for, with its entry count
  const saves = new Map<NodeId, { entries: number; inline: boolean }[]>();
  for (const [id, { log }] of c.nodes) {
    const save = log.save.bind(log);
    saves.set(id, []);
    log.save = (rd) => {
      if (rd.entries.length > 0)
        saves.get(id)?.push({ entries: rd.entries.length, inline: rd.inline === true });
      return save(rd);
    };
  }
  try {
    const leader = await waitFor("a leader", () => leaderOf(c));
    const leaderId = [...c.nodes].find(([, n]) => n.rt === leader)?.[0] as NodeId;
    for (const [id] of c.nodes) saves.set(id, []);
    await leader.propose(Uint8Array.of(1));
    // a burst: the leader appends it in batches larger than a follower may save inline
    await Promise.all(Array.from({ length: 40 }, () => leader.propose(Uint8Array.of(1))));
    await waitFor("followers to save the burst", () =>
      [...saves].every(([id, s]) => id === leaderId || s.reduce((n, x) => n + x.entries, 0) >= 41)
        ? true
        : undefined,
    );
    for (const [id, s] of saves) {
      if (id === leaderId) {
        assert.ok(s.length > 0 && s.every((x) => !x.inline), `leader ${id}: ${JSON.stringify(s)}`);
        continue;
      }
      assert.ok(
        s.some((x) => x.inline && x.entries === 1),
        `follower ${id}: ${JSON.stringify(s)}`,
      );
      assert.ok(
        s.some((x) => x.entries > 4),
        `follower ${id} saw no large save: ${JSON.stringify(s)}`,
      );
      for (const x of s) assert.equal(x.inline, x.entries <= 4, `follower ${id}: ${JSON.stringify(x)}`);
    }
  } finally {
    c.stop();
  }
});
