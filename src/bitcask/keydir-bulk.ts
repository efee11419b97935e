// Building the keydir at open from hint files in one pass. Inserting a
// million random keys one at a time costs a descent, a slot shift and a split
// every few dozen keys; instead, gather every hint entry, sort them by key
// (LSD radix sort on each key's first four bytes, then MSD radix sort over
// the rest of the bytes within groups that share them, unless a group is in
// order already), keep
// the newest seq of each key, and fill leaves left to right, 7/8 full, then
// the inner levels above them.

import { Inner, Leaf, type Node, prefix32, SLOTS } from "./keydir-node.ts";
import { readU32, readU64 } from "./record.ts";

/** Byte offsets inside a hint entry (see hint.ts). */
const E_TYPE = 0;
const E_KEY_SIZE = 1;
const E_VALUE_SIZE = 5;
const E_OFFSET = 9;
const E_SEQ = 13;
const E_KEY = 21;

const FILL = (SLOTS * 7) >> 3;
const SMALL = 24;

/** The newest entry of one key, as the bulk load hands it out. */
export interface BulkWinner {
  type: number;
  fileId: number;
  keySize: number;
  valueSize: number;
}

export class BulkLoad {
  private readonly bufs: Buffer[] = [];
  private readonly fileIds: number[] = [];
  private ref: Uint32Array;
  private pos: Uint32Array;
  /** prefix32 of each entry's key. */
  private pfx: Uint32Array;
  private n = 0;

  constructor(capacity: number) {
    this.ref = new Uint32Array(Math.max(1, capacity));
    this.pos = new Uint32Array(Math.max(1, capacity));
    this.pfx = new Uint32Array(Math.max(1, capacity));
  }

  get size(): number {
    return this.n;
  }

  /** Register a checked hint buffer of data file `fileId`; returns its index for add(). */
  addSource(buf: Buffer, fileId: number): number {
    this.bufs.push(buf);
    this.fileIds.push(fileId);
    return this.bufs.length - 1;
  }

  /** Add the entry whose key starts at `keyStart` in source `src`. */
  add(src: number, keyStart: number): void {
    if (this.n === this.ref.length) {
      const grow = (a: Uint32Array) => {
        const b = new Uint32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.ref = grow(this.ref);
      this.pos = grow(this.pos);
      this.pfx = grow(this.pfx);
    }
    const buf = this.bufs[src];
    this.ref[this.n] = src;
    this.pos[this.n] = keyStart - E_KEY;
    this.pfx[this.n] = prefix32(buf, keyStart, readU32(buf, keyStart - E_KEY + E_KEY_SIZE));
    this.n++;
  }

  /**
   * Sort, keep the newest entry of each key, and build the tree. `onWinner`
   * sees every kept entry (tombstones too, stored with valueSize `tombstone`).
   */
  build(tombstone: number, onWinner: (w: BulkWinner) => void): { root: Node; entries: number } {
    const idx = new Uint32Array(this.n);
    for (let i = 0; i < this.n; i++) idx[i] = i;
    this.sort(idx);
    const b = new TreeBuilder();
    const w: BulkWinner = { type: 0, fileId: 0, keySize: 0, valueSize: 0 };
    for (let k = 0; k < this.n; k++) {
      const i = idx[k];
      // Equal keys are adjacent, oldest first: only the last of a run counts.
      const j = idx[k + 1];
      if (k + 1 < this.n && this.pfx[i] === this.pfx[j] && this.cmpKeys(i, j, 0) === 0) continue;
      const buf = this.bufs[this.ref[i]];
      const p = this.pos[i];
      w.type = buf[p + E_TYPE];
      w.fileId = this.fileIds[this.ref[i]];
      w.keySize = readU32(buf, p + E_KEY_SIZE);
      w.valueSize = readU32(buf, p + E_VALUE_SIZE);
      onWinner(w);
      const vs = w.type === 1 ? w.valueSize : tombstone;
      b.push(buf, p + E_KEY, w.keySize, w.fileId, readU32(buf, p + E_OFFSET), vs, readU64(buf, p + E_SEQ));
    }
    return b.finish();
  }

  /** Byte `depth` of entry i's key, or -1 past its end. */
  private byteAt(i: number, depth: number): number {
    const buf = this.bufs[this.ref[i]];
    const p = this.pos[i];
    return depth < readU32(buf, p + E_KEY_SIZE) ? buf[p + E_KEY + depth] : -1;
  }

  /** Compare the keys of entries i and j from byte `depth` on, then their seqs. */
  private cmpKeys(i: number, j: number, depth: number, bySeq = false): number {
    const a = this.bufs[this.ref[i]];
    const pa = this.pos[i];
    const b = this.bufs[this.ref[j]];
    const pb = this.pos[j];
    const la = readU32(a, pa + E_KEY_SIZE);
    const lb = readU32(b, pb + E_KEY_SIZE);
    const n = Math.min(la, lb);
    for (let d = depth; d < n; d++) {
      const x = a[pa + E_KEY + d] - b[pb + E_KEY + d];
      if (x !== 0) return x;
    }
    if (la !== lb || !bySeq) return la - lb;
    return readU64(a, pa + E_SEQ) - readU64(b, pb + E_SEQ);
  }

  private sort(idx: Uint32Array): void {
    const tmp = new Uint32Array(idx.length);
    this.sortByPrefix(idx, tmp);
    const stack: number[] = [];
    for (let lo = 0; lo < idx.length; ) {
      let hi = lo + 1;
      while (hi < idx.length && this.pfx[idx[hi]] === this.pfx[idx[lo]]) hi++;
      // Equal prefixes may still differ in length (zero padding), so compare from byte 0.
      if (hi - lo > 1 && !this.inOrder(idx, lo, hi)) stack.push(lo, hi, 0);
      lo = hi;
    }
    const count = new Int32Array(257);
    while (stack.length > 0) {
      const depth = stack.pop()!;
      const hi = stack.pop()!;
      const lo = stack.pop()!;
      if (hi - lo <= SMALL || depth >= 64) {
        this.comparisonSort(idx, lo, hi, depth);
        continue;
      }
      count.fill(0);
      for (let k = lo; k < hi; k++) count[this.byteAt(idx[k], depth) + 1]++;
      let only = -1;
      for (let c = 0; c < 257; c++) if (count[c] === hi - lo) only = c;
      if (only > 0) {
        stack.push(lo, hi, depth + 1); // one byte value for all: look further
        continue;
      }
      // Bucket 0 holds keys that end here: identical keys, to order by seq.
      let at = lo;
      for (let c = 0; c < 257; c++) {
        const size = count[c];
        count[c] = at;
        if (size > 1) stack.push(at, at + size, c === 0 ? Number.MAX_SAFE_INTEGER : depth + 1);
        at += size;
      }
      for (let k = lo; k < hi; k++) tmp[count[this.byteAt(idx[k], depth) + 1]++] = idx[k];
      idx.set(tmp.subarray(lo, hi), lo);
    }
  }

  /**
   * Whether idx[lo, hi) is already ordered by key, then seq. Often true: keys
   * written in ascending order (MVCC's revision records) arrive in write
   * order, and the prefix sort is stable.
   */
  private inOrder(idx: Uint32Array, lo: number, hi: number): boolean {
    for (let k = lo + 1; k < hi; k++) if (this.cmpKeys(idx[k - 1], idx[k], 0, true) > 0) return false;
    return true;
  }

  /** Stable LSD radix sort of idx by pfx, 16 bits at a time. */
  private sortByPrefix(idx: Uint32Array, tmp: Uint32Array): void {
    const count = new Int32Array(65537);
    let from = idx;
    let to = tmp;
    for (const shift of [0, 16]) {
      count.fill(0);
      for (let k = 0; k < from.length; k++) count[((this.pfx[from[k]] >>> shift) & 0xffff) + 1]++;
      for (let c = 1; c < 65537; c++) count[c] += count[c - 1];
      for (let k = 0; k < from.length; k++) to[count[(this.pfx[from[k]] >>> shift) & 0xffff]++] = from[k];
      [from, to] = [to, from];
    }
    // Two passes: the result is back in idx.
  }

  /** Order idx[lo, hi) by key from `depth` on, then seq (insertion sort, or Array sort when large). */
  private comparisonSort(idx: Uint32Array, lo: number, hi: number, depth: number): void {
    const d = depth === Number.MAX_SAFE_INTEGER ? 0 : depth;
    if (hi - lo > SMALL) {
      const part = Array.from(idx.subarray(lo, hi));
      part.sort((x, y) => this.cmpKeys(x, y, d, true));
      idx.set(part, lo);
      return;
    }
    for (let k = lo + 1; k < hi; k++) {
      const v = idx[k];
      let j = k - 1;
      while (j >= lo && this.cmpKeys(idx[j], v, d, true) > 0) {
        idx[j + 1] = idx[j];
        j--;
      }
      idx[j + 1] = v;
    }
  }
}

/** Fills leaves left to right with keys in increasing order, then builds the levels above. */
class TreeBuilder {
  private readonly leaves: Leaf[] = [];
  private leaf: Leaf | undefined;
  private entries = 0;

  push(src: Uint8Array, start: number, len: number, fileId: number, offset: number, vs: number, seq: number) {
    let leaf = this.leaf;
    if (leaf === undefined || leaf.n === FILL) {
      const next = new Leaf(Math.ceil(len * FILL * 1.1));
      if (leaf) {
        leaf.next = next;
        next.prev = leaf;
      }
      this.leaves.push(next);
      this.leaf = leaf = next;
    }
    leaf.insertAt(leaf.n, src, start, len, fileId, offset, vs, seq);
    this.entries++;
  }

  finish(): { root: Node; entries: number } {
    let level: Node[] = this.leaves.length > 0 ? this.leaves : [new Leaf(64)];
    while (level.length > 1) {
      const groups = Math.ceil(level.length / FILL);
      const next: Node[] = [];
      for (let g = 0; g < groups; g++) {
        // Spread children evenly so no node ends up nearly empty.
        const from = Math.floor((g * level.length) / groups);
        const to = Math.floor(((g + 1) * level.length) / groups);
        const inner = new Inner(64);
        inner.children = level.slice(from, to);
        for (let c = 1; c < inner.children.length; c++) {
          const first = leftmostLeaf(inner.children[c]);
          inner.insertSeparator(inner.n, first.slab, first.keyOff(0), first.keyLen(0));
        }
        next.push(inner);
      }
      level = next;
    }
    return { root: level[0], entries: this.entries };
  }
}

function leftmostLeaf(node: Node): Leaf {
  while (!(node instanceof Leaf)) node = node.children[0];
  return node;
}
