// Key permissions as intervals of the byte-ordered key space, etcd's way:
// a permission on one key covers [key, key\0); a range end of "\0" means
// every key from `key` on. A request's range is permitted when one interval
// of the user's merged grants (overlapping or touching grants joined)
// contains all of it.

/** etcd's authpb.Permission.Type numbers. */
export enum PermType {
  READ = 0,
  WRITE = 1,
  READWRITE = 2,
}

/** A request's keys as etcd encodes them: empty rangeEnd is one key, "\0" is from key on. */
export interface KeyRange {
  key: Uint8Array;
  rangeEnd: Uint8Array;
}

export interface Interval {
  start: Uint8Array;
  /** Exclusive; undefined: no upper bound. */
  end: Uint8Array | undefined;
}

function toInterval(r: KeyRange): Interval {
  if (r.rangeEnd.length === 0) return { start: r.key, end: Buffer.concat([r.key, Uint8Array.of(0)]) };
  if (r.rangeEnd.length === 1 && r.rangeEnd[0] === 0) return { start: r.key, end: undefined };
  return { start: r.key, end: r.rangeEnd };
}

/** a <= b, with undefined as +infinity. */
function endAtMost(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (b === undefined) return true;
  if (a === undefined) return false;
  return Buffer.compare(a, b) <= 0;
}

/** Whether a grant names keys: a non-empty key and, if bounded, an end above it (etcd refuses others). */
export function validGrant(r: KeyRange): boolean {
  if (r.key.length === 0) return false;
  const i = toInterval(r);
  return i.end === undefined || Buffer.compare(i.end, i.start) > 0;
}

/** Joins overlapping or touching intervals; the result is sorted and disjoint. */
export function mergeIntervals(ranges: readonly KeyRange[]): Interval[] {
  const iv = ranges.map(toInterval).sort((a, b) => Buffer.compare(a.start, b.start));
  const out: Interval[] = [];
  for (const i of iv) {
    const last = out[out.length - 1];
    if (last !== undefined && (last.end === undefined || Buffer.compare(i.start, last.end) <= 0)) {
      if (!endAtMost(i.end, last.end)) last.end = i.end;
    } else {
      out.push({ start: i.start, end: i.end });
    }
  }
  return out;
}

/** Whether the granted ranges cover every key of `req`. */
export function permits(granted: readonly KeyRange[], req: KeyRange): boolean {
  return covers(mergeIntervals(granted), req);
}

/** Whether one of the merged intervals (mergeIntervals) holds every key of `req`. */
export function covers(merged: readonly Interval[], req: KeyRange): boolean {
  if (req.rangeEnd.length === 0) {
    // one key k: [k, k\0) lies in [s, e) exactly when s <= k < e (k\0 is k's successor)
    for (const g of merged) {
      if (
        Buffer.compare(g.start, req.key) <= 0 &&
        (g.end === undefined || Buffer.compare(req.key, g.end) < 0)
      )
        return true;
    }
    return false;
  }
  const want = toInterval(req);
  // an empty request range (end <= start) is judged by its start key alone
  if (want.end !== undefined && Buffer.compare(want.end, want.start) <= 0) {
    want.end = Buffer.concat([want.start, Uint8Array.of(0)]);
  }
  for (const g of merged) {
    if (Buffer.compare(g.start, want.start) <= 0 && endAtMost(want.end, g.end)) return true;
  }
  return false;
}
