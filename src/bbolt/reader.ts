// Reads every top-level bucket of a bbolt file, checking the structure as it goes.

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
  META_CHECKSUM_OFFSET,
  META_SIZE,
  PAGE_HEADER_SIZE,
  PGID_NO_FREELIST,
  readU64,
  VERSION,
} from "./format.ts";

interface Meta {
  page: number;
  pageSize: number;
  root: number;
  freelist: bigint;
  hwm: number;
  txid: bigint;
}

/** The meta of page `page` for page size `pageSize`, or a description of what is wrong with it. */
function readMeta(buf: Buffer, page: number, pageSize: number): Meta | string {
  const p = page * pageSize;
  const m = p + PAGE_HEADER_SIZE;
  if (buf.length < m + META_SIZE)
    return `meta page ${page} is past the end of the file (${buf.length} bytes)`;
  const magic = buf.readUInt32LE(m);
  if (magic !== MAGIC) return `meta page ${page}: bad magic 0x${magic.toString(16)}`;
  const version = buf.readUInt32LE(m + 4);
  if (version !== VERSION) return `meta page ${page}: version ${version}, not ${VERSION}`;
  // Like bbolt, a zero checksum is not checked.
  const checksum = buf.readBigUInt64LE(m + META_CHECKSUM_OFFSET);
  if (checksum !== 0n && checksum !== fnv64a(buf, m, m + META_CHECKSUM_OFFSET)) {
    return `meta page ${page}: checksum mismatch`;
  }
  return {
    page,
    pageSize: buf.readUInt32LE(m + 8),
    root: readU64(buf, m + 16),
    freelist: buf.readBigUInt64LE(m + 32),
    hwm: readU64(buf, m + 40),
    txid: buf.readBigUInt64LE(m + 48),
  };
}

function checkPageSize(m: Meta | string, readWith: number): Meta | string {
  if (typeof m === "string") return m;
  const size = m.pageSize;
  if (size < PAGE_HEADER_SIZE + META_SIZE || size > 1 << 30 || (size & (size - 1)) !== 0) {
    return `meta page ${m.page}: page size ${size} is not a power of two from 128 to 2^30`;
  }
  if (m.page === 1 && size !== readWith) {
    return `meta page 1: page size ${size}, but it was found at offset ${readWith}`;
  }
  return m;
}

/** bbolt's choice: the meta with the higher txid if it validates, else the other one. */
function chooseMeta(buf: Buffer): Meta {
  // Like bbolt, take the page size from meta 0, or assume the usual one when meta 0 is invalid.
  const m0 = checkPageSize(readMeta(buf, 0, DEFAULT_PAGE_SIZE), 0);
  const pageSize = typeof m0 === "string" ? DEFAULT_PAGE_SIZE : m0.pageSize;
  let m1 = checkPageSize(readMeta(buf, 1, pageSize), pageSize);
  if (typeof m0 === "string" && typeof m1 === "string") {
    // Unlike bbolt, also look for meta 1 at the other common page sizes.
    for (let size = 1024; size <= 65536 && typeof m1 === "string"; size *= 2) {
      if (size === pageSize) continue;
      const m = checkPageSize(readMeta(buf, 1, size), size);
      if (typeof m !== "string") m1 = m;
    }
  }
  if (typeof m0 === "string" && typeof m1 === "string") {
    throw new BoltError(`bbolt: not a valid bbolt file: ${m0}; ${m1}`);
  }
  let meta: Meta;
  if (typeof m0 === "string") meta = m1 as Meta;
  else if (typeof m1 === "string") meta = m0;
  else meta = m1.txid > m0.txid ? m1 : m0;
  const where = `meta page ${meta.page} (txid ${meta.txid})`;
  if (meta.hwm < 3) throw new BoltError(`bbolt: ${where}: high water mark ${meta.hwm} is below 3`);
  if (meta.hwm * meta.pageSize > buf.length) {
    throw new BoltError(
      `bbolt: ${where}: the file is truncated: ${meta.hwm} pages of ${meta.pageSize} bytes need ` +
        `${meta.hwm * meta.pageSize} bytes, the file has ${buf.length}`,
    );
  }
  if (meta.root < 2 || meta.root >= meta.hwm) {
    throw new BoltError(`bbolt: ${where}: root bucket page ${meta.root} is out of range [2, ${meta.hwm})`);
  }
  if (meta.freelist !== PGID_NO_FREELIST && (meta.freelist < 2n || meta.freelist >= BigInt(meta.hwm))) {
    throw new BoltError(`bbolt: ${where}: freelist page ${meta.freelist} is out of range [2, ${meta.hwm})`);
  }
  return meta;
}

interface Page {
  id: number;
  flags: number;
  count: number;
  /** byte offset of the page header in the buffer holding it */
  start: number;
  /** end of the page (and its overflow pages) in that buffer */
  end: number;
}

class Reader {
  readonly pageSize: number;
  readonly hwm: number;
  private readonly seen = new Set<number>();

  constructor(
    readonly buf: Buffer,
    meta: Meta,
  ) {
    this.pageSize = meta.pageSize;
    this.hwm = meta.hwm;
  }

  /** Page `pgid`, checked to be in range, referenced once, of one of the `allowed` types. */
  page(pgid: number, allowed: number, from: string): Page {
    if (pgid < 2 || pgid >= this.hwm) {
      throw new BoltError(`bbolt: page ${pgid} (${from}) is out of range [2, ${this.hwm})`);
    }
    if (this.seen.has(pgid)) throw new BoltError(`bbolt: page ${pgid} (${from}) is referenced twice`);
    this.seen.add(pgid);
    const start = pgid * this.pageSize;
    const id = readU64(this.buf, start);
    const flags = this.buf.readUInt16LE(start + 8);
    const count = this.buf.readUInt16LE(start + 10);
    const overflow = this.buf.readUInt32LE(start + 12);
    const where = `bbolt: page ${pgid} (${from}, offset ${start})`;
    if (id !== pgid) throw new BoltError(`${where}: the header says it is page ${id}`);
    if ((flags & allowed) === 0) {
      throw new BoltError(`${where}: unexpected page type, flags 0x${flags.toString(16)}`);
    }
    if (pgid + overflow >= this.hwm) {
      throw new BoltError(`${where}: ${overflow} overflow pages run past the high water mark ${this.hwm}`);
    }
    return { id: pgid, flags, count, start, end: start + (overflow + 1) * this.pageSize };
  }

  /** Calls `visit(flags, key, value)` for each element of the leaf `p` (byte ranges in this.buf). */
  leaf(
    p: Page,
    where: string,
    visit: (flags: number, kStart: number, kEnd: number, vEnd: number, i: number) => void,
  ): void {
    const { buf } = this;
    if (p.start + PAGE_HEADER_SIZE + p.count * LEAF_ELEMENT_SIZE > p.end) {
      throw new BoltError(`bbolt: ${where}: ${p.count} leaf elements do not fit in the page`);
    }
    for (let i = 0; i < p.count; i++) {
      const e = p.start + PAGE_HEADER_SIZE + i * LEAF_ELEMENT_SIZE;
      const flags = buf.readUInt32LE(e);
      const kStart = e + buf.readUInt32LE(e + 4);
      const kEnd = kStart + buf.readUInt32LE(e + 8);
      const vEnd = kEnd + buf.readUInt32LE(e + 12);
      if (vEnd > p.end)
        throw new BoltError(`bbolt: ${where}: leaf element ${i} runs past the end of the page`);
      visit(flags, kStart, kEnd, vEnd, i);
    }
  }

  /** Walks the tree rooted at `pgid`, calling `visit` for each leaf element in order. */
  tree(
    pgid: number,
    from: string,
    depth: number,
    visit: (flags: number, kStart: number, kEnd: number, vEnd: number, where: string) => void,
  ): void {
    if (depth > 64) throw new BoltError(`bbolt: page ${pgid} (${from}): the tree is deeper than 64 levels`);
    const p = this.page(pgid, BRANCH_PAGE | LEAF_PAGE, from);
    const where = `page ${pgid} (${from})`;
    if (p.flags & LEAF_PAGE) {
      this.leaf(p, where, (flags, kStart, kEnd, vEnd, i) =>
        visit(flags, kStart, kEnd, vEnd, `${where} element ${i}`),
      );
      return;
    }
    const { buf } = this;
    if (p.start + PAGE_HEADER_SIZE + p.count * BRANCH_ELEMENT_SIZE > p.end) {
      throw new BoltError(`bbolt: ${where}: ${p.count} branch elements do not fit in the page`);
    }
    for (let i = 0; i < p.count; i++) {
      const e = p.start + PAGE_HEADER_SIZE + i * BRANCH_ELEMENT_SIZE;
      const kEnd = e + buf.readUInt32LE(e) + buf.readUInt32LE(e + 4);
      if (kEnd > p.end)
        throw new BoltError(`bbolt: ${where}: branch element ${i} runs past the end of the page`);
      this.tree(readU64(buf, e + 8), `child ${i} of page ${pgid}`, depth + 1, visit);
    }
  }
}

function latin1(buf: Buffer, start: number, end: number): string {
  return buf.toString("latin1", start, end);
}

/** Every top-level bucket of a bbolt file and its key/value pairs in key order. */
export function readBolt(file: Uint8Array): Map<string, Array<[Uint8Array, Uint8Array]>> {
  const buf = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  const u8 = new Uint8Array(file.buffer, file.byteOffset, file.byteLength);
  const meta = chooseMeta(buf);
  const r = new Reader(buf, meta);
  if (meta.freelist !== PGID_NO_FREELIST) {
    const p = r.page(Number(meta.freelist), FREELIST_PAGE, "freelist");
    let count = p.count;
    let first = p.start + PAGE_HEADER_SIZE;
    if (count === 0xffff) {
      count = readU64(buf, first);
      first += 8;
    }
    if (first + count * 8 > p.end) {
      throw new BoltError(`bbolt: freelist page ${p.id}: ${count} page ids do not fit in the page`);
    }
  }

  const out = new Map<string, Array<[Uint8Array, Uint8Array]>>();
  r.tree(meta.root, "root bucket", 0, (flags, nStart, nEnd, vEnd, where) => {
    const name = latin1(buf, nStart, nEnd);
    const what = `bucket "${name}" (${where})`;
    if ((flags & BUCKET_LEAF_FLAG) === 0)
      throw new BoltError(`bbolt: ${what}: the root bucket holds a plain key`);
    if (vEnd - nEnd < BUCKET_HEADER_SIZE)
      throw new BoltError(`bbolt: ${what}: the bucket header is too short`);
    if (out.has(name)) throw new BoltError(`bbolt: ${what}: the bucket appears twice`);
    const entries: Array<[Uint8Array, Uint8Array]> = [];
    let prevStart = -1;
    let prevEnd = -1;
    const add = (flags: number, kStart: number, kEnd: number, vEnd: number, at: string): void => {
      if (flags & BUCKET_LEAF_FLAG) {
        throw new BoltError(
          `bbolt: bucket "${name}" (${at}): nested bucket ${buf.toString("hex", kStart, kEnd)} is not supported`,
        );
      }
      if (prevStart >= 0 && buf.compare(buf, prevStart, prevEnd, kStart, kEnd) <= 0) {
        throw new BoltError(`bbolt: bucket "${name}" (${at}): keys are out of order`);
      }
      prevStart = kStart;
      prevEnd = kEnd;
      entries.push([u8.slice(kStart, kEnd), u8.slice(kEnd, vEnd)]);
    };
    const root = readU64(buf, nEnd);
    if (root === 0) {
      // inline bucket: a leaf page right after the bucket header, inside the value
      const start = nEnd + BUCKET_HEADER_SIZE;
      if (vEnd - start < PAGE_HEADER_SIZE)
        throw new BoltError(`bbolt: ${what}: the inline page is too short`);
      const pflags = buf.readUInt16LE(start + 8);
      if ((pflags & LEAF_PAGE) === 0) {
        throw new BoltError(`bbolt: ${what}: the inline page is not a leaf (flags 0x${pflags.toString(16)})`);
      }
      const p: Page = { id: 0, flags: pflags, count: buf.readUInt16LE(start + 10), start, end: vEnd };
      const at = `inline page of ${what}`;
      r.leaf(p, at, (f, kStart, kEnd, vEnd2, i) => add(f, kStart, kEnd, vEnd2, `${at} element ${i}`));
    } else {
      r.tree(root, `bucket "${name}"`, 1, add);
    }
    out.set(name, entries);
  });
  return out;
}
