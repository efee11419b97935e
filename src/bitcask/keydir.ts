// The keydir: an ordered in-memory map from key bytes to where the newest
// record of that key lives (file id, record offset, value size, seq).
//
// A B+tree written for memory, since bitcask keeps every key in RAM. A leaf
// packs its keys into one byte slab and its fields into one Uint32Array, so a
// key costs its bytes plus 28 bytes of fields plus a share of two typed arrays
// per leaf, instead of a Buffer object (~100 bytes) and a JS object per key.
// Keys compare bytewise (shorter first on a common prefix), like Buffer.compare.

import { checkTree } from "./keydir-check.ts";
import { Inner, Leaf, type Node, prefix32, SLOTS } from "./keydir-node.ts";

/** Where the newest record of a key lives. */
export interface KeydirEntry {
  fileId: number;
  /** Offset of the record's first byte in its data file. */
  offset: number;
  /** Value size in bytes, or TOMBSTONE_SIZE for a delete remembered during load. */
  valueSize: number;
  seq: number;
}

/** valueSize of a tombstone kept in the keydir while files load (never after open). */
export const TOMBSTONE_SIZE = 0xffffffff;

export const SetResult = { Inserted: 0, Replaced: 1, Ignored: 2 } as const;
export type SetResult = (typeof SetResult)[keyof typeof SetResult];

/** One key in a range walk; `key` is a fresh copy the caller may keep. */
export interface KeydirItem extends KeydirEntry {
  key: Buffer;
}

const MIN_FILL = SLOTS >> 2;

interface Path {
  nodes: Inner[];
  idx: number[];
}

export class Keydir {
  private root: Node = new Leaf(64);
  private entries = 0;
  /** Bumped whenever slots move (insert, delete, split, merge), so iterators re-seek. */
  private version = 0;
  private readonly path: Path = { nodes: [], idx: [] };
  /** prefix32 of the key the last descend() looked for. */
  private pfx = 0;
  /** The entry the last set() replaced (when it returned Replaced) or kept, or find() or repoint() saw. */
  readonly old: KeydirEntry = { fileId: 0, offset: 0, valueSize: 0, seq: 0 };

  get size(): number {
    return this.entries;
  }

  get(key: Uint8Array): KeydirEntry | undefined {
    const leaf = this.descend(key, 0, key.length, false);
    const i = leaf.lowerBound(key, 0, key.length, this.pfx);
    if (i >= leaf.n || !leaf.keyEquals(i, key, 0, key.length)) return undefined;
    return leaf.entry(i);
  }

  /** Whether key `src[start, end)` is present; if so its entry is left in `old` (no allocation). */
  find(src: Uint8Array, start: number, end: number): boolean {
    const len = end - start;
    const leaf = this.descend(src, start, len, false);
    const i = leaf.lowerBound(src, start, len, this.pfx);
    if (i >= leaf.n || !leaf.keyEquals(i, src, start, len)) return false;
    leaf.readInto(i, this.old);
    return true;
  }

  has(key: Uint8Array): boolean {
    const leaf = this.descend(key, 0, key.length, false);
    const i = leaf.lowerBound(key, 0, key.length, this.pfx);
    return i < leaf.n && leaf.keyEquals(i, key, 0, key.length);
  }

  /**
   * Insert or replace the entry for key `src[start, end)` (the bytes are
   * copied). With `onlyIfNewer`, an existing entry with a seq >= `seq` wins
   * and the call returns Ignored. The replaced or winning entry is left in `old`.
   */
  set(
    src: Uint8Array,
    start: number,
    end: number,
    fileId: number,
    offset: number,
    valueSize: number,
    seq: number,
    onlyIfNewer = false,
  ): SetResult {
    const len = end - start;
    const leaf = this.descend(src, start, len, true);
    const i = leaf.lowerBound(src, start, len, this.pfx);
    if (i < leaf.n && leaf.keyEquals(i, src, start, len)) {
      leaf.readInto(i, this.old);
      if (onlyIfNewer && this.old.seq >= seq) return SetResult.Ignored;
      leaf.setFields(i, fileId, offset, valueSize, seq);
      return SetResult.Replaced;
    }
    this.version++;
    this.entries++;
    if (leaf.n < SLOTS) {
      leaf.insertAt(i, src, start, len, fileId, offset, valueSize, seq);
      return SetResult.Inserted;
    }
    // Appending past the last key of the last leaf (sequential load) leaves
    // the full leaf full instead of splitting it in half.
    const right = new Leaf(Math.max(64, len * 8));
    if (i === leaf.n && leaf.next === undefined) {
      right.insertAt(0, src, start, len, fileId, offset, valueSize, seq);
    } else {
      leaf.moveKeysTail(SLOTS >> 1, right);
      if (i <= leaf.n) leaf.insertAt(i, src, start, len, fileId, offset, valueSize, seq);
      else right.insertAt(i - leaf.n, src, start, len, fileId, offset, valueSize, seq);
    }
    right.next = leaf.next;
    if (right.next) right.next.prev = right;
    right.prev = leaf;
    leaf.next = right;
    this.insertIntoParent(
      this.path.nodes.length - 1,
      leaf,
      right.slab,
      right.keyOff(0),
      right.keyLen(0),
      right,
    );
    return SetResult.Inserted;
  }

  /**
   * Point the entry for key `src[start, end)` at a new location if its seq is
   * still `seq` (the record a merge copied is still the newest). Returns
   * whether it did; the previous location is left in `old`.
   */
  repoint(src: Uint8Array, start: number, end: number, seq: number, fileId: number, offset: number): boolean {
    const len = end - start;
    const leaf = this.descend(src, start, len, false);
    const i = leaf.lowerBound(src, start, len, this.pfx);
    if (i >= leaf.n || !leaf.keyEquals(i, src, start, len)) return false;
    leaf.readInto(i, this.old);
    if (this.old.seq !== seq) return false;
    leaf.setFields(i, fileId, offset, this.old.valueSize, seq);
    return true;
  }

  /** Remove `key`; returns the removed entry, or undefined if absent. */
  delete(key: Uint8Array): KeydirEntry | undefined {
    const leaf = this.descend(key, 0, key.length, true);
    const i = leaf.lowerBound(key, 0, key.length, this.pfx);
    if (i >= leaf.n || !leaf.keyEquals(i, key, 0, key.length)) return undefined;
    const removed = leaf.entry(i);
    leaf.removeKeyAt(i);
    this.entries--;
    this.version++;
    if (leaf !== this.root && leaf.n < MIN_FILL) this.rebalance(this.path.nodes.length - 1);
    return removed;
  }

  /**
   * Keys in `[start, end)` in order (descending with `reverse`); an empty `end`
   * means no upper bound. Safe against changes between steps: after one, the
   * walk re-seeks past the last key it returned.
   */
  *range(start: Uint8Array, end: Uint8Array, reverse = false): Generator<KeydirItem> {
    let leaf: Leaf;
    let i: number;
    let seen = this.version;
    if (!reverse) {
      leaf = this.descend(start, 0, start.length, false);
      i = leaf.lowerBound(start, 0, start.length, this.pfx);
    } else {
      [leaf, i] = this.seekBefore(end);
    }
    let last: Buffer | undefined;
    for (;;) {
      if (seen !== this.version) {
        seen = this.version;
        if (last === undefined) throw new Error("keydir: version changed before the first step");
        if (!reverse) {
          leaf = this.descend(last, 0, last.length, false);
          i = leaf.lowerBound(last, 0, last.length, this.pfx);
          if (i < leaf.n && leaf.keyEquals(i, last, 0, last.length)) i++;
        } else {
          [leaf, i] = this.seekBefore(last);
        }
      }
      if (!reverse) {
        while (i >= leaf.n && leaf.next !== undefined) [leaf, i] = [leaf.next, 0];
        if (i >= leaf.n) return;
        if (end.length > 0 && leaf.compareAt(i, end, 0, end.length) >= 0) return;
      } else {
        while (i < 0 && leaf.prev !== undefined) [leaf, i] = [leaf.prev, leaf.prev.n - 1];
        if (i < 0 || i >= leaf.n) return;
        if (leaf.compareAt(i, start, 0, start.length) < 0) return;
      }
      const item = leaf.entry(i) as KeydirItem;
      item.key = leaf.copyKey(i);
      last = item.key;
      i += reverse ? -1 : 1;
      yield item;
    }
  }

  /** Number of keys in `[start, end)` (empty `end`: no upper bound), without copying keys. */
  count(start: Uint8Array, end: Uint8Array): number {
    let leaf: Leaf | undefined = this.descend(start, 0, start.length, false);
    let i = leaf.lowerBound(start, 0, start.length, this.pfx);
    const endPfx = prefix32(end, 0, end.length);
    let n = 0;
    while (leaf !== undefined) {
      const hi: number = end.length === 0 ? leaf.n : leaf.lowerBound(end, 0, end.length, endPfx);
      n += Math.max(0, hi - i);
      if (hi < leaf.n) break;
      leaf = leaf.next;
      i = 0;
    }
    return n;
  }

  /** Remove every entry whose valueSize is TOMBSTONE_SIZE (end of load); returns how many. */
  dropTombstones(): number {
    const dead: Buffer[] = [];
    for (let leaf: Leaf | undefined = this.leftmost(); leaf; leaf = leaf.next) {
      for (let i = 0; i < leaf.n; i++) if (leaf.valueSize(i) === TOMBSTONE_SIZE) dead.push(leaf.copyKey(i));
    }
    for (const k of dead) this.delete(k);
    return dead.length;
  }

  /** Take the tree a BulkLoad built (see keydir-bulk.ts); the keydir must be empty. */
  adopt(tree: { root: Node; entries: number }): void {
    if (this.entries !== 0)
      throw new Error(`keydir: adopt needs an empty keydir, this one has ${this.entries} keys`);
    this.root = tree.root;
    this.entries = tree.entries;
    this.version++;
  }

  /** Check the tree's invariants; throws on the first violation. For tests. */
  checkInvariants(): void {
    checkTree(this.root, this.entries);
  }

  private leftmost(): Leaf {
    let node = this.root;
    while (!(node instanceof Leaf)) node = node.children[0];
    return node;
  }

  /** Leaf and index of the last key < `bound` (empty bound: the last key). */
  private seekBefore(bound: Uint8Array): [Leaf, number] {
    if (bound.length === 0) {
      let node = this.root;
      while (!(node instanceof Leaf)) node = node.children[node.children.length - 1];
      return [node, node.n - 1];
    }
    const leaf = this.descend(bound, 0, bound.length, false);
    return [leaf, leaf.lowerBound(bound, 0, bound.length, this.pfx) - 1];
  }

  /** Walk to the leaf that would hold the key; with `record`, remember the path. */
  private descend(src: Uint8Array, start: number, len: number, record: boolean): Leaf {
    const pfx = prefix32(src, start, len);
    this.pfx = pfx;
    const path = this.path;
    if (record) {
      path.nodes.length = 0;
      path.idx.length = 0;
    }
    let node = this.root;
    while (!(node instanceof Leaf)) {
      // Child c holds keys in [key c-1, key c): the first separator > key picks it.
      const c = node.upperBound(src, start, len, pfx);
      if (record) {
        path.nodes.push(node);
        path.idx.push(c);
      }
      node = node.children[c];
    }
    return node;
  }

  private insertIntoParent(
    level: number,
    left: Node,
    src: Uint8Array,
    start: number,
    len: number,
    right: Node,
  ): void {
    if (level < 0) {
      const root = new Inner(len * 16);
      root.insertSeparator(0, src, start, len);
      root.children = [left, right];
      this.root = root;
      return;
    }
    const parent = this.path.nodes[level];
    const ci = this.path.idx[level];
    parent.insertSeparator(ci, src, start, len);
    parent.children.splice(ci + 1, 0, right);
    if (parent.children.length <= SLOTS) return;
    // Left keeps `half` children and the separators between them; the one
    // after them moves up.
    const half = parent.children.length >> 1;
    const sibling = new Inner(parent.slab.length);
    parent.moveKeysTail(half, sibling);
    const up = parent.copyKey(half - 1);
    parent.removeKeyAt(half - 1);
    sibling.children = parent.children.slice(half);
    parent.children.length = half;
    this.insertIntoParent(level - 1, parent, up, 0, up.length, sibling);
  }

  /** Merge the underfull child on the path at `level` with a sibling, or even the two out. */
  private rebalance(level: number): void {
    const parent = this.path.nodes[level];
    const ci = this.path.idx[level];
    const li = ci > 0 ? ci - 1 : ci;
    const left = parent.children[li];
    const right = parent.children[li + 1];
    if (right === undefined) return; // an only child: nothing to lean on
    let sep: Buffer;
    if (left instanceof Leaf && right instanceof Leaf) {
      const total = left.n + right.n;
      if (total <= SLOTS - MIN_FILL) {
        right.moveKeysHead(right.n, left);
        left.next = right.next;
        if (left.next) left.next.prev = left;
        this.removeChild(level, li + 1);
        return;
      }
      if (left.n < right.n) right.moveKeysHead(right.n - (total >> 1), left);
      else left.moveKeysTail((total + 1) >> 1, right);
      sep = right.copyKey(0);
    } else {
      const l = left as Inner;
      const r = right as Inner;
      const total = l.children.length + r.children.length;
      const down = parent.copyKey(li);
      if (total <= SLOTS - MIN_FILL) {
        l.insertSeparator(l.n, down, 0, down.length);
        r.moveKeysHead(r.n, l);
        l.children.push(...r.children);
        this.removeChild(level, li + 1);
        return;
      }
      // Rotate children through the parent: its separator comes down, the
      // one at the new boundary goes up.
      if (l.children.length < r.children.length) {
        const k = (total >> 1) - l.children.length;
        l.insertSeparator(l.n, down, 0, down.length);
        r.moveKeysHead(k - 1, l);
        sep = r.copyKey(0);
        r.removeKeyAt(0);
        l.children.push(...r.children.splice(0, k));
      } else {
        const keep = (total + 1) >> 1;
        const k = l.children.length - keep;
        r.insertSeparator(0, down, 0, down.length);
        l.moveKeysTail(l.n - (k - 1), r);
        sep = l.copyKey(l.n - 1);
        l.removeKeyAt(l.n - 1);
        r.children.unshift(...l.children.splice(keep, k));
      }
    }
    parent.removeKeyAt(li);
    parent.insertSeparator(li, sep, 0, sep.length);
  }

  private removeChild(level: number, childIndex: number): void {
    const parent = this.path.nodes[level];
    parent.removeKeyAt(childIndex - 1);
    parent.children.splice(childIndex, 1);
    if (parent === this.root) {
      if (parent.children.length === 1) this.root = parent.children[0];
      return;
    }
    if (parent.children.length < MIN_FILL) this.rebalance(level - 1);
  }
}
