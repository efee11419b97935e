// The backend space quota, as etcd's quota.go charges it: a write that would
// take the backend past `--quota-backend-bytes` is refused before it is
// proposed (and raises the NOSPACE alarm). Only requests that add data are
// charged; deletes, compaction and revokes free space and always pass.

import type * as pb from "../api/gen/etcdserverpb/rpc_pb.ts";

/** etcd's DefaultQuotaBytes, used when no quota is given (0). */
export const DEFAULT_QUOTA_BACKEND_BYTES = 2 * 1024 * 1024 * 1024;
/** etcd's estimate of a key's metadata in the backend. */
const KV_OVERHEAD_BYTES = 256;
/** etcd's estimate of a lease record. */
export const LEASE_OVERHEAD_BYTES = 64;

export function putCostBytes(r: pb.PutRequest): number {
  return KV_OVERHEAD_BYTES + r.key.length + r.value.length;
}

/** The larger branch's puts, as etcd charges a txn (only one branch runs). */
export function txnCostBytes(r: pb.TxnRequest): number {
  const branch = (ops: pb.RequestOp[]): number => {
    let n = 0;
    for (const op of ops) {
      if (op.request.case === "requestPut") n += putCostBytes(op.request.value);
      else if (op.request.case === "requestTxn") n += txnCostBytes(op.request.value);
    }
    return n;
  };
  return Math.max(branch(r.success), branch(r.failure));
}

export class BackendQuota {
  private readonly limitBytes: number;

  /**
   * `quotaBytes` as etcd reads it: 0 (or absent) means the 2 GiB default,
   * negative disables the quota.
   */
  constructor(
    quotaBytes: number | undefined,
    private readonly sizeBytes: () => number,
  ) {
    this.limitBytes = !quotaBytes ? DEFAULT_QUOTA_BACKEND_BYTES : quotaBytes;
  }

  /** Whether a request costing `costBytes` fits; a request that adds nothing always does. */
  available(costBytes: number): boolean {
    if (this.limitBytes < 0 || costBytes === 0) return true;
    return this.sizeBytes() + costBytes < this.limitBytes;
  }
}
