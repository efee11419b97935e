// The replicated lease table: which leases exist, their granted TTLs and the
// keys attached to them. It changes only through applied commands (grant,
// revoke, puts and deletes that attach and detach keys), so it is identical on
// every member. Time does not exist here: when a lease expires is the leader's
// judgement (lessor.ts), delivered as an ordinary revoke command.
//
// Persistence: one record per lease holds its TTL (codec.ts); attachments are
// not stored, they are rebuilt from the live keys' lease fields on open.

import { assert } from "./errors.ts";
import type { LeaseInfo } from "./types.ts";

/** etcd's MaxLeaseTTL, in seconds. */
export const MAX_LEASE_TTL = 9_000_000_000;

export interface Lease {
  readonly id: bigint;
  readonly ttl: number;
  /** Attached keys as latin1 strings (see bytes.ts). */
  readonly keys: Set<string>;
}

export type LeaseChange = { type: "granted"; id: bigint; ttl: number } | { type: "revoked"; id: bigint };

export class LeaseTable {
  private readonly byId = new Map<bigint, Lease>();

  get size(): number {
    return this.byId.size;
  }

  get(id: bigint): Lease | undefined {
    return this.byId.get(id);
  }

  has(id: bigint): boolean {
    return this.byId.has(id);
  }

  grant(id: bigint, ttl: number): Lease {
    assert(id !== 0n && !this.byId.has(id), () => `grant of lease ${id}, which is 0 or exists`);
    const lease: Lease = { id, ttl, keys: new Set() };
    this.byId.set(id, lease);
    return lease;
  }

  remove(id: bigint): void {
    this.byId.delete(id);
  }

  attach(id: bigint, key: string): void {
    const lease = this.byId.get(id);
    assert(lease !== undefined, () => `attach to unknown lease ${id}`);
    lease.keys.add(key);
  }

  detach(id: bigint, key: string): void {
    this.byId.get(id)?.keys.delete(key);
  }

  /** Attached keys in byte order, the order revoke deletes them in (as etcd sorts them). */
  sortedKeys(id: bigint): string[] {
    const keys = [...(this.byId.get(id)?.keys ?? [])];
    return keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Every lease, ascending by id: Map order depends on history, results must not. */
  list(): LeaseInfo[] {
    return [...this.byId.values()]
      .map((l) => ({ id: l.id, ttl: l.ttl }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  clear(): void {
    this.byId.clear();
  }
}
