// The leader's view of lease time. Expiry is a judgement made with a clock,
// so it lives outside the deterministic apply path: the leader's lessor says
// which leases have expired, the server proposes revoke commands for them, and
// every member applies those revokes like any other entry. Followers keep no
// clocks; a new leader promote()s, giving every lease a fresh TTL plus at least
// an election timeout, as etcd does, so no lease expires because of the
// failover itself. All time arrives as `nowMs` arguments; nothing here reads a
// clock, so tests drive it with virtual time.

import { MvccError } from "./errors.ts";
import { MinHeap } from "./heap.ts";
import type { LeaseChange } from "./lease.ts";
import type { LeaseInfo } from "./types.ts";

/** What the lessor needs from the store (MvccStore implements it). */
export interface LeaseSource {
  leaseTtl(id: bigint): number | undefined;
  leaseList(): LeaseInfo[];
  /** Calls back after each applied grant and revoke, and with "reset" after a snapshot restore. */
  onLeaseChange(listener: (change: LeaseChange | { type: "reset" }) => void): () => void;
}

export interface LessorOptions {
  /** How long before a lease handed out by expiredLeases() is handed out again if its revoke got lost (etcd: 3 s). */
  expiredRetryMs?: number;
}

interface Due {
  id: bigint;
  atMs: number;
}

export class Lessor {
  private primary = false;
  /** Absolute expiry per lease, while primary. */
  private readonly expiry = new Map<bigint, number>();
  /** When each lease is next reported as expired; the heap holds stale entries too. */
  private readonly due = new Map<bigint, number>();
  private readonly heap = new MinHeap<Due>((a, b) => a.atMs < b.atMs || (a.atMs === b.atMs && a.id < b.id));
  /** Granted while primary; their clock starts at the next call that brings a time. */
  private readonly unscheduled = new Set<bigint>();
  /** Reported as expired: a revoke is in flight, renewals are refused. */
  private readonly revoking = new Set<bigint>();
  private readonly retryMs: number;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly source: LeaseSource,
    options: LessorOptions = {},
  ) {
    this.retryMs = options.expiredRetryMs ?? 3000;
    this.unsubscribe = source.onLeaseChange((c) => this.onChange(c));
  }

  get isPrimary(): boolean {
    return this.primary;
  }

  /** On becoming leader: every lease expires no sooner than its TTL plus extendMs from now. */
  promote(nowMs: number, extendMs: number): void {
    this.reset();
    this.primary = true;
    for (const l of this.source.leaseList()) this.setExpiry(l.id, nowMs + l.ttl * 1000 + extendMs);
  }

  /** On losing leadership: forget all expiries (the next leader starts its own). */
  demote(): void {
    this.reset();
    this.primary = false;
  }

  /** A keepalive: restarts the lease's TTL and returns it (seconds). */
  renew(id: bigint, nowMs: number): number {
    if (!this.primary) throw new MvccError("NotPrimary", `renew of lease ${id} on a follower`);
    const ttl = this.source.leaseTtl(id);
    if (ttl === undefined || this.revoking.has(id)) {
      throw new MvccError(
        "LeaseNotFound",
        `renew of lease ${id}: ${ttl === undefined ? "unknown" : "expired"}`,
      );
    }
    this.schedule(nowMs);
    this.setExpiry(id, nowMs + ttl * 1000);
    return ttl;
  }

  /** Milliseconds the lease has left (0 once expired), or undefined when unknown or not primary. */
  remainingMs(id: bigint, nowMs: number): number | undefined {
    this.schedule(nowMs);
    const at = this.expiry.get(id);
    return at === undefined ? undefined : Math.max(0, at - nowMs);
  }

  /**
   * Leases whose time is up, earliest first, at most `limit` (the server's
   * revoke rate). Each is reported again after expiredRetryMs until its revoke
   * is applied, in case the proposal is lost.
   */
  expiredLeases(nowMs: number, limit = Number.POSITIVE_INFINITY): bigint[] {
    if (!this.primary) return [];
    this.schedule(nowMs);
    const out: bigint[] = [];
    while (out.length < limit) {
      const top = this.heap.peek();
      if (top === undefined || top.atMs > nowMs) break;
      this.heap.pop();
      if (this.due.get(top.id) !== top.atMs) continue;
      out.push(top.id);
      this.revoking.add(top.id);
      this.setDue(top.id, nowMs + this.retryMs);
    }
    return out;
  }

  close(): void {
    this.unsubscribe();
    this.reset();
  }

  private onChange(c: LeaseChange | { type: "reset" }): void {
    if (c.type === "granted") {
      if (this.primary) this.unscheduled.add(c.id);
    } else if (c.type === "revoked") {
      this.forget(c.id);
    } else {
      const wasPrimary = this.primary;
      this.reset();
      this.primary = wasPrimary;
      if (wasPrimary) for (const l of this.source.leaseList()) this.unscheduled.add(l.id);
    }
  }

  private schedule(nowMs: number): void {
    for (const id of this.unscheduled) {
      const ttl = this.source.leaseTtl(id);
      if (ttl !== undefined) this.setExpiry(id, nowMs + ttl * 1000);
    }
    this.unscheduled.clear();
  }

  private setExpiry(id: bigint, atMs: number): void {
    this.expiry.set(id, atMs);
    this.revoking.delete(id);
    this.setDue(id, atMs);
  }

  private setDue(id: bigint, atMs: number): void {
    this.due.set(id, atMs);
    this.heap.push({ id, atMs });
  }

  private forget(id: bigint): void {
    this.expiry.delete(id);
    this.due.delete(id);
    this.unscheduled.delete(id);
    this.revoking.delete(id);
  }

  private reset(): void {
    this.expiry.clear();
    this.due.clear();
    this.heap.clear();
    this.unscheduled.clear();
    this.revoking.clear();
  }
}
