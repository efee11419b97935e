// The streaming RPCs (Watch, LeaseKeepAlive, Snapshot), shared by gRPC and
// the gateway. Each takes the client's messages as an AsyncIterable and
// returns the responses as one, pulled at the client's pace.

import { create } from "@bufbuild/protobuf";
import type { CallContext } from "./backend.ts";
import { Errors, FloeError } from "./errors.ts";
import {
  type LeaseKeepAliveRequest,
  type LeaseKeepAliveResponse,
  LeaseKeepAliveResponseSchema,
  type SnapshotRequest,
  type SnapshotResponse,
  type WatchRequest,
  type WatchResponse,
  WatchResponseSchema,
} from "./gen/etcdserverpb/rpc_pb.ts";
import type { Operations } from "./operations.ts";
import { AsyncQueue } from "./queue.ts";

/** A signal that aborts with `parent`, or when the returned abort() is called. */
function childSignal(parent: AbortSignal): { signal: AbortSignal; abort: () => void } {
  const controller = new AbortController();
  const onAbort = () => controller.abort(parent.reason);
  if (parent.aborted) controller.abort(parent.reason);
  else parent.addEventListener("abort", onAbort, { once: true });
  return {
    signal: controller.signal,
    abort: () => {
      parent.removeEventListener("abort", onAbort);
      controller.abort();
    },
  };
}

/**
 * One Watch stream. Creates beyond maxWatchersPerStream are refused the way
 * etcd refuses a create (created and canceled, watch_id -1, a cancel reason)
 * without reaching the backend. The stream ends when the client goes away;
 * the end of the client's messages alone does not end it (etcd behaves so).
 */
export async function* watchStream(
  ops: Operations,
  requests: AsyncIterable<WatchRequest>,
  ctx: CallContext,
): AsyncGenerator<WatchResponse> {
  const { maxWatchersPerStream, streamBufferMessages } = ops.limits;
  const out = new AsyncQueue<WatchResponse>(streamBufferMessages);
  const toBackend = new AsyncQueue<WatchRequest>(streamBufferMessages);
  const scope = childSignal(ctx.signal);
  // creates forwarded whose watcher has not yet ended with a canceled response
  let live = 0;

  const pumpRequests = async () => {
    for await (const req of requests) {
      if (req.requestUnion.case === "createRequest" && live >= maxWatchersPerStream) {
        const reason = `${Errors.TOO_MANY_WATCHERS.message}: limit ${maxWatchersPerStream}`;
        await out.push(
          ops.withHeader(
            create(WatchResponseSchema, {
              watchId: -1n,
              created: true,
              canceled: true,
              cancelReason: reason,
            }),
          ),
        );
        continue;
      }
      if (req.requestUnion.case === "createRequest") live++;
      await toBackend.push(req);
      if (out.closed) break;
    }
    toBackend.end();
  };

  const pumpResponses = async () => {
    for await (const resp of ops.backend.watch(toBackend, { ...ctx, signal: scope.signal })) {
      if (resp.canceled) live = Math.max(0, live - 1);
      await out.push(ops.withHeader(resp));
      if (out.closed) break;
    }
    out.end();
  };

  pumpRequests().catch((e: unknown) => out.fail(e));
  pumpResponses().catch((e: unknown) => out.fail(e));
  try {
    yield* out;
  } finally {
    scope.abort();
    toBackend.end();
  }
}

/**
 * One LeaseKeepAlive stream: each client message renews one lease. An unknown
 * or expired lease is answered `{ID, TTL: 0}` as etcd does, not as an error;
 * the stream ends when the client stops sending.
 */
export async function* keepAliveStream(
  ops: Operations,
  requests: AsyncIterable<LeaseKeepAliveRequest>,
  ctx: CallContext,
): AsyncGenerator<LeaseKeepAliveResponse> {
  for await (const req of requests) {
    let resp: LeaseKeepAliveResponse;
    try {
      resp = await ops.backend.leaseKeepAlive(req, ctx);
    } catch (e) {
      if (!(e instanceof FloeError) || e.def !== Errors.LEASE_NOT_FOUND) throw e;
      resp = create(LeaseKeepAliveResponseSchema, { ID: req.ID, TTL: 0n });
    }
    yield ops.withHeader(resp);
  }
}

/** Maintenance.Snapshot: the backend's chunks, each with a header. */
export async function* snapshotStream(
  ops: Operations,
  req: SnapshotRequest,
  ctx: CallContext,
): AsyncGenerator<SnapshotResponse> {
  for await (const chunk of ops.backend.snapshot(req, ctx)) {
    if (chunk.version === "") chunk.version = ops.versions.server;
    yield ops.withHeader(chunk);
  }
}
