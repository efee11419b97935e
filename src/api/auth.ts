// The Auth service: each RPC goes to the backend, which applies etcd's rules
// (users, roles, permissions, tokens); the API fills in the response header.

import type { CallContext } from "./backend.ts";
import type * as pb from "./gen/etcdserverpb/rpc_pb.ts";
import type { Operations } from "./operations.ts";

/** Unary handlers for every Auth RPC, named as the service's methods. */
export function authOperations(ops: Operations) {
  const b = ops.backend;
  const h = <T extends { header?: pb.ResponseHeader }>(p: Promise<T>): Promise<T> =>
    p.then((r) => ops.withHeader(r));
  return {
    authEnable: (_: pb.AuthEnableRequest, ctx: CallContext) => h(b.authEnable(ctx)),
    authDisable: (_: pb.AuthDisableRequest, ctx: CallContext) => h(b.authDisable(ctx)),
    authStatus: (_: pb.AuthStatusRequest, ctx: CallContext) => h(b.authStatus(ctx)),
    authenticate: (req: pb.AuthenticateRequest, ctx: CallContext) => h(b.authenticate(req, ctx)),
    userAdd: (req: pb.AuthUserAddRequest, ctx: CallContext) => h(b.userAdd(req, ctx)),
    userGet: (req: pb.AuthUserGetRequest, ctx: CallContext) => h(b.userGet(req, ctx)),
    userList: (req: pb.AuthUserListRequest, ctx: CallContext) => h(b.userList(req, ctx)),
    userDelete: (req: pb.AuthUserDeleteRequest, ctx: CallContext) => h(b.userDelete(req, ctx)),
    userChangePassword: (req: pb.AuthUserChangePasswordRequest, ctx: CallContext) =>
      h(b.userChangePassword(req, ctx)),
    userGrantRole: (req: pb.AuthUserGrantRoleRequest, ctx: CallContext) => h(b.userGrantRole(req, ctx)),
    userRevokeRole: (req: pb.AuthUserRevokeRoleRequest, ctx: CallContext) => h(b.userRevokeRole(req, ctx)),
    roleAdd: (req: pb.AuthRoleAddRequest, ctx: CallContext) => h(b.roleAdd(req, ctx)),
    roleGet: (req: pb.AuthRoleGetRequest, ctx: CallContext) => h(b.roleGet(req, ctx)),
    roleList: (req: pb.AuthRoleListRequest, ctx: CallContext) => h(b.roleList(req, ctx)),
    roleDelete: (req: pb.AuthRoleDeleteRequest, ctx: CallContext) => h(b.roleDelete(req, ctx)),
    roleGrantPermission: (req: pb.AuthRoleGrantPermissionRequest, ctx: CallContext) =>
      h(b.roleGrantPermission(req, ctx)),
    roleRevokePermission: (req: pb.AuthRoleRevokePermissionRequest, ctx: CallContext) =>
      h(b.roleRevokePermission(req, ctx)),
  };
}
