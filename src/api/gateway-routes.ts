// The JSON gateway's routes: etcd's grpc-gateway paths (the google.api.http
// annotations of etcd's rpc.proto) and, per route, the JSON <-> protobuf
// conversion with protobuf's JSON mapping: base64 bytes, int64 as strings,
// proto field names (snake_case) on output as etcd's gateway prints them.

import { type DescMessage, fromJson, type JsonValue, type MessageShape, toJson } from "@bufbuild/protobuf";
import { authOperations } from "./auth.ts";
import type { CallContext } from "./backend.ts";
import { FloeError, invalidRequest } from "./errors.ts";
import * as pb from "./gen/etcdserverpb/rpc_pb.ts";
import type { Operations } from "./operations.ts";
import { keepAliveStream, snapshotStream, watchStream } from "./streams.ts";

export type GatewayRoute =
  | {
      readonly kind: "unary";
      /** "Service.Method", for metrics and logs. */
      readonly method: string;
      run(json: unknown, ctx: CallContext): Promise<JsonValue>;
    }
  | {
      readonly kind: "stream";
      readonly method: string;
      /** True when the body is a stream of messages (watch, keepalive), false for one message. */
      readonly clientStreams: boolean;
      run(jsonIn: AsyncIterable<unknown>, ctx: CallContext): AsyncIterable<JsonValue>;
    };

function decode<D extends DescMessage>(schema: D, json: unknown): MessageShape<D> {
  try {
    return fromJson(schema, json as JsonValue, { ignoreUnknownFields: true });
  } catch (e) {
    throw invalidRequest(`${schema.typeName}: ${(e as Error).message}`);
  }
}

const encode = <D extends DescMessage>(schema: D, msg: MessageShape<D>): JsonValue =>
  toJson(schema, msg, { useProtoFieldName: true });

async function* decodeAll<D extends DescMessage>(schema: D, jsonIn: AsyncIterable<unknown>) {
  for await (const json of jsonIn) yield decode(schema, json);
}

async function* encodeAll<D extends DescMessage>(schema: D, msgs: AsyncIterable<MessageShape<D>>) {
  for await (const msg of msgs) yield encode(schema, msg);
}

async function firstOf(jsonIn: AsyncIterable<unknown>): Promise<unknown> {
  for await (const json of jsonIn) return json;
  return {};
}

function unary<I extends DescMessage, O extends DescMessage>(
  method: string,
  input: I,
  output: O,
  call: (req: MessageShape<I>, ctx: CallContext) => Promise<MessageShape<O>>,
): GatewayRoute {
  return {
    kind: "unary",
    method,
    run: async (json, ctx) => encode(output, await call(decode(input, json), ctx)),
  };
}

function bidi<I extends DescMessage, O extends DescMessage>(
  method: string,
  input: I,
  output: O,
  call: (reqs: AsyncIterable<MessageShape<I>>, ctx: CallContext) => AsyncIterable<MessageShape<O>>,
): GatewayRoute {
  return {
    kind: "stream",
    method,
    clientStreams: true,
    run: (jsonIn, ctx) => encodeAll(output, call(decodeAll(input, jsonIn), ctx)),
  };
}

function serverStream<I extends DescMessage, O extends DescMessage>(
  method: string,
  input: I,
  output: O,
  call: (req: MessageShape<I>, ctx: CallContext) => AsyncIterable<MessageShape<O>>,
): GatewayRoute {
  return {
    kind: "stream",
    method,
    clientStreams: false,
    run: (jsonIn, ctx) =>
      (async function* () {
        yield* encodeAll(output, call(decode(input, await firstOf(jsonIn)), ctx));
      })(),
  };
}

/** Every gateway path etcd 3.5 serves, mapped to its handler. */
export function gatewayRoutes(ops: Operations): ReadonlyMap<string, GatewayRoute> {
  const auth = authOperations(ops);
  const none = () => async (): Promise<never> => {
    throw FloeError.of("NOT_SUPPORTED", "Downgrade");
  };
  const revoke = unary(
    "Lease.LeaseRevoke",
    pb.LeaseRevokeRequestSchema,
    pb.LeaseRevokeResponseSchema,
    ops.leaseRevoke,
  );
  const ttl = unary(
    "Lease.LeaseTimeToLive",
    pb.LeaseTimeToLiveRequestSchema,
    pb.LeaseTimeToLiveResponseSchema,
    ops.leaseTimeToLive,
  );
  const leases = unary(
    "Lease.LeaseLeases",
    pb.LeaseLeasesRequestSchema,
    pb.LeaseLeasesResponseSchema,
    ops.leaseLeases,
  );
  const a = <I extends DescMessage, O extends DescMessage>(
    name: string,
    input: I,
    output: O,
    fn: () => Promise<MessageShape<O>>,
  ) => unary(`Auth.${name}`, input, output, fn);

  return new Map<string, GatewayRoute>([
    ["/v3/kv/range", unary("KV.Range", pb.RangeRequestSchema, pb.RangeResponseSchema, ops.range)],
    ["/v3/kv/put", unary("KV.Put", pb.PutRequestSchema, pb.PutResponseSchema, ops.put)],
    [
      "/v3/kv/deleterange",
      unary("KV.DeleteRange", pb.DeleteRangeRequestSchema, pb.DeleteRangeResponseSchema, ops.deleteRange),
    ],
    ["/v3/kv/txn", unary("KV.Txn", pb.TxnRequestSchema, pb.TxnResponseSchema, ops.txn)],
    [
      "/v3/kv/compaction",
      unary("KV.Compact", pb.CompactionRequestSchema, pb.CompactionResponseSchema, ops.compact),
    ],
    [
      "/v3/watch",
      bidi("Watch.Watch", pb.WatchRequestSchema, pb.WatchResponseSchema, (reqs, ctx) =>
        watchStream(ops, reqs, ctx),
      ),
    ],
    [
      "/v3/lease/grant",
      unary("Lease.LeaseGrant", pb.LeaseGrantRequestSchema, pb.LeaseGrantResponseSchema, ops.leaseGrant),
    ],
    ["/v3/lease/revoke", revoke],
    ["/v3/kv/lease/revoke", revoke],
    [
      "/v3/lease/keepalive",
      bidi(
        "Lease.LeaseKeepAlive",
        pb.LeaseKeepAliveRequestSchema,
        pb.LeaseKeepAliveResponseSchema,
        (reqs, ctx) => keepAliveStream(ops, reqs, ctx),
      ),
    ],
    ["/v3/lease/timetolive", ttl],
    ["/v3/kv/lease/timetolive", ttl],
    ["/v3/lease/leases", leases],
    ["/v3/kv/lease/leases", leases],
    [
      "/v3/cluster/member/add",
      unary("Cluster.MemberAdd", pb.MemberAddRequestSchema, pb.MemberAddResponseSchema, ops.memberAdd),
    ],
    [
      "/v3/cluster/member/remove",
      unary(
        "Cluster.MemberRemove",
        pb.MemberRemoveRequestSchema,
        pb.MemberRemoveResponseSchema,
        ops.memberRemove,
      ),
    ],
    [
      "/v3/cluster/member/update",
      unary(
        "Cluster.MemberUpdate",
        pb.MemberUpdateRequestSchema,
        pb.MemberUpdateResponseSchema,
        ops.memberUpdate,
      ),
    ],
    [
      "/v3/cluster/member/list",
      unary("Cluster.MemberList", pb.MemberListRequestSchema, pb.MemberListResponseSchema, ops.memberList),
    ],
    [
      "/v3/cluster/member/promote",
      unary(
        "Cluster.MemberPromote",
        pb.MemberPromoteRequestSchema,
        pb.MemberPromoteResponseSchema,
        ops.memberPromote,
      ),
    ],
    [
      "/v3/maintenance/alarm",
      unary("Maintenance.Alarm", pb.AlarmRequestSchema, pb.AlarmResponseSchema, ops.alarm),
    ],
    [
      "/v3/maintenance/status",
      unary("Maintenance.Status", pb.StatusRequestSchema, pb.StatusResponseSchema, ops.status),
    ],
    [
      "/v3/maintenance/defragment",
      unary(
        "Maintenance.Defragment",
        pb.DefragmentRequestSchema,
        pb.DefragmentResponseSchema,
        ops.defragment,
      ),
    ],
    [
      "/v3/maintenance/hash",
      unary("Maintenance.Hash", pb.HashRequestSchema, pb.HashResponseSchema, ops.hash),
    ],
    [
      "/v3/maintenance/hashkv",
      unary("Maintenance.HashKV", pb.HashKVRequestSchema, pb.HashKVResponseSchema, ops.hashKV),
    ],
    [
      "/v3/maintenance/snapshot",
      serverStream("Maintenance.Snapshot", pb.SnapshotRequestSchema, pb.SnapshotResponseSchema, (req, ctx) =>
        snapshotStream(ops, req, ctx),
      ),
    ],
    [
      "/v3/maintenance/transfer-leadership",
      unary(
        "Maintenance.MoveLeader",
        pb.MoveLeaderRequestSchema,
        pb.MoveLeaderResponseSchema,
        ops.moveLeader,
      ),
    ],
    [
      "/v3/maintenance/downgrade",
      unary("Maintenance.Downgrade", pb.DowngradeRequestSchema, pb.DowngradeResponseSchema, none()),
    ],
    [
      "/v3/auth/enable",
      a("AuthEnable", pb.AuthEnableRequestSchema, pb.AuthEnableResponseSchema, auth.authEnable),
    ],
    [
      "/v3/auth/disable",
      a("AuthDisable", pb.AuthDisableRequestSchema, pb.AuthDisableResponseSchema, auth.authDisable),
    ],
    [
      "/v3/auth/status",
      a("AuthStatus", pb.AuthStatusRequestSchema, pb.AuthStatusResponseSchema, auth.authStatus),
    ],
    [
      "/v3/auth/authenticate",
      a("Authenticate", pb.AuthenticateRequestSchema, pb.AuthenticateResponseSchema, async () =>
        auth.authenticate(),
      ),
    ],
    [
      "/v3/auth/user/add",
      a("UserAdd", pb.AuthUserAddRequestSchema, pb.AuthUserAddResponseSchema, async () => auth.userAdd()),
    ],
    [
      "/v3/auth/user/get",
      a("UserGet", pb.AuthUserGetRequestSchema, pb.AuthUserGetResponseSchema, async () => auth.userGet()),
    ],
    [
      "/v3/auth/user/list",
      a("UserList", pb.AuthUserListRequestSchema, pb.AuthUserListResponseSchema, auth.userList),
    ],
    [
      "/v3/auth/user/delete",
      a("UserDelete", pb.AuthUserDeleteRequestSchema, pb.AuthUserDeleteResponseSchema, async () =>
        auth.userDelete(),
      ),
    ],
    [
      "/v3/auth/user/changepw",
      a(
        "UserChangePassword",
        pb.AuthUserChangePasswordRequestSchema,
        pb.AuthUserChangePasswordResponseSchema,
        async () => auth.userChangePassword(),
      ),
    ],
    [
      "/v3/auth/user/grant",
      a("UserGrantRole", pb.AuthUserGrantRoleRequestSchema, pb.AuthUserGrantRoleResponseSchema, async () =>
        auth.userGrantRole(),
      ),
    ],
    [
      "/v3/auth/user/revoke",
      a("UserRevokeRole", pb.AuthUserRevokeRoleRequestSchema, pb.AuthUserRevokeRoleResponseSchema, async () =>
        auth.userRevokeRole(),
      ),
    ],
    [
      "/v3/auth/role/add",
      a("RoleAdd", pb.AuthRoleAddRequestSchema, pb.AuthRoleAddResponseSchema, async () => auth.roleAdd()),
    ],
    [
      "/v3/auth/role/get",
      a("RoleGet", pb.AuthRoleGetRequestSchema, pb.AuthRoleGetResponseSchema, async () => auth.roleGet()),
    ],
    [
      "/v3/auth/role/list",
      a("RoleList", pb.AuthRoleListRequestSchema, pb.AuthRoleListResponseSchema, auth.roleList),
    ],
    [
      "/v3/auth/role/delete",
      a("RoleDelete", pb.AuthRoleDeleteRequestSchema, pb.AuthRoleDeleteResponseSchema, async () =>
        auth.roleDelete(),
      ),
    ],
    [
      "/v3/auth/role/grant",
      a(
        "RoleGrantPermission",
        pb.AuthRoleGrantPermissionRequestSchema,
        pb.AuthRoleGrantPermissionResponseSchema,
        async () => auth.roleGrantPermission(),
      ),
    ],
    [
      "/v3/auth/role/revoke",
      a(
        "RoleRevokePermission",
        pb.AuthRoleRevokePermissionRequestSchema,
        pb.AuthRoleRevokePermissionResponseSchema,
        async () => auth.roleRevokePermission(),
      ),
    ],
  ]);
}
