// The key index checkpoint: the in-memory key index written into storage so
// that opening a store reads it back instead of decoding every revision record
// (load.ts), then replays only the records written after it.
//
// The engine keeps it beside its records (MvccStorage.saveCheckpoint; for
// bitcask, a file in the data directory) as one stream:
//
//   u8 version  u32be crc32c(of everything after this field)  uvarint length(of the same)
//   uvarint revision  uvarint compactRevision + 1  uvarint keys
//   per key, in key order:
//     uvarint keyLen key  u8 leaseSign (0 none, 1 positive, 2 negative) [uvarint |lease|]
//     uvarint generations
//     per generation: uvarint created  uvarint ver  u8 closed  uvarint revs
//                     per revision: uvarint (main - previous main of the key)  uvarint sub
//
// Why it is safe to trust. It is taken only when physical compaction has
// nothing pending, and the engine makes every record it describes durable
// before the checkpoint replaces the previous one, so the records at or below
// `revision` are exactly those the index names; later records are replayed on
// top. A compaction after it changes the compact revision and voids it (the
// index would name deleted records); a snapshot restore drops it before the
// records it describes are replaced, and a checkpoint still being saved when a
// restore begins is discarded. It is a cache: any doubt means a full rebuild,
// never an error.

import { crc32c } from "../common/index.ts";
import { putUvarint, putUvarintBig, Reader, type Revision } from "./codec.ts";
import { MvccError } from "./errors.ts";
import type { KeyEntry, KeyIndex } from "./key_index.ts";
import type { MvccStorage } from "./storage.ts";

const VERSION = 1;
const HEADER_BYTES = 1 + 4;

export interface IndexCheckpoint {
  revision: number;
  compactRevision: number;
  /** Latin1 keys, strictly ascending, and their entries. */
  keys: string[];
  entries: KeyEntry[];
}

/** A growable byte buffer for the stream. */
class Out {
  buf = Buffer.allocUnsafe(1 << 16);
  at = 0;
  room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.at + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }
  uvarint(n: number): void {
    this.room(10);
    this.at = putUvarint(this.buf, this.at, n);
  }
  uvarintBig(n: bigint): void {
    this.room(10);
    this.at = putUvarintBig(this.buf, this.at, n);
  }
  u8(n: number): void {
    this.room(1);
    this.buf[this.at++] = n;
  }
  bytes(b: Uint8Array): void {
    this.room(b.byteLength);
    this.buf.set(b, this.at);
    this.at += b.byteLength;
  }
}

/** The index as a checkpoint stream for `revision` (every record at or below it is indexed). */
export function encodeCheckpoint(index: KeyIndex, revision: number, compactRevision: number): Buffer {
  const out = new Out();
  out.at = HEADER_BYTES + 10; // room for the length varint; the body is moved up to meet it
  const bodyStart = out.at;
  out.uvarint(revision);
  out.uvarint(compactRevision + 1);
  out.uvarint(index.size);
  for (const e of index.entries()) {
    out.uvarint(e.key.byteLength);
    out.bytes(e.key);
    if (e.lease === 0n) out.u8(0);
    else {
      out.u8(e.lease > 0n ? 1 : 2);
      out.uvarintBig(e.lease > 0n ? e.lease : -e.lease);
    }
    out.uvarint(e.gens.length);
    let prev = 0;
    for (const g of e.gens) {
      out.uvarint(g.created);
      out.uvarint(g.ver);
      out.u8(g.closed ? 1 : 0);
      out.uvarint(g.revs.length);
      for (const r of g.revs) {
        out.uvarint(r.main - prev);
        out.uvarint(r.sub);
        prev = r.main;
      }
    }
  }
  const body = out.buf.subarray(bodyStart, out.at);
  const lenBytes = Buffer.allocUnsafe(10);
  const lenEnd = putUvarint(lenBytes, 0, body.length);
  const start = bodyStart - lenEnd - HEADER_BYTES;
  out.buf[start] = VERSION;
  lenBytes.copy(out.buf, start + HEADER_BYTES, 0, lenEnd);
  const covered = out.buf.subarray(start + HEADER_BYTES, out.at);
  out.buf.writeUInt32BE(crc32c(covered), start + 1);
  return out.buf.subarray(start, out.at);
}

export type CheckpointRead = { ok: true; checkpoint: IndexCheckpoint } | { ok: false; reason: string };

/** Reads the engine's checkpoint back; anything missing, torn or inconsistent is a reason, not an error. */
export function readCheckpoint(storage: MvccStorage): CheckpointRead {
  const bytes = storage.readCheckpoint?.();
  if (bytes === undefined) return { ok: false, reason: "none" };
  try {
    const stream = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return { ok: true, checkpoint: decodeStream(stream) };
  } catch (e) {
    return { ok: false, reason: e instanceof MvccError ? (e.detail ?? e.message) : (e as Error).message };
  }
}

function decodeStream(stream: Buffer): IndexCheckpoint {
  const r = new Reader(stream, "key index checkpoint");
  const version = r.u8();
  if (version !== VERSION) r.fail(`format version ${version}, this build reads ${VERSION}`);
  r.at = HEADER_BYTES;
  const bodyBytes = r.uvarint();
  const announced = r.at + bodyBytes;
  if (announced !== stream.length)
    r.fail(`truncated or padded: ${stream.length} bytes, ${announced} announced`);
  if (crc32c(stream.subarray(HEADER_BYTES)) !== stream.readUInt32BE(1)) r.fail("checksum mismatch");
  const arena = new Uint8Array(stream);
  const revision = r.uvarint();
  const compactRevision = r.uvarint() - 1;
  const n = r.uvarint();
  const keys: string[] = new Array(n);
  const entries: KeyEntry[] = new Array(n);
  let prevKey: string | undefined;
  for (let i = 0; i < n; i++) {
    const len = r.uvarint();
    const start = r.at;
    r.at += len;
    if (r.at > stream.length) r.fail(`truncated: ${len} key bytes wanted`);
    // A view into one private copy of all the keys: one allocation instead of
    // one per key (what pins it is the keys themselves, about half its bytes).
    const key = arena.subarray(start, start + len);
    const name = stream.toString("latin1", start, start + len);
    if (prevKey !== undefined && !(prevKey < name)) r.fail("keys out of order");
    prevKey = name;
    const sign = r.u8();
    const lease =
      sign === 0
        ? 0n
        : sign === 1
          ? r.uvarintBig()
          : sign === 2
            ? -r.uvarintBig()
            : r.fail(`lease sign ${sign}`);
    const gens: KeyEntry["gens"] = new Array(r.uvarint());
    if (gens.length === 0) r.fail("a key without generations");
    let prev = 0;
    for (let gi = 0; gi < gens.length; gi++) {
      const created = r.uvarint();
      const ver = r.uvarint();
      const closed = r.u8() === 1;
      const revs: Revision[] = new Array(r.uvarint());
      if (revs.length === 0) r.fail("an empty generation");
      for (let ri = 0; ri < revs.length; ri++) {
        const main = prev + r.uvarint();
        revs[ri] = { main, sub: r.uvarint() };
        prev = main;
      }
      gens[gi] = { created, ver, revs, closed };
    }
    keys[i] = name;
    entries[i] = { key, gens, lease };
  }
  r.end();
  return { revision, compactRevision, keys, entries };
}
