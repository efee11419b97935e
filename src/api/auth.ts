// The Auth service while floe has no authentication: answers are what etcd
// gives with auth disabled and no users or roles defined. Status says
// disabled, Authenticate says "authentication is not enabled", lists are
// empty, lookups of a user or role say it does not exist, and requests that
// would create users, roles or turn auth on are NOT_SUPPORTED.

import { create } from "@bufbuild/protobuf";
import { FloeError } from "./errors.ts";
import {
  type AuthDisableResponse,
  AuthDisableResponseSchema,
  type AuthRoleListResponse,
  AuthRoleListResponseSchema,
  type AuthStatusResponse,
  AuthStatusResponseSchema,
  type AuthUserListResponse,
  AuthUserListResponseSchema,
} from "./gen/etcdserverpb/rpc_pb.ts";
import type { Operations } from "./operations.ts";

const unsupported = (what: string) => (): never => {
  throw FloeError.of("NOT_SUPPORTED", `${what}: floe does not implement authentication yet`);
};
const fail = (name: "AUTH_NOT_ENABLED" | "USER_NOT_FOUND" | "ROLE_NOT_FOUND") => (): never => {
  throw FloeError.of(name);
};

/** Unary handlers for every Auth RPC, named as the service's methods. */
export function authOperations(ops: Operations) {
  return {
    authStatus: async (): Promise<AuthStatusResponse> =>
      ops.withHeader(create(AuthStatusResponseSchema, { enabled: false, authRevision: 0n })),
    // disabling auth that is already disabled succeeds in etcd
    authDisable: async (): Promise<AuthDisableResponse> => ops.withHeader(create(AuthDisableResponseSchema)),
    authEnable: unsupported("AuthEnable"),
    authenticate: fail("AUTH_NOT_ENABLED"),
    userAdd: unsupported("UserAdd"),
    userGet: fail("USER_NOT_FOUND"),
    userList: async (): Promise<AuthUserListResponse> => ops.withHeader(create(AuthUserListResponseSchema)),
    userDelete: fail("USER_NOT_FOUND"),
    userChangePassword: fail("USER_NOT_FOUND"),
    userGrantRole: fail("USER_NOT_FOUND"),
    userRevokeRole: fail("USER_NOT_FOUND"),
    roleAdd: unsupported("RoleAdd"),
    roleGet: fail("ROLE_NOT_FOUND"),
    roleList: async (): Promise<AuthRoleListResponse> => ops.withHeader(create(AuthRoleListResponseSchema)),
    roleDelete: fail("ROLE_NOT_FOUND"),
    roleGrantPermission: fail("ROLE_NOT_FOUND"),
    roleRevokePermission: fail("ROLE_NOT_FOUND"),
  };
}
