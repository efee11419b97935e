// The recipes of etcd's clientv3/concurrency package, run inside the member
// for the Election and Lock services (election.ts, lock.ts) as etcd runs
// them: over the member's own KV, Lease and Watch operations, with the
// caller's identity, so auth applies to every step as to the caller's own
// requests. A waiter on a prefix is the key `<prefix><lease id in hex>`; the
// waiter whose key has the smallest create revision under the prefix holds
// the election or the lock, and the others wait, each for the deletion of
// the newest older key, until none is left. Nothing is kept between calls.

import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { CallContext } from "./backend.ts";
import { asPlainError, FloeError, plainError } from "./errors.ts";
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  type CompareSchema,
  LeaseGrantRequestSchema,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  RangeRequestSchema,
  type RangeResponse,
  type RequestOpSchema,
  type ResponseHeader,
  type WatchRequest,
  WatchRequestSchema,
  type WatchResponse,
} from "./gen/etcdserverpb/rpc_pb.ts";
import { Event_EventType } from "./gen/mvccpb/kv_pb.ts";
import type { Operations } from "./operations.ts";
import { AsyncQueue } from "./queue.ts";

/** clientv3/concurrency's default session TTL, which etcd's services grant when a call names no lease. */
export const SESSION_TTL_SECONDS = 60n;

/** How long a waiter's clean-up (deleting its key after the caller went away) may take. */
const CLEANUP_TIMEOUT_MS = 30_000;

const EMPTY = new Uint8Array();
const SLASH = Uint8Array.of(0x2f);

/**
 * The caller's identity (token, certificate CN) for the calls a recipe makes.
 * The caller's request bytes stay behind: they are not the bytes of those calls.
 */
export function innerContext(ctx: CallContext, signal: AbortSignal = ctx.signal): CallContext {
  return {
    signal,
    token: ctx.token,
    get commonName() {
      return ctx.commonName;
    },
  };
}

/**
 * The caller's identity with a signal of its own: etcd cleans up a waiter's
 * key with its client's context, which outlives the call that went away.
 */
export const cleanupContext = (ctx: CallContext): CallContext =>
  innerContext(ctx, AbortSignal.timeout(CLEANUP_TIMEOUT_MS));

/** `name` + "/": the prefix of an election's or a lock's waiter keys. */
export const prefixOf = (name: Uint8Array): Uint8Array => concat(name, SLASH);

/** A waiter's key: the prefix and the lease id in lower-case hex, as Go's %x prints an int64. */
export const waiterKey = (prefix: Uint8Array, lease: bigint): Uint8Array =>
  concat(prefix, new TextEncoder().encode(lease.toString(16)));

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** The end of the range of keys that start with `prefix`, as etcd's GetPrefixRangeEnd. */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if ((prefix[i] as number) < 0xff) {
      const end = prefix.slice(0, i + 1);
      end[i] = (end[i] as number) + 1;
      return end;
    }
  }
  return Uint8Array.of(0);
}

export const bytesEqual = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

/**
 * A concurrency session's lease: the one the caller named, or a new lease of
 * SESSION_TTL_SECONDS. etcd's services orphan the session at once, so nobody
 * keeps a granted lease alive: it expires unless the client renews it.
 */
export async function sessionLease(ops: Operations, lease: bigint, ctx: CallContext): Promise<bigint> {
  if (lease !== 0n) return lease;
  const granted = await ops.leaseGrant(create(LeaseGrantRequestSchema, { TTL: SESSION_TTL_SECONDS }), ctx);
  return granted.ID;
}

/**
 * What a campaign and a lock both begin with: the inner context, the
 * session lease (the caller's, or a new one), the name's prefix and the
 * caller's key under it.
 */
export async function waiterOf(
  ops: Operations,
  req: { name: Uint8Array; lease: bigint },
  ctx: CallContext,
): Promise<{ inner: CallContext; lease: bigint; prefix: Uint8Array; key: Uint8Array }> {
  const inner = innerContext(ctx);
  const lease = await sessionLease(ops, req.lease, inner);
  const prefix = prefixOf(req.name);
  return { inner, lease, prefix, key: waiterKey(prefix, lease) };
}

/** The oldest key under `prefix` (clientv3's WithFirstCreate): prefix, create revision ascending, limit 1. */
export const firstCreated = (prefix: Uint8Array): MessageInitShape<typeof RangeRequestSchema> => ({
  key: prefix,
  rangeEnd: prefixEnd(prefix),
  sortTarget: RangeRequest_SortTarget.CREATE,
  sortOrder: RangeRequest_SortOrder.ASCEND,
  limit: 1n,
});

/** Compares `key`'s create revision with `rev` (0: the key does not exist). */
export const createRevisionIs = (key: Uint8Array, rev: bigint): MessageInitShape<typeof CompareSchema> => ({
  key,
  result: Compare_CompareResult.EQUAL,
  target: Compare_CompareTarget.CREATE,
  targetUnion: { case: "createRevision", value: rev },
});

export const putOp = (
  key: Uint8Array,
  value: Uint8Array,
  lease: bigint,
): MessageInitShape<typeof RequestOpSchema> => ({
  request: { case: "requestPut", value: { key, value, lease } },
});

export const rangeOp = (
  range: MessageInitShape<typeof RangeRequestSchema>,
): MessageInitShape<typeof RequestOpSchema> => ({ request: { case: "requestRange", value: range } });

export const deleteOp = (key: Uint8Array): MessageInitShape<typeof RequestOpSchema> => ({
  request: { case: "requestDeleteRange", value: { key } },
});

/** The range of a txn's `i`th response (a range op there by construction). */
export function rangeResponseAt(responses: { response: { case?: string; value?: unknown } }[], i: number) {
  const r = responses[i]?.response;
  if (r?.case !== "responseRange") throw new Error(`txn response ${i} is ${r?.case}, expected a range`);
  return r.value as RangeResponse;
}

/** The error a canceled watch ends with: COMPACTED, or its cancel reason as a plain error (clientv3's wr.Err()). */
function watchCanceled(wr: WatchResponse): FloeError {
  if (wr.compactRevision > 0n) return FloeError.of("COMPACTED");
  return plainError(wr.cancelReason !== "" ? wr.cancelReason : "watch canceled");
}

/**
 * One watcher on [key, rangeEnd) from `startRevision`, as the responses that
 * carry events (each with a full header). Throws when the member cancels the
 * watcher (a compacted start revision, a permission); returns when the watch
 * stream ends (the caller went away, the member shuts down). Leaving the loop
 * releases the watcher.
 */
export async function* watchEvents(
  ops: Operations,
  range: { key: Uint8Array; rangeEnd?: Uint8Array; startRevision: bigint },
  ctx: CallContext,
): AsyncGenerator<WatchResponse> {
  const done = new AbortController();
  const requests = new AsyncQueue<WatchRequest>(1);
  void requests.push(
    create(WatchRequestSchema, {
      requestUnion: {
        case: "createRequest",
        value: { key: range.key, rangeEnd: range.rangeEnd ?? EMPTY, startRevision: range.startRevision },
      },
    }),
  );
  const signal = AbortSignal.any([ctx.signal, done.signal]);
  try {
    for await (const wr of ops.backend.watch(requests, innerContext(ctx, signal))) {
      if (wr.canceled) throw watchCanceled(wr);
      if (wr.events.length > 0) yield ops.withHeader(wr);
    }
  } finally {
    done.abort();
    requests.end();
  }
}

/** Waits until `key` is deleted, watching from `rev` (clientv3/concurrency's waitDelete). */
async function waitDelete(ops: Operations, key: Uint8Array, rev: bigint, ctx: CallContext): Promise<void> {
  for await (const wr of watchEvents(ops, { key, startRevision: rev }, ctx)) {
    if (wr.events.some((ev) => ev.type === Event_EventType.DELETE)) return;
  }
  ctx.signal.throwIfAborted();
  throw plainError("lost watcher waiting for delete");
}

/**
 * Waits until no key under `prefix` has a create revision at or below
 * `maxCreateRevision` (clientv3/concurrency's waitDeletes): each round waits
 * for the newest such key to go. Resolves with the header of the last read,
 * the one that found none.
 */
export async function waitDeletes(
  ops: Operations,
  prefix: Uint8Array,
  maxCreateRevision: bigint,
  ctx: CallContext,
): Promise<ResponseHeader> {
  for (;;) {
    const older = await ops.range(
      create(RangeRequestSchema, {
        key: prefix,
        rangeEnd: prefixEnd(prefix),
        sortTarget: RangeRequest_SortTarget.CREATE,
        sortOrder: RangeRequest_SortOrder.DESCEND,
        limit: 1n,
        maxCreateRevision,
      }),
      ctx,
    );
    const newest = older.kvs[0];
    if (newest === undefined) return older.header as ResponseHeader;
    await waitDelete(ops, newest.key, (older.header as ResponseHeader).revision, ctx);
  }
}

/**
 * Runs one Election or Lock call: an error the member answered the recipe
 * becomes the plain (UNKNOWN) error etcd's services return; a call the
 * caller cancelled or let time out fails as such.
 */
export async function asEtcdService<T>(ctx: CallContext, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    if (ctx.signal.aborted || !(e instanceof FloeError)) throw e;
    throw asPlainError(e);
  }
}
