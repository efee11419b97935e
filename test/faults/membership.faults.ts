// Membership churn under load: a learner is added, caught up (from a
// snapshot: the snapshot count is small), promoted, and a random voter
// (sometimes the leader) removed; leadership is moved; a leader is killed
// or isolated and a follower paused in between, so changes meet failovers.
import { scenarioTest } from "./run.ts";

scenarioTest(
  "3 members through add-learner / promote / remove-voter / move-leader churn and leader kills stay linearizable and converge",
  {
    name: "membership-3",
    size: 3,
    kinds: [
      "membership-churn",
      "move-leader",
      "kill-leader",
      "membership-churn",
      "isolate-leader",
      "pause-follower",
    ],
    coverEachKind: true,
    steps: 7,
    holdMs: [1500, 3000],
    gapMs: [500, 1500],
    snapshotCount: 200,
  },
);
