// The state machine's snapshot stream (for Raft snapshots): the MVCC records
// of one applied index, framed and checksummed so a receiver can verify every
// byte before it trusts it. Layout:
//
//   "FLOEMVC1"                                             8-byte magic
//   frame*: u8 type | u32be payload length | u32be CRC-32C(payload) | payload
//     type 1 RECORDS  (uvarint keyLen, key, uvarint valueLen, value)*
//     type 2 END      uvarint recordCount; nothing may follow
//
// Records come in storage key order: leases ('l'), the meta state ('m'), then
// revision records ('r'). A restore writes them verbatim and rebuilds the key
// index from them, exactly as opening the store does. Chunks may be split or
// joined in transit; the reader only sees a byte stream.

import { crc32c } from "../common/index.ts";
import { bytesEqual } from "./bytes.ts";
import { MVCC_PREFIXES, putUvarint, RESTORING_KEY, uvarintSize } from "./codec.ts";
import { MvccError } from "./errors.ts";
import type { WriteBatch } from "./storage.ts";

const MAGIC = new TextEncoder().encode("FLOEMVC1");
const FRAME_RECORDS = 1;
const FRAME_END = 2;
const FRAME_HEADER = 9;
/** A frame longer than this is corruption, not data (records are bounded by the request size limit). */
const MAX_FRAME_BYTES = 256 * 1024 * 1024;

export type RecordPair = [key: Uint8Array, value: Uint8Array];

/** Frames a record stream into chunks of about chunkBytes each; the first carries the magic. */
export function* encodeSnapshot(records: Iterable<RecordPair>, chunkBytes: number): Generator<Uint8Array> {
  let first = true;
  let count = 0;
  let pending: RecordPair[] = [];
  let pendingBytes = 0;
  const emit = (type: number, payload: Uint8Array): Uint8Array => {
    const out = new Uint8Array((first ? MAGIC.length : 0) + FRAME_HEADER + payload.byteLength);
    let at = 0;
    if (first) {
      out.set(MAGIC);
      at = MAGIC.length;
      first = false;
    }
    const view = new DataView(out.buffer);
    out[at] = type;
    view.setUint32(at + 1, payload.byteLength);
    view.setUint32(at + 5, crc32c(payload));
    out.set(payload, at + FRAME_HEADER);
    return out;
  };
  for (const rec of records) {
    pending.push(rec);
    pendingBytes += recordSize(rec);
    count++;
    if (pendingBytes >= chunkBytes) {
      yield emit(FRAME_RECORDS, encodeRecords(pending, pendingBytes));
      pending = [];
      pendingBytes = 0;
    }
  }
  if (pending.length > 0) yield emit(FRAME_RECORDS, encodeRecords(pending, pendingBytes));
  const end = new Uint8Array(uvarintSize(count));
  putUvarint(end, 0, count);
  yield emit(FRAME_END, end);
}

/**
 * A local snapshot's image when the store keeps its own durable state:
 * "FLOEREF1" and the applied index, as a uvarint, to which the store was
 * synced when the snapshot was taken. It never leaves the member: peers get
 * records (encodeSnapshot).
 */
const REF_MAGIC = new TextEncoder().encode("FLOEREF1");
/** How many leading bytes tell a store reference from a record stream. */
export const STORE_REFERENCE_PREFIX_BYTES = REF_MAGIC.length;

export function encodeStoreReference(appliedIndex: number): Uint8Array {
  const out = new Uint8Array(REF_MAGIC.length + uvarintSize(appliedIndex));
  out.set(REF_MAGIC);
  putUvarint(out, REF_MAGIC.length, appliedIndex);
  return out;
}

/** The applied index a store reference names, or undefined when `image` starts otherwise (records). */
export function storeReferenceOf(image: Uint8Array): number | undefined {
  if (image.byteLength <= REF_MAGIC.length || !bytesEqual(image.subarray(0, REF_MAGIC.length), REF_MAGIC))
    return undefined;
  return readUvarint(image, REF_MAGIC.length, (why) => {
    throw new Error(`snapshot image: truncated store reference (${why})`);
  })[0];
}

/**
 * Verifies and decodes a snapshot stream, handing each frame's records to
 * `write` as one batch. Throws MvccError("Corrupt") naming the frame and
 * offset on any damage; the caller keeps its restore marker in that case.
 */
export async function decodeSnapshot(
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  write: (batch: WriteBatch) => void,
): Promise<number> {
  let buf: Uint8Array = new Uint8Array(0);
  let offset = 0; // stream offset of buf[0], for error messages
  let sawMagic = false;
  let frames = 0;
  let count = 0;
  let ended = false;
  const corrupt = (why: string, at: number): never => {
    throw new MvccError("Corrupt", `snapshot stream: ${why} at byte ${at} (frame ${frames})`);
  };
  for await (const chunk of chunks) {
    buf = buf.byteLength === 0 ? chunk : concat(buf, chunk);
    if (!sawMagic) {
      if (buf.byteLength < MAGIC.length) continue;
      if (!bytesEqual(buf.subarray(0, MAGIC.length), MAGIC)) corrupt("bad magic", 0);
      buf = buf.subarray(MAGIC.length);
      offset = MAGIC.length;
      sawMagic = true;
    }
    while (buf.byteLength >= FRAME_HEADER) {
      if (ended) corrupt("data after the END frame", offset);
      const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      const type = buf[0];
      const len = view.getUint32(1);
      if (len > MAX_FRAME_BYTES) corrupt(`frame length ${len}`, offset);
      if (buf.byteLength < FRAME_HEADER + len) break;
      const payload = buf.subarray(FRAME_HEADER, FRAME_HEADER + len);
      const want = view.getUint32(5);
      const got = crc32c(payload);
      if (want !== got) corrupt(`CRC-32C ${got.toString(16)} != stored ${want.toString(16)}`, offset);
      if (type === FRAME_RECORDS) {
        const records = decodeRecords(payload, (why, at) => corrupt(why, offset + FRAME_HEADER + at));
        count += records.length;
        write({ puts: records, deletes: [] });
      } else if (type === FRAME_END) {
        const [n, at] = readUvarint(payload, 0, (why, p) => corrupt(why, offset + FRAME_HEADER + p));
        if (at !== payload.byteLength) corrupt("trailing bytes in END frame", offset);
        if (n !== count) corrupt(`END frame counts ${n} records, stream had ${count}`, offset);
        ended = true;
      } else corrupt(`unknown frame type ${type}`, offset);
      frames++;
      buf = buf.subarray(FRAME_HEADER + len);
      offset += FRAME_HEADER + len;
    }
  }
  if (!sawMagic) corrupt("stream shorter than the magic", 0);
  if (buf.byteLength > 0) corrupt(`${buf.byteLength} bytes of a truncated frame`, offset);
  if (!ended) corrupt("no END frame (truncated stream)", offset);
  return count;
}

function recordSize([k, v]: RecordPair): number {
  return uvarintSize(k.byteLength) + k.byteLength + uvarintSize(v.byteLength) + v.byteLength;
}

function encodeRecords(records: RecordPair[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const [k, v] of records) {
    at = putUvarint(out, at, k.byteLength);
    out.set(k, at);
    at += k.byteLength;
    at = putUvarint(out, at, v.byteLength);
    out.set(v, at);
    at += v.byteLength;
  }
  return out;
}

function decodeRecords(payload: Uint8Array, corrupt: (why: string, at: number) => never): RecordPair[] {
  const out: RecordPair[] = [];
  let at = 0;
  while (at < payload.byteLength) {
    const start = at;
    let klen: number;
    let vlen: number;
    [klen, at] = readUvarint(payload, at, corrupt);
    if (at + klen > payload.byteLength) corrupt("truncated record key", start);
    const key = payload.slice(at, at + klen);
    at += klen;
    [vlen, at] = readUvarint(payload, at, corrupt);
    if (at + vlen > payload.byteLength) corrupt("truncated record value", start);
    const value = payload.slice(at, at + vlen);
    at += vlen;
    if (key.byteLength === 0 || !MVCC_PREFIXES.includes(key[0]) || bytesEqual(key, RESTORING_KEY)) {
      corrupt(`record key outside MVCC's prefixes (first byte ${key[0]})`, start);
    }
    out.push([key, value]);
  }
  return out;
}

function readUvarint(
  b: Uint8Array,
  at: number,
  corrupt: (why: string, at: number) => never,
): [number, number] {
  let n = 0;
  let scale = 1;
  const start = at;
  for (;;) {
    if (at >= b.byteLength) corrupt("truncated varint", start);
    const byte = b[at++];
    n += (byte & 0x7f) * scale;
    if (byte < 0x80) break;
    scale *= 0x80;
    if (scale > 2 ** 56) corrupt("varint too long", start);
  }
  return [n, at];
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

/**
 * A snapshot being streamed. It pins physical compaction until it ends, is
 * closed, or a restore invalidates it: a consumer that stops early must call
 * close() (a for-of loop that breaks does so itself).
 */
export class SnapshotStream<T = Uint8Array> implements IterableIterator<T> {
  private open = true;

  constructor(
    private readonly frames: Iterator<T>,
    private readonly stillValid: () => boolean,
    private readonly release: () => void,
  ) {}

  [Symbol.iterator](): IterableIterator<T> {
    return this;
  }

  next(): IteratorResult<T> {
    if (!this.open) return { done: true, value: undefined };
    if (!this.stillValid()) {
      this.close();
      throw new Error("mvcc: snapshot stream invalidated: the store was restored from another snapshot");
    }
    const r = this.frames.next();
    if (r.done) this.close();
    return r;
  }

  return(): IteratorResult<T> {
    this.close();
    return { done: true, value: undefined };
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.frames.return?.();
    this.release();
  }
}
