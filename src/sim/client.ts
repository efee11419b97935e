// Simulated clients: each issues one operation at a time (read, write, cas or
// delete, of one key or a range, on a few keys), to the node it believes is the leader, with a timeout, and
// records what it observed for the linearizability checker.

import type { Rand } from "../raft/index.ts";
import { inDeleteRange, type KvResult } from "./kv.ts";
import type { ClientReply, ClientRequest } from "./types.ts";

export interface HistoryEntry {
  client: number;
  request: ClientRequest;
  call: number;
  /** Infinity when the outcome is unknown. */
  ret: number;
  result: KvResult | undefined;
  /** For a delete: the client's keys it covers (each becomes a delete of that key for the checker). */
  covers?: number[];
}

export interface ClientOptions {
  keys: number;
  timeoutMs: number;
  logReadRate: number;
  /** The share of operations that are deletes (half of one key, half of a range). */
  deleteShare: number;
}

export class SimClient {
  target: number;
  private req = 0;
  current: { request: ClientRequest; call: number } | undefined;
  okCount = 0;
  failCount = 0;
  unknownCount = 0;

  constructor(
    readonly id: number,
    private readonly rand: Rand,
    private readonly opts: ClientOptions,
    initialTarget: number,
  ) {
    this.target = initialTarget;
  }

  nextRequest(now: number): ClientRequest {
    const r = this.rand;
    const key = r.int(this.opts.keys);
    const req = ++this.req;
    const roll = r.int(10);
    const readMode = r.float() < this.opts.logReadRate ? "log" : "readindex";
    let request: ClientRequest;
    // With deleteShare 0 no number is drawn for deletes: the kv machine's
    // histories (and the seeds that catch each mutation) stay as they were.
    if (this.opts.deleteShare > 0 && r.float() < this.opts.deleteShare) {
      const end = r.int(2) === 0 ? undefined : key + 1 + r.int(this.opts.keys);
      request = { op: "delete", key, end, client: this.id, req, readMode };
    } else if (roll < 4) request = { op: "read", key, client: this.id, req, readMode };
    else if (roll < 7) request = { op: "write", key, value: r.int(5), client: this.id, req, readMode };
    else request = { op: "cas", key, from: r.int(5), to: r.int(5), client: this.id, req, readMode };
    this.current = { request, call: now };
    return request;
  }

  /** Handles a reply; returns the history entry, or undefined if it is stale or a definite failure. */
  onReply(
    reply: ClientReply,
    now: number,
    retarget: (hint: number) => void,
  ): HistoryEntry | undefined | "stale" {
    const cur = this.current;
    if (!cur || cur.request.req !== reply.req) return "stale";
    this.current = undefined;
    if (!reply.ok) {
      this.failCount++;
      retarget(reply.leaderHint);
      return undefined;
    }
    this.okCount++;
    return {
      client: this.id,
      request: cur.request,
      call: cur.call,
      ret: now,
      result: reply.result,
      ...this.covers(cur.request),
    };
  }

  /** The operation timed out: a read had no effect; a write or cas may or may not happen. */
  onTimeout(req: number): HistoryEntry | undefined | "stale" {
    const cur = this.current;
    if (!cur || cur.request.req !== req) return "stale";
    this.current = undefined;
    if (cur.request.op === "read") {
      this.failCount++;
      return undefined;
    }
    this.unknownCount++;
    return {
      client: this.id,
      request: cur.request,
      call: cur.call,
      ret: Number.POSITIVE_INFINITY,
      result: undefined,
      ...this.covers(cur.request),
    };
  }

  private covers(request: ClientRequest): { covers?: number[] } {
    if (request.op !== "delete") return {};
    const covers: number[] = [];
    for (let k = 0; k < this.opts.keys; k++) if (inDeleteRange(k, request)) covers.push(k);
    return { covers };
  }
}
