// etcd's stateless request checks (its v3rpc layer does the same before a
// request reaches the server), so the backend only sees well-formed requests.

import { FloeError, invalidRequest } from "./errors.ts";
import {
  type DeleteRangeRequest,
  type PutRequest,
  type RangeRequest,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  type RequestOp,
  type TxnRequest,
} from "./gen/etcdserverpb/rpc_pb.ts";

/** Keys as latin1 strings: one char per byte, so string order is byte order. */
const keyString = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("latin1");

export function checkRange(r: RangeRequest): void {
  if (r.key.length === 0) throw FloeError.of("EMPTY_KEY");
  if (RangeRequest_SortOrder[r.sortOrder] === undefined) {
    throw invalidRequest(`unknown sort_order ${r.sortOrder}`);
  }
  if (RangeRequest_SortTarget[r.sortTarget] === undefined) {
    throw invalidRequest(`unknown sort_target ${r.sortTarget}`);
  }
}

export function checkPut(r: PutRequest): void {
  if (r.key.length === 0) throw FloeError.of("EMPTY_KEY");
  if (r.ignoreValue && r.value.length !== 0) throw FloeError.of("VALUE_PROVIDED");
  if (r.ignoreLease && r.lease !== 0n) throw FloeError.of("LEASE_PROVIDED");
}

export function checkDeleteRange(r: DeleteRangeRequest): void {
  if (r.key.length === 0) throw FloeError.of("EMPTY_KEY");
}

/** Op count per branch, each op's own checks, and no key written twice on any path. */
export function checkTxn(r: TxnRequest, maxTxnOps: number): void {
  checkTxnOps(r, maxTxnOps);
  checkWrites(r.success);
  checkWrites(r.failure);
}

function checkTxnOps(r: TxnRequest, maxTxnOps: number): void {
  if (r.compare.length > maxTxnOps || r.success.length > maxTxnOps || r.failure.length > maxTxnOps) {
    throw FloeError.of("TOO_MANY_OPS");
  }
  for (const op of r.success) checkOp(op, maxTxnOps);
  for (const op of r.failure) checkOp(op, maxTxnOps);
}

function checkOp(op: RequestOp, maxTxnOps: number): void {
  const req = op.request;
  if (req.case === "requestRange") checkRange(req.value);
  else if (req.case === "requestPut") checkPut(req.value);
  else if (req.case === "requestDeleteRange") checkDeleteRange(req.value);
  else if (req.case === "requestTxn") checkTxnOps(req.value, maxTxnOps);
  // etcd answers an empty RequestOp this way
  else throw FloeError.of("KEY_NOT_FOUND");
}

/** A deleted range [start, end); end undefined means unbounded. */
interface Span {
  readonly start: string;
  readonly end: string | undefined;
}

function spanOf(key: Uint8Array, rangeEnd: Uint8Array): Span {
  const start = keyString(key);
  if (rangeEnd.length === 0) return { start, end: `${start}\x00` };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { start, end: undefined };
  return { start, end: keyString(rangeEnd) };
}

const covers = (spans: readonly Span[], key: string): boolean =>
  spans.some((s) => key >= s.start && (s.end === undefined || key < s.end));

const duplicate = (): FloeError => FloeError.of("DUPLICATE_KEY");

/**
 * Within one branch, a key may be put at most once and may not be both put
 * and deleted, counting nested txns (whose two branches exclude each other).
 * Returns the branch's puts and deletes for the enclosing level.
 */
function checkWrites(ops: readonly RequestOp[]): { puts: Set<string>; dels: Span[] } {
  const dels: Span[] = [];
  for (const op of ops) {
    if (op.request.case === "requestDeleteRange") {
      dels.push(spanOf(op.request.value.key, op.request.value.rangeEnd));
    }
  }
  const puts = new Set<string>();
  for (const op of ops) {
    if (op.request.case !== "requestTxn") continue;
    const then = checkWrites(op.request.value.success);
    const otherwise = checkWrites(op.request.value.failure);
    for (const k of then.puts) {
      if (puts.has(k) || covers(dels, k)) throw duplicate();
      puts.add(k);
    }
    for (const k of otherwise.puts) {
      if ((puts.has(k) && !then.puts.has(k)) || covers(dels, k)) throw duplicate();
      puts.add(k);
    }
    dels.push(...then.dels, ...otherwise.dels);
  }
  for (const op of ops) {
    if (op.request.case !== "requestPut") continue;
    const k = keyString(op.request.value.key);
    if (puts.has(k) || covers(dels, k)) throw duplicate();
    puts.add(k);
  }
  return { puts, dels };
}
