// Peer frames: every byte between members travels in one of these.
//
//   u32be payload length | u32be CRC-32C(type byte + payload) | u8 type | payload
//
// The decoder is incremental (TCP hands us arbitrary slices) and bounded: a
// length above the limit or a checksum mismatch is reported as a FrameError
// value, and the connection that carried it must be closed; nothing is
// guessed or skipped.

import { crc32c } from "../common/crc32c.ts";

export const FRAME_HEADER_BYTES = 9;

export enum FrameType {
  Hello = 1,
  /** One protobuf RaftMessage. */
  Message = 2,
  /** The RaftMessage of a snapshot transfer; the image follows as chunks. */
  SnapshotHeader = 3,
  SnapshotChunk = 4,
  /** u64be total image bytes + 32-byte SHA-256 of the image. */
  SnapshotEnd = 5,
  SnapshotAck = 6,
  /** The answer to a query connection: the cluster info the server supplies (JSON). */
  ClusterInfo = 7,
}

export class FrameError extends Error {
  override name = "FrameError";
}

export function encodeFrame(type: FrameType, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.byteLength);
  out.writeUInt32BE(payload.byteLength, 0);
  out[8] = type;
  out.set(payload, FRAME_HEADER_BYTES);
  out.writeUInt32BE(crc32c(out.subarray(8)), 4);
  return out;
}

export interface Frame {
  type: FrameType;
  payload: Buffer;
}

/** Splits a byte stream into frames; `push` returns the complete frames so far or the first error. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  /** Bytes consumed before the current buffer, for error offsets. */
  private offset = 0;

  constructor(private readonly maxFrameBytes: number) {}

  push(chunk: Buffer): Frame[] | FrameError {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: Frame[] = [];
    let at = 0;
    while (this.buf.length - at >= FRAME_HEADER_BYTES) {
      const len = this.buf.readUInt32BE(at);
      if (len > this.maxFrameBytes) {
        return new FrameError(
          `frame at stream offset ${this.offset + at} declares ${len} bytes, over the ${this.maxFrameBytes}-byte limit`,
        );
      }
      if (this.buf.length - at < FRAME_HEADER_BYTES + len) break;
      const want = this.buf.readUInt32BE(at + 4);
      const body = this.buf.subarray(at + 8, at + FRAME_HEADER_BYTES + len);
      const got = crc32c(body);
      if (got !== want) {
        return new FrameError(
          `frame at stream offset ${this.offset + at} fails its checksum (stored ${want.toString(16)}, computed ${got.toString(16)})`,
        );
      }
      const type = body[0] as FrameType;
      if (!(type in FrameType)) {
        return new FrameError(`frame at stream offset ${this.offset + at} has unknown type ${type}`);
      }
      frames.push({ type, payload: body.subarray(1) });
      at += FRAME_HEADER_BYTES + len;
    }
    this.offset += at;
    this.buf = at === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(at);
    return frames;
  }

  /** Bytes received but not yet a whole frame. */
  get pendingBytes(): number {
    return this.buf.length;
  }
}
