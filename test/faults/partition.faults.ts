// Network faults through the peer proxies: the leader isolated, a minority
// split from the majority (each both as refused connections and as silent
// stalls), a bridge (two halves joined by one member), and added latency,
// under concurrent clients.
import assert from "node:assert/strict";
import { test } from "node:test";
import { seedFromEnv } from "./prng.ts";
import { runScenario } from "./run.ts";

test("3 members under leader isolation, minority/majority splits and slow links stay linearizable and converge", {
  timeout: 300_000,
}, async () => {
  const report = await runScenario({
    name: "partition-3",
    size: 3,
    seed: seedFromEnv(),
    kinds: [
      "isolate-leader",
      "stall-leader",
      "split-minority",
      "stall-minority",
      "slow-network",
      "pause-follower",
    ],
    coverEachKind: true,
    steps: 8,
    holdMs: [2000, 4000],
    gapMs: [500, 1500],
  });
  assert.equal(report.verdict, "linearizable");
});

test("5 members under bridge, minority splits and leader isolation stay linearizable and converge", {
  timeout: 300_000,
}, async () => {
  const report = await runScenario({
    name: "partition-5",
    size: 5,
    seed: seedFromEnv(),
    kinds: ["bridge", "split-minority", "stall-leader", "isolate-leader", "kill-follower"],
    coverEachKind: true,
    steps: 6,
    holdMs: [2000, 4000],
    gapMs: [500, 1500],
    workload: { clients: 8 },
  });
  assert.equal(report.verdict, "linearizable");
});
