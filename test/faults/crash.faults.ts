// Process faults: kill -9 and SIGSTOP of leaders and followers, each followed
// by a restart (or SIGCONT), under concurrent clients. A small snapshot count
// makes restarted members catch up from a snapshot as well as from the log.
import { scenarioTest } from "./run.ts";

scenarioTest(
  "3 members survive repeated kill -9 and SIGSTOP of leaders and followers: linearizable, no lost writes, converged",
  {
    name: "crash-3",
    size: 3,
    kinds: ["kill-leader", "kill-follower", "kill-majority", "pause-leader", "pause-follower"],
    coverEachKind: true,
    steps: 9,
    holdMs: [1500, 4000],
    gapMs: [500, 1500],
    snapshotCount: 200,
  },
);

scenarioTest(
  "5 members survive kill -9 of leaders and followers with restarts: linearizable, no lost writes, converged",
  {
    name: "crash-5",
    size: 5,
    kinds: ["kill-leader", "kill-follower", "pause-leader"],
    coverEachKind: true,
    steps: 6,
    holdMs: [1500, 3500],
    gapMs: [500, 1500],
    snapshotCount: 300,
    workload: { clients: 8 },
  },
);
