// The one method table of the client port. Every etcd v3 RPC is declared
// once, here: its implementation, keyed by the generated service
// descriptor's method names, so the compiler checks each handler's request
// and response types against rpc.proto, and its JSON gateway paths (the
// google.api.http annotations of etcd's rpc.proto). The gRPC wire layer
// (wire.ts) and the JSON gateway (gateway-routes.ts) both serve this table;
// metrics and logs name a call "Service.Method" from it.

import type { DescMessage, DescMethod, DescService, MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { authOperations } from "./auth.ts";
import type { CallContext } from "./backend.ts";
import { ElectionService } from "./election.ts";
import { FloeError } from "./errors.ts";
import { Auth, Cluster, KV, Lease, Maintenance, Watch } from "./gen/etcdserverpb/rpc_pb.ts";
import { Election } from "./gen/v3electionpb/v3election_pb.ts";
import { Lock } from "./gen/v3lockpb/v3lock_pb.ts";
import { LockService } from "./lock.ts";
import type { Operations } from "./operations.ts";
import { keepAliveStream, snapshotStream, watchStream } from "./streams.ts";

type Unary<I extends DescMessage, O extends DescMessage> = (
  req: MessageShape<I>,
  ctx: CallContext,
) => Promise<MessageShape<O>>;
type ServerStream<I extends DescMessage, O extends DescMessage> = (
  req: MessageShape<I>,
  ctx: CallContext,
) => AsyncIterable<MessageShape<O>>;
type ClientStream<I extends DescMessage, O extends DescMessage> = (
  reqs: AsyncIterable<MessageShape<I>>,
  ctx: CallContext,
) => AsyncIterable<MessageShape<O>>;

/** The handler type rpc.proto dictates for one method. */
type HandlerOf<M extends GenServiceMethods[string]> = M extends {
  methodKind: "unary";
  input: infer I extends DescMessage;
  output: infer O extends DescMessage;
}
  ? Unary<I, O>
  : M extends {
        methodKind: "server_streaming";
        input: infer I extends DescMessage;
        output: infer O extends DescMessage;
      }
    ? ServerStream<I, O>
    : M extends { input: infer I extends DescMessage; output: infer O extends DescMessage }
      ? ClientStream<I, O>
      : never;

/** One handler per method of a generated service, named as the descriptor names them. */
type ServiceHandlers<S> = S extends GenService<infer R> ? { [K in keyof R]: HandlerOf<R[K]> } : never;

/** A method as the wire layer and the gateway see it. */
export type ApiMethod = {
  /** "KV.Range": the label in metrics and logs. */
  readonly name: string;
  /** "/etcdserverpb.KV/Range": the gRPC request path. */
  readonly path: string;
  readonly input: DescMessage;
  readonly output: DescMessage;
  /** The JSON gateway paths that serve this method (none for some). */
  readonly gatewayPaths: readonly string[];
  /**
   * A unary call that may wait as long as it takes (Campaign, Lock): it is
   * cancelled when its client goes away. Other unary calls end on their own
   * and only their deadline cancels them.
   */
  readonly waits: boolean;
} & (
  | { readonly kind: "unary"; readonly unary: Unary<DescMessage, DescMessage> }
  | { readonly kind: "server_streaming"; readonly serverStream: ServerStream<DescMessage, DescMessage> }
  | { readonly kind: "bidi_streaming"; readonly bidi: ClientStream<DescMessage, DescMessage> }
);

/**
 * etcd's gateway paths per method (rpc.proto's google.api.http options), as
 * etcd 3.5 serves them under /v3/. The lease calls also answer under
 * /v3/kv/lease/..., as etcd's gateway does.
 */
const GATEWAY_PATHS: Readonly<Record<string, readonly string[]>> = {
  "KV.Range": ["/v3/kv/range"],
  "KV.Put": ["/v3/kv/put"],
  "KV.DeleteRange": ["/v3/kv/deleterange"],
  "KV.Txn": ["/v3/kv/txn"],
  "KV.Compact": ["/v3/kv/compaction"],
  "Watch.Watch": ["/v3/watch"],
  "Lease.LeaseGrant": ["/v3/lease/grant"],
  "Lease.LeaseRevoke": ["/v3/lease/revoke", "/v3/kv/lease/revoke"],
  "Lease.LeaseKeepAlive": ["/v3/lease/keepalive"],
  "Lease.LeaseTimeToLive": ["/v3/lease/timetolive", "/v3/kv/lease/timetolive"],
  "Lease.LeaseLeases": ["/v3/lease/leases", "/v3/kv/lease/leases"],
  "Cluster.MemberAdd": ["/v3/cluster/member/add"],
  "Cluster.MemberRemove": ["/v3/cluster/member/remove"],
  "Cluster.MemberUpdate": ["/v3/cluster/member/update"],
  "Cluster.MemberList": ["/v3/cluster/member/list"],
  "Cluster.MemberPromote": ["/v3/cluster/member/promote"],
  "Maintenance.Alarm": ["/v3/maintenance/alarm"],
  "Maintenance.Status": ["/v3/maintenance/status"],
  "Maintenance.Defragment": ["/v3/maintenance/defragment"],
  "Maintenance.Hash": ["/v3/maintenance/hash"],
  "Maintenance.HashKV": ["/v3/maintenance/hashkv"],
  "Maintenance.Snapshot": ["/v3/maintenance/snapshot"],
  "Maintenance.MoveLeader": ["/v3/maintenance/transfer-leadership"],
  "Maintenance.Downgrade": ["/v3/maintenance/downgrade"],
  "Auth.AuthEnable": ["/v3/auth/enable"],
  "Auth.AuthDisable": ["/v3/auth/disable"],
  "Auth.AuthStatus": ["/v3/auth/status"],
  "Auth.Authenticate": ["/v3/auth/authenticate"],
  "Auth.UserAdd": ["/v3/auth/user/add"],
  "Auth.UserGet": ["/v3/auth/user/get"],
  "Auth.UserList": ["/v3/auth/user/list"],
  "Auth.UserDelete": ["/v3/auth/user/delete"],
  "Auth.UserChangePassword": ["/v3/auth/user/changepw"],
  "Auth.UserGrantRole": ["/v3/auth/user/grant"],
  "Auth.UserRevokeRole": ["/v3/auth/user/revoke"],
  "Auth.RoleAdd": ["/v3/auth/role/add"],
  "Auth.RoleGet": ["/v3/auth/role/get"],
  "Auth.RoleList": ["/v3/auth/role/list"],
  "Auth.RoleDelete": ["/v3/auth/role/delete"],
  "Auth.RoleGrantPermission": ["/v3/auth/role/grant"],
  "Auth.RoleRevokePermission": ["/v3/auth/role/revoke"],
  // v3election.proto and v3lock.proto
  "Election.Campaign": ["/v3/election/campaign"],
  "Election.Proclaim": ["/v3/election/proclaim"],
  "Election.Leader": ["/v3/election/leader"],
  "Election.Observe": ["/v3/election/observe"],
  "Election.Resign": ["/v3/election/resign"],
  "Lock.Lock": ["/v3/lock/lock"],
  "Lock.Unlock": ["/v3/lock/unlock"],
};

/** Unary methods that wait for other clients (see ApiMethod.waits). */
const WAITING_METHODS: ReadonlySet<string> = new Set(["Election.Campaign", "Lock.Lock"]);

/** Adds one service's methods to the table, in descriptor order; a missing handler is a bug caught at start. */
function addService<S extends GenService<GenServiceMethods>>(
  table: ApiMethod[],
  service: S,
  handlers: ServiceHandlers<S>,
): void {
  const byLocalName = handlers as Record<string, unknown>;
  for (const m of (service as DescService).methods) {
    const fn = byLocalName[m.localName];
    if (typeof fn !== "function") throw new Error(`no handler for ${service.typeName}.${m.name}`);
    const name = `${service.name}.${m.name}`;
    const common = {
      name,
      path: `/${service.typeName}/${m.name}`,
      input: m.input,
      output: m.output,
      gatewayPaths: GATEWAY_PATHS[name] ?? [],
      waits: WAITING_METHODS.has(name),
    };
    table.push(entry(m, common, fn as (...args: never[]) => unknown));
  }
}

function entry(
  m: DescMethod,
  common: Omit<ApiMethod, "kind" | "unary" | "serverStream" | "bidi">,
  fn: (...args: never[]) => unknown,
): ApiMethod {
  switch (m.methodKind) {
    case "unary":
      return { ...common, kind: "unary", unary: fn as Unary<DescMessage, DescMessage> };
    case "server_streaming":
      return {
        ...common,
        kind: "server_streaming",
        serverStream: fn as ServerStream<DescMessage, DescMessage>,
      };
    default:
      // etcd has no client-streaming RPC; one would be served as a bidi stream
      return { ...common, kind: "bidi_streaming", bidi: fn as ClientStream<DescMessage, DescMessage> };
  }
}

/** Every etcd v3 RPC (etcdserverpb's, v3electionpb's and v3lockpb's), bound to `ops`. */
export function methodTable(ops: Operations): readonly ApiMethod[] {
  const auth = authOperations(ops);
  const table: ApiMethod[] = [];
  addService(table, KV, {
    range: ops.range,
    put: ops.put,
    deleteRange: ops.deleteRange,
    txn: ops.txn,
    compact: ops.compact,
  });
  addService(table, Watch, { watch: (reqs, ctx) => watchStream(ops, reqs, ctx) });
  addService(table, Lease, {
    leaseGrant: ops.leaseGrant,
    leaseRevoke: ops.leaseRevoke,
    leaseKeepAlive: (reqs, ctx) => keepAliveStream(ops, reqs, ctx),
    leaseTimeToLive: ops.leaseTimeToLive,
    leaseLeases: ops.leaseLeases,
  });
  addService(table, Cluster, {
    memberAdd: ops.memberAdd,
    memberRemove: ops.memberRemove,
    memberUpdate: ops.memberUpdate,
    memberList: ops.memberList,
    memberPromote: ops.memberPromote,
  });
  addService(table, Maintenance, {
    alarm: ops.alarm,
    status: ops.status,
    defragment: ops.defragment,
    hash: ops.hash,
    hashKV: ops.hashKV,
    snapshot: (req, ctx) => snapshotStream(ops, req, ctx),
    moveLeader: ops.moveLeader,
    downgrade: async () => {
      throw FloeError.of("NOT_SUPPORTED", "Downgrade");
    },
  });
  addService(table, Auth, auth);
  const election = new ElectionService(ops);
  addService(table, Election, {
    campaign: election.campaign,
    proclaim: election.proclaim,
    leader: election.leader,
    observe: election.observe,
    resign: election.resign,
  });
  const lock = new LockService(ops);
  addService(table, Lock, { lock: lock.lock, unlock: lock.unlock });
  return table;
}
