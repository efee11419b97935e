// Simulated clients: each issues one operation at a time (read, write, cas or
// delete, of one key or a range, on a few keys), to the node it believes is the leader, with a timeout, and
// records what it observed for the linearizability checker.

import type { Rand } from "../raft/index.ts";
import { inDeleteRange, type KvResult, LEASED_KEYS } from "./kv.ts";

/** Client c's leased key: only c puts there, always with its current lease. */
export const leasedKey = (client: number): number => LEASED_KEYS + client;

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
  /** The share of operations on the client's lease and its leased key (MVCC machine only). */
  leaseShare: number;
  /** The share of reads at a past revision the client has seen (MVCC machine only). */
  revisionReadShare: number;
}

/** Lease TTLs the clients ask for, in seconds (the server raises them to its minimum). */
const LEASE_TTLS = [1, 2];

export class SimClient {
  target: number;
  private req = 0;
  current: { request: ClientRequest; call: number } | undefined;
  okCount = 0;
  failCount = 0;
  unknownCount = 0;
  /** The lease the client holds (or believes it may: a grant that timed out), and how many it made. */
  private lease: number | undefined;
  private leases = 0;
  /** The highest revision a response to this client carried. */
  private seenRevision = 0;

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
    if (this.opts.leaseShare > 0 && r.float() < this.opts.leaseShare) {
      request = this.leaseRequest(req, readMode);
    } else if (
      this.opts.revisionReadShare > 0 &&
      this.seenRevision > 0 &&
      r.float() < this.opts.revisionReadShare
    ) {
      // A read at a revision this client has seen (so no member may call it a future one).
      request = { op: "readAt", key, revision: 1 + r.int(this.seenRevision), client: this.id, req, readMode };
    } else if (this.opts.deleteShare > 0 && r.float() < this.opts.deleteShare) {
      const end = r.int(2) === 0 ? undefined : key + 1 + r.int(this.opts.keys);
      request = { op: "delete", key, end, client: this.id, req, readMode };
    } else if (roll < 4) request = { op: "read", key, client: this.id, req, readMode };
    else if (roll < 7) request = { op: "write", key, value: r.int(5), client: this.id, req, readMode };
    else request = { op: "cas", key, from: r.int(5), to: r.int(5), client: this.id, req, readMode };
    this.current = { request, call: now };
    return request;
  }

  /**
   * Without a lease: grant one (a fresh id). With one: keep it alive, put the
   * client's leased key with it, read that key, or revoke the lease.
   */
  private leaseRequest(req: number, readMode: ClientRequest["readMode"]): ClientRequest {
    const r = this.rand;
    const client = this.id;
    if (this.lease === undefined) {
      this.lease = client * 100_000 + ++this.leases;
      return {
        op: "grant",
        lease: this.lease,
        ttl: LEASE_TTLS[r.int(LEASE_TTLS.length)],
        client,
        req,
        readMode,
      };
    }
    const lease = this.lease;
    const roll = r.int(10);
    if (roll < 4) return { op: "keepalive", lease, client, req, readMode };
    if (roll < 7)
      return { op: "write", key: leasedKey(client), value: r.int(5), lease, client, req, readMode };
    if (roll < 9) return { op: "read", key: leasedKey(client), client, req, readMode };
    return { op: "revoke", lease, client, req, readMode };
  }

  /** A revoke (whatever its outcome) or a "lease not found" ends the client's use of its lease. */
  private noteLease(request: ClientRequest, result: KvResult | undefined): void {
    if (request.op === "revoke" || result?.type === "lease_not_found") this.lease = undefined;
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
    if (reply.revision !== undefined && reply.revision > this.seenRevision)
      this.seenRevision = reply.revision;
    this.noteLease(cur.request, reply.result);
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
    this.noteLease(cur.request, undefined);
    const op = cur.request.op;
    if (op === "read" || op === "readAt" || op === "keepalive" || op === "grant") {
      // No key changes: a read, a keepalive, a grant (what matters of it is whether later puts find the lease).
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
