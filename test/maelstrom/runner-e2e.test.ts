import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fixtureBin, readResults, runRunner } from "./fixtures/runner-helpers.ts";

test("a correct single-node lin-kv fixture passes: exit 0, a full results directory, an SVG timeline", async () => {
  const r = await runRunner([
    "-w",
    "lin-kv",
    "--bin",
    fixtureBin(),
    "--node-count",
    "1",
    "--time-limit",
    "3",
    "--rate",
    "40",
    "--seed",
    "11",
  ]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /Everything looks good! ヽ\(‘ー`\)ノ/);
  assert.match(r.stdout, /seed 11/);
  assert.match(r.stdout, /latency of ok ops: p50 [\d.]+ ms, p95 [\d.]+ ms, p99 [\d.]+ ms, max [\d.]+ ms/);
  const res = readResults(r.dir);
  assert.equal(res.valid, true);
  assert.equal(res.linearizability.verdict, "linearizable");
  assert.ok(res.stats.all.count >= 60, `ops: ${res.stats.all.count}`);
  assert.ok(res.linearizability.operationsChecked > 50);
  for (const type of ["read", "write", "cas"]) {
    assert.ok(res.stats.byType[type].ok > 0, `some ${type} succeeded`);
  }
  assert.equal(res.stats.all.info, 0, "a node that answers at once never leaves an outcome unknown");
  assert.equal(res.served, 1);
  // Successes over all operations; failed cas preconditions and reads of fresh keys count against it.
  assert.equal(res.availability, res.stats.all.ok / res.stats.all.count);
  // Every operation may succeed in a short run (no failed cas, no read of a fresh key): 1 is legal.
  assert.ok(res.availability > 0 && res.availability <= 1, `availability ${res.availability}`);
  assert.ok(res.latencyMs.p50 <= res.latencyMs.p99 && res.latencyMs.p99 <= res.latencyMs.max);
  assert.equal(res.parameters.concurrency, 2);
  // Every final read gets a definite answer; a key the workload moved to but never wrote reads as
  // "key does not exist" (a fail), so ok alone may be short of count.
  const fr = res.stats.finalReads;
  assert.ok(fr.count > 0 && fr.info === 0 && fr.ok + fr.fail === fr.count, JSON.stringify(fr));

  const history = readFileSync(join(r.dir, "history.txt"), "utf8").trim().split("\n");
  assert.equal(history.filter((l) => !l.startsWith("#")).length, res.stats.all.count);
  assert.match(history[2], /^\s+[\d.]+ \.\.\s+[\d.]+\s+w\d+\s+c\d+@n0\s+(ok|fail)\s+(read|write|cas) 0/);
  const messages = readFileSync(join(r.dir, "messages.txt"), "utf8");
  assert.match(messages, /client messages: \d+ requests/);
  assert.match(messages, /read_ok\s+\d+/);
  const html = readFileSync(join(r.dir, "timeline.html"), "utf8");
  assert.equal((html.match(/<svg /g) ?? []).length, 3, "operations, latency and rate plots");
  assert.ok((html.match(/<rect /g) ?? []).length >= res.stats.all.count, "one bar per operation");
  assert.doesNotMatch(html, /<script|src="http|href="http/, "self-contained");
  assert.match(readFileSync(join(r.dir, "n0.log"), "utf8"), /fixture n0 initialised among n0/);
});

test("three nodes that never talk to each other are caught: not linearizable, exit 1, an explanation", async () => {
  const r = await runRunner([
    "--bin",
    fixtureBin(),
    "--node-count",
    "3",
    "--time-limit",
    "3",
    "--rate",
    "50",
    "--seed",
    "3",
  ]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /Analysis invalid! \(ﾉಥ益ಥ）ﾉ ┻━┻ the history is not linearizable/);
  assert.match(r.stdout, /not linearizable/);
  const res = readResults(r.dir);
  assert.equal(res.valid, false);
  assert.equal(res.linearizability.verdict, "not-linearizable");
  assert.deepEqual(res.misbehaviours, []);
  assert.ok(res.stats.all.ok > 0);
  const explanation = readFileSync(join(r.dir, "violation.txt"), "utf8");
  assert.match(explanation, /none of these is allowed to take effect/);
  assert.match(readFileSync(join(r.dir, "timeline.html"), "utf8"), /Linearizability violation/);
});

test("messages between nodes go through latency and partitions, and a one-copy forwarding cluster stays valid", async () => {
  const r = await runRunner([
    "--bin",
    fixtureBin("--forward"),
    "--node-count",
    "3",
    "--time-limit",
    "4",
    "--rate",
    "40",
    "--latency",
    "5",
    "--latency-dist",
    "uniform",
    "--nemesis",
    "partition",
    "--nemesis-interval",
    "1",
    "--recovery-time",
    "0.3",
    "--seed",
    "8",
  ]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /nemesis: partition \(/);
  assert.match(r.stdout, /nemesis: healed the partition/);
  const res = readResults(r.dir);
  assert.equal(res.linearizability.verdict, "linearizable");
  const partitions = res.nemesis.partitions;
  assert.equal(partitions.length, 2, "partitions at 1 s and 3 s, healed at 2 s and at the end");
  for (const p of partitions) {
    assert.ok(p.end > p.start, "every partition healed");
    assert.ok(p.end - p.start > 800 && p.end - p.start < 1300, `lasted ${p.end - p.start} ms`);
  }
  const net = res.messages.servers;
  assert.ok(net.byType.fwd.sent > 0 && net.byType.fwd_ok.delivered > 0, JSON.stringify(net.byType));
  assert.equal(net.sent, net.delivered + net.droppedByPartition + net.undelivered);
  // Two thirds of the operations are forwarded, and a forward and its answer take 0..10 ms each way.
  assert.ok(res.latencyMs.p95 >= 2, `p95 latency ${res.latencyMs.p95} ms`);
  // After the heal every node serves again, through n0.
  assert.ok(res.stats.finalReads.count >= 3);
  assert.equal(res.stats.finalReads.ok, res.stats.finalReads.count);
  const html = readFileSync(join(r.dir, "timeline.html"), "utf8");
  assert.match(html, /<rect [^>]*fill="#E9DCA0"[^>]*><title>partition /);
  assert.match(readFileSync(join(r.dir, "history.txt"), "utf8"), /nemesis\s+start-partition/);
});

test("--test-count repeats the run, each in its own directory, and a shell --bin runs through sh -c", async () => {
  const r = await runRunner([
    "--bin",
    `FIXTURE_UNUSED=1 ${fixtureBin()}`,
    "--node-count",
    "1",
    "--time-limit",
    "1",
    "--rate",
    "20",
    "--test-count",
    "2",
    "--seed",
    "100",
  ]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal((r.stdout.match(/Everything looks good!/g) ?? []).length, 2);
  for (const [i, seed] of [
    [1, 100],
    [2, 101],
  ]) {
    const res = readResults(join(r.dir, `run-${i}`));
    assert.equal(res.seed, seed);
    assert.ok(res.stats.all.ok > 0);
    assert.ok(existsSync(join(r.dir, `run-${i}`, "timeline.html")));
  }
});
