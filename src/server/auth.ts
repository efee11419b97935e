// The member's side of etcd's auth: who a request runs as (its token, or the
// CN of its client certificate), the Auth RPCs, and the member-local tokens.
//
// Changes go through the log and are checked and applied by the state
// machine (mvcc/authz.ts, auth/state.ts), so every member agrees. Passwords
// are hashed (and checked at login) here, before proposing: the slow hash
// runs once, in the thread pool, and apply stays deterministic. Reads of the
// auth store (status, get, list) are served from this member's applied state
// after a ReadIndex barrier, like a linearizable range.

import { create } from "@bufbuild/protobuf";
import * as apb from "../api/gen/authpb/auth_pb.ts";
import * as pb from "../api/gen/etcdserverpb/rpc_pb.ts";
import { InternalAuthenticateRequestSchema, type InternalRequest } from "../api/gen/floe/raft_internal_pb.ts";
import type { CallContext } from "../api/index.ts";
import { FloeError } from "../api/index.ts";
import {
  type AuthChange,
  AuthError,
  type AuthInfo,
  hashPassword,
  type JwtTokens,
  SimpleTokens,
  verifyPassword,
} from "../auth/index.ts";
import type { MvccStore } from "../mvcc/index.ts";
import { type ClockTimer, type RuntimeClock, realClock } from "./runtime.ts";

type Propose = (request: InternalRequest["request"], info: AuthInfo) => Promise<unknown>;

export interface AuthServiceOptions {
  /** `--auth-token-ttl` in seconds (etcd's default 300), for simple tokens. */
  tokenTtlSeconds: number;
  /** `--auth-token jwt,...`: signed tokens instead of simple ones. */
  jwt?: JwtTokens;
  /** Time for the token sweeper (default: the process's). */
  clock?: RuntimeClock;
}

export class AuthService {
  readonly tokens: SimpleTokens;
  private readonly jwt: JwtTokens | undefined;
  private readonly sweeper: ClockTimer;
  private readonly clock: RuntimeClock;

  constructor(
    private readonly store: MvccStore,
    private readonly propose: Propose,
    private readonly linearize: () => Promise<void>,
    options: AuthServiceOptions,
  ) {
    this.tokens = new SimpleTokens(options.tokenTtlSeconds * 1000);
    this.jwt = options.jwt;
    this.clock = options.clock ?? realClock;
    this.sweeper = this.clock.setInterval(() => this.tokens.sweep(), 60_000, true);
  }

  close(): void {
    this.clock.clear(this.sweeper);
  }

  /**
   * Who the request runs as, checked against the current auth revision. With
   * auth off nobody is identified (a token is ignored, as etcd does); with it
   * on, a token must be live (else "invalid auth token"), and without one the
   * client certificate's CN names the user; with neither the user is empty
   * and every check refuses it ("user name is empty").
   */
  identify(ctx: CallContext | undefined): AuthInfo {
    const auth = this.store.auth;
    const revision = auth.revision;
    if (!auth.isEnabled) return { username: "", revision };
    const token = ctx?.token;
    if (token !== undefined && token !== "") {
      if (this.jwt !== undefined) {
        // a JWT carries the revision it was issued at: an older one is refused as stale
        const v = this.jwt.verify(token);
        if (v === undefined) throw FloeError.of("INVALID_AUTH_TOKEN");
        return v;
      }
      const username = this.tokens.username(token);
      if (username === undefined) throw FloeError.of("INVALID_AUTH_TOKEN");
      return { username, revision };
    }
    return { username: ctx?.commonName ?? "", revision };
  }

  /** Throws unless the caller holds the root role (or auth is off): maintenance and membership. */
  requireAdmin(ctx: CallContext | undefined): void {
    guard(() => this.store.auth.checkAdmin(this.identify(ctx)));
  }

  /** Keeps the tokens in step with an applied change (every member runs this from its log). */
  onApplied(change: AuthChange): void {
    switch (change.op) {
      case "authenticate":
        if (change.token !== "") this.tokens.assign(change.token, change.name);
        break;
      case "userDelete":
      case "userChangePassword":
        this.tokens.invalidateUser(change.name);
        break;
      case "disable":
        this.tokens.clear();
        break;
    }
  }

  private async change(
    request: InternalRequest["request"],
    ctx: CallContext | undefined,
    info = this.identify(ctx),
  ): Promise<pb.ResponseHeader> {
    return (await this.applied(request, info)).header;
  }

  private async applied(
    request: InternalRequest["request"],
    info: AuthInfo,
  ): Promise<{ header: pb.ResponseHeader; authRevision: number }> {
    const r = (await this.propose(request, info)) as { header: { revision: number }; authRevision: number };
    return {
      header: create(pb.ResponseHeaderSchema, { revision: BigInt(r.header.revision) }),
      authRevision: r.authRevision,
    };
  }

  /** A read of the auth store: after a barrier, checked with `check` against the applied state. */
  private async read(ctx: CallContext | undefined, check: (info: AuthInfo) => void): Promise<void> {
    await this.linearize();
    const info = this.identify(ctx);
    guard(() => check(info));
  }

  async authEnable(ctx?: CallContext): Promise<pb.AuthEnableResponse> {
    const value = create(pb.AuthEnableRequestSchema);
    return create(pb.AuthEnableResponseSchema, {
      header: await this.change({ case: "authEnable", value }, ctx),
    });
  }

  async authDisable(ctx?: CallContext): Promise<pb.AuthDisableResponse> {
    return create(pb.AuthDisableResponseSchema, {
      header: await this.change({ case: "authDisable", value: create(pb.AuthDisableRequestSchema) }, ctx),
    });
  }

  async authStatus(ctx?: CallContext): Promise<pb.AuthStatusResponse> {
    await this.read(ctx, (info) => this.store.auth.checkAdmin(info));
    const a = this.store.auth;
    return create(pb.AuthStatusResponseSchema, { enabled: a.isEnabled, authRevision: BigInt(a.revision) });
  }

  /**
   * A login: the password is checked here against the applied state, then the
   * login goes through the log so every member learns the token.
   */
  async authenticate(req: pb.AuthenticateRequest): Promise<pb.AuthenticateResponse> {
    const auth = this.store.auth;
    if (!auth.isEnabled) throw FloeError.of("AUTH_NOT_ENABLED");
    const user = auth.user(req.name);
    // a user without a password logs in only with a client certificate
    const ok =
      user !== undefined && !user.noPassword && (await verifyPassword(req.password, user.passwordHash));
    if (!ok) throw FloeError.of("AUTH_FAILED");
    // a simple token is chosen now and registered by every member from the log;
    // a JWT is signed once the login applied, with the auth revision it applied at
    const simple = this.jwt === undefined ? SimpleTokens.generate() : "";
    const value = create(InternalAuthenticateRequestSchema, { name: req.name, simpleToken: simple });
    const r = await this.applied(
      { case: "authenticate", value },
      { username: req.name, revision: auth.revision },
    );
    const token = this.jwt === undefined ? simple : this.jwt.sign(req.name, r.authRevision);
    return create(pb.AuthenticateResponseSchema, { header: r.header, token });
  }

  async userAdd(req: pb.AuthUserAddRequest, ctx?: CallContext): Promise<pb.AuthUserAddResponse> {
    const info = this.identify(ctx);
    guard(() => this.store.auth.checkAdmin(info));
    if (req.name === "") throw FloeError.of("USER_EMPTY");
    const noPassword = req.options?.noPassword ?? false;
    const value = create(pb.AuthUserAddRequestSchema, {
      name: req.name,
      options: req.options,
      hashedPassword: noPassword ? "" : await hashPassword(req.password),
    });
    return create(pb.AuthUserAddResponseSchema, {
      header: await this.change({ case: "authUserAdd", value }, ctx, info),
    });
  }

  async userGet(req: pb.AuthUserGetRequest, ctx?: CallContext): Promise<pb.AuthUserGetResponse> {
    await this.read(ctx, (info) => this.store.auth.checkUserGet(info, req.name));
    const u = this.store.auth.user(req.name);
    if (u === undefined) throw FloeError.of("USER_NOT_FOUND");
    return create(pb.AuthUserGetResponseSchema, { roles: u.roles });
  }

  async userList(_req: pb.AuthUserListRequest, ctx?: CallContext): Promise<pb.AuthUserListResponse> {
    await this.read(ctx, (info) => this.store.auth.checkAdmin(info));
    return create(pb.AuthUserListResponseSchema, { users: this.store.auth.userNames() });
  }

  async userDelete(req: pb.AuthUserDeleteRequest, ctx?: CallContext): Promise<pb.AuthUserDeleteResponse> {
    return create(pb.AuthUserDeleteResponseSchema, {
      header: await this.change({ case: "authUserDelete", value: req }, ctx),
    });
  }

  async userChangePassword(
    req: pb.AuthUserChangePasswordRequest,
    ctx?: CallContext,
  ): Promise<pb.AuthUserChangePasswordResponse> {
    const info = this.identify(ctx);
    guard(() => this.store.auth.checkAdmin(info));
    if (this.store.auth.user(req.name) === undefined) throw FloeError.of("USER_NOT_FOUND");
    const value = create(pb.AuthUserChangePasswordRequestSchema, {
      name: req.name,
      hashedPassword: await hashPassword(req.password),
    });
    return create(pb.AuthUserChangePasswordResponseSchema, {
      header: await this.change({ case: "authUserChangePassword", value }, ctx, info),
    });
  }

  async userGrantRole(
    req: pb.AuthUserGrantRoleRequest,
    ctx?: CallContext,
  ): Promise<pb.AuthUserGrantRoleResponse> {
    return create(pb.AuthUserGrantRoleResponseSchema, {
      header: await this.change({ case: "authUserGrantRole", value: req }, ctx),
    });
  }

  async userRevokeRole(
    req: pb.AuthUserRevokeRoleRequest,
    ctx?: CallContext,
  ): Promise<pb.AuthUserRevokeRoleResponse> {
    return create(pb.AuthUserRevokeRoleResponseSchema, {
      header: await this.change({ case: "authUserRevokeRole", value: req }, ctx),
    });
  }

  async roleAdd(req: pb.AuthRoleAddRequest, ctx?: CallContext): Promise<pb.AuthRoleAddResponse> {
    return create(pb.AuthRoleAddResponseSchema, {
      header: await this.change({ case: "authRoleAdd", value: req }, ctx),
    });
  }

  async roleGet(req: pb.AuthRoleGetRequest, ctx?: CallContext): Promise<pb.AuthRoleGetResponse> {
    await this.read(ctx, (info) => this.store.auth.checkRoleGet(info, req.role));
    const r = this.store.auth.role(req.role);
    if (r === undefined) throw FloeError.of("ROLE_NOT_FOUND");
    return create(pb.AuthRoleGetResponseSchema, {
      perm: r.perms.map((p) =>
        create(apb.PermissionSchema, { permType: p.type as number, key: p.key, rangeEnd: p.rangeEnd }),
      ),
    });
  }

  async roleList(_req: pb.AuthRoleListRequest, ctx?: CallContext): Promise<pb.AuthRoleListResponse> {
    await this.read(ctx, (info) => this.store.auth.checkAdmin(info));
    return create(pb.AuthRoleListResponseSchema, { roles: this.store.auth.roleNames() });
  }

  async roleDelete(req: pb.AuthRoleDeleteRequest, ctx?: CallContext): Promise<pb.AuthRoleDeleteResponse> {
    return create(pb.AuthRoleDeleteResponseSchema, {
      header: await this.change({ case: "authRoleDelete", value: req }, ctx),
    });
  }

  async roleGrantPermission(
    req: pb.AuthRoleGrantPermissionRequest,
    ctx?: CallContext,
  ): Promise<pb.AuthRoleGrantPermissionResponse> {
    if (req.perm === undefined) throw FloeError.of("INVALID_REQUEST", "role grant without a permission");
    return create(pb.AuthRoleGrantPermissionResponseSchema, {
      header: await this.change({ case: "authRoleGrantPermission", value: req }, ctx),
    });
  }

  async roleRevokePermission(
    req: pb.AuthRoleRevokePermissionRequest,
    ctx?: CallContext,
  ): Promise<pb.AuthRoleRevokePermissionResponse> {
    return create(pb.AuthRoleRevokePermissionResponseSchema, {
      header: await this.change({ case: "authRoleRevokePermission", value: req }, ctx),
    });
  }
}

/** Runs a check of the auth store, turning its refusal into the client's etcd error. */
export function guard(check: () => void): void {
  try {
    check();
  } catch (e) {
    if (e instanceof AuthError) throw FloeError.of(e.code);
    throw e;
  }
}
