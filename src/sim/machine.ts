// What a simulated member runs as its state machine: the simulator's own kv
// map, or the member's real MVCC machine (mvcc.ts). Either turns a client
// command into a proposal and an applied result back into the client's reply.

import type { StateMachine } from "../server/index.ts";
import type { KvCommand, KvResult } from "./kv.ts";

export interface SimMachine extends StateMachine<unknown> {
  /** The proposal for a command. */
  encode(c: KvCommand): Uint8Array;
  /** The client's reply from what applying the proposal returned. */
  result(c: KvCommand, applied: unknown): KvResult;
  /** A key's value as of what is applied here (a linearizable read after a read barrier). */
  read(key: number): number | undefined;
}
