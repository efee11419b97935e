// Range: etcd's txn.executeRange over mvcc's rangeKeys. Revision checks come
// first (future, then compacted), then the key index yields the visible
// versions in key order; the min/max revision filters, sorting and the limit
// are applied to that result. `count` is the number of keys in the range at
// the revision, before filters and limit, exactly as etcd reports it.

import { compareBytes, EMPTY_BYTES, keySpan } from "./bytes.ts";
import { MvccError } from "./errors.ts";
import { type KeyValue, type RangeRequest, type RangeResponse, SortOrder, SortTarget } from "./types.ts";
import type { ReadView } from "./view.ts";

export function executeRange(view: ReadView, r: RangeRequest): RangeResponse {
  const limit = r.limit ?? 0;
  const minMod = r.minModRevision ?? 0;
  const maxMod = r.maxModRevision ?? 0;
  const minCreate = r.minCreateRevision ?? 0;
  const maxCreate = r.maxCreateRevision ?? 0;
  const sortTarget = r.sortTarget ?? SortTarget.KEY;
  let sortOrder = r.sortOrder ?? SortOrder.NONE;

  // Filters and sorting need every key; otherwise one extra key tells `more`.
  let fetch = limit;
  if (sortOrder !== SortOrder.NONE || minMod !== 0 || maxMod !== 0 || minCreate !== 0 || maxCreate !== 0)
    fetch = 0;
  if (fetch > 0) fetch++;

  const { kvs: fetched, count } = rangeKeys(view, r, fetch);
  let kvs = fetched;
  if (maxMod !== 0) kvs = kvs.filter((kv) => kv.modRevision <= maxMod);
  if (minMod !== 0) kvs = kvs.filter((kv) => kv.modRevision >= minMod);
  if (maxCreate !== 0) kvs = kvs.filter((kv) => kv.createRevision <= maxCreate);
  if (minCreate !== 0) kvs = kvs.filter((kv) => kv.createRevision >= minCreate);

  // Results come in key order, so etcd ascends by default only for other targets
  // and skips the sort for KEY + ASCEND.
  if (sortTarget !== SortTarget.KEY && sortOrder === SortOrder.NONE) sortOrder = SortOrder.ASCEND;
  else if (sortTarget === SortTarget.KEY && sortOrder === SortOrder.ASCEND) sortOrder = SortOrder.NONE;
  if (sortOrder !== SortOrder.NONE) {
    // Array.prototype.sort is stable: ties stay in key order (Go's sort.Sort leaves them unspecified).
    const cmp = comparator(sortTarget);
    kvs = [...kvs].sort(sortOrder === SortOrder.DESCEND ? (a, b) => cmp(b, a) : cmp);
  }

  let more = false;
  if (limit > 0 && kvs.length > limit) {
    kvs = kvs.slice(0, limit);
    more = true;
  }
  if (r.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: EMPTY_BYTES }));
  return { header: { revision: view.rev }, kvs, more, count };
}

/** mvcc's rangeKeys: revision checks, then up to `limit` (<= 0: all) visible versions. */
function rangeKeys(view: ReadView, r: RangeRequest, limit: number): { kvs: KeyValue[]; count: number } {
  let rev = r.revision ?? 0;
  if (rev > view.rev) throw new MvccError("FutureRev", `range at revision ${rev}, current is ${view.rev}`);
  if (rev <= 0) rev = view.rev;
  if (rev < view.compactRev) {
    throw new MvccError("Compacted", `range at revision ${rev}, compacted at ${view.compactRev}`);
  }
  const span = keySpan(r.key, r.rangeEnd);
  if (r.countOnly) return { kvs: [], count: view.index.count(span, rev) };
  const { found, total } = view.index.revisions(span, rev, limit);
  return { kvs: found.map(([, at]) => view.readKv(at)), count: total };
}

/** Revision checks for a range inside a txn, made before the txn changes anything (etcd's checkRange). */
export function checkRangeRevision(view: ReadView, r: RangeRequest): void {
  const rev = r.revision ?? 0;
  if (rev === 0) return;
  if (rev > view.rev)
    throw new MvccError("FutureRev", `txn range at revision ${rev}, current is ${view.rev}`);
  if (rev < view.compactRev) {
    throw new MvccError("Compacted", `txn range at revision ${rev}, compacted at ${view.compactRev}`);
  }
}

function comparator(target: SortTarget): (a: KeyValue, b: KeyValue) => number {
  switch (target) {
    case SortTarget.KEY:
      return (a, b) => compareBytes(a.key, b.key);
    case SortTarget.VERSION:
      return (a, b) => a.version - b.version;
    case SortTarget.CREATE:
      return (a, b) => a.createRevision - b.createRevision;
    case SortTarget.MOD:
      return (a, b) => a.modRevision - b.modRevision;
    case SortTarget.VALUE:
      return (a, b) => compareBytes(a.value, b.value);
  }
}
