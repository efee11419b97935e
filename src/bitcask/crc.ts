// CRC-32C for the record path. Most records are small (a 40-byte header, a
// short key and value), and for those the cost of crossing into the native
// crc32c (an N-API call) exceeds the checksum itself; a table-driven loop
// (slicing by 8) in JS is faster below a few hundred bytes. Larger inputs go
// to the native hardware-accelerated one. Both compute the same function.

import { crc32c as nativeCrc32c } from "../common/index.ts";

/** Inputs up to this many bytes use the JS loop. */
const SMALL_BYTES = 256;

// T[k * 256 + b]: the CRC of byte b followed by k zero bytes (slicing-by-8 tables).
const T = new Int32Array(8 * 256);
for (let b = 0; b < 256; b++) {
  let c = b;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  T[b] = c;
}
for (let b = 0; b < 256; b++) {
  for (let k = 1; k < 8; k++) T[k * 256 + b] = (T[(k - 1) * 256 + b] >>> 8) ^ T[T[(k - 1) * 256 + b] & 0xff];
}

/** CRC-32C of buf[start, end). */
export function crc32cRange(buf: Uint8Array, start: number, end: number): number {
  if (end - start > SMALL_BYTES) return nativeCrc32c(buf.subarray(start, end));
  let c = ~0;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const lo = c ^ (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24));
    c =
      T[7 * 256 + (lo & 0xff)] ^
      T[6 * 256 + ((lo >>> 8) & 0xff)] ^
      T[5 * 256 + ((lo >>> 16) & 0xff)] ^
      T[4 * 256 + (lo >>> 24)] ^
      T[3 * 256 + buf[i + 4]] ^
      T[2 * 256 + buf[i + 5]] ^
      T[256 + buf[i + 6]] ^
      T[buf[i + 7]];
  }
  for (; i < end; i++) c = T[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}
