// Rapid-fire mixed faults: process and network faults back to back, each
// short, and the next one applied without waiting for the cluster to settle,
// so faults meet restarts and elections still in progress.
import { scenarioTest } from "./run.ts";

scenarioTest(
  "3 members under back-to-back kills, pauses and partitions without settling stay linearizable and converge",
  {
    name: "chaos-3",
    size: 3,
    kinds: [
      "kill-leader",
      "kill-follower",
      "pause-leader",
      "isolate-leader",
      "split-minority",
      "slow-network",
    ],
    steps: 14,
    holdMs: [400, 1500],
    gapMs: [0, 300],
    settle: false,
    snapshotCount: 300,
    recoveryBoundMs: 20_000,
  },
);
