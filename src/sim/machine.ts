// What a simulated member runs as its state machine: the simulator's own kv
// map (node.ts), or the member's real MVCC machine (mvcc.ts), whose clients
// go through the member's EtcdServer.

import type { StateMachine } from "../server/index.ts";

export type SimMachine = StateMachine<unknown>;
