// An ordered map from latin1 strings to values: a list of sorted chunks (a
// two-level B-tree). Lookup and the start of a range are two binary searches,
// O(log n); inserting or removing shifts at most one chunk (MAX_CHUNK slots)
// plus, on a split or an emptied chunk, the chunk list (n / MAX_CHUNK slots),
// which stays small and cache-friendly. A range of k entries then costs
// O(log n + k) with no rebalancing debt, unlike a sorted array with lazily
// merged inserts, whose merges cost O(n) each time a range follows an insert.

const MAX_CHUNK = 512;

export class OrderedMap<V> {
  /** Invariant: every chunk is non-empty and sorted; chunk i's keys < chunk i+1's keys. */
  private keyChunks: string[][] = [];
  private valChunks: V[][] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /**
   * A map of `keys` (strictly ascending) and their values, built in one pass:
   * chunks are filled to half their capacity, leaving room for inserts.
   */
  static fromSorted<V>(keys: string[], values: V[]): OrderedMap<V> {
    const m = new OrderedMap<V>();
    const step = MAX_CHUNK >>> 1;
    for (let at = 0; at < keys.length; at += step) {
      m.keyChunks.push(keys.slice(at, at + step));
      m.valChunks.push(values.slice(at, at + step));
    }
    m.count = keys.length;
    return m;
  }

  get(key: string): V | undefined {
    if (this.count === 0) return undefined;
    const c = this.chunkFor(key);
    const keys = this.keyChunks[c];
    const i = lowerBound(keys, key);
    return keys[i] === key ? this.valChunks[c][i] : undefined;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  set(key: string, value: V): void {
    if (this.count === 0) {
      this.keyChunks.push([key]);
      this.valChunks.push([value]);
      this.count = 1;
      return;
    }
    const c = this.chunkFor(key);
    const keys = this.keyChunks[c];
    const vals = this.valChunks[c];
    const i = lowerBound(keys, key);
    if (keys[i] === key) {
      vals[i] = value;
      return;
    }
    this.insertAt(c, i, key, value);
  }

  private insertAt(c: number, i: number, key: string, value: V): void {
    const keys = this.keyChunks[c];
    const vals = this.valChunks[c];
    keys.splice(i, 0, key);
    vals.splice(i, 0, value);
    this.count++;
    if (keys.length > MAX_CHUNK) {
      const half = keys.length >>> 1;
      this.keyChunks.splice(c + 1, 0, keys.splice(half));
      this.valChunks.splice(c + 1, 0, vals.splice(half));
    }
  }

  /** The value at key; when there is none, make() is stored there and returned (one search either way). */
  getOrInsert(key: string, make: () => V): V {
    if (this.count === 0) {
      const v = make();
      this.set(key, v);
      return v;
    }
    const c = this.chunkFor(key);
    const keys = this.keyChunks[c];
    const vals = this.valChunks[c];
    const i = lowerBound(keys, key);
    if (keys[i] === key) return vals[i];
    const v = make();
    this.insertAt(c, i, key, v);
    return v;
  }

  delete(key: string): boolean {
    if (this.count === 0) return false;
    const c = this.chunkFor(key);
    const keys = this.keyChunks[c];
    const i = lowerBound(keys, key);
    if (keys[i] !== key) return false;
    keys.splice(i, 1);
    this.valChunks[c].splice(i, 1);
    this.count--;
    if (keys.length === 0) {
      this.keyChunks.splice(c, 1);
      this.valChunks.splice(c, 1);
    }
    return true;
  }

  /**
   * Entries with start <= key < end in key order (end undefined: to the last
   * key). The map must not change while the iterator is open.
   */
  *range(start: string, end?: string): Generator<[string, V]> {
    if (this.count === 0) return;
    let c = this.chunkFor(start);
    let i = lowerBound(this.keyChunks[c], start);
    for (; c < this.keyChunks.length; c++, i = 0) {
      const keys = this.keyChunks[c];
      const vals = this.valChunks[c];
      for (; i < keys.length; i++) {
        if (end !== undefined && keys[i] >= end) return;
        yield [keys[i], vals[i]];
      }
    }
  }

  *values(): Generator<V> {
    for (const vals of this.valChunks) yield* vals;
  }

  /** The chunk that holds `key` or would: the first whose last key >= key, else the last chunk. */
  private chunkFor(key: string): number {
    const chunks = this.keyChunks;
    let lo = 0;
    let hi = chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const last = chunks[mid][chunks[mid].length - 1];
      if (last < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** First index whose key is >= key (keys.length when none). */
function lowerBound(keys: string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
