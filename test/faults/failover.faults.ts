// Failover time as a distribution: the leader is killed again and again (and
// restarted each time) under load, and the time from each kill to the first
// write acknowledged by the survivors is summarised as count / p50 / p90 / max.
import assert from "node:assert/strict";
import { scenarioTest } from "./run.ts";
import { percentile } from "./util.ts";

scenarioTest(
  "3 members elect a new leader and acknowledge writes within seconds of each kill -9 of the leader",
  {
    name: "failover-3",
    size: 3,
    kinds: ["kill-leader"],
    steps: 10,
    holdMs: [1500, 2500],
    gapMs: [300, 800],
  },
  {
    check: (report) => {
      assert.equal(report.failoverMs.length, 10);
      // With a 500 ms election timeout, a failover beyond 10 s means elections are not converging.
      assert.ok(
        percentile(report.failoverMs, 100) < 10_000,
        `slowest failover ${Math.max(...report.failoverMs)} ms`,
      );
    },
  },
);
