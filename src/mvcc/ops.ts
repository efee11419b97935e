// Put and DeleteRange as etcd's txn.put / txn.deleteRange execute them inside
// a write transaction. Checks that can fail run before the first write, so a
// refused request never leaves half a transaction behind.

import { EMPTY_BYTES, keySpan, toLatin1 } from "./bytes.ts";
import { MvccError } from "./errors.ts";
import { KeyIndex } from "./key_index.ts";
import type { DeleteRangeRequest, DeleteRangeResponse, KeyValue, PutRequest, PutResponse } from "./types.ts";
import type { ReadView, WriteTxn } from "./view.ts";

/** The key's version visible to the view, if any. */
export function currentKv(view: ReadView, key: Uint8Array): KeyValue | undefined {
  const e = view.index.entry(toLatin1(key));
  const rev = e && KeyIndex.at(e, view.rev);
  return rev && view.readKv(rev);
}

/** etcd's checkPut: what a put needs to exist before it runs. */
export function checkPut(view: ReadView, r: PutRequest): void {
  if ((r.ignoreValue || r.ignoreLease) && currentKv(view, r.key) === undefined) {
    throw new MvccError("KeyNotFound", `put with ignore_value/ignore_lease of absent key ${toLatin1(r.key)}`);
  }
  const lease = r.lease ?? 0n;
  if (lease !== 0n && !view.leaseExists(lease)) {
    throw new MvccError("LeaseNotFound", `put attaching key ${toLatin1(r.key)} to unknown lease ${lease}`);
  }
}

export function executePut(txn: WriteTxn, r: PutRequest): PutResponse {
  checkPut(txn, r);
  const prev = r.ignoreValue || r.ignoreLease || r.prevKv ? currentKv(txn, r.key) : undefined;
  const value = r.ignoreValue && prev ? prev.value : (r.value ?? EMPTY_BYTES);
  const lease = r.ignoreLease && prev ? prev.lease : (r.lease ?? 0n);
  const revision = txn.put(r.key, value, lease);
  const resp: PutResponse = { header: { revision } };
  if (r.prevKv && prev) resp.prevKv = prev;
  return resp;
}

export function executeDeleteRange(txn: WriteTxn, r: DeleteRangeRequest): DeleteRangeResponse {
  const span = keySpan(r.key, r.rangeEnd);
  const prevKvs = r.prevKv
    ? txn.index.revisions(span, txn.rev, 0).found.map(([, rev]) => txn.readKv(rev))
    : [];
  const deleted = txn.deleteRange(span);
  // etcd: the header shows the txn's revision once anything changed, else the current one.
  return { header: { revision: txn.rev }, deleted, prevKvs };
}
