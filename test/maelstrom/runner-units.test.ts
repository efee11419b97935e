import assert from "node:assert/strict";
import { test } from "node:test";
import { Clients } from "../../src/maelstrom/runner/clients.ts";
import { resolveCommand, splitCommand } from "../../src/maelstrom/runner/command.ts";
import { latencySampler } from "../../src/maelstrom/runner/latency.ts";
import { drops, makePartition, randomPartition } from "../../src/maelstrom/runner/nemesis.ts";
import { parseCommandLine, parseConcurrency, UsageError } from "../../src/maelstrom/runner/options.ts";
import { parseLine, replyProblem } from "../../src/maelstrom/runner/protocol.ts";
import type { Message } from "../../src/maelstrom/runner/types.ts";
import { LinKvGenerator } from "../../src/maelstrom/runner/workload.ts";
import { seededRand } from "../../src/raft/index.ts";

function options(...flags: string[]) {
  const c = parseCommandLine(["test", "--bin", "./node", ...flags]);
  assert.equal(c.command, "test");
  if (c.command !== "test") throw new Error("unreachable");
  return c.options;
}

test("--concurrency takes an integer or a multiple of the node count written Kn", () => {
  assert.equal(parseConcurrency("4n", 3), 12);
  assert.equal(parseConcurrency("1n", 5), 5);
  assert.equal(parseConcurrency("10", 3), 10);
  for (const bad of ["n", "2x", "-1", "0", "0n", "1.5n", ""]) {
    assert.throws(() => parseConcurrency(bad, 3), UsageError, bad);
  }
  assert.equal(options("--node-count", "3", "--concurrency", "4n").concurrency, 12);
});

test("defaults follow Maelstrom: 5 nodes, 60 s, rate 5, no latency, no nemesis, interval 10 s, 2n clients", () => {
  const o = options();
  assert.equal(o.workload, "lin-kv");
  assert.equal(o.nodeCount, 5);
  assert.equal(o.timeLimitSec, 60);
  assert.equal(o.rate, 5);
  assert.equal(o.concurrency, 10);
  assert.equal(o.latencyMs, 0);
  assert.equal(o.latencyDist, "constant");
  assert.deepEqual(o.nemesis, []);
  assert.equal(o.nemesisIntervalSec, 10);
  assert.equal(o.recoveryTimeSec, 0);
  assert.equal(o.testCount, 1);
  assert.equal(o.logStderr, false);
  assert.equal(o.resultsDir, undefined);
  assert.ok(Number.isInteger(o.seed) && o.seed >= 0);
  assert.equal(options("--nemesis", "partition").recoveryTimeSec, 5);
});

test("flags are parsed with their values, and arguments after -- go to the node", () => {
  const o = options(
    "-w",
    "lin-kv",
    "--node-count",
    "3",
    "--time-limit",
    "2.5",
    "--rate",
    "100",
    "--latency",
    "7",
    "--latency-dist",
    "exponential",
    "--nemesis",
    "partition",
    "--nemesis-interval",
    "1.5",
    "--test-count",
    "4",
    "--log-stderr",
    "--seed",
    "42",
    "--results-dir",
    "out",
    "--",
    "--port",
    "9",
  );
  assert.equal(o.nodeCount, 3);
  assert.equal(o.timeLimitSec, 2.5);
  assert.equal(o.rate, 100);
  assert.equal(o.concurrency, 6);
  assert.equal(o.latencyMs, 7);
  assert.equal(o.latencyDist, "exponential");
  assert.deepEqual(o.nemesis, ["partition"]);
  assert.equal(o.nemesisIntervalSec, 1.5);
  assert.equal(o.testCount, 4);
  assert.equal(o.logStderr, true);
  assert.equal(o.seed, 42);
  assert.equal(o.resultsDir, "out");
  assert.deepEqual(o.binArgs, ["--port", "9"]);
});

test("bad command lines are usage errors that say what was wrong", () => {
  const cases: [string[], RegExp][] = [
    [["test", "-w", "echo", "--bin", "x"], /unknown workload "echo"; supported: lin-kv/],
    [["test", "--bin", "x", "--frobnicate"], /frobnicate/],
    [["test"], /expected --bin/],
    [["test", "--bin", "x", "--nemesis", "partition,kill"], /unknown --nemesis fault "kill"/],
    [
      ["test", "--bin", "x", "--latency-dist", "normal"],
      /--latency-dist must be one of constant, uniform, exponential/,
    ],
    [["test", "--bin", "x", "--time-limit", "soon"], /--time-limit must be a number, got "soon"/],
    [["test", "--bin", "x", "--node-count", "2.5"], /--node-count must be an integer/],
    [["test", "--bin", "x", "--rate=-1"], /--rate must be at least 0/],
    [["test", "--bin", "x", "--node-count"], /node-count/],
    [["run", "--bin", "x"], /unknown command "run"/],
    [["test", "--bin", "x", "--partition-kinds", "one,bridge"], /unknown --partition-kinds shape "bridge"/],
  ];
  for (const [argv, message] of cases) {
    assert.throws(
      () => parseCommandLine(argv),
      (e: unknown) => e instanceof UsageError && message.test(e.message),
    );
  }
  assert.deepEqual(parseCommandLine(["test", "--help"]), { command: "help" });
  assert.deepEqual(parseCommandLine([]), { command: "help" });
});

test("--bin is split like a shell would, and shell syntax goes to sh -c", () => {
  assert.deepEqual(splitCommand(`node "my dir/a.js" --x 'y z' a\\ b`), [
    "node",
    "my dir/a.js",
    "--x",
    "y z",
    "a b",
  ]);
  assert.deepEqual(splitCommand("npx floe maelstrom"), ["npx", "floe", "maelstrom"]);
  for (const shell of ["FOO=1 node x", "a | b", "node $HOME/x", "cd x && ./n", "node 'unterminated"]) {
    assert.equal(splitCommand(shell), undefined, shell);
  }
  assert.deepEqual(resolveCommand("npx floe maelstrom", ["--v"]), {
    file: "npx",
    args: ["floe", "maelstrom", "--v"],
  });
  assert.deepEqual(resolveCommand("A=1 ./n", ["x"]), {
    file: "/bin/sh",
    args: ["-c", 'A=1 ./n "$@"', "sh", "x"],
  });
});

function sample(
  dist: "constant" | "uniform" | "exponential",
  mean: number,
  seed: number,
  n: number,
): number[] {
  const draw = latencySampler(dist, mean, seededRand(seed));
  return Array.from({ length: n }, draw);
}

const average = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

test("constant latency is always the mean, and a zero mean means no latency", () => {
  assert.deepEqual(new Set(sample("constant", 12, 1, 1000)), new Set([12]));
  for (const dist of ["constant", "uniform", "exponential"] as const) {
    assert.deepEqual(new Set(sample(dist, 0, 1, 100)), new Set([0]));
  }
});

test("uniform latency draws integers from 0 to twice the mean, averaging the mean", () => {
  const xs = sample("uniform", 10, 7, 20000);
  assert.ok(xs.every((x) => Number.isInteger(x) && x >= 0 && x <= 20));
  assert.equal(Math.min(...xs), 0);
  assert.equal(Math.max(...xs), 20);
  assert.ok(Math.abs(average(xs) - 10) < 0.3, `mean ${average(xs)}`);
});

test("exponential latency averages the mean with a long tail, and replays under a seed", () => {
  const xs = sample("exponential", 20, 3, 20000);
  assert.ok(xs.every((x) => x >= 0 && Number.isFinite(x)));
  assert.ok(Math.abs(average(xs) - 20) < 1, `mean ${average(xs)}`);
  // P(X > 3m) = e^-3 ~ 5%; a uniform draw never exceeds 2m.
  const tail = xs.filter((x) => x > 60).length / xs.length;
  assert.ok(tail > 0.03 && tail < 0.07, `tail ${tail}`);
  assert.deepEqual(sample("exponential", 20, 3, 50), xs.slice(0, 50));
  assert.notDeepEqual(sample("exponential", 20, 4, 50), xs.slice(0, 50));
  assert.throws(() => latencySampler("uniform", -1, seededRand(1)), RangeError);
});

const NODES = ["n0", "n1", "n2", "n3", "n4"];

function visible(grudge: Map<string, Set<string>>, node: string): string[] {
  return NODES.filter((src) => !drops(grudge, src, node));
}

test("partitions isolate one node, split a majority from a minority, or form a ring of majorities", () => {
  const rand = seededRand(9);
  const one = makePartition("one", NODES, rand);
  const sizes = NODES.map((n) => visible(one.grudge, n).length).sort();
  assert.deepEqual(sizes, [1, 4, 4, 4, 4]);

  const majority = makePartition("majority", NODES, rand);
  assert.deepEqual(NODES.map((n) => visible(majority.grudge, n).length).sort(), [2, 2, 3, 3, 3]);
  assert.match(majority.description, /^n\d n\d \| n\d n\d n\d$/);

  const ring = makePartition("majorities-ring", NODES, rand);
  const views = NODES.map((n) => visible(ring.grudge, n));
  for (const [i, v] of views.entries()) {
    assert.equal(v.length, 3, `${NODES[i]} sees a majority`);
    assert.ok(v.includes(NODES[i]), "a node always hears itself");
  }
  assert.equal(new Set(views.map((v) => v.join())).size, 5, "no two nodes share a majority");

  for (let i = 0; i < 20; i++) {
    const p = randomPartition(NODES, rand);
    const cut = NODES.filter((n) => visible(p.grudge, n).length < NODES.length);
    assert.ok(cut.length > 0, `${p.kind} cuts somebody off`);
    for (const a of NODES) for (const b of NODES) if (a === b) assert.ok(!drops(p.grudge, a, b));
  }

  // --partition-kinds narrows the choice.
  const kinds = options("--partition-kinds", "one, majority").partitionKinds;
  assert.deepEqual(kinds, ["one", "majority"]);
  assert.deepEqual(options().partitionKinds, ["one", "majority", "majorities-ring", "random"]);
  const seen = new Set<string>();
  for (let i = 0; i < 40; i++) seen.add(randomPartition(NODES, rand, kinds).kind);
  assert.deepEqual([...seen].sort(), ["majority", "one"]);
});

test("the lin-kv generator gives each group of 2n workers one key, half readers, and moves on after about 128 ops", () => {
  const gen = new LinKvGenerator(["n0", "n1", "n2"], 6, seededRand(5));
  assert.deepEqual(
    gen.workers.map((w) => `${w.node}:${w.role}`),
    ["n0:reader", "n1:reader", "n2:reader", "n0:writer", "n1:writer", "n2:writer"],
  );
  const keys: number[] = [];
  let writes = 0;
  let cases = 0;
  for (let i = 0; i < 400; i++) {
    const op = gen.next(gen.workers[i % 6]);
    keys.push(op.key as number);
    if (op.type === "read") assert.equal(i % 6 < 3, true);
    if (op.type === "write") {
      writes++;
      assert.ok([0, 1, 2, 3, 4].includes(op.value as number));
    }
    if (op.type === "cas") cases++;
  }
  const perKey = [0, 1, 2].map((k) => keys.filter((x) => x === k).length);
  for (const n of perKey) assert.ok(n >= 115 && n <= 128, `ops on one key: ${n}`);
  assert.deepEqual(
    keys,
    [...keys].sort((a, b) => a - b),
    "keys are used one after another",
  );
  assert.ok(cases > writes * 1.4 && cases < writes * 2.8, `write:cas ${writes}:${cases}`);

  const two = new LinKvGenerator(["n0"], 5, seededRand(1));
  assert.deepEqual(
    two.workers.map((w) => `${w.group}:${w.role}`),
    ["0:reader", "0:writer", "1:reader", "1:writer", "2:mixed"],
  );
  const a = two.next(two.workers[0]);
  const b = two.next(two.workers[2]);
  assert.notEqual(a.key, b.key, "groups work on different keys");
});

test("stdout lines that are not well-formed messages are reported with what was wrong", () => {
  const problem = (line: string) => {
    const r = parseLine("n1", line);
    return "problem" in r ? r.problem : undefined;
  };
  assert.match(problem("starting up...")!, /n1 printed a line on stdout that is not JSON/);
  assert.match(problem("[1,2]")!, /not a message object/);
  assert.match(problem(`{"src":"n1","body":{"type":"x"}}`)!, /without string "src" and "dest"/);
  assert.match(problem(`{"src":"n2","dest":"n0","body":{"type":"x"}}`)!, /"src": "n2", not its own id/);
  assert.match(problem(`{"src":"n1","dest":"n0"}`)!, /without a "body" object/);
  assert.match(problem(`{"src":"n1","dest":"n0","body":{"msg_id":1}}`)!, /no string "type"/);
  assert.match(
    problem(`{"src":"n1","dest":"n0","body":{"type":"x","msg_id":1.5}}`)!,
    /non-integer "msg_id": 1.5/,
  );
  assert.equal(problem(`{"src":"n1","dest":"n0","body":{"type":"x","msg_id":3,"extra":[1]}}`), undefined);

  assert.match(replyProblem("read", { type: "write_ok" })!, /"write_ok" reply to a read request/);
  assert.match(replyProblem("read", { type: "read_ok" })!, /without a "value"/);
  assert.match(replyProblem("cas", { type: "error", code: "22" })!, /integer "code"/);
  assert.equal(replyProblem("cas", { type: "error", code: 22, text: "no" }), undefined);
  assert.equal(replyProblem("init", { type: "init_ok" }), undefined);
  assert.equal(replyProblem("read", { type: "read_ok", value: null }), undefined);
});

test("replies must answer a request the client sent, once; replies after a timeout are counted as late", async () => {
  const sent: Message[] = [];
  const clients = new Clients({ now: () => 0, deliver: (m) => sent.push(m) });
  const c = clients.open();
  assert.equal(c, "c1");
  const first = clients.request(c, "n0", "read", { type: "read", key: 0 }, 10_000);
  const second = clients.request(c, "n0", "write", { type: "write", key: 0, value: 1 }, 5);
  assert.deepEqual(
    sent.map((m) => [m.dest, m.body.msg_id]),
    [
      ["n0", 1],
      ["n0", 2],
    ],
  );
  const reply = (in_reply_to: number | undefined, type = "read_ok"): Message => ({
    src: "n0",
    dest: c,
    body: { type, value: 3, ...(in_reply_to === undefined ? {} : { in_reply_to }) },
  });
  assert.match(clients.receive(reply(7), 1)!, /in_reply_to 7, which matches no request it sent/);
  assert.match(clients.receive(reply(undefined), 1)!, /without "in_reply_to"/);
  assert.equal(clients.receive(reply(1), 1), undefined);
  assert.deepEqual(await first.result, { reply: reply(1).body, at: 1 });
  assert.match(clients.receive(reply(1), 2)!, /answered request 1 of client c1 a second time/);
  assert.deepEqual(await second.result, { timedOut: true, at: 0 });
  assert.equal(clients.receive(reply(2, "write_ok"), 3), undefined);
  assert.equal(clients.lateReplies, 1);
  assert.match(clients.receive({ ...reply(1), dest: "c9" }, 4)!, /c9, which is no node or client/);
});
