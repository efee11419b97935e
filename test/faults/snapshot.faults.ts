// Catching up from a snapshot: a follower is killed, or cut off silently,
// for long enough that the leader's log is compacted past it (floe keeps
// 1000 entries after a snapshot), so it has to install a snapshot streamed
// through the proxy while clients keep writing. (This found the
// RestoreRequired crash fixed in 0aaa6a1; see README.md.)
import assert from "node:assert/strict";
import { test } from "node:test";
import { seedFromEnv } from "./prng.ts";
import { runScenario } from "./run.ts";

test("3 members: followers left behind by kill -9 or a silent partition catch up from a snapshot and converge", {
  timeout: 300_000,
}, async () => {
  const report = await runScenario({
    name: "snapshot-3",
    size: 3,
    seed: seedFromEnv(),
    kinds: ["kill-follower", "stall-minority"],
    coverEachKind: true,
    steps: 4,
    holdMs: [12_000, 16_000],
    gapMs: [500, 1000],
    snapshotCount: 200,
    logLevel: "info",
    workload: { clients: 6, thinkMs: 10 },
  });
  assert.equal(report.verdict, "linearizable");
  assert.ok(
    report.snapshotsRestored > 0,
    "no follower installed a snapshot: the scenario did not exercise catch-up",
  );
});
