// Member and cluster identity, derived deterministically as etcd does (a
// SHA-1 of the peer URLs and the cluster token for a member; of the sorted
// member ids for the cluster), and recorded once in <data-dir>/member.json.
// Ids are kept to 53 bits so they are exact JavaScript numbers everywhere
// (Raft node ids are numbers); on the wire they are uint64.

import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "./fsutil.ts";

const MASK_53 = (1n << 53n) - 1n;

function idFrom(bytes: Buffer): number {
  const v = Number(bytes.readBigUInt64BE(0) & MASK_53);
  return v === 0 ? 1 : v;
}

/** A member's id from its peer URLs (order-insensitive) and the cluster token. */
export function memberId(peerUrls: readonly string[], clusterToken: string): number {
  const h = createHash("sha1");
  h.update([...peerUrls].sort().join(""));
  h.update(clusterToken);
  return idFrom(h.digest());
}

/** The cluster's id from its initial members' ids. */
export function clusterId(memberIds: readonly number[]): number {
  const h = createHash("sha1");
  for (const id of [...memberIds].sort((a, b) => a - b)) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(id));
    h.update(b);
  }
  return idFrom(h.digest());
}

export interface MemberRecord {
  name: string;
  memberId: number;
  clusterId: number;
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
