// Member and cluster identity, derived exactly as etcd derives them, and
// recorded once in <data-dir>/member.json.
//
// A member's id is the first 8 bytes (big-endian) of the SHA-1 of its sorted
// peer URLs joined, the cluster token, and for a member added at run time the
// Unix time in seconds; the cluster's id is the same over its initial
// members' ids as 8-byte big-endian values, sorted. The same flags give the
// same 64-bit ids as etcd, and these are what clients see (response headers,
// member list/add/remove, Status, alarms).
//
// Inside the member, Raft and the peer transport name a member by a 53-bit
// number, its *raft id*: the low 53 bits of the 64-bit id, so it is an exact
// JavaScript number and follows from the 64-bit id without a table. Data
// directories written before 64-bit ids existed carry only the raft ids; for
// them the 64-bit id is the raft id itself.

import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "./fsutil.ts";

const MASK_53 = (1n << 53n) - 1n;

/** The 53-bit id Raft and the peer transport use for a member with this 64-bit id. */
export function raftIdOf(id64: bigint): number {
  const v = Number(BigInt.asUintN(64, id64) & MASK_53);
  return v === 0 ? 1 : v;
}

/** A 64-bit id as etcd prints it (lower-case hex, no padding). */
export function hexId(id64: bigint): string {
  return BigInt.asUintN(64, id64).toString(16);
}

function first64(h: ReturnType<typeof createHash>): bigint {
  return h.digest().readBigUInt64BE(0);
}

/**
 * etcd's member id: peer URLs (order-insensitive) and the cluster token, plus
 * the Unix time in seconds for a member added at run time (so a member
 * re-added with the same URLs gets a new id).
 */
export function memberId64(peerUrls: readonly string[], clusterToken: string, unixSeconds?: number): bigint {
  const h = createHash("sha1");
  h.update([...peerUrls].sort().join(""));
  h.update(clusterToken);
  if (unixSeconds !== undefined) h.update(String(unixSeconds));
  return first64(h);
}

function idOfSorted(ids: readonly bigint[]): bigint {
  const h = createHash("sha1");
  for (const id of [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt.asUintN(64, id));
    h.update(b);
  }
  return first64(h);
}

/** etcd's cluster id from its initial members' 64-bit ids. */
export function clusterId64(memberIds: readonly bigint[]): bigint {
  return idOfSorted(memberIds);
}

/**
 * The 53-bit cluster id peers check in their hello, from the initial members'
 * raft ids (as before 64-bit ids, so existing data directories still match).
 */
export function clusterId(memberIds: readonly number[]): number {
  return raftIdOf(idOfSorted(memberIds.map(BigInt)));
}

export interface MemberRecord {
  name: string;
  /** Raft id (53 bits). */
  memberId: number;
  /** The peers' 53-bit cluster id. */
  clusterId: number;
  /** The 64-bit ids clients see, in hex; absent in data directories from before them. */
  memberIdHex?: string;
  clusterIdHex?: string;
  peerUrls: string[];
  clientUrls: string[];
}

export class IdentityError extends Error {
  override name = "IdentityError";
}

/**
 * Reads <data-dir>/member.json, or writes it on first start. A data dir that
 * belongs to another cluster or member is refused with both ids in the message.
 */
export async function loadOrCreateIdentity(dataDir: string, want: MemberRecord): Promise<MemberRecord> {
  const file = join(dataDir, "member.json");
  if (!existsSync(file)) {
    await writeFileAtomic(file, `${JSON.stringify(want, null, 2)}\n`);
    return want;
  }
  let have: MemberRecord;
  try {
    have = JSON.parse(readFileSync(file, "utf8")) as MemberRecord;
  } catch (e) {
    throw new IdentityError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (have.clusterId !== want.clusterId) {
    throw new IdentityError(
      `${dataDir} belongs to cluster ${have.clusterId.toString(16)}, not ${want.clusterId.toString(16)}: ` +
        "refusing to join a different cluster (check --initial-cluster and --initial-cluster-token)",
    );
  }
  if (have.memberId !== want.memberId) {
    throw new IdentityError(
      `${dataDir} belongs to member ${have.memberId.toString(16)}, not ${want.memberId.toString(16)} (check --name and peer URLs)`,
    );
  }
  return have;
}

/** The 64-bit member and cluster ids of a record (its raft ids where it has none). */
export function externalIds(r: MemberRecord): { memberId64: bigint; clusterId64: bigint } {
  return {
    memberId64: r.memberIdHex ? BigInt(`0x${r.memberIdHex}`) : BigInt(r.memberId),
    clusterId64: r.clusterIdHex ? BigInt(`0x${r.clusterIdHex}`) : BigInt(r.clusterId),
  };
}
