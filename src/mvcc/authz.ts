// Permission checks of client requests against the replicated auth store, as
// etcd's auth applier makes them at apply time (so every member decides the
// same): Put needs WRITE on its key (and READ with prev_kv, and WRITE on the
// keys of the lease it attaches to), DeleteRange WRITE on its range (READ
// with prev_kv), Txn READ on every compare and range and the above for every
// write of both branches, LeaseRevoke WRITE on the lease's keys, Compaction
// the root role. Reads served without the log are checked by the server with
// checkRange below.

import { type AuthInfo, type AuthState, PermType } from "../auth/index.ts";
import type * as T from "./types.ts";
import type { StoreParts } from "./view.ts";

const EMPTY = new Uint8Array(0);

export function checkRangeRead(auth: AuthState, info: AuthInfo | undefined, r: T.RangeRequest): void {
  auth.checkRange(info, PermType.READ, { key: r.key, rangeEnd: r.rangeEnd ?? EMPTY });
}

function checkPut(auth: AuthState, info: AuthInfo | undefined, r: T.PutRequest, parts: StoreParts): void {
  const key = { key: r.key, rangeEnd: EMPTY };
  auth.checkRange(info, PermType.WRITE, key);
  if (r.prevKv) auth.checkRange(info, PermType.READ, key);
  if (r.lease) checkLeaseKeys(auth, info, r.lease, parts);
}

function checkDelete(auth: AuthState, info: AuthInfo | undefined, r: T.DeleteRangeRequest): void {
  const range = { key: r.key, rangeEnd: r.rangeEnd ?? EMPTY };
  auth.checkRange(info, PermType.WRITE, range);
  if (r.prevKv) auth.checkRange(info, PermType.READ, range);
}

export function checkTxn(
  auth: AuthState,
  info: AuthInfo | undefined,
  r: T.TxnRequest,
  parts: StoreParts,
): void {
  for (const c of r.compare ?? [])
    auth.checkRange(info, PermType.READ, { key: c.key, rangeEnd: c.rangeEnd ?? EMPTY });
  for (const op of [...(r.success ?? []), ...(r.failure ?? [])]) {
    if ("requestRange" in op) checkRangeRead(auth, info, op.requestRange);
    else if ("requestPut" in op) checkPut(auth, info, op.requestPut, parts);
    else if ("requestDeleteRange" in op) checkDelete(auth, info, op.requestDeleteRange);
    else checkTxn(auth, info, op.requestTxn, parts);
  }
}

function checkLeaseKeys(auth: AuthState, info: AuthInfo | undefined, lease: bigint, parts: StoreParts): void {
  if (!auth.isEnabled || !parts.leases.has(lease)) return;
  for (const k of parts.leases.sortedKeys(lease)) {
    const e = parts.index.entry(k);
    if (e !== undefined) auth.checkRange(info, PermType.WRITE, { key: e.key, rangeEnd: EMPTY });
  }
}

/** Throws AuthError when the request's user may not run `c`; commands of the server itself carry no user. */
export function checkCommand(
  auth: AuthState,
  info: AuthInfo | undefined,
  c: T.MvccCommand,
  parts: StoreParts,
): void {
  if (!auth.isEnabled) return;
  switch (c.type) {
    case "put":
      checkPut(auth, info, c.request, parts);
      break;
    case "deleteRange":
      checkDelete(auth, info, c.request);
      break;
    case "txn":
      checkTxn(auth, info, c.request, parts);
      break;
    case "leaseRevoke":
      checkLeaseKeys(auth, info, c.request.id, parts);
      break;
    case "compaction":
    case "alarm":
      auth.checkAdmin(info);
      break;
    case "auth":
      if (c.request.op !== "authenticate") auth.checkAdmin(info);
      break;
  }
}
