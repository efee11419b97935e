// Catching up from a snapshot: a follower is killed, or cut off silently,
// for long enough that the leader's log is compacted past it (floe keeps
// 1000 entries after a snapshot), so it has to install a snapshot streamed
// through the proxy while clients keep writing.
import assert from "node:assert/strict";
import { test } from "node:test";
import { seedFromEnv } from "./prng.ts";
import { runScenario } from "./run.ts";

/**
 * Known floe bug (test/faults/README.md, "RestoreRequired"): a follower
 * installing a snapshot dies of an uncaught MvccError thrown by the
 * background compaction timer mid-restore, and dies again on every restart.
 * Until it is fixed the run is reported as a TODO, not a failure;
 * FLOE_FAULTS_STRICT=1 makes it an ordinary test.
 */
const todo =
  process.env.FLOE_FAULTS_STRICT === "1"
    ? undefined
    : "floe bug: snapshot install crashes the member (RestoreRequired from compactSome during restore)";

test("3 members: followers left behind by kill -9 or a silent partition catch up from a snapshot and converge", {
  timeout: 300_000,
  todo,
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
