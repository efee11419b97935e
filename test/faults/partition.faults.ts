// Network faults through the peer proxies: the leader isolated, a minority
// split from the majority (each both as refused connections and as silent
// stalls), a bridge (two halves joined by one member), and added latency,
// under concurrent clients.
import { scenarioTest } from "./run.ts";

scenarioTest(
  "3 members under leader isolation, minority/majority splits and slow links stay linearizable and converge",
  {
    name: "partition-3",
    size: 3,
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
  },
);

scenarioTest("5 members under bridge, minority splits and leader isolation stay linearizable and converge", {
  name: "partition-5",
  size: 5,
  kinds: ["bridge", "split-minority", "stall-leader", "isolate-leader", "kill-follower"],
  coverEachKind: true,
  steps: 6,
  holdMs: [2000, 4000],
  gapMs: [500, 1500],
  workload: { clients: 8 },
});
