// The leader's lease duties, the same for the server and the simulator's
// members: follow the Raft role (a new leader promotes its lessor, giving every
// lease a fresh TTL plus an election timeout; a former leader forgets its
// expiries), propose a revoke for each lease that expired on this member's
// clock, and answer keepalives and time-to-live from the lessor. The clock is
// injected and monotonic (the server passes performance.now): a wall-clock
// step must not expire leases early or keep them late.

import type { Lessor } from "../mvcc/index.ts";

/** Revokes proposed per expiry pass (etcd revokes at most a bounded number per pass too). */
const REVOKES_PER_PASS = 100;

/** Deliberately broken behaviours for the simulator's mutation tests (src/sim/mutations.ts); never set in production. */
export interface LeaseMutations {
  /** Answer a keepalive with the TTL without restarting the lease's time. */
  keepAliveWithoutRenew?: boolean;
  /** Never revoke an expired lease. */
  neverExpire?: boolean;
}

export class LeaseKeeper {
  constructor(
    readonly lessor: Lessor,
    private readonly now: () => number,
    private readonly electionTimeoutMs: number,
    /** Proposes the revoke of an expired lease; a failure is retried once the lessor reports it again. */
    private readonly revoke: (id: bigint) => Promise<unknown>,
    private readonly mutations: LeaseMutations = {},
  ) {}

  get isPrimary(): boolean {
    return this.lessor.isPrimary;
  }

  /** Called with the Raft role: only the leader keeps lease time. */
  onRole(isLeader: boolean): void {
    if (isLeader && !this.lessor.isPrimary) this.lessor.promote(this.now(), this.electionTimeoutMs);
    else if (!isLeader && this.lessor.isPrimary) this.lessor.demote();
  }

  /** One expiry pass (the server runs one every 500 ms): proposes revokes of expired leases. */
  expire(): void {
    if (!this.lessor.isPrimary || this.mutations.neverExpire) return;
    for (const id of this.lessor.expiredLeases(this.now(), REVOKES_PER_PASS)) {
      this.revoke(id).catch(() => {
        // retried: expiredLeases reports it again after its retry interval
      });
    }
  }

  /** A grant was applied here: on the leader its TTL starts now. */
  granted(id: bigint): void {
    if (this.lessor.isPrimary) this.lessor.renew(id, this.now());
  }

  /** A keepalive on the leader: restarts the lease's TTL and returns it in seconds (throws LeaseNotFound / NotPrimary). */
  keepAlive(id: bigint): number {
    const now = this.now();
    const left = this.mutations.keepAliveWithoutRenew ? this.lessor.remainingMs(id, now) : undefined;
    const ttl = this.lessor.renew(id, now);
    // The mutation puts the expiry back where it was.
    if (left !== undefined) this.lessor.renew(id, now + left - ttl * 1000);
    return ttl;
  }

  /** Milliseconds the lease has left on the leader; undefined elsewhere or for an unknown lease. */
  remainingMs(id: bigint): number | undefined {
    return this.lessor.isPrimary ? this.lessor.remainingMs(id, this.now()) : undefined;
  }

  close(): void {
    this.lessor.close();
  }
}
