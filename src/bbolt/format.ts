// Layout constants of the bbolt file format (go.etcd.io/bbolt, little-endian as on amd64/arm64).

/** Thrown by readBolt for anything that is not a valid bbolt file, and by writeBolt for input it cannot write. */
export class BoltError extends Error {
  override name = "BoltError";
}

export const MAGIC = 0xed0cdaed;
export const VERSION = 2;
export const DEFAULT_PAGE_SIZE = 4096;

/** page header: id u64, flags u16, count u16, overflow u32 */
export const PAGE_HEADER_SIZE = 16;
/** leaf element: flags u32, pos u32, ksize u32, vsize u32 (pos counts from the element itself) */
export const LEAF_ELEMENT_SIZE = 16;
/** branch element: pos u32, ksize u32, pgid u64 */
export const BRANCH_ELEMENT_SIZE = 16;
/** bucket header, the start of a bucket's value in its parent: root pgid u64, sequence u64 */
export const BUCKET_HEADER_SIZE = 16;

export const BRANCH_PAGE = 0x01;
export const LEAF_PAGE = 0x02;
export const META_PAGE = 0x04;
export const FREELIST_PAGE = 0x10;

/** leaf element flag: the value is a bucket header (plus an inline page when the bucket's root is 0) */
export const BUCKET_LEAF_FLAG = 0x01;

/**
 * meta, right after the page header of pages 0 and 1: magic u32, version u32, pageSize u32, flags u32,
 * root bucket {root u64, sequence u64}, freelist pgid u64, pgid (high water mark) u64, txid u64,
 * checksum u64 = FNV-64a of the 56 bytes before it.
 */
export const META_SIZE = 64;
export const META_CHECKSUM_OFFSET = 56;

/** meta.freelist when the freelist is not stored (bbolt's NoFreelistSync) */
export const PGID_NO_FREELIST = 0xffff_ffff_ffff_ffffn;

export const MAX_KEY_SIZE = 32768;
export const MAX_VALUE_SIZE = 2 ** 31 - 2;

const FNV64_OFFSET = 0xcbf29ce484222325n;
const FNV64_PRIME = 0x100000001b3n;
const MASK64 = 0xffff_ffff_ffff_ffffn;

/** FNV-1a, 64-bit (Go's hash/fnv New64a). */
export function fnv64a(bytes: Uint8Array, start: number, end: number): bigint {
  let h = FNV64_OFFSET;
  for (let i = start; i < end; i++) {
    h ^= BigInt(bytes[i]);
    h = (h * FNV64_PRIME) & MASK64;
  }
  return h;
}

const TWO_32 = 2 ** 32;

/** A u64 below 2^53 as a number; larger values come back as Infinity (always out of range). */
export function readU64(buf: Buffer, off: number): number {
  const lo = buf.readUInt32LE(off);
  const hi = buf.readUInt32LE(off + 4);
  if (hi >= 2 ** 21) return Number.POSITIVE_INFINITY;
  return hi * TWO_32 + lo;
}

export function writeU64(buf: Buffer, off: number, value: number): void {
  buf.writeUInt32LE((value % TWO_32) >>> 0, off);
  buf.writeUInt32LE(Math.floor(value / TWO_32) >>> 0, off + 4);
}

/** Whether `file` starts like a bbolt database: page 0's meta carries the magic (a cheap sniff, not a check). */
export function looksLikeBolt(file: Uint8Array): boolean {
  if (file.length < PAGE_HEADER_SIZE + 4) return false;
  return (
    new DataView(file.buffer, file.byteOffset, file.byteLength).getUint32(PAGE_HEADER_SIZE, true) === MAGIC
  );
}
