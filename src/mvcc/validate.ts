// Request validation, as etcd's v3rpc key.go does it before proposing. The
// API layer calls these with its limits; apply() calls them again with no op
// limit (a limit is configuration, and configuration may differ between
// members, so it must not decide what an entry does).
//
// checkIntervals follows etcd's algorithm, including which overlaps it lets
// through (two deletes may overlap; a nested txn's puts are checked only
// against deletes gathered before it), with one deliberate fix: a delete whose
// range_end is "\0" covers every key from its start. etcd compares the
// literal "\0" as the interval end, lets a put inside such a range through,
// and then panics applying it if the put had ignore_value or ignore_lease.

import { type KeySpan, keySpan, spanContains, toLatin1 } from "./bytes.ts";
import { MvccError } from "./errors.ts";
import type { DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest } from "./types.ts";

export function validateRange(r: RangeRequest): void {
  if (r.key.byteLength === 0) throw new MvccError("EmptyKey", "range with an empty key");
}

export function validatePut(r: PutRequest): void {
  if (r.key.byteLength === 0) throw new MvccError("EmptyKey", "put with an empty key");
  if (r.ignoreValue && (r.value?.byteLength ?? 0) !== 0) {
    throw new MvccError("ValueProvided", `put with ignore_value and a ${r.value?.byteLength}-byte value`);
  }
  if (r.ignoreLease && (r.lease ?? 0n) !== 0n) {
    throw new MvccError("LeaseProvided", `put with ignore_lease and lease ${r.lease}`);
  }
}

export function validateDeleteRange(r: DeleteRangeRequest): void {
  if (r.key.byteLength === 0) throw new MvccError("EmptyKey", "delete_range with an empty key");
}

/**
 * etcd's checkTxnRequest then checkIntervals. maxTxnOps bounds each of
 * compare, success and failure; a nested txn gets what its parent left over.
 */
export function validateTxn(r: TxnRequest, maxTxnOps = Number.POSITIVE_INFINITY): void {
  checkTxnRequest(r, maxTxnOps);
  checkIntervals(r.success ?? []);
  checkIntervals(r.failure ?? []);
}

function checkTxnRequest(r: TxnRequest, maxTxnOps: number): void {
  const compare = r.compare ?? [];
  const success = r.success ?? [];
  const failure = r.failure ?? [];
  const opc = Math.max(compare.length, success.length, failure.length);
  if (opc > maxTxnOps)
    throw new MvccError("TooManyOps", `txn with ${opc} ops in one list, limit ${maxTxnOps}`);
  for (const c of compare) {
    if (c.key.byteLength === 0) throw new MvccError("EmptyKey", "txn compare with an empty key");
  }
  for (const op of [...success, ...failure]) checkRequestOp(op, maxTxnOps - opc);
}

function checkRequestOp(op: RequestOp, maxTxnOps: number): void {
  if ("requestRange" in op) validateRange(op.requestRange);
  else if ("requestPut" in op) validatePut(op.requestPut);
  else if ("requestDeleteRange" in op) validateDeleteRange(op.requestDeleteRange);
  else if ("requestTxn" in op) checkTxnRequest(op.requestTxn, maxTxnOps);
  else throw new MvccError("KeyNotFound", "txn op with no request set");
}

function duplicate(key: string): MvccError {
  return new MvccError("DuplicateKey", `txn modifies key ${JSON.stringify(key)} more than once`);
}

function deleted(dels: KeySpan[], key: string): boolean {
  return dels.some((d) => spanContains(d, key));
}

/** Puts and delete ranges of one op list (and its nested txns); throws DuplicateKey on overlap. */
function checkIntervals(reqs: RequestOp[]): { puts: Set<string>; dels: KeySpan[] } {
  const dels: KeySpan[] = [];
  // This level's deletes first, so nested puts are checked against all of them.
  for (const op of reqs) {
    if ("requestDeleteRange" in op)
      dels.push(keySpan(op.requestDeleteRange.key, op.requestDeleteRange.rangeEnd));
  }
  const puts = new Set<string>();
  for (const op of reqs) {
    if (!("requestTxn" in op)) continue;
    const then = checkIntervals(op.requestTxn.success ?? []);
    const otherwise = checkIntervals(op.requestTxn.failure ?? []);
    for (const k of then.puts) {
      if (puts.has(k) || deleted(dels, k)) throw duplicate(k);
      puts.add(k);
    }
    for (const k of otherwise.puts) {
      // The same key in then and else is fine: only one branch runs.
      if ((puts.has(k) && !then.puts.has(k)) || deleted(dels, k)) throw duplicate(k);
      puts.add(k);
    }
    dels.push(...then.dels, ...otherwise.dels);
  }
  for (const op of reqs) {
    if (!("requestPut" in op)) continue;
    const k = toLatin1(op.requestPut.key);
    if (puts.has(k) || deleted(dels, k)) throw duplicate(k);
    puts.add(k);
  }
  return { puts, dels };
}

/** etcd's IsTxnReadonly: only ranges at the top level (a nested txn counts as a write). */
export function isTxnReadOnly(r: TxnRequest): boolean {
  return [...(r.success ?? []), ...(r.failure ?? [])].every((op) => "requestRange" in op);
}
