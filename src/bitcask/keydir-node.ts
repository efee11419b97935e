// Nodes of the keydir B+tree. Every node keeps its sorted keys packed: the
// bytes in one slab (appended, compacted when full) and per-slot words in one
// Uint32Array, so a lookup touches two arrays per node instead of one Buffer
// object per key, and moving slots is a copyWithin.

import type { KeydirEntry } from "./keydir.ts";

/** Entries per leaf and children per inner node. */
export const SLOTS = 128;

// Words 0 and 1 of every slot: key offset in the slab, key length.
const KOFF = 0;
const KLEN = 1;
// Further words of a leaf slot: file id, record offset, value size, seq low
// 32 bits, seq high bits.
const FILE = 2;
const OFF = 3;
const VSIZE = 4;
const SEQ_LO = 5;
const SEQ_HI = 6;
const LEAF_W = 7;
const INNER_W = 2;
const TWO32 = 0x1_0000_0000;

/** Bytewise comparison of a[aOff, aOff+aLen) with b[bOff, bOff+bLen); a shorter prefix sorts first. */
export function cmpBytes(
  a: Uint8Array,
  aOff: number,
  aLen: number,
  b: Uint8Array,
  bOff: number,
  bLen: number,
): number {
  const n = Math.min(aLen, bLen);
  for (let i = 0; i < n; i++) {
    const d = a[aOff + i] - b[bOff + i];
    if (d !== 0) return d;
  }
  return aLen - bLen;
}

/**
 * The first four bytes of a key as a big-endian u32, zero-padded. Keys whose
 * prefixes differ compare like their prefixes (a shorter key pads with 0,
 * which sorts before any byte it could be compared with); equal prefixes
 * need the full comparison.
 */
export function prefix32(src: Uint8Array, start: number, len: number): number {
  const b0 = len > 0 ? src[start] : 0;
  const b1 = len > 1 ? src[start + 1] : 0;
  const b2 = len > 2 ? src[start + 2] : 0;
  const b3 = len > 3 ? src[start + 3] : 0;
  return ((b0 << 24) | (b1 << 16) | (b2 << 8) | b3) >>> 0;
}

/**
 * Sorted packed keys with `w` words per slot. Each key's prefix32 is kept in
 * its own array, so a binary search mostly compares integers that sit a few
 * cache lines apart and never touches the slab.
 */
class Keys {
  n = 0;
  protected readonly f: Uint32Array;
  private readonly pf: Uint32Array;
  /** Key bytes; slot i's key is slab[keyOff(i), keyOff(i) + keyLen(i)). */
  slab: Uint8Array;
  /** Bytes of the slab in use, including garbage left by removed keys. */
  private used = 0;
  private garbage = 0;

  constructor(
    private readonly w: number,
    slots: number,
    slabBytes: number,
  ) {
    this.f = new Uint32Array(slots * w);
    this.pf = new Uint32Array(slots);
    this.slab = new Uint8Array(slabBytes);
  }

  keyOff(i: number): number {
    return this.f[i * this.w + KOFF];
  }

  keyLen(i: number): number {
    return this.f[i * this.w + KLEN];
  }

  /** The prefix32 stored for slot i (it must equal prefix32 of the slot's key). */
  prefixAt(i: number): number {
    return this.pf[i];
  }

  /** First slot whose key is >= the given key (n if none); `pfx` is prefix32 of the key. */
  lowerBound(src: Uint8Array, start: number, len: number, pfx: number): number {
    let lo = 0;
    let hi = this.n;
    const { f, pf, slab, w } = this;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const p = pf[mid];
      const b = mid * w;
      if (p < pfx || (p === pfx && cmpBytes(slab, f[b], f[b + 1], src, start, len) < 0)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First slot whose key is > the given key (n if none); `pfx` is prefix32 of the key. */
  upperBound(src: Uint8Array, start: number, len: number, pfx: number): number {
    let lo = 0;
    let hi = this.n;
    const { f, pf, slab, w } = this;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const p = pf[mid];
      const b = mid * w;
      if (p < pfx || (p === pfx && cmpBytes(slab, f[b], f[b + 1], src, start, len) <= 0)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  compareAt(i: number, src: Uint8Array, start: number, len: number): number {
    const b = i * this.w;
    return cmpBytes(this.slab, this.f[b + KOFF], this.f[b + KLEN], src, start, len);
  }

  keyEquals(i: number, src: Uint8Array, start: number, len: number): boolean {
    return this.f[i * this.w + KLEN] === len && this.compareAt(i, src, start, len) === 0;
  }

  copyKey(i: number): Buffer {
    const off = this.keyOff(i);
    return Buffer.from(this.slab.subarray(off, off + this.keyLen(i)));
  }

  /** Open slot i for a copy of the key; the caller fills the other words. Returns the slot's first word. */
  protected insertKeyAt(i: number, src: Uint8Array, start: number, len: number): number {
    this.reserve(len);
    const koff = this.put(src, start, len);
    const w = this.w;
    this.f.copyWithin((i + 1) * w, i * w, this.n * w);
    this.pf.copyWithin(i + 1, i, this.n);
    this.n++;
    this.f[i * w + KOFF] = koff;
    this.f[i * w + KLEN] = len;
    this.pf[i] = prefix32(src, start, len);
    return i * w;
  }

  removeKeyAt(i: number): void {
    const w = this.w;
    this.garbage += this.f[i * w + KLEN];
    this.f.copyWithin(i * w, (i + 1) * w, this.n * w);
    this.pf.copyWithin(i, i + 1, this.n);
    this.n--;
    if (this.n === 0) this.used = this.garbage = 0;
  }

  /** Move slots [from, n) to the front of `target`. */
  moveKeysTail(from: number, target: Keys): void {
    const k = this.n - from;
    if (k <= 0) return;
    target.reserve(this.keyBytes(from, this.n));
    target.f.copyWithin(k * target.w, 0, target.n * target.w);
    target.pf.copyWithin(k, 0, target.n);
    for (let j = 0; j < k; j++) this.copySlotTo(from + j, target, j);
    target.n += k;
    this.n = from;
    if (this.n === 0) this.used = this.garbage = 0;
  }

  /** Move slots [0, count) to the end of `target`. */
  moveKeysHead(count: number, target: Keys): void {
    if (count <= 0) return;
    target.reserve(this.keyBytes(0, count));
    for (let j = 0; j < count; j++) this.copySlotTo(j, target, target.n + j);
    target.n += count;
    this.f.copyWithin(0, count * this.w, this.n * this.w);
    this.pf.copyWithin(0, count, this.n);
    this.n -= count;
    if (this.n === 0) this.used = this.garbage = 0;
  }

  private keyBytes(from: number, to: number): number {
    let bytes = 0;
    for (let i = from; i < to; i++) bytes += this.f[i * this.w + KLEN];
    return bytes;
  }

  /** Copy slot i to slot j of `target`, whose slab has room (reserve() was called). */
  private copySlotTo(i: number, target: Keys, j: number): void {
    const b = i * this.w;
    const len = this.f[b + KLEN];
    this.garbage += len;
    const koff = target.put(this.slab, this.f[b + KOFF], len);
    target.f.set(this.f.subarray(b, b + this.w), j * target.w);
    target.f[j * target.w + KOFF] = koff;
    target.pf[j] = this.pf[i];
  }

  private put(src: Uint8Array, start: number, len: number): number {
    const at = this.used;
    const slab = this.slab;
    if (len <= 32) for (let k = 0; k < len; k++) slab[at + k] = src[start + k];
    else slab.set(src.subarray(start, start + len), at);
    this.used += len;
    return at;
  }

  /**
   * Make room for `bytes` more key bytes: compact away the garbage of removed
   * keys, growing the slab when that would leave less than a fifth free (so a
   * nearly full node does not compact on every insert).
   */
  private reserve(bytes: number): void {
    if (this.used + bytes <= this.slab.length) return;
    const need = this.used - this.garbage + bytes;
    const cap = need * 1.25 <= this.slab.length ? this.slab.length : Math.ceil(need * 1.5);
    const slab = new Uint8Array(cap);
    let at = 0;
    const { f, w } = this;
    for (let i = 0; i < this.n; i++) {
      const b = i * w;
      const off = f[b + KOFF];
      const klen = f[b + KLEN];
      slab.set(this.slab.subarray(off, off + klen), at);
      f[b + KOFF] = at;
      at += klen;
    }
    this.slab = slab;
    this.used = at;
    this.garbage = 0;
  }
}

/** An inner node: key c (of n) is the smallest key that may live under children[c + 1]. */
export class Inner extends Keys {
  children: Node[] = [];

  constructor(slabBytes: number) {
    // One spare slot: a node briefly holds SLOTS separators before it splits.
    super(INNER_W, SLOTS + 1, slabBytes);
  }

  insertSeparator(i: number, src: Uint8Array, start: number, len: number): void {
    this.insertKeyAt(i, src, start, len);
  }
}

/** A leaf: up to SLOTS entries, chained to its neighbours for range walks. */
export class Leaf extends Keys {
  next: Leaf | undefined = undefined;
  prev: Leaf | undefined = undefined;

  constructor(slabBytes: number) {
    super(LEAF_W, SLOTS, slabBytes);
  }

  valueSize(i: number): number {
    return this.f[i * LEAF_W + VSIZE];
  }

  entry(i: number): KeydirEntry {
    const out = { fileId: 0, offset: 0, valueSize: 0, seq: 0 };
    this.readInto(i, out);
    return out;
  }

  readInto(i: number, out: KeydirEntry): void {
    const b = i * LEAF_W;
    const f = this.f;
    out.fileId = f[b + FILE];
    out.offset = f[b + OFF];
    out.valueSize = f[b + VSIZE];
    out.seq = f[b + SEQ_HI] * TWO32 + f[b + SEQ_LO];
  }

  setFields(i: number, fileId: number, offset: number, valueSize: number, seq: number): void {
    const b = i * LEAF_W;
    const f = this.f;
    f[b + FILE] = fileId;
    f[b + OFF] = offset;
    f[b + VSIZE] = valueSize;
    f[b + SEQ_LO] = seq >>> 0;
    f[b + SEQ_HI] = Math.floor(seq / TWO32);
  }

  insertAt(
    i: number,
    src: Uint8Array,
    start: number,
    len: number,
    fileId: number,
    offset: number,
    valueSize: number,
    seq: number,
  ): void {
    this.insertKeyAt(i, src, start, len);
    this.setFields(i, fileId, offset, valueSize, seq);
  }
}

export type Node = Leaf | Inner;
