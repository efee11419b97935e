// Writes a complete bbolt file in one go: every B+tree is built bottom-up from already sorted input.

import {
  BoltError,
  BRANCH_ELEMENT_SIZE,
  BRANCH_PAGE,
  BUCKET_HEADER_SIZE,
  BUCKET_LEAF_FLAG,
  DEFAULT_PAGE_SIZE,
  FREELIST_PAGE,
  fnv64a,
  LEAF_ELEMENT_SIZE,
  LEAF_PAGE,
  MAGIC,
  MAX_KEY_SIZE,
  MAX_VALUE_SIZE,
  META_CHECKSUM_OFFSET,
  META_PAGE,
  PAGE_HEADER_SIZE,
  VERSION,
  writeU64,
} from "./format.ts";

export interface BoltBucket {
  name: Uint8Array;
  /** sorted by key, bytewise ascending, unique non-empty keys */
  entries: ReadonlyArray<readonly [Uint8Array, Uint8Array]>;
}

export interface WriteBoltOptions {
  /** a power of two from 1024 to 65536; 4096 when absent */
  pageSize?: number;
  /** the txid of the newer meta page (the other one gets txid-1); 1 when absent */
  txid?: number;
}

type Entries = ReadonlyArray<readonly [Uint8Array, Uint8Array]>;

/** first key of a page and where it is, for the branch level above */
interface PageRef {
  key: Uint8Array;
  pgid: number;
}

class PageWriter {
  readonly chunks: Buffer[] = [];
  /** 0 and 1 are the metas, 2 the freelist */
  nextPgid = 3;
  constructor(readonly pageSize: number) {}

  /** A zeroed page (plus overflow pages) holding `bytes`, with its id and overflow already set. */
  alloc(bytes: number): { buf: Buffer; pgid: number } {
    const npages = Math.max(1, Math.ceil(bytes / this.pageSize));
    const buf = Buffer.alloc(npages * this.pageSize);
    const pgid = this.nextPgid;
    this.nextPgid += npages;
    writeU64(buf, 0, pgid);
    buf.writeUInt32LE(npages - 1, 12);
    this.chunks.push(buf);
    return { buf, pgid };
  }
}

/** Leaf page header (without the id) and elements [from, to) of `entries` at `base` in `buf`. */
function encodeLeaf(
  buf: Buffer,
  base: number,
  entries: Entries,
  from: number,
  to: number,
  flags: number,
): void {
  buf.writeUInt16LE(LEAF_PAGE, base + 8);
  buf.writeUInt16LE(to - from, base + 10);
  let elem = base + PAGE_HEADER_SIZE;
  let data = elem + (to - from) * LEAF_ELEMENT_SIZE;
  for (let i = from; i < to; i++) {
    const [key, value] = entries[i];
    buf.writeUInt32LE(flags, elem);
    buf.writeUInt32LE(data - elem, elem + 4);
    buf.writeUInt32LE(key.length, elem + 8);
    buf.writeUInt32LE(value.length, elem + 12);
    buf.set(key, data);
    data += key.length;
    buf.set(value, data);
    data += value.length;
    elem += LEAF_ELEMENT_SIZE;
  }
}

/**
 * Splits `sizes` (element size including its element header) into runs that fill pages up to the page
 * size, with at least `minPerPage` elements in a run when there are that many left (an element that
 * alone is bigger than a page gets a page with overflow pages). Returns the run boundaries.
 */
function pack(count: number, sizeOf: (i: number) => number, pageSize: number, minPerPage: number): number[] {
  const bounds = [0];
  let used = PAGE_HEADER_SIZE;
  let n = 0;
  for (let i = 0; i < count; i++) {
    const size = sizeOf(i);
    if (n >= minPerPage && used + size > pageSize) {
      bounds.push(i);
      used = PAGE_HEADER_SIZE;
      n = 0;
    }
    used += size;
    n++;
  }
  bounds.push(count);
  return bounds;
}

/** Writes the leaves of a tree holding `entries` (at least one), then branch levels; returns the root. */
function writeTree(w: PageWriter, entries: Entries, flags: number): number {
  const leafSize = (i: number) => LEAF_ELEMENT_SIZE + entries[i][0].length + entries[i][1].length;
  const bounds = pack(entries.length, leafSize, w.pageSize, 1);
  let level: PageRef[] = [];
  for (let p = 0; p + 1 < bounds.length; p++) {
    const from = bounds[p];
    const to = bounds[p + 1];
    let bytes = PAGE_HEADER_SIZE;
    for (let i = from; i < to; i++) bytes += leafSize(i);
    const { buf, pgid } = w.alloc(bytes);
    encodeLeaf(buf, 0, entries, from, to, flags);
    level.push({ key: entries[from][0], pgid });
  }
  while (level.length > 1) {
    const refs = level;
    const branchSize = (i: number) => BRANCH_ELEMENT_SIZE + refs[i].key.length;
    const bb = pack(refs.length, branchSize, w.pageSize, 2);
    level = [];
    for (let p = 0; p + 1 < bb.length; p++) {
      const from = bb[p];
      const to = bb[p + 1];
      let bytes = PAGE_HEADER_SIZE;
      for (let i = from; i < to; i++) bytes += branchSize(i);
      const { buf, pgid } = w.alloc(bytes);
      buf.writeUInt16LE(BRANCH_PAGE, 8);
      buf.writeUInt16LE(to - from, 10);
      let elem = PAGE_HEADER_SIZE;
      let data = elem + (to - from) * BRANCH_ELEMENT_SIZE;
      for (let i = from; i < to; i++) {
        const { key, pgid: child } = refs[i];
        buf.writeUInt32LE(data - elem, elem);
        buf.writeUInt32LE(key.length, elem + 4);
        writeU64(buf, elem + 8, child);
        buf.set(key, data);
        data += key.length;
        elem += BRANCH_ELEMENT_SIZE;
      }
      level.push({ key: refs[from].key, pgid });
    }
  }
  return level[0].pgid;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

function hexKey(key: Uint8Array): string {
  const hex = Buffer.from(key.buffer, key.byteOffset, Math.min(key.length, 32)).toString("hex");
  return key.length > 32 ? `${hex}...` : hex;
}

function checkBucket(b: BoltBucket): void {
  const where = `bucket ${hexKey(b.name)}`;
  let prev: Uint8Array | undefined;
  for (let i = 0; i < b.entries.length; i++) {
    const [key, value] = b.entries[i];
    if (key.length === 0) throw new BoltError(`writeBolt: ${where}: entry ${i} has an empty key`);
    if (key.length > MAX_KEY_SIZE) {
      throw new BoltError(`writeBolt: ${where}: key ${hexKey(key)} is longer than ${MAX_KEY_SIZE} bytes`);
    }
    if (value.length > MAX_VALUE_SIZE) {
      throw new BoltError(`writeBolt: ${where}: the value of key ${hexKey(key)} is too large`);
    }
    if (prev !== undefined && compareBytes(prev, key) >= 0) {
      throw new BoltError(
        `writeBolt: ${where}: key ${hexKey(key)} (entry ${i}) is not above the key before it`,
      );
    }
    prev = key;
  }
}

/** A complete bbolt file holding these top-level buckets; the file as consecutive chunks. */
export function writeBolt(buckets: readonly BoltBucket[], options: WriteBoltOptions = {}): Buffer[] {
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  if (
    !Number.isInteger(pageSize) ||
    pageSize < 1024 ||
    pageSize > 65536 ||
    (pageSize & (pageSize - 1)) !== 0
  ) {
    throw new BoltError(`writeBolt: page size ${pageSize} is not a power of two from 1024 to 65536`);
  }
  const txid = options.txid ?? 1;
  if (!Number.isSafeInteger(txid) || txid < 1) {
    throw new BoltError(`writeBolt: txid ${txid} is not a positive integer`);
  }
  const sorted = [...buckets].sort((a, b) => compareBytes(a.name, b.name));
  for (let i = 0; i < sorted.length; i++) {
    const { name } = sorted[i];
    if (name.length === 0) throw new BoltError("writeBolt: a bucket has an empty name");
    if (name.length > MAX_KEY_SIZE) throw new BoltError(`writeBolt: bucket name ${hexKey(name)} is too long`);
    if (i > 0 && compareBytes(sorted[i - 1].name, name) === 0) {
      throw new BoltError(`writeBolt: bucket ${hexKey(name)} appears twice`);
    }
    checkBucket(sorted[i]);
  }

  const w = new PageWriter(pageSize);
  // The root bucket's entries: each bucket's name and its bucket header (root pgid, sequence 0), followed
  // by the bucket's only page when it is small enough to be inline (bbolt's rule: at most a quarter page).
  const rootEntries: Array<readonly [Uint8Array, Uint8Array]> = [];
  for (const b of sorted) {
    let inlineSize = PAGE_HEADER_SIZE;
    for (const [k, v] of b.entries) {
      inlineSize += LEAF_ELEMENT_SIZE + k.length + v.length;
      if (inlineSize > pageSize / 4) break;
    }
    let value: Buffer;
    if (inlineSize <= pageSize / 4) {
      value = Buffer.alloc(BUCKET_HEADER_SIZE + inlineSize);
      encodeLeaf(value, BUCKET_HEADER_SIZE, b.entries, 0, b.entries.length, 0);
    } else {
      value = Buffer.alloc(BUCKET_HEADER_SIZE);
      writeU64(value, 0, writeTree(w, b.entries, 0));
    }
    rootEntries.push([b.name, value]);
  }
  let root: number;
  if (rootEntries.length === 0) {
    const { buf, pgid } = w.alloc(PAGE_HEADER_SIZE);
    buf.writeUInt16LE(LEAF_PAGE, 8);
    root = pgid;
  } else {
    root = writeTree(w, rootEntries, BUCKET_LEAF_FLAG);
  }

  const hwm = w.nextPgid;
  const head = Buffer.alloc(3 * pageSize);
  for (const id of [0, 1]) {
    // bbolt writes the meta of transaction t to page t % 2.
    const metaTxid = id === txid % 2 ? txid : txid - 1;
    const p = id * pageSize;
    writeU64(head, p, id);
    head.writeUInt16LE(META_PAGE, p + 8);
    const m = p + PAGE_HEADER_SIZE;
    head.writeUInt32LE(MAGIC, m);
    head.writeUInt32LE(VERSION, m + 4);
    head.writeUInt32LE(pageSize, m + 8);
    head.writeUInt32LE(0, m + 12);
    writeU64(head, m + 16, root);
    writeU64(head, m + 24, 0);
    writeU64(head, m + 32, 2);
    writeU64(head, m + 40, hwm);
    writeU64(head, m + 48, metaTxid);
    head.writeBigUInt64LE(fnv64a(head, m, m + META_CHECKSUM_OFFSET), m + META_CHECKSUM_OFFSET);
  }
  // page 2: the freelist, empty
  writeU64(head, 2 * pageSize, 2);
  head.writeUInt16LE(FREELIST_PAGE, 2 * pageSize + 8);
  return [head, ...w.chunks];
}
