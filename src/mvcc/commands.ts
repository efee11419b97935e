// The commands that are not key operations: compaction and the lease table's
// grant and revoke, as apply() runs them. Each throws its refusal before it
// changes anything; what it changes besides its WriteTxn goes in Effects, which
// the store applies once the batch is durable.

import { encodeLease, leaseKey, type MetaState, type Revision } from "./codec.ts";
import { assert, MvccError } from "./errors.ts";
import { KeyIndex } from "./key_index.ts";
import { type LeaseChange, MAX_LEASE_TTL } from "./lease.ts";
import { compareRevisions } from "./load.ts";
import type * as T from "./types.ts";
import type { StoreParts, WriteTxn } from "./view.ts";

export interface Effects {
  leaseChanges: LeaseChange[];
  compactRevision?: number;
  /** Records the compaction made garbage, ascending. */
  garbage?: Revision[];
}

/** etcd's updateCompactRev checks, then the index compaction; records are deleted later (compaction.ts). */
export function compaction(
  parts: StoreParts,
  state: MetaState,
  r: T.CompactionRequest,
  effects: Effects,
): T.CompactionResponse {
  const { revision: cur, compactRevision } = state;
  if (r.revision <= compactRevision) {
    throw new MvccError("Compacted", `compaction at ${r.revision}, already compacted at ${compactRevision}`);
  }
  if (r.revision > cur) throw new MvccError("FutureRev", `compaction at ${r.revision}, current is ${cur}`);
  effects.garbage = parts.index.compact(r.revision).sort(compareRevisions);
  effects.compactRevision = r.revision;
  return { header: { revision: cur } };
}

/**
 * Lease id 0 takes the entry index, or the next free id above it: the same
 * on every member, and unique because an index is applied once. The TTL is
 * taken as given: the server clamps it to its minimum before proposing.
 */
export function leaseGrant(
  parts: StoreParts,
  state: MetaState,
  index: number,
  r: T.LeaseGrantRequest,
  txn: WriteTxn,
  effects: Effects,
): T.LeaseGrantResponse {
  let id = r.id ?? 0n;
  assert(Number.isSafeInteger(r.ttl), () => `lease grant id ${id} ttl ${r.ttl}`);
  if (id === 0n) for (id = BigInt(index); parts.leases.has(id); ) id++;
  if (r.ttl > MAX_LEASE_TTL)
    throw new MvccError("LeaseTTLTooLarge", `lease TTL ${r.ttl}s, limit ${MAX_LEASE_TTL}s`);
  if (parts.leases.has(id)) throw new MvccError("LeaseExists", `grant of lease ${id}, which exists`);
  parts.leases.grant(id, r.ttl);
  txn.batch.puts.push([leaseKey(id), encodeLease(r.ttl)]);
  effects.leaseChanges.push({ type: "granted", id, ttl: r.ttl });
  return { header: { revision: state.revision }, id, ttl: r.ttl };
}

/** Deletes the lease's keys in byte order, all in one revision (as etcd's Revoke sorts them). */
export function leaseRevoke(
  parts: StoreParts,
  r: T.LeaseRevokeRequest,
  txn: WriteTxn,
  effects: Effects,
): T.LeaseRevokeResponse {
  if (!parts.leases.has(r.id)) throw new MvccError("LeaseNotFound", `revoke of unknown lease ${r.id}`);
  for (const key of parts.leases.sortedKeys(r.id)) {
    const e = parts.index.entry(key);
    assert(e !== undefined && KeyIndex.live(e) !== undefined, () => `lease ${r.id} holds dead key ${key}`);
    txn.deleteEntry(e);
  }
  txn.batch.deletes.push(leaseKey(r.id));
  parts.leases.remove(r.id);
  effects.leaseChanges.push({ type: "revoked", id: r.id });
  return { header: { revision: txn.rev } };
}
