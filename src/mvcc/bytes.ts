// Byte-string helpers. The key index and the in-memory storage key their maps
// by "latin1" strings: one char per byte, so JavaScript's string order (UTF-16
// code units, here all < 0x100) is exactly the byte order etcd ranges by.

export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

/**
 * A string greater than every latin1 string: the exclusive end of a range that
 * runs to the end of the key space (etcd's range_end = "\0").
 */
export const KEY_SPACE_END = "\u0100";

export function toLatin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
}

/** The bytes of a latin1 string, as a plain Uint8Array (not a Buffer). */
export function fromLatin1(s: string): Uint8Array {
  const buf = Buffer.from(s, "latin1");
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}

/** A private copy, so later changes to a caller's buffer cannot reach stored state. */
export function copyBytes(b: Uint8Array): Uint8Array {
  return b.slice();
}

/**
 * A request's key span: `end` is null for a single key, KEY_SPACE_END for
 * "to the end", or the exclusive end key. Mirrors etcd's mkGteRange: an empty
 * range_end means one key, the single byte "\0" means "every key >= key".
 */
export interface KeySpan {
  start: string;
  end: string | null;
}

export function keySpan(key: Uint8Array, rangeEnd?: Uint8Array): KeySpan {
  const start = toLatin1(key);
  if (rangeEnd === undefined || rangeEnd.byteLength === 0) return { start, end: null };
  if (rangeEnd.byteLength === 1 && rangeEnd[0] === 0) return { start, end: KEY_SPACE_END };
  return { start, end: toLatin1(rangeEnd) };
}

export function spanContains(span: KeySpan, key: string): boolean {
  if (span.end === null) return key === span.start;
  return key >= span.start && key < span.end;
}

/** The smallest key greater than every key with this prefix ("\0" when there is none), as etcd's GetPrefixRangeEnd. */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  const end = prefix.slice();
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Uint8Array.of(0);
}
