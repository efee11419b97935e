// The etcd v3 gRPC services on Connect's gRPC protocol handler, served on an
// HTTP/2 request listener. Every failure reaches the client as the registry's
// gRPC code and message (errors.ts), including the ones Connect raises itself
// before a handler runs (oversized or unparsable messages).

import http2, { type Http2ServerRequest, type Http2ServerResponse } from "node:http2";
import { Code, ConnectError, createConnectRouter, type HandlerContext } from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { findTrailerError, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import {
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import { authOperations } from "./auth.ts";
import type { CallContext } from "./backend.ts";
import type { CallRunner } from "./calls.ts";
import { FloeError } from "./errors.ts";
import { Auth, Cluster, KV, Lease, Maintenance, Watch } from "./gen/etcdserverpb/rpc_pb.ts";
import type { Operations } from "./operations.ts";
import { keepAliveStream, snapshotStream, watchStream } from "./streams.ts";

/** The registry error for an error Connect raised itself, if it is one we recognise. */
export function translateConnectError(e: unknown): FloeError | undefined {
  if (!(e instanceof ConnectError)) return undefined;
  if (e.code === Code.ResourceExhausted && e.rawMessage.includes("readMaxBytes")) {
    return FloeError.of("REQUEST_TOO_LARGE");
  }
  if (e.code === Code.Internal && e.rawMessage.startsWith("parse ")) {
    return FloeError.of("INVALID_REQUEST", e.rawMessage);
  }
  if (e.code === Code.DeadlineExceeded) return FloeError.of("DEADLINE_EXCEEDED");
  if (e.code === Code.Canceled) return FloeError.of("CANCELLED");
  return undefined;
}

const toConnectError = (e: FloeError): ConnectError =>
  new ConnectError(e.message, e.grpcCode as number as Code);

/** Handler wrappers: CallContext from Connect's context, registry errors out. */
function wrappers(runner: CallRunner) {
  const ctxOf = (h: HandlerContext): CallContext => ({ signal: h.signal });
  return {
    unary:
      <I, O>(method: string, fn: (req: I, ctx: CallContext) => Promise<O>) =>
      async (req: I, h: HandlerContext): Promise<O> => {
        const ctx = ctxOf(h);
        try {
          return await runner.unary("grpc", method, ctx, () => fn(req, ctx));
        } catch (e) {
          throw toConnectError(e as FloeError);
        }
      },
    serverStream: <I, O>(method: string, fn: (req: I, ctx: CallContext) => AsyncIterable<O>) =>
      async function* (req: I, h: HandlerContext): AsyncGenerator<O> {
        const ctx = ctxOf(h);
        try {
          yield* runner.stream("grpc", method, ctx, fn(req, ctx));
        } catch (e) {
          throw toConnectError(e as FloeError);
        }
      },
    bidi: <I, O>(method: string, fn: (reqs: AsyncIterable<I>, ctx: CallContext) => AsyncIterable<O>) =>
      async function* (reqs: AsyncIterable<I>, h: HandlerContext): AsyncGenerator<O> {
        const ctx = ctxOf(h);
        try {
          yield* runner.stream("grpc", method, ctx, fn(reqs, ctx));
        } catch (e) {
          throw toConnectError(e as FloeError);
        }
      },
  };
}

function notSupported(what: string): () => never {
  return () => {
    throw FloeError.of("NOT_SUPPORTED", what);
  };
}

function buildRouter(ops: Operations, runner: CallRunner, shutdown: AbortSignal) {
  const { unary, serverStream, bidi } = wrappers(runner);
  const readMaxBytes = ops.limits.maxRequestBytes + ops.limits.grpcOverheadBytes;
  const router = createConnectRouter({
    grpc: true,
    grpcWeb: false,
    connect: false,
    readMaxBytes,
    writeMaxBytes: ops.limits.maxSendBytes,
    acceptCompression: [compressionGzip],
    shutdownSignal: shutdown,
  });
  router.service(KV, {
    range: unary("KV.Range", ops.range),
    put: unary("KV.Put", ops.put),
    deleteRange: unary("KV.DeleteRange", ops.deleteRange),
    txn: unary("KV.Txn", ops.txn),
    compact: unary("KV.Compact", ops.compact),
  });
  router.service(Watch, {
    watch: bidi("Watch.Watch", (reqs, ctx) => watchStream(ops, reqs, ctx)),
  });
  router.service(Lease, {
    leaseGrant: unary("Lease.LeaseGrant", ops.leaseGrant),
    leaseRevoke: unary("Lease.LeaseRevoke", ops.leaseRevoke),
    leaseKeepAlive: bidi("Lease.LeaseKeepAlive", (reqs, ctx) => keepAliveStream(ops, reqs, ctx)),
    leaseTimeToLive: unary("Lease.LeaseTimeToLive", ops.leaseTimeToLive),
    leaseLeases: unary("Lease.LeaseLeases", ops.leaseLeases),
  });
  router.service(Cluster, {
    memberAdd: unary("Cluster.MemberAdd", ops.memberAdd),
    memberRemove: unary("Cluster.MemberRemove", ops.memberRemove),
    memberUpdate: unary("Cluster.MemberUpdate", ops.memberUpdate),
    memberList: unary("Cluster.MemberList", ops.memberList),
    memberPromote: unary("Cluster.MemberPromote", ops.memberPromote),
  });
  router.service(Maintenance, {
    alarm: unary("Maintenance.Alarm", ops.alarm),
    status: unary("Maintenance.Status", ops.status),
    defragment: unary("Maintenance.Defragment", ops.defragment),
    hash: unary("Maintenance.Hash", ops.hash),
    hashKV: unary("Maintenance.HashKV", ops.hashKV),
    snapshot: serverStream("Maintenance.Snapshot", (req, ctx) => snapshotStream(ops, req, ctx)),
    moveLeader: unary("Maintenance.MoveLeader", ops.moveLeader),
    downgrade: unary("Maintenance.Downgrade", async () => notSupported("Downgrade")()),
  });
  const auth = authOperations(ops);
  router.service(Auth, {
    authEnable: unary("Auth.AuthEnable", async () => auth.authEnable()),
    authDisable: unary("Auth.AuthDisable", async () => auth.authDisable()),
    authStatus: unary("Auth.AuthStatus", async () => auth.authStatus()),
    authenticate: unary("Auth.Authenticate", async () => auth.authenticate()),
    userAdd: unary("Auth.UserAdd", async () => auth.userAdd()),
    userGet: unary("Auth.UserGet", async () => auth.userGet()),
    userList: unary("Auth.UserList", async () => auth.userList()),
    userDelete: unary("Auth.UserDelete", async () => auth.userDelete()),
    userChangePassword: unary("Auth.UserChangePassword", async () => auth.userChangePassword()),
    userGrantRole: unary("Auth.UserGrantRole", async () => auth.userGrantRole()),
    userRevokeRole: unary("Auth.UserRevokeRole", async () => auth.userRevokeRole()),
    roleAdd: unary("Auth.RoleAdd", async () => auth.roleAdd()),
    roleGet: unary("Auth.RoleGet", async () => auth.roleGet()),
    roleList: unary("Auth.RoleList", async () => auth.roleList()),
    roleDelete: unary("Auth.RoleDelete", async () => auth.roleDelete()),
    roleGrantPermission: unary("Auth.RoleGrantPermission", async () => auth.roleGrantPermission()),
    roleRevokePermission: unary("Auth.RoleRevokePermission", async () => auth.roleRevokePermission()),
  });
  return router;
}

/**
 * grpc-message as the gRPC spec encodes it: UTF-8, with only bytes outside
 * printable ASCII and "%" percent-encoded. Connect uses encodeURIComponent,
 * which also encodes ":" and friends, and grpc-js decodes with decodeURI,
 * which leaves those encoded: "etcdserver%3A ..." would reach clients.
 */
export function grpcMessageEncode(message: string): string {
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * Before the trailers go out: a failure Connect detected itself, before any
 * handler ran (a message over readMaxBytes, an unparsable message), becomes
 * the registry's code and message; grpc-message gets the spec's encoding.
 */
function withRegistryTrailers(res: UniversalServerResponse): UniversalServerResponse {
  const { body, trailer } = res;
  if (trailer === undefined || body === undefined || !(Symbol.asyncIterator in body)) return res;
  async function* rewritten() {
    yield* body as AsyncIterable<Uint8Array>;
    const t = trailer as Headers;
    const translated = translateConnectError(findTrailerError(t));
    if (translated !== undefined) setTrailerStatus(t, toConnectError(translated));
    const message = t.get("grpc-message");
    if (message !== null) t.set("grpc-message", grpcMessageEncode(decodeURIComponent(message)));
  }
  return { ...res, body: rewritten() };
}

export type Http2Listener = (req: Http2ServerRequest, res: Http2ServerResponse) => void;

/** An HTTP/2 request listener serving the six etcd services over gRPC. */
export function createGrpcListener(
  ops: Operations,
  runner: CallRunner,
  shutdown: AbortSignal,
): Http2Listener {
  const router = buildRouter(ops, runner, shutdown);
  const byPath = new Map<string, UniversalHandler>(router.handlers.map((h) => [h.requestPath, h]));
  return (req, res) => {
    const path = (req.url ?? "").split("?", 1)[0] ?? "";
    const handler = byPath.get(path);
    if (handler === undefined) {
      res.writeHead(200, {
        "content-type": "application/grpc",
        "grpc-status": String(Code.Unimplemented),
        "grpc-message": grpcMessageEncode(`floe: unknown method ${path}`),
      });
      res.end();
      return;
    }
    const uReq = universalRequestFromNodeRequest(req, res, undefined, undefined);
    handler(uReq)
      .then((uRes) => universalResponseToNodeResponse(withRegistryTrailers(uRes), res))
      .catch((e: unknown) => {
        // the stream broke (client reset, write after close): nothing left to tell the client
        runner.log.debug({ err: e, path }, "grpc response not completed");
        if (!res.stream.destroyed) res.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      });
  };
}
