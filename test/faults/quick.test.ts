// The bounded fault run that `npm test` includes: a 3-member cluster of real
// floe processes under concurrent clients, with one of each leader fault
// (kill -9, SIGSTOP, isolation by the peer proxy) and a minority partition, in
// a seeded order. The longer runs are *.faults.ts (`npm run test:faults`).
import assert from "node:assert/strict";
import { scenarioTest } from "./run.ts";

scenarioTest(
  "3 members under kill -9, SIGSTOP and partitions of the leader stay linearizable, lose no acknowledged write and converge",
  {
    name: "quick",
    size: 3,
    kinds: ["kill-leader", "pause-leader", "isolate-leader", "split-minority"],
    coverEachKind: true,
    steps: 4,
    holdMs: [2000, 3000],
    gapMs: [500, 1000],
    snapshotCount: 500,
    workload: { clients: 5 },
  },
  {
    timeout: 120_000,
    check: (report) => {
      assert.equal(report.failoverMs.length, 3, "each leader fault yields one failover time");
    },
  },
);
