// Physical compaction: the records a compaction made garbage, waiting to be
// deleted from storage. Applying a compaction only drops them from the key
// index (fast, and what every result depends on); deleting them is bounded
// background work the server drives with compactSome(), like etcd's batched
// scheduleCompaction. Deletion goes in ascending revision order, which is what
// lets load.ts re-derive the remainder after a crash.
//
// Nothing observable depends on how far deletion has got: reads go through the
// index, watch replay and hashKV skip records below the compact revision that
// the index no longer holds, and snapshots finish deletion before they start.

import type { Revision } from "./codec.ts";
import { compareRevisions } from "./load.ts";

export class GarbageQueue {
  private revs: Revision[] = [];
  private head = 0;

  get size(): number {
    return this.revs.length - this.head;
  }

  /** Adds ascending revisions. A later compaction's garbage interleaves with what is left of an earlier one. */
  add(sorted: Revision[]): void {
    if (sorted.length === 0) return;
    const rest = this.revs.slice(this.head);
    this.head = 0;
    this.revs = rest.length === 0 ? sorted.slice() : merge(rest, sorted);
  }

  /** What is left, ascending (shared; do not modify). */
  pending(): readonly Revision[] {
    return this.revs.slice(this.head);
  }

  take(max: number): Revision[] {
    const out = this.revs.slice(this.head, this.head + max);
    this.head += out.length;
    if (this.head === this.revs.length) {
      this.revs = [];
      this.head = 0;
    }
    return out;
  }

  clear(): void {
    this.revs = [];
    this.head = 0;
  }
}

function merge(a: Revision[], b: Revision[]): Revision[] {
  const out: Revision[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) out.push(compareRevisions(a[i], b[j]) <= 0 ? a[i++] : b[j++]);
  while (i < a.length) out.push(a[i++]);
  while (j < b.length) out.push(b[j++]);
  return out;
}
