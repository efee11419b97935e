// The same checks with real network faults: each member in its own network
// namespace, cut off by taking its veth down (packets vanish for peers and
// clients alike), together with kill -9 and SIGSTOP. Needs root and
// `ip netns` (CI runs as root); elsewhere the test says why it cannot run.
import { netnsUnavailable } from "./netns.ts";
import { scenarioTest } from "./run.ts";

const unavailable = netnsUnavailable();

scenarioTest(
  "3 members in network namespaces under leader and follower isolation, kills and pauses stay linearizable and converge",
  {
    name: "netns-3",
    size: 3,
    network: "netns",
    kinds: ["isolate-leader", "split-minority", "kill-leader", "pause-leader", "kill-follower"],
    coverEachKind: true,
    steps: 6,
    holdMs: [2000, 4000],
    gapMs: [500, 1500],
  },
  { skip: unavailable },
);

scenarioTest(
  "5 members in network namespaces with a minority (two members) cut off, and the leader isolated, stay linearizable and converge",
  {
    name: "netns-5",
    size: 5,
    network: "netns",
    kinds: ["split-minority", "isolate-leader", "kill-follower"],
    coverEachKind: true,
    steps: 4,
    holdMs: [2000, 4000],
    gapMs: [500, 1500],
    workload: { clients: 8 },
  },
  { skip: unavailable },
);
