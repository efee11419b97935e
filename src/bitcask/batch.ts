// A write batch: checked against the limits before anything is written, then
// encoded into one buffer so it reaches the file in one write.

import { BitcaskError } from "./errors.ts";
import type { ResolvedOptions } from "./options.ts";
import { encodeRecord, FLAG_BATCH_END, RecordType, recordBytes } from "./record.ts";
import type { BatchOp } from "./types.ts";

/** Check every operation against the limits; returns the encoded size in bytes. */
export function validateBatch(ops: readonly BatchOp[], o: ResolvedOptions): number {
  if (!Array.isArray(ops))
    throw new BitcaskError("InvalidOption", "bitcask: writeBatch takes an array of operations");
  if (ops.length > o.maxBatchOps) {
    throw new BitcaskError(
      "BatchTooLarge",
      `bitcask: batch of ${ops.length} operations exceeds maxBatchOps ${o.maxBatchOps}`,
    );
  }
  let bytes = 0;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    const key = op?.key;
    if (!(key instanceof Uint8Array)) {
      throw new BitcaskError("InvalidOption", `bitcask: operation ${i} has no Uint8Array key`);
    }
    if (key.length === 0) throw new BitcaskError("KeyEmpty", `bitcask: operation ${i} has an empty key`);
    if (key.length > o.maxKeyBytes) {
      throw new BitcaskError(
        "KeyTooLarge",
        `bitcask: key of ${key.length} bytes exceeds maxKeyBytes ${o.maxKeyBytes} (operation ${i})`,
      );
    }
    let valueSize = 0;
    if (op.type === "put") {
      if (!(op.value instanceof Uint8Array)) {
        throw new BitcaskError("InvalidOption", `bitcask: put ${i} has no Uint8Array value`);
      }
      valueSize = op.value.length;
      if (valueSize > o.maxValueBytes) {
        throw new BitcaskError(
          "ValueTooLarge",
          `bitcask: value of ${valueSize} bytes exceeds maxValueBytes ${o.maxValueBytes} (operation ${i})`,
        );
      }
    } else if (op.type !== "delete") {
      throw new BitcaskError(
        "InvalidOption",
        `bitcask: operation ${i} has type ${String(op.type)}, not put or delete`,
      );
    }
    bytes += recordBytes(key.length, valueSize);
  }
  if (bytes > o.maxBatchBytes) {
    throw new BitcaskError(
      "BatchTooLarge",
      `bitcask: batch of ${bytes} bytes exceeds maxBatchBytes ${o.maxBatchBytes}`,
    );
  }
  return bytes;
}

/** Encode the operations as consecutive records with seqs from `seq0`; the last one ends the batch. */
export function encodeBatch(
  ops: readonly BatchOp[],
  bytes: number,
  seq0: number,
  timestampMs: number,
): Buffer {
  const buf = Buffer.allocUnsafe(bytes);
  let at = 0;
  const last = ops.length - 1;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    const flags = i === last ? FLAG_BATCH_END : 0;
    at +=
      op.type === "put"
        ? encodeRecord(buf, at, RecordType.Put, flags, i, seq0 + i, timestampMs, op.key, op.value)
        : encodeRecord(buf, at, RecordType.Tombstone, flags, i, seq0 + i, timestampMs, op.key, undefined);
  }
  return buf;
}

/**
 * The smallest key greater than every key starting with `prefix` (etcd's
 * GetPrefixRangeEnd): the prefix with its last byte below 0xff incremented and
 * what follows dropped; empty (no upper bound) when every byte is 0xff.
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i] < 0xff) {
      const end = Uint8Array.prototype.slice.call(prefix, 0, i + 1);
      end[i]++;
      return end;
    }
  }
  return new Uint8Array(0);
}
