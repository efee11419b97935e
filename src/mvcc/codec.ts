// Storage record layout. MVCC owns three one-byte key prefixes in the engine:
//
//   'r' (0x72) main:u64be sub:u64be  -> revision record (17-byte key)
//        value: 0x01 uvarint(keyLen) key uvarint(create) uvarint(version)
//                    u8(hasLease) [i64be lease] value...          a put
//               0x02 uvarint(keyLen) key                          a tombstone
//   'm' (0x6d) "state"     -> 0x01 uvarint(appliedIndex) uvarint(appliedTerm)
//                               uvarint(revision) uvarint(compactRevision + 1)
//   'm' (0x6d) "restoring" -> 0x01: a snapshot restore began and has not finished
//   'l' (0x6c) id:i64be with the sign bit flipped (sorts by id) -> 0x01 u8(sign) uvarint(|ttl|)
//
// Revision keys sort by (main, sub), so a scan from (rev, 0) replays history in
// order. The mod revision of a record is its key's main revision; the
// tombstone flag lives in the value, so every revision has one fixed-size key.
// Attached lease keys are not stored: they are the live keys' lease fields.

import { EMPTY_BYTES } from "./bytes.ts";
import { MvccError } from "./errors.ts";
import type { KeyValue } from "./types.ts";

export interface Revision {
  main: number;
  sub: number;
}

export const PREFIX_LEASE = 0x6c;
export const PREFIX_META = 0x6d;
export const PREFIX_REV = 0x72;
/** The prefixes MVCC owns; a restore clears exactly these. */
export const MVCC_PREFIXES: readonly number[] = [PREFIX_LEASE, PREFIX_META, PREFIX_REV];

const REV_KEY_LEN = 17;
const KIND_PUT = 0x01;
const KIND_TOMBSTONE = 0x02;
const FORMAT_V1 = 0x01;
const TWO_32 = 0x1_0000_0000;

export const STATE_KEY: Uint8Array = Uint8Array.of(PREFIX_META, ...new TextEncoder().encode("state"));
/** The cluster record ("mcluster" sorts between "malarm…" and "mstate"). */
/** The auth store (auth/state.ts), one record; "mauth" sorts between the alarms and "mcluster". */
export const AUTH_KEY: Uint8Array = Uint8Array.of(PREFIX_META, ...new TextEncoder().encode("auth"));
export const CLUSTER_KEY: Uint8Array = Uint8Array.of(PREFIX_META, ...new TextEncoder().encode("cluster"));
export const RESTORING_KEY: Uint8Array = Uint8Array.of(PREFIX_META, ...new TextEncoder().encode("restoring"));

export function prefixStart(prefix: number): Uint8Array {
  return Uint8Array.of(prefix);
}

export function prefixLimit(prefix: number): Uint8Array {
  return Uint8Array.of(prefix + 1);
}

export function revKey(main: number, sub: number): Uint8Array {
  const k = new Uint8Array(REV_KEY_LEN);
  k[0] = PREFIX_REV;
  writeU64(k, 1, main);
  writeU64(k, 9, sub);
  return k;
}

export function parseRevKey(k: Uint8Array): Revision {
  if (k.byteLength !== REV_KEY_LEN || k[0] !== PREFIX_REV) {
    throw new MvccError("Corrupt", `revision key must be 17 bytes starting 0x72, got ${hex(k)}`);
  }
  return { main: readU64(k, 1), sub: readU64(k, 9) };
}

/** A decoded revision record: the KeyValue, or for a tombstone only key and modRevision set. */
export interface RevisionRecord {
  tombstone: boolean;
  kv: KeyValue;
}

/** Encodes a put; `valueOffset` locates the value inside the result so events can share it. */
export function encodePut(
  key: Uint8Array,
  value: Uint8Array,
  createRevision: number,
  version: number,
  lease: bigint,
): { bytes: Uint8Array; valueOffset: number } {
  const size =
    1 +
    uvarintSize(key.byteLength) +
    key.byteLength +
    uvarintSize(createRevision) +
    uvarintSize(version) +
    1 +
    (lease !== 0n ? 8 : 0) +
    value.byteLength;
  const out = new Uint8Array(size);
  let at = 0;
  out[at++] = KIND_PUT;
  at = putUvarint(out, at, key.byteLength);
  out.set(key, at);
  at += key.byteLength;
  at = putUvarint(out, at, createRevision);
  at = putUvarint(out, at, version);
  out[at++] = lease !== 0n ? 1 : 0;
  if (lease !== 0n) {
    new DataView(out.buffer).setBigInt64(at, lease);
    at += 8;
  }
  out.set(value, at);
  return { bytes: out, valueOffset: at };
}

export function encodeTombstone(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + uvarintSize(key.byteLength) + key.byteLength);
  const at = putUvarint(out, 1, key.byteLength);
  out[0] = KIND_TOMBSTONE;
  out.set(key, at);
  return out;
}

export function decodeRecord(rev: Revision, b: Uint8Array): RevisionRecord {
  const r = new Reader(b, `revision record ${rev.main}.${rev.sub}`);
  const kind = r.u8();
  if (kind !== KIND_PUT && kind !== KIND_TOMBSTONE) r.fail(`unknown record kind ${kind}`);
  const key = r.bytes(r.uvarint());
  if (kind === KIND_TOMBSTONE) {
    r.end();
    const kv = { key, value: EMPTY_BYTES, createRevision: 0, modRevision: rev.main, version: 0, lease: 0n };
    return { tombstone: true, kv };
  }
  const createRevision = r.uvarint();
  const version = r.uvarint();
  const lease = r.u8() === 1 ? r.i64() : 0n;
  const value = r.bytes(b.byteLength - r.at);
  return { tombstone: false, kv: { key, value, createRevision, modRevision: rev.main, version, lease } };
}

export interface MetaState {
  appliedIndex: number;
  appliedTerm: number;
  revision: number;
  /** -1 until the first compaction, as etcd's compactMainRev. */
  compactRevision: number;
}

/**
 * A fresh store is at revision 1 with no keys, so the first write gets
 * revision 2: etcd numbers revisions so, and clients compare them with etcd's.
 */
export const INITIAL_REVISION = 1;
export const INITIAL_STATE: MetaState = {
  appliedIndex: 0,
  appliedTerm: 0,
  revision: INITIAL_REVISION,
  compactRevision: -1,
};

export function encodeState(s: MetaState): Uint8Array {
  const fields = [s.appliedIndex, s.appliedTerm, s.revision, s.compactRevision + 1];
  const out = new Uint8Array(1 + fields.reduce((n, f) => n + uvarintSize(f), 0));
  out[0] = FORMAT_V1;
  let at = 1;
  for (const f of fields) at = putUvarint(out, at, f);
  return out;
}

export function decodeState(b: Uint8Array): MetaState {
  const r = new Reader(b, "meta state record");
  if (r.u8() !== FORMAT_V1) r.fail("unknown format");
  const s = {
    appliedIndex: r.uvarint(),
    appliedTerm: r.uvarint(),
    revision: r.uvarint(),
    compactRevision: 0,
  };
  s.compactRevision = r.uvarint() - 1;
  r.end();
  // Data written before floe numbered from 1 stores revision 0 until its first
  // write; no record has revision 0, so reading it as 1 changes no history.
  s.revision = Math.max(s.revision, INITIAL_REVISION);
  return s;
}

export function leaseKey(id: bigint): Uint8Array {
  const k = new Uint8Array(9);
  k[0] = PREFIX_LEASE;
  new DataView(k.buffer).setBigUint64(1, BigInt.asUintN(64, id) ^ (1n << 63n));
  return k;
}

export function parseLeaseKey(k: Uint8Array): bigint {
  if (k.byteLength !== 9 || k[0] !== PREFIX_LEASE) {
    throw new MvccError("Corrupt", `lease key must be 9 bytes starting 0x6c, got ${hex(k)}`);
  }
  const raw = new DataView(k.buffer, k.byteOffset, k.byteLength).getBigUint64(1) ^ (1n << 63n);
  return BigInt.asIntN(64, raw);
}

export function encodeLease(ttl: number): Uint8Array {
  const out = new Uint8Array(2 + uvarintSize(Math.abs(ttl)));
  out[0] = FORMAT_V1;
  out[1] = ttl < 0 ? 1 : 0;
  putUvarint(out, 2, Math.abs(ttl));
  return out;
}

export function decodeLease(id: bigint, b: Uint8Array): number {
  const r = new Reader(b, `lease record ${id}`);
  if (r.u8() !== FORMAT_V1) r.fail("unknown format");
  const negative = r.u8() === 1;
  const magnitude = r.uvarint();
  r.end();
  return negative ? -magnitude : magnitude;
}

export function uvarintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}

/** Writes a non-negative safe integer as a LEB128 varint; division keeps it exact above 2^31. */
/** Writes an unsigned varint of up to 64 bits; returns the offset after it. */
export function putUvarintBig(out: Uint8Array, at: number, n: bigint): number {
  let v = BigInt.asUintN(64, n);
  while (v >= 0x80n) {
    out[at++] = Number(v & 0x7fn) | 0x80;
    v >>= 7n;
  }
  out[at++] = Number(v);
  return at;
}

export function putUvarint(out: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  out[at++] = n;
  return at;
}

/** Big-endian, byte by byte: a DataView per call was an allocation on every put's revision key. */
function writeU64(out: Uint8Array, at: number, n: number): void {
  writeU32(out, at, Math.floor(n / TWO_32));
  writeU32(out, at + 4, n % TWO_32);
}

function writeU32(out: Uint8Array, at: number, n: number): void {
  out[at] = n >>> 24;
  out[at + 1] = (n >>> 16) & 0xff;
  out[at + 2] = (n >>> 8) & 0xff;
  out[at + 3] = n & 0xff;
}

const readU32 = (b: Uint8Array, at: number): number =>
  ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;

function readU64(b: Uint8Array, at: number): number {
  if (at + 8 > b.length) throw new RangeError(`u64 at ${at} is outside ${b.length} bytes`);
  const n = readU32(b, at) * TWO_32 + readU32(b, at + 4);
  if (!Number.isSafeInteger(n)) throw new MvccError("Corrupt", `u64 at ${at} of ${hex(b)} exceeds 2^53`);
  return n;
}

export function hex(b: Uint8Array): string {
  const s = Buffer.from(b.buffer, b.byteOffset, Math.min(b.byteLength, 32)).toString("hex");
  return b.byteLength > 32 ? `${s}...(${b.byteLength} bytes)` : s;
}

/** A bounds-checked cursor; every decoding failure names the record and the offset. */
export class Reader {
  at = 0;
  constructor(
    private readonly b: Uint8Array,
    private readonly what: string,
  ) {}

  fail(why: string): never {
    throw new MvccError("Corrupt", `${this.what}: ${why} at offset ${this.at} of ${hex(this.b)}`);
  }

  u8(): number {
    if (this.at >= this.b.byteLength) this.fail("truncated");
    return this.b[this.at++];
  }

  uvarint(): number {
    let n = 0;
    let scale = 1;
    for (;;) {
      const byte = this.u8();
      n += (byte & 0x7f) * scale;
      if (byte < 0x80) break;
      scale *= 0x80;
      if (scale > 2 ** 56) this.fail("varint too long");
    }
    if (!Number.isSafeInteger(n)) this.fail(`varint ${n} exceeds 2^53`);
    return n;
  }

  /** An unsigned varint of up to 64 bits, as a bigint (lease ids). */
  uvarintBig(): bigint {
    let n = 0n;
    let shift = 0n;
    for (;;) {
      const byte = this.u8();
      n |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) break;
      shift += 7n;
      if (shift > 63n) this.fail("varint too long");
    }
    if (n >= 1n << 64n) this.fail(`varint ${n} exceeds 64 bits`);
    return n;
  }

  i64(): bigint {
    if (this.at + 8 > this.b.byteLength) this.fail("truncated int64");
    const v = new DataView(this.b.buffer, this.b.byteOffset, this.b.byteLength).getBigInt64(this.at);
    this.at += 8;
    return v;
  }

  /** A view (no copy) of the next n bytes, as a plain Uint8Array. */
  bytes(n: number): Uint8Array {
    if (this.at + n > this.b.byteLength) this.fail(`truncated: ${n} bytes wanted`);
    const v = new Uint8Array(this.b.buffer, this.b.byteOffset + this.at, n);
    this.at += n;
    return v;
  }

  end(): void {
    if (this.at !== this.b.byteLength) this.fail(`${this.b.byteLength - this.at} trailing bytes`);
  }
}
