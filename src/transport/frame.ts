// Peer frames: every byte between members travels in one of these.
//
//   u32be payload length | u32be CRC-32C(type byte + payload) | u8 type | payload
//
// The decoder is incremental (TCP hands us arbitrary slices) and bounded: a
// length above the limit or a checksum mismatch is reported as a FrameError
// value, and the connection that carried it must be closed; nothing is
// guessed or skipped.

import { crc32c } from "../common/index.ts";

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

/**
 * Splits a byte stream into frames; `push` returns the complete frames so far
 * or the first error. Chunks are kept as they arrive and joined only once a
 * whole frame is there, so a large frame sent in small packets costs linear
 * time (a stranger trickling a 60 MiB frame must not cost the member a copy
 * of everything so far on every packet). `announcedBytes` tells the size of a
 * frame whose header has arrived but whose payload has not, so a caller can
 * refuse it before buffering it.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private have = 0;
  /** Bytes needed before the next frame (or frame header) is complete. */
  private need = FRAME_HEADER_BYTES;
  /** Bytes consumed before the current chunks, for error offsets. */
  private offset = 0;

  /** `limit`: the largest payload accepted. */
  constructor(private readonly limit: number) {}

  push(chunk: Buffer): Frame[] | FrameError {
    this.chunks.push(chunk);
    this.have += chunk.length;
    const frames: Frame[] = [];
    if (this.have < this.need) return frames;
    const buf = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.have);
    let at = 0;
    for (;;) {
      if (buf.length - at < FRAME_HEADER_BYTES) {
        this.need = FRAME_HEADER_BYTES;
        break;
      }
      const len = buf.readUInt32BE(at);
      if (len > this.limit) return this.tooLarge(len, at);
      if (buf.length - at < FRAME_HEADER_BYTES + len) {
        this.need = FRAME_HEADER_BYTES + len;
        break;
      }
      const want = buf.readUInt32BE(at + 4);
      const body = buf.subarray(at + 8, at + FRAME_HEADER_BYTES + len);
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
    const rest = at === 0 ? buf : buf.subarray(at);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.have = rest.length;
    return frames;
  }

  private tooLarge(len: number, at: number): FrameError {
    return new FrameError(
      `frame at stream offset ${this.offset + at} declares ${len} bytes, over the ${this.limit}-byte limit`,
    );
  }

  /** The payload size of the frame being received, once its header is in; undefined between frames. */
  get announcedBytes(): number | undefined {
    return this.need > FRAME_HEADER_BYTES ? this.need - FRAME_HEADER_BYTES : undefined;
  }

  /** Bytes received but not yet a whole frame. */
  get pendingBytes(): number {
    return this.have;
  }
}
