// Conversions between the wire types (protobuf-es messages, int64 as bigint)
// and mvcc's plain types (numbers). An int64 beyond 2^53 is refused with a
// clear error rather than silently rounded.

import { create } from "@bufbuild/protobuf";
import * as pb from "../api/gen/etcdserverpb/rpc_pb.ts";
import { EventSchema, type Event as PbEvent, type KeyValue as PbKeyValue } from "../api/gen/mvccpb/kv_pb.ts";
import { invalidRequest } from "../api/index.ts";
import type * as m from "../mvcc/index.ts";

export function num(v: bigint, field: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw invalidRequest(`${field} ${v} is outside the supported range (|n| <= 2^53-1)`);
  }
  return Number(v);
}

const opt = (b: Uint8Array): Uint8Array | undefined => (b.length > 0 ? b : undefined);

export function toRange(r: pb.RangeRequest): m.RangeRequest {
  return {
    key: r.key,
    rangeEnd: opt(r.rangeEnd),
    limit: num(r.limit, "limit"),
    revision: num(r.revision, "revision"),
    sortOrder: r.sortOrder as number as m.SortOrder,
    sortTarget: r.sortTarget as number as m.SortTarget,
    serializable: r.serializable,
    keysOnly: r.keysOnly,
    countOnly: r.countOnly,
    minModRevision: num(r.minModRevision, "min_mod_revision"),
    maxModRevision: num(r.maxModRevision, "max_mod_revision"),
    minCreateRevision: num(r.minCreateRevision, "min_create_revision"),
    maxCreateRevision: num(r.maxCreateRevision, "max_create_revision"),
  };
}

export function toPut(r: pb.PutRequest): m.PutRequest {
  return {
    key: r.key,
    value: r.value,
    lease: r.lease,
    prevKv: r.prevKv,
    ignoreValue: r.ignoreValue,
    ignoreLease: r.ignoreLease,
  };
}

export function toDeleteRange(r: pb.DeleteRangeRequest): m.DeleteRangeRequest {
  return { key: r.key, rangeEnd: opt(r.rangeEnd), prevKv: r.prevKv };
}

function toCompare(c: pb.Compare): m.Compare {
  const out: m.Compare = {
    result: c.result as number as m.CompareResult,
    target: c.target as number as m.CompareTarget,
    key: c.key,
    rangeEnd: opt(c.rangeEnd),
  };
  const u = c.targetUnion;
  switch (u.case) {
    case "version":
      out.version = num(u.value, "compare version");
      break;
    case "createRevision":
      out.createRevision = num(u.value, "compare create_revision");
      break;
    case "modRevision":
      out.modRevision = num(u.value, "compare mod_revision");
      break;
    case "value":
      out.value = u.value;
      break;
    case "lease":
      out.lease = u.value;
      break;
  }
  return out;
}

function toOp(o: pb.RequestOp): m.RequestOp {
  const r = o.request;
  switch (r.case) {
    case "requestRange":
      return { requestRange: toRange(r.value) };
    case "requestPut":
      return { requestPut: toPut(r.value) };
    case "requestDeleteRange":
      return { requestDeleteRange: toDeleteRange(r.value) };
    case "requestTxn":
      return { requestTxn: toTxn(r.value) };
    default:
      throw invalidRequest("txn operation without a request");
  }
}

export function toTxn(r: pb.TxnRequest): m.TxnRequest {
  return { compare: r.compare.map(toCompare), success: r.success.map(toOp), failure: r.failure.map(toOp) };
}

// ---- responses ----
//
// The hot responses are built as literal messages (protobuf-es messages are
// plain objects with a $typeName): create() would walk the descriptor to
// fill defaults that are all given here. The types make a field missing
// here a compile error.

const header = (h: m.ResponseHeader): pb.ResponseHeader => ({
  $typeName: "etcdserverpb.ResponseHeader",
  clusterId: 0n,
  memberId: 0n,
  revision: BigInt(h.revision),
  raftTerm: 0n,
});

export function fromKv(kv: m.KeyValue): PbKeyValue {
  return {
    $typeName: "mvccpb.KeyValue",
    key: kv.key,
    createRevision: BigInt(kv.createRevision),
    modRevision: BigInt(kv.modRevision),
    version: BigInt(kv.version),
    value: kv.value,
    lease: kv.lease,
  };
}

export function fromEvent(e: m.Event): PbEvent {
  return create(EventSchema, {
    type: e.type as number,
    kv: fromKv(e.kv),
    prevKv: e.prevKv ? fromKv(e.prevKv) : undefined,
  });
}

export function fromRange(r: m.RangeResponse): pb.RangeResponse {
  return {
    $typeName: "etcdserverpb.RangeResponse",
    header: header(r.header),
    kvs: r.kvs.map(fromKv),
    more: r.more,
    count: BigInt(r.count),
  };
}

export function fromPut(r: m.PutResponse): pb.PutResponse {
  return {
    $typeName: "etcdserverpb.PutResponse",
    header: header(r.header),
    prevKv: r.prevKv ? fromKv(r.prevKv) : undefined,
  };
}

export function fromDeleteRange(r: m.DeleteRangeResponse): pb.DeleteRangeResponse {
  return create(pb.DeleteRangeResponseSchema, {
    header: header(r.header),
    deleted: BigInt(r.deleted),
    prevKvs: r.prevKvs.map(fromKv),
  });
}

function fromOp(o: m.ResponseOp): pb.ResponseOp {
  if ("responseRange" in o)
    return create(pb.ResponseOpSchema, {
      response: { case: "responseRange", value: fromRange(o.responseRange) },
    });
  if ("responsePut" in o)
    return create(pb.ResponseOpSchema, { response: { case: "responsePut", value: fromPut(o.responsePut) } });
  if ("responseDeleteRange" in o) {
    return create(pb.ResponseOpSchema, {
      response: { case: "responseDeleteRange", value: fromDeleteRange(o.responseDeleteRange) },
    });
  }
  return create(pb.ResponseOpSchema, { response: { case: "responseTxn", value: fromTxn(o.responseTxn) } });
}

export function fromTxn(r: m.TxnResponse): pb.TxnResponse {
  return create(pb.TxnResponseSchema, {
    header: header(r.header),
    succeeded: r.succeeded,
    responses: r.responses.map(fromOp),
  });
}
