// The in-memory key index: user key -> generations of revisions, ordered by
// key bytes (etcd's mvcc/key_index.go). A generation runs from the put that
// creates a key to the tombstone that deletes it; a later put starts a new one
// with version 1. Records hold the values; the index only says which revision
// of a key is visible at a given revision.
//
// Unlike etcd, a deleted key's last generation is marked `closed` instead of
// being followed by an empty generation, so no generation is ever empty.

import { copyBytes, type KeySpan } from "./bytes.ts";
import type { Revision } from "./codec.ts";
import { assert } from "./errors.ts";
import { OrderedMap } from "./ordered.ts";

export interface Generation {
  /** Main revision of the generation's first put; 0 for a lone tombstone kept by compaction. */
  created: number;
  /** Version of the generation's last put. */
  ver: number;
  /** Ascending; after compaction the first may be the only one <= the compact revision. */
  revs: Revision[];
  /** The last revision is a tombstone. */
  closed: boolean;
}

export interface KeyEntry {
  key: Uint8Array;
  /** Invariant: non-empty, ascending, all but the last closed. */
  gens: Generation[];
  /** Lease of the live version; 0 when there is none or the key is deleted. */
  lease: bigint;
}

export class KeyIndex {
  private keys = new OrderedMap<KeyEntry>();
  /**
   * The same entries by key, for point lookups: a put, a single-key range or
   * a compare finds its key in one hash probe instead of two binary searches
   * over string keys (the ordered map's lookups were ~5% of a leader's CPU
   * under a put load).
   */
  private byKey = new Map<string, KeyEntry>();
  /**
   * While a rebuild runs (beginRestore .. finishRestore): the entries by key in
   * a hash map, ordered once at the end. Records arrive in revision order,
   * which is random in key order: a sorted insert per record cost more than
   * reading the records.
   */
  private restoring: Map<string, KeyEntry> | undefined;

  beginRestore(): void {
    assert(this.keys.size === 0 && this.restoring === undefined, () => "beginRestore on a used index");
    this.restoring = new Map();
  }

  finishRestore(): void {
    const m = this.restoring;
    assert(m !== undefined, () => "finishRestore without beginRestore");
    this.restoring = undefined;
    const keys = [...m.keys()].sort();
    this.keys = OrderedMap.fromSorted(
      keys,
      keys.map((k) => m.get(k) as KeyEntry),
    );
    this.byKey = m;
  }

  /** Rebuild from a checkpoint: `keys` strictly ascending, the entries theirs (taken, not copied). */
  adoptSorted(keys: string[], entries: KeyEntry[]): void {
    assert(this.keys.size === 0 && this.restoring === undefined, () => "adoptSorted on a used index");
    this.keys = OrderedMap.fromSorted(keys, entries);
    for (let i = 0; i < keys.length; i++) this.byKey.set(keys[i], entries[i]);
  }

  private restoreEntry(key: string, keyBytes: Uint8Array): KeyEntry {
    const m = this.restoring;
    // A copy: keyBytes may be a view that would pin a whole storage record.
    if (m === undefined) return this.getOrInsert(key, keyBytes);
    let e = m.get(key);
    if (e === undefined) {
      e = { key: copyBytes(keyBytes), gens: [], lease: 0n };
      m.set(key, e);
    }
    return e;
  }

  /** Keys with any history (live or deleted but not yet compacted away). */
  get size(): number {
    return this.keys.size;
  }

  entry(key: string): KeyEntry | undefined {
    return this.byKey.get(key);
  }

  private getOrInsert(key: string, keyBytes: Uint8Array): KeyEntry {
    let e = this.byKey.get(key);
    if (e === undefined) {
      e = { key: copyBytes(keyBytes), gens: [], lease: 0n };
      this.byKey.set(key, e);
      this.keys.set(key, e);
    }
    return e;
  }

  /** The generation of the key's live version, if it exists now. */
  static live(e: KeyEntry | undefined): Generation | undefined {
    const g = e?.gens[e.gens.length - 1];
    return g && !g.closed ? g : undefined;
  }

  /** The revision of the key's version visible at atRev, if it existed then. */
  static at(e: KeyEntry, atRev: number): Revision | undefined {
    for (let gi = e.gens.length - 1; gi >= 0; gi--) {
      const g = e.gens[gi];
      if (g.revs[0].main > atRev) continue;
      if (g.closed && g.revs[g.revs.length - 1].main <= atRev) return undefined;
      return g.revs[lastAtOrBefore(g.revs, atRev)];
    }
    return undefined;
  }

  /** Records a put at rev; returns the created revision and version it gets and the lease it replaces. */
  put(
    key: string,
    keyBytes: Uint8Array,
    rev: Revision,
    lease: bigint,
  ): { entry: KeyEntry; created: number; version: number; prevLease: bigint } {
    const e = this.getOrInsert(key, keyBytes);
    const prevLease = e.lease;
    assertAfter(e, rev);
    let g = KeyIndex.live(e);
    if (g === undefined) {
      g = { created: rev.main, ver: 0, revs: [], closed: false };
      e.gens.push(g);
    }
    g.revs.push(rev);
    g.ver++;
    e.lease = lease;
    return { entry: e, created: g.created, version: g.ver, prevLease };
  }

  /** Records a tombstone at rev for a live key. */
  tombstone(e: KeyEntry, rev: Revision): void {
    const g = KeyIndex.live(e);
    assert(g !== undefined, () => `tombstone at ${rev.main}.${rev.sub} for a key that is not live`);
    assertAfter(e, rev);
    g.revs.push(rev);
    g.closed = true;
    e.lease = 0n;
  }

  /** Rebuild: a put record read from storage, carrying its own created revision and version. */
  restorePut(
    key: string,
    keyBytes: Uint8Array,
    rev: Revision,
    created: number,
    ver: number,
    lease: bigint,
  ): void {
    const e = this.restoreEntry(key, keyBytes);
    assertAfter(e, rev);
    const g = KeyIndex.live(e);
    if (g === undefined) e.gens.push({ created, ver, revs: [rev], closed: false });
    else {
      g.revs.push(rev);
      g.ver = ver;
    }
    e.lease = lease;
  }

  /**
   * Rebuild: a tombstone record. A tombstone whose put is gone (compacted)
   * starts a lone closed generation when the key has no history, as etcd's
   * restoreTombstone; after a closed generation it is an orphan left by an
   * interrupted physical compaction, and false says so.
   */
  restoreTombstone(key: string, keyBytes: Uint8Array, rev: Revision): boolean {
    const e = this.restoreEntry(key, keyBytes);
    if (e.gens.length === 0) {
      e.gens.push({ created: 0, ver: 0, revs: [rev], closed: true });
      return true;
    }
    if (KeyIndex.live(e) === undefined) return false;
    this.tombstone(e, rev);
    return true;
  }

  /** Entries in the span, in key order. */
  *visit(span: KeySpan): Generator<KeyEntry> {
    if (span.end === null) {
      const e = this.byKey.get(span.start);
      if (e !== undefined) yield e;
      return;
    }
    for (const [, e] of this.keys.range(span.start, span.end)) yield e;
  }

  /** Up to `limit` (<= 0: all) keys visible at atRev with their revisions, and how many there are in all. */
  revisions(span: KeySpan, atRev: number, limit: number): { found: [KeyEntry, Revision][]; total: number } {
    const found: [KeyEntry, Revision][] = [];
    let total = 0;
    for (const e of this.visit(span)) {
      const rev = KeyIndex.at(e, atRev);
      if (rev === undefined) continue;
      total++;
      if (limit <= 0 || found.length < limit) found.push([e, rev]);
    }
    return { found, total };
  }

  count(span: KeySpan, atRev: number): number {
    let total = 0;
    for (const e of this.visit(span)) if (KeyIndex.at(e, atRev) !== undefined) total++;
    return total;
  }

  /** Keys live now in the span (collected first, so callers may tombstone them). */
  liveEntries(span: KeySpan): KeyEntry[] {
    const out: KeyEntry[] = [];
    for (const e of this.visit(span)) if (KeyIndex.live(e) !== undefined) out.push(e);
    return out;
  }

  /**
   * Drops history at or below atRev, keeping for each key the latest revision
   * <= atRev unless it is a tombstone older than atRev (etcd >= 3.5.16 keeps a
   * tombstone at exactly atRev, so watchers from atRev miss no delete). Keys
   * left without history leave the index. Returns the revisions dropped, whose
   * records are garbage. O(keys); etcd's treeIndex.Compact walks all keys too.
   */
  compact(atRev: number): Revision[] {
    const garbage: Revision[] = [];
    const emptied: string[] = [];
    for (const [key, e] of this.keys.range("")) {
      let gi = 0;
      while (
        gi < e.gens.length &&
        e.gens[gi].closed &&
        e.gens[gi].revs[e.gens[gi].revs.length - 1].main < atRev
      ) {
        for (const r of e.gens[gi].revs) garbage.push(r);
        gi++;
      }
      if (gi === e.gens.length) {
        emptied.push(key);
        continue;
      }
      const g = e.gens[gi];
      const keep = lastAtOrBefore(g.revs, atRev);
      if (keep > 0) {
        for (let i = 0; i < keep; i++) garbage.push(g.revs[i]);
        g.revs = g.revs.slice(keep);
      }
      if (gi > 0) e.gens = e.gens.slice(gi);
    }
    for (const key of emptied) {
      this.keys.delete(key);
      this.byKey.delete(key);
    }
    return garbage;
  }

  /**
   * Whether a record at or below the compact revision survived compaction.
   * After compact(c), at most one revision <= c remains per key: the first of
   * its first generation.
   */
  isRetained(key: string, rev: Revision): boolean {
    const first = this.byKey.get(key)?.gens[0].revs[0];
    return first !== undefined && first.main === rev.main && first.sub === rev.sub;
  }

  entries(): Iterable<KeyEntry> {
    return this.keys.values();
  }
}

/** Index of the last revision with main <= atRev, or -1. */
function lastAtOrBefore(revs: Revision[], atRev: number): number {
  let lo = 0;
  let hi = revs.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (revs[mid].main <= atRev) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** Revisions of a key only grow: a put or tombstone must come after everything the key has. */
function assertAfter(e: KeyEntry, rev: Revision): void {
  const g = e.gens[e.gens.length - 1];
  const last = g?.revs[g.revs.length - 1];
  assert(
    last === undefined || rev.main > last.main || (rev.main === last.main && rev.sub > last.sub),
    () => `revision ${rev.main}.${rev.sub} is not after ${last.main}.${last.sub}`,
  );
}
