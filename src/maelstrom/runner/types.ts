/**
 * Shared types of the Maelstrom runner: the wire format it speaks with node
 * processes, and the records it keeps of client operations, partitions and
 * protocol violations.
 */
import type { LinKvInput, LinKvOutput } from "../../check/index.ts";

/** A message body: `type` is mandatory, `msg_id` and `in_reply_to` are integers when present. */
export interface Body {
  type: string;
  msg_id?: number;
  in_reply_to?: number;
  [field: string]: unknown;
}

/** One line on a node's stdin or stdout. */
export interface Message {
  src: string;
  dest: string;
  body: Body;
}

export type OpType = LinKvInput["type"];

/**
 * How an operation ended, as Jepsen's histories say it: `ok` (the reply is
 * the result), `fail` (certainly had no effect: a definite error, or any
 * read that did not succeed) or `info` (a write or cas whose outcome is
 * unknown: a timeout or an indefinite error).
 */
export type Outcome = "ok" | "fail" | "info";

/** One client operation, from the request the runner wrote to the reply it read (or gave up on). */
export interface OpRecord {
  /** Position in invocation order. */
  index: number;
  /** The worker (Jepsen's thread) that issued it; a worker keeps its node and gets a new client id after an `info`. */
  worker: number;
  client: string;
  node: string;
  msgId: number;
  input: LinKvInput;
  /** Milliseconds since the test started. */
  call: number;
  /** When the reply was read or the runner gave up; undefined while in flight. */
  ret: number | undefined;
  /** The reply body as received; undefined after a timeout. */
  output: LinKvOutput | undefined;
  outcome: Outcome | undefined;
  /** Why the operation did not succeed, e.g. "timeout" or "error 11 temporarily-unavailable: no leader". */
  error?: string;
  /** Issued by the final reads after the test healed the network, not by the timed workload. */
  final: boolean;
}

/** A node behaving outside the protocol; any one of these fails the test. */
export interface Misbehaviour {
  node: string;
  /** Milliseconds since the test started. */
  time: number;
  problem: string;
  /** The offending stdout line, when there is one (truncated). */
  line?: string;
}

/** A network partition as the nemesis applied it. */
export interface PartitionPeriod {
  start: number;
  /** Undefined only while the partition is still in force. */
  end: number | undefined;
  kind: string;
  /** Human-readable shape, e.g. "n0 n2 | n1". */
  description: string;
}
