// CRC-32C (Castagnoli), the checksum on every framed record floe writes to
// disk or the wire. Backed by @node-rs/crc32 (hardware CRC instructions).

import { crc32c as native } from "@node-rs/crc32";

/** CRC-32C of `data`, continuing from `initial` (0 for a fresh checksum). */
export function crc32c(data: Uint8Array, initial = 0): number {
  return (
    native(
      Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength),
      initial,
    ) >>> 0
  );
}
