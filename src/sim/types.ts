// Types shared by the simulator's parts.

import type { ErrorName, etcdserverpb } from "../api/index.ts";
import type { Entry, HardState, Message, NodeId, Snapshot } from "../raft/index.ts";
import type { SimFsOp } from "./fs.ts";
import type { KvCommand, KvResult } from "./kv.ts";
import type { WatchCheck } from "./watch-check.ts";

export type ClientRequest = { readMode: "readindex" | "log" } & KvCommand;

export type ClientReply =
  /** `revision`: the response header's, when the member's server answered (the MVCC machine). */
  | { req: number; ok: true; result: KvResult; revision?: number }
  /** A definite failure: the operation did not and will not take effect. */
  | { req: number; ok: false; reason: string; leaderHint: NodeId };

export type NetBody =
  | { kind: "raft"; msg: Message }
  | { kind: "request"; request: ClientRequest }
  | { kind: "reply"; reply: ClientReply }
  /** A follower's server relaying a lease call to the leader's, as over gRPC, and its answer. */
  | { kind: "relay"; id: number; call: RelayCall }
  | { kind: "relay-reply"; id: number; answer: RelayAnswer };

export type RelayCall =
  | { method: "keepAlive"; req: etcdserverpb.LeaseKeepAliveRequest }
  | { method: "timeToLive"; req: etcdserverpb.LeaseTimeToLiveRequest };

/** The leader's response, or the etcd error it answered with. */
export type RelayAnswer = { ok: true; response: unknown } | { ok: false; error: ErrorName };

/** Node ids are positive; clients are addressed by negative numbers. */
export type Addr = number;

export interface Observer {
  leader(node: NodeId, term: number, termAt: (i: number) => number | undefined, firstIndex: number): void;
  persisted(
    node: NodeId,
    hs: HardState | undefined,
    entries: readonly Entry[],
    snapshot: Snapshot | undefined,
  ): void;
  committed(
    node: NodeId,
    commit: number,
    termAt: (i: number) => number | undefined,
    firstIndex: number,
  ): void;
  applied(node: NodeId, e: Entry): void;
  violation(what: string): void;
}

export interface NodeEnv {
  now(): number;
  send(from: Addr, to: Addr, body: NetBody): void;
  /** Calls `fn` after `delayMs` unless the node crashed meanwhile (checked by the caller via incarnation). */
  later(delayMs: number, fn: () => void): void;
  diskLatencyMs(): number;
  /** Consulted before each file-system call of a member on a simulated disk: an errno code makes it fail. */
  diskFault(node: NodeId, op: SimFsOp): string | undefined;
  /** A member's process stopped on a disk error, as the server does (it is restarted later; its files stay). */
  exited(node: NodeId, e: Error): void;
  /** A crash point after a Ready that changed the hard state was fsync'd, before its messages go out: true = die here. */
  crashPoint(node: NodeId): boolean;
  observer: Observer;
  /** A float in [0, 1) from the simulation's seeded generator. */
  random(): number;
  /** The watch streams' checker (MVCC machines only). */
  watches?: WatchCheck;
}
