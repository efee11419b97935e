// Catching up from a snapshot: a follower is killed, or cut off silently,
// for long enough that the leader's log is compacted past it (floe keeps
// 1000 entries after a snapshot), so it has to install a snapshot streamed
// through the proxy while clients keep writing. (These found the
// RestoreRequired crash fixed in 0aaa6a1 and the maxBatchOps crash loop
// fixed in 4823897; see README.md.)
import assert from "node:assert/strict";
import { test } from "node:test";
import { FaultCluster } from "./cluster.ts";
import { scenarioTest } from "./run.ts";

scenarioTest(
  "3 members: followers left behind by kill -9 or a silent partition catch up from a snapshot and converge",
  {
    name: "snapshot-3",
    size: 3,
    kinds: ["kill-follower", "stall-minority"],
    coverEachKind: true,
    steps: 4,
    holdMs: [12_000, 16_000],
    gapMs: [500, 1000],
    snapshotCount: 200,
    logLevel: "info",
    workload: { clients: 6, thinkMs: 10 },
  },
  {
    check: (report) => {
      assert.ok(
        report.snapshotsRestored > 0,
        "no follower installed a snapshot: the scenario did not exercise catch-up",
      );
    },
  },
);

test("a restarted follower installs a snapshot of more than 10000 records and converges", {
  timeout: 180_000,
}, async () => {
  const cluster = new FaultCluster({ size: 3, snapshotCount: 200, label: "bigsnap", logLevel: "info" });
  let ok = false;
  try {
    await cluster.start();
    const leader = await cluster.waitHealthy(20_000);
    // Many small records: a 1 MiB snapshot frame then holds more records than one bitcask batch may.
    for (let t = 0; t < 150; t++) {
      const success = Array.from({ length: 100 }, (_, i) => ({
        request_put: { key: Buffer.from(`fill/${t}/${i}`), value: Buffer.from("x") },
      }));
      await leader.client.kv.txn({ success }, { deadline: Date.now() + 10_000 });
    }
    const follower = cluster.current().find((m) => m !== leader)!;
    await cluster.kill(follower);
    // More than the 1000 entries floe keeps after a snapshot: the follower can only catch up from one.
    for (let i = 0; i < 1300; i++) {
      await leader.client.kv.put({ key: Buffer.from(`after/${i}`), value: Buffer.from("y") });
    }
    cluster.restart(follower);
    const converged = await cluster.converge(60_000);
    console.log(
      `bigsnap: converged at revision ${converged.revision} after ${converged.elapsedMs} ms; ` +
        `${follower.name} installed ${follower.snapshotsRestored} snapshot(s)`,
    );
    assert.ok(
      follower.snapshotsRestored > 0,
      "the follower caught up without a snapshot: the test missed its point",
    );
    assert.deepEqual(cluster.unexpectedExits(), []);
    ok = true;
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${cluster.tails(15)}`);
  } finally {
    await cluster.close(!ok);
  }
});
