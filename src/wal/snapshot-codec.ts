// Codecs of the two structured frames of a snapshot file (snapshot.ts holds
// the file layout): the SnapMeta header and the SnapEnd trailer. Both use the
// WAL's framing (record.ts), so one frame checker serves every file.

import type { SnapshotMetadata } from "../raft/index.ts";
import {
  FORMAT_VERSION,
  FRAME_HEADER_BYTES,
  RecordType,
  readSnapshotMeta,
  readU64,
  sealFrame,
  snapshotMetaBytes,
  writeSnapshotMeta,
  writeU64,
} from "./record.ts";

export const SNAPSHOT_MAGIC = 0x504e5346; // "FSNP" read as little-endian bytes
const SNAP_END_BYTES = 20;

export interface SnapEndRecord {
  readonly totalBytes: number;
  readonly chunks: number;
  readonly imageCrc: number;
}

export function encodeSnapMeta(m: SnapshotMetadata): Buffer {
  const payloadLen = 5 + snapshotMetaBytes(m);
  const buf = Buffer.alloc(FRAME_HEADER_BYTES + payloadLen);
  let p = buf.writeUInt32LE(SNAPSHOT_MAGIC, FRAME_HEADER_BYTES);
  buf[p++] = FORMAT_VERSION;
  writeSnapshotMeta(buf, p, m, false);
  sealFrame(buf, 0, RecordType.SnapMeta, payloadLen);
  return buf;
}

export function decodeSnapMeta(payload: Buffer): SnapshotMetadata | string {
  if (payload.length < 5) return `snapshot header is ${payload.length} bytes`;
  const magic = payload.readUInt32LE(0);
  if (magic !== SNAPSHOT_MAGIC)
    return `snapshot magic is 0x${magic.toString(16)}, expected 0x${SNAPSHOT_MAGIC.toString(16)}`;
  if (payload[4] !== FORMAT_VERSION)
    return `snapshot format version ${payload[4]} is not supported (expected 1)`;
  const m = readSnapshotMeta(payload, 5);
  if (typeof m === "string") return m;
  if (m.install) return "snapshot header carries the install flag";
  return m.metadata;
}

export function encodeSnapEnd(e: SnapEndRecord): Buffer {
  const buf = Buffer.alloc(FRAME_HEADER_BYTES + SNAP_END_BYTES);
  let p = writeU64(buf, FRAME_HEADER_BYTES, e.totalBytes);
  p = writeU64(buf, p, e.chunks);
  buf.writeUInt32LE(e.imageCrc, p);
  sealFrame(buf, 0, RecordType.SnapEnd, SNAP_END_BYTES);
  return buf;
}

export function decodeSnapEnd(payload: Buffer): SnapEndRecord | string {
  if (payload.length !== SNAP_END_BYTES) return `snapshot end record is ${payload.length} bytes, expected 20`;
  const totalBytes = readU64(payload, 0);
  const chunks = readU64(payload, 8);
  if (totalBytes < 0 || chunks < 0) return "snapshot end record field exceeds 2^53";
  return { totalBytes, chunks, imageCrc: payload.readUInt32LE(16) };
}
