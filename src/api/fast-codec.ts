// Hand-written protobuf codecs for the client port's hottest messages: a
// put's and a range's request and response. protobuf-es decodes and encodes by walking the
// message's descriptor (and create() fills every field's default through it);
// under a put load that walk was a few percent of every member's CPU. These
// read and write the same wire format with the low-level BinaryReader and
// BinaryWriter; anything they do not expect (an unknown field, a prevKv to
// encode) goes back to protobuf-es, so they are never less complete.
// test/api/fast-codec.test.ts checks them against protobuf-es.

import type { DescMessage } from "@bufbuild/protobuf";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import {
  type PutRequest,
  PutRequestSchema,
  type PutResponse,
  PutResponseSchema,
  type RangeRequest,
  type RangeRequest_SortOrder,
  type RangeRequest_SortTarget,
  RangeRequestSchema,
  type RangeResponse,
  RangeResponseSchema,
  type ResponseHeader,
} from "./gen/etcdserverpb/rpc_pb.ts";
import type { InternalRequest, RequestHeader } from "./gen/floe/raft_internal_pb.ts";
import type { KeyValue } from "./gen/mvccpb/kv_pb.ts";

const EMPTY: Uint8Array = new Uint8Array(0);

/** A PutRequest from its bytes, or undefined (let protobuf-es decode it) when a field is not one of rpc.proto's six. */
export function decodePutRequest(bytes: Uint8Array): PutRequest | undefined {
  const r = new BinaryReader(bytes);
  let key: Uint8Array = EMPTY;
  let value: Uint8Array = EMPTY;
  let lease = 0n;
  let prevKv = false;
  let ignoreValue = false;
  let ignoreLease = false;
  while (r.pos < r.len) {
    const [field, wt] = r.tag();
    switch (field) {
      case 1:
        if (wt !== WireType.LengthDelimited) return undefined;
        key = r.bytes();
        break;
      case 2:
        if (wt !== WireType.LengthDelimited) return undefined;
        value = r.bytes();
        break;
      case 3:
        if (wt !== WireType.Varint) return undefined;
        lease = BigInt(r.int64());
        break;
      case 4:
        if (wt !== WireType.Varint) return undefined;
        prevKv = r.bool();
        break;
      case 5:
        if (wt !== WireType.Varint) return undefined;
        ignoreValue = r.bool();
        break;
      case 6:
        if (wt !== WireType.Varint) return undefined;
        ignoreLease = r.bool();
        break;
      default:
        return undefined;
    }
  }
  if (r.pos !== r.len) return undefined;
  return { $typeName: "etcdserverpb.PutRequest", key, value, lease, prevKv, ignoreValue, ignoreLease };
}

/**
 * An InternalRequest (a proposal) that is one put and at most one request
 * header: what every member decodes for every applied put (the server adds
 * the proposer's header, user and auth revision, to each one, auth on or
 * off). Undefined for anything else (protobuf-es then decodes it): another
 * request, a field given twice (protobuf would merge the two messages), a
 * header field it does not know.
 */
export function decodeInternalPut(bytes: Uint8Array): InternalRequest | undefined {
  const r = new BinaryReader(bytes);
  let value: PutRequest | undefined;
  let header: RequestHeader | undefined;
  while (r.pos < r.len) {
    const [field, wt] = r.tag();
    if (wt !== WireType.LengthDelimited) return undefined;
    if (field === 4 && value === undefined) {
      value = decodePutRequest(r.bytes());
      if (value === undefined) return undefined;
    } else if (field === 100 && header === undefined) {
      header = decodeRequestHeader(r.bytes());
      if (header === undefined) return undefined;
    } else return undefined;
  }
  if (value === undefined || r.pos !== r.len) return undefined;
  return { $typeName: "floepb.InternalRequest", header, request: { case: "put", value } };
}

/** floepb.RequestHeader from its bytes, or undefined when a field is not one of its three. */
function decodeRequestHeader(bytes: Uint8Array): RequestHeader | undefined {
  const r = new BinaryReader(bytes);
  let id = 0n;
  let username = "";
  let authRevision = 0n;
  while (r.pos < r.len) {
    const [field, wt] = r.tag();
    switch (field) {
      case 1:
        if (wt !== WireType.Varint) return undefined;
        id = BigInt(r.uint64());
        break;
      case 2:
        if (wt !== WireType.LengthDelimited) return undefined;
        username = r.string();
        break;
      case 3:
        if (wt !== WireType.Varint) return undefined;
        authRevision = BigInt(r.uint64());
        break;
      default:
        return undefined;
    }
  }
  if (r.pos !== r.len) return undefined;
  return { $typeName: "floepb.RequestHeader", id, username, authRevision };
}

/** A RangeRequest from its bytes, or undefined (let protobuf-es decode it) when a field is not one of rpc.proto's thirteen. */
export function decodeRangeRequest(bytes: Uint8Array): RangeRequest | undefined {
  const r = new BinaryReader(bytes);
  const m: RangeRequest = {
    $typeName: "etcdserverpb.RangeRequest",
    key: EMPTY,
    rangeEnd: EMPTY,
    limit: 0n,
    revision: 0n,
    sortOrder: 0 as RangeRequest_SortOrder,
    sortTarget: 0 as RangeRequest_SortTarget,
    serializable: false,
    keysOnly: false,
    countOnly: false,
    minModRevision: 0n,
    maxModRevision: 0n,
    minCreateRevision: 0n,
    maxCreateRevision: 0n,
  };
  while (r.pos < r.len) {
    const [field, wt] = r.tag();
    if (field <= 2) {
      if (field < 1 || wt !== WireType.LengthDelimited) return undefined;
      if (field === 1) m.key = r.bytes();
      else m.rangeEnd = r.bytes();
      continue;
    }
    if (field > 13 || wt !== WireType.Varint) return undefined;
    switch (field) {
      case 3:
        m.limit = BigInt(r.int64());
        break;
      case 4:
        m.revision = BigInt(r.int64());
        break;
      case 5:
        m.sortOrder = r.int32();
        break;
      case 6:
        m.sortTarget = r.int32();
        break;
      case 7:
        m.serializable = r.bool();
        break;
      case 8:
        m.keysOnly = r.bool();
        break;
      case 9:
        m.countOnly = r.bool();
        break;
      case 10:
        m.minModRevision = BigInt(r.int64());
        break;
      case 11:
        m.maxModRevision = BigInt(r.int64());
        break;
      case 12:
        m.minCreateRevision = BigInt(r.int64());
        break;
      default:
        m.maxCreateRevision = BigInt(r.int64());
    }
  }
  return r.pos === r.len ? m : undefined;
}

const hasUnknown = (m: object): boolean => {
  const u = (m as { $unknown?: unknown[] }).$unknown;
  return u !== undefined && u.length > 0;
};

/** Writes v (0 <= v < 2^64) as a varint at `at`; returns the position after it. */
function putVarint64(out: Uint8Array, at: number, v: bigint): number {
  if (v <= 0xffffffffn) {
    let n = Number(v);
    while (n >= 0x80) {
      out[at++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    out[at++] = n;
    return at;
  }
  let lo = Number(v & 0xffffffffn);
  let hi = Number(v >> 32n); // > 0 here
  for (let i = 0; i < 4; i++) {
    out[at++] = (lo & 0x7f) | 0x80;
    lo >>>= 7;
  }
  // lo's last 4 bits and hi's first 3 (hi > 0, so more follows unless hi < 8)
  const mid = lo | ((hi & 0x7) << 4);
  hi >>>= 3;
  if (hi === 0) {
    out[at++] = mid;
    return at;
  }
  out[at++] = mid | 0x80;
  while (hi >= 0x80) {
    out[at++] = (hi & 0x7f) | 0x80;
    hi >>>= 7;
  }
  out[at++] = hi;
  return at;
}

const U64_MAX = 2n ** 64n - 1n;
/** Tag and length, then four fields of at most 1 + 10 bytes: the length fits in one byte. */
const scratch = Buffer.allocUnsafe(2 + 4 * 11);

/**
 * A response header as field 1 of its response (tag, length, the four
 * varints), written directly: protobuf-es's BinaryWriter spent most of a
 * microsecond on the two 64-bit member ids. Undefined for what it does not
 * write (unknown fields, a negative revision).
 */
function headerField(h: ResponseHeader): Uint8Array | undefined {
  if (hasUnknown(h) || h.revision < 0n) return undefined;
  let at = 2;
  at = varintField(at, 1, h.clusterId);
  at = varintField(at, 2, h.memberId);
  at = varintField(at, 3, h.revision);
  at = varintField(at, 4, h.raftTerm);
  if (at < 0) return undefined;
  scratch[0] = (1 << 3) | WireType.LengthDelimited;
  scratch[1] = at - 2;
  return Buffer.from(scratch.subarray(0, at));
}

/** Appends a uint64 field to scratch (nothing for 0); -1 once anything is out of range. */
function varintField(at: number, field: number, v: bigint): number {
  if (at < 0 || v === 0n) return at;
  if (v < 0n || v > U64_MAX) return -1;
  scratch[at++] = (field << 3) | WireType.Varint;
  return putVarint64(scratch, at, v);
}

/** A PutResponse's bytes, or undefined (let protobuf-es encode it) when it carries a previous key-value. */
export function encodePutResponse(m: PutResponse): Uint8Array | undefined {
  if (m.prevKv !== undefined || hasUnknown(m)) return undefined;
  return m.header === undefined ? new Uint8Array(0) : headerField(m.header);
}

function writeKv(w: BinaryWriter, kv: KeyValue): void {
  w.tag(2, WireType.LengthDelimited).fork();
  if (kv.key.length > 0) w.tag(1, WireType.LengthDelimited).bytes(kv.key);
  if (kv.createRevision !== 0n) w.tag(2, WireType.Varint).int64(kv.createRevision);
  if (kv.modRevision !== 0n) w.tag(3, WireType.Varint).int64(kv.modRevision);
  if (kv.version !== 0n) w.tag(4, WireType.Varint).int64(kv.version);
  if (kv.value.length > 0) w.tag(5, WireType.LengthDelimited).bytes(kv.value);
  if (kv.lease !== 0n) w.tag(6, WireType.Varint).int64(kv.lease);
  w.join();
}

/** A RangeResponse's bytes, or undefined (let protobuf-es encode it) when a message carries unknown fields. */
export function encodeRangeResponse(m: RangeResponse): Uint8Array | undefined {
  if (hasUnknown(m) || (m.header !== undefined && hasUnknown(m.header))) return undefined;
  for (const kv of m.kvs) if (hasUnknown(kv)) return undefined;
  const w = new BinaryWriter();
  if (m.header !== undefined) {
    const h = headerField(m.header);
    if (h === undefined) return undefined;
    w.raw(h);
  }
  for (const kv of m.kvs) writeKv(w, kv);
  if (m.more) w.tag(3, WireType.Varint).bool(true);
  if (m.count !== 0n) w.tag(4, WireType.Varint).int64(m.count);
  return w.finish();
}

/** Decoders by request schema; a decoder may decline (undefined). */
export const fastDecoders: ReadonlyMap<DescMessage, (bytes: Uint8Array) => unknown> = new Map<
  DescMessage,
  (bytes: Uint8Array) => unknown
>([
  [PutRequestSchema, decodePutRequest],
  [RangeRequestSchema, decodeRangeRequest],
]);

/** Encoders by response schema; an encoder may decline (undefined). */
export const fastEncoders: ReadonlyMap<DescMessage, (msg: never) => Uint8Array | undefined> = new Map<
  DescMessage,
  (msg: never) => Uint8Array | undefined
>([
  [PutResponseSchema, encodePutResponse],
  [RangeResponseSchema, encodeRangeResponse],
]);
