// Txn as etcd's txn.Txn runs it: every compare, including those of nested
// txns on the branches that will run, is evaluated first against the state
// before the txn; then every op on that path is checked (range revisions,
// put preconditions); only then do the ops run, in order, each seeing the
// writes before it. The whole txn takes one revision, and none if it changes
// nothing.

import { compareBytes, EMPTY_BYTES, keySpan } from "./bytes.ts";
import { assert } from "./errors.ts";
import { checkPut, executeDeleteRange, executePut } from "./ops.ts";
import { checkRangeRevision, executeRange } from "./range.ts";
import {
  type Compare,
  CompareResult,
  CompareTarget,
  type KeyValue,
  type RequestOp,
  type ResponseOp,
  type TxnRequest,
  type TxnResponse,
} from "./types.ts";
import { type ReadView, WriteTxn } from "./view.ts";

/** Which branch each txn takes, decided before anything runs. */
interface TxnPath {
  succeeded: boolean;
  /** One per nested txn op of the chosen branch, in order. */
  nested: TxnPath[];
}

/** Runs a validated txn; `view` is a WriteTxn unless the txn is read-only. */
export function runTxn(view: ReadView, r: TxnRequest): TxnResponse {
  const path = compareToPath(view, r);
  checkTxn(view, r, path);
  const resp = executeTxn(view, r, path);
  resp.header.revision = view.rev;
  return resp;
}

function branch(r: TxnRequest, path: TxnPath): RequestOp[] {
  return (path.succeeded ? r.success : r.failure) ?? [];
}

function compareToPath(view: ReadView, r: TxnRequest): TxnPath {
  const succeeded = (r.compare ?? []).every((c) => applyCompare(view, c));
  const nested: TxnPath[] = [];
  for (const op of (succeeded ? r.success : r.failure) ?? []) {
    if ("requestTxn" in op) nested.push(compareToPath(view, op.requestTxn));
  }
  return { succeeded, nested };
}

/** Every key in the compare's range must satisfy it; VALUE on no key fails, other targets compare zero. */
function applyCompare(view: ReadView, c: Compare): boolean {
  const { found } = view.index.revisions(keySpan(c.key, c.rangeEnd), view.rev, 0);
  if (found.length === 0) {
    if (c.target === CompareTarget.VALUE) return false;
    return compareKv(c, {
      key: c.key,
      value: EMPTY_BYTES,
      createRevision: 0,
      modRevision: 0,
      version: 0,
      lease: 0n,
    });
  }
  return found.every(([, rev]) => compareKv(c, view.readKv(rev)));
}

function compareKv(c: Compare, kv: KeyValue): boolean {
  let result: number;
  switch (c.target) {
    case CompareTarget.VALUE:
      result = compareBytes(kv.value, c.value ?? EMPTY_BYTES);
      break;
    case CompareTarget.CREATE:
      result = Math.sign(kv.createRevision - (c.createRevision ?? 0));
      break;
    case CompareTarget.MOD:
      result = Math.sign(kv.modRevision - (c.modRevision ?? 0));
      break;
    case CompareTarget.VERSION:
      result = Math.sign(kv.version - (c.version ?? 0));
      break;
    case CompareTarget.LEASE:
      {
        const want = c.lease ?? 0n;
        result = kv.lease < want ? -1 : kv.lease > want ? 1 : 0;
      }
      break;
    default:
      result = 0;
  }
  switch (c.result) {
    case CompareResult.EQUAL:
      return result === 0;
    case CompareResult.NOT_EQUAL:
      return result !== 0;
    case CompareResult.GREATER:
      return result > 0;
    case CompareResult.LESS:
      return result < 0;
    default:
      return true;
  }
}

function checkTxn(view: ReadView, r: TxnRequest, path: TxnPath): void {
  let nested = 0;
  for (const op of branch(r, path)) {
    if ("requestRange" in op) checkRangeRevision(view, op.requestRange);
    else if ("requestPut" in op) checkPut(view, op.requestPut);
    else if ("requestTxn" in op) checkTxn(view, op.requestTxn, path.nested[nested++]);
  }
}

function executeTxn(view: ReadView, r: TxnRequest, path: TxnPath): TxnResponse {
  const responses: ResponseOp[] = [];
  let nested = 0;
  for (const op of branch(r, path)) {
    if ("requestRange" in op) {
      responses.push({ responseRange: executeRange(view, op.requestRange) });
    } else if ("requestPut" in op) {
      responses.push({ responsePut: executePut(writable(view), op.requestPut) });
    } else if ("requestDeleteRange" in op) {
      responses.push({ responseDeleteRange: executeDeleteRange(writable(view), op.requestDeleteRange) });
    } else {
      responses.push({ responseTxn: executeTxn(view, op.requestTxn, path.nested[nested++]) });
    }
  }
  return { header: { revision: 0 }, succeeded: path.succeeded, responses };
}

function writable(view: ReadView): WriteTxn {
  assert(view instanceof WriteTxn, "a write op in a txn run as read-only");
  return view;
}
