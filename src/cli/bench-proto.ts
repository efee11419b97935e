// Hand-rolled protobuf encoding of the few etcd v3 messages `floe bench`
// sends and decoding of the few fields it reads. The benchmark client must
// cost the machine as little as possible (it shares the cores with the
// members it measures), so requests are encoded straight into one buffer that
// already carries the 5-byte gRPC message prefix, and responses are only
// scanned for the fields the report needs. Field numbers are etcd's
// (proto/etcdserverpb/rpc.proto, proto/mvccpb/kv.proto).

/** A field to encode: bytes (wire type 2), or an unsigned varint (wire type 0). */
export type Field = [fieldNo: number, value: Uint8Array | number | bigint | boolean];

function varintSize(v: bigint): number {
  let n = 1;
  while (v >= 0x80n) {
    v >>= 7n;
    n++;
  }
  return n;
}

function smallVarintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function writeVarint(buf: Uint8Array, pos: number, v: number | bigint): number {
  if (typeof v === "number" && v < 2 ** 31) {
    while (v >= 0x80) {
      buf[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[pos++] = v;
    return pos;
  }
  let b = BigInt.asUintN(64, BigInt(v));
  while (b >= 0x80n) {
    buf[pos++] = Number(b & 0x7fn) | 0x80;
    b >>= 7n;
  }
  buf[pos++] = Number(b);
  return pos;
}

function fieldSize([no, v]: Field): number {
  const tag = smallVarintSize(no << 3);
  if (v instanceof Uint8Array) return tag + smallVarintSize(v.length) + v.length;
  if (typeof v === "boolean") return tag + 1;
  if (typeof v === "number" && v >= 0 && v < 2 ** 31) return tag + smallVarintSize(v);
  return tag + varintSize(BigInt.asUintN(64, BigInt(v)));
}

function skip(v: Field[1]): boolean {
  if (v instanceof Uint8Array) return v.length === 0;
  return v === 0 || v === 0n || v === false;
}

function writeFields(buf: Uint8Array, pos: number, fields: Field[]): number {
  for (const f of fields) {
    const [no, v] = f;
    if (skip(v)) continue;
    if (v instanceof Uint8Array) {
      pos = writeVarint(buf, pos, (no << 3) | 2);
      pos = writeVarint(buf, pos, v.length);
      buf.set(v, pos);
      pos += v.length;
    } else {
      pos = writeVarint(buf, pos, no << 3);
      pos = writeVarint(buf, pos, typeof v === "boolean" ? 1 : v);
    }
  }
  return pos;
}

function size(fields: Field[]): number {
  let n = 0;
  for (const f of fields) if (!skip(f[1])) n += fieldSize(f);
  return n;
}

/** A message body (no gRPC prefix), for nesting inside another message. */
export function message(fields: Field[]): Uint8Array {
  const buf = new Uint8Array(size(fields));
  writeFields(buf, 0, fields);
  return buf;
}

/** A whole gRPC length-prefixed message: flag 0 (uncompressed), u32 length, body. */
export function grpcFrame(fields: Field[]): Buffer {
  const n = size(fields);
  const buf = Buffer.allocUnsafe(5 + n);
  buf[0] = 0;
  buf.writeUInt32BE(n, 1);
  writeFields(buf, 5, fields);
  return buf;
}

export const putRequest = (key: Uint8Array, value: Uint8Array): Field[] => [
  [1, key],
  [2, value],
];

export interface RangeOptions {
  rangeEnd?: Uint8Array;
  limit?: number;
  serializable?: boolean;
  countOnly?: boolean;
}

export const rangeRequest = (key: Uint8Array, o: RangeOptions = {}): Field[] => [
  [1, key],
  [2, o.rangeEnd ?? new Uint8Array()],
  [3, o.limit ?? 0],
  [7, o.serializable === true],
  [9, o.countOnly === true],
];

/** TxnRequest with no compares and one RequestOp.request_put per pair. */
export const txnPutRequest = (puts: Array<[Uint8Array, Uint8Array]>): Field[] =>
  puts.map(([k, v]): Field => [2, message([[2, message(putRequest(k, v))]])]);

/** WatchRequest.create_request (field 1) for [key, rangeEnd). */
export const watchCreateRequest = (key: Uint8Array, rangeEnd: Uint8Array): Field[] => [
  [
    1,
    message([
      [1, key],
      [2, rangeEnd],
    ]),
  ],
];

// ---- decoding ----

/** One decoded field: varints as bigint (member ids are full uint64), bytes as a view. */
export interface RawField {
  no: number;
  varint?: bigint;
  bytes?: Uint8Array;
}

/** Every field of a message, in order. Throws on a malformed message. */
export function decodeFields(buf: Uint8Array): RawField[] {
  const out: RawField[] = [];
  let pos = 0;
  const readVarint = (): bigint => {
    let shift = 0n;
    let v = 0n;
    for (;;) {
      if (pos >= buf.length) throw new Error(`truncated varint at offset ${pos} of ${buf.length}`);
      const b = buf[pos++];
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return v;
      shift += 7n;
    }
  };
  while (pos < buf.length) {
    const tag = Number(readVarint());
    const no = tag >>> 3;
    const wt = tag & 7;
    if (wt === 0) out.push({ no, varint: readVarint() });
    else if (wt === 2) {
      const len = Number(readVarint());
      if (pos + len > buf.length) throw new Error(`field ${no} of length ${len} overruns the message`);
      out.push({ no, bytes: buf.subarray(pos, pos + len) });
      pos += len;
    } else if (wt === 1) pos += 8;
    else if (wt === 5) pos += 4;
    else throw new Error(`unsupported wire type ${wt} for field ${no}`);
  }
  return out;
}

const varintOf = (fs: RawField[], no: number): bigint => fs.find((f) => f.no === no)?.varint ?? 0n;
const bytesOf = (fs: RawField[], no: number): Uint8Array | undefined => fs.find((f) => f.no === no)?.bytes;

export interface ResponseHeader {
  memberId: bigint;
  revision: number;
}

/** ResponseHeader (field 1 of every response): member_id 2, revision 3. */
export function decodeHeader(resp: Uint8Array): ResponseHeader {
  const h = bytesOf(decodeFields(resp), 1);
  const fs = h ? decodeFields(h) : [];
  return { memberId: varintOf(fs, 2), revision: Number(varintOf(fs, 3)) };
}

export interface StatusInfo extends ResponseHeader {
  leader: bigint;
  version: string;
}

export function decodeStatus(resp: Uint8Array): StatusInfo {
  const fs = decodeFields(resp);
  const v = bytesOf(fs, 2);
  return { ...decodeHeader(resp), leader: varintOf(fs, 4), version: v ? new TextDecoder().decode(v) : "" };
}

export interface WatchResponseInfo {
  watchId: number;
  created: boolean;
  canceled: boolean;
  cancelReason: string;
  /** mod_revision of each event's kv, in order. */
  eventRevisions: number[];
}

export function decodeWatchResponse(resp: Uint8Array): WatchResponseInfo {
  const fs = decodeFields(resp);
  const eventRevisions: number[] = [];
  for (const f of fs) {
    if (f.no !== 11 || !f.bytes) continue;
    const kv = bytesOf(decodeFields(f.bytes), 2);
    eventRevisions.push(kv ? Number(varintOf(decodeFields(kv), 3)) : 0);
  }
  const reason = bytesOf(fs, 6);
  return {
    watchId: Number(varintOf(fs, 2)),
    created: varintOf(fs, 3) !== 0n,
    canceled: varintOf(fs, 4) !== 0n,
    cancelReason: reason ? new TextDecoder().decode(reason) : "",
    eventRevisions,
  };
}
