// api/ owns floe's client port: the etcd v3 gRPC services (KV, Watch, Lease,
// Cluster, Maintenance, Auth, Election, Lock) and the HTTP/1.1 endpoints (/health, /version,
// /metrics, and etcd's JSON gateway under /v3/) on one TCP port, in front of
// a pluggable EtcdBackend. It promises wire compatibility with etcd 3.x
// clients (etcd's package, service, method and message names and field
// numbers; etcd's error codes and messages; a ResponseHeader on every
// response), etcd's stateless request checks, and bounded resources (request
// size, txn ops, streams per connection, watchers per stream, buffered
// responses per stream). It holds no state of its own: every answer comes
// from the backend, and per-call bookkeeping ends with the call. A backend
// reports client-visible failures by throwing FloeError from the one registry
// in errors.ts; anything else it throws is logged and answered INTERNAL.

export type { CallContext, EtcdBackend, HealthReport } from "./backend.ts";
export {
  type ErrorDef,
  type ErrorName,
  Errors,
  errorFromMessage,
  FloeError,
  GrpcCode,
  httpStatusOf,
  invalidRequest,
  isFloeError,
} from "./errors.ts";
export { decodeInternalPut } from "./fast-codec.ts";
export * as authpb from "./gen/authpb/auth_pb.ts";
export * as etcdserverpb from "./gen/etcdserverpb/rpc_pb.ts";
export * as floepb from "./gen/floe/raft_internal_pb.ts";
export * as mvccpb from "./gen/mvccpb/kv_pb.ts";
export * as v3electionpb from "./gen/v3electionpb/v3election_pb.ts";
export * as v3lockpb from "./gen/v3lockpb/v3lock_pb.ts";
export { FastHistogram, type HistogramSeries } from "./histogram.ts";
export { defaultRegistry } from "./metrics.ts";
export {
  type ApiLimits,
  type ApiServerOptions,
  defaultEtcdClusterVersion,
  defaultEtcdVersion,
  defaultLimits,
  type TlsOptions,
} from "./options.ts";
export { AsyncQueue } from "./queue.ts";
export { type ApiServer, startApiServer } from "./server.ts";
