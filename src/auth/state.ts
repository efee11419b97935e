// The auth store as state-machine state: whether auth is on, its revision,
// users (password hash, roles, no-password) and roles (key permissions).
// Every change arrives through the Raft log and is applied here in log
// order, deterministically (no clock, no randomness: password hashes are
// computed before proposing), so every member enforces the same rules. The
// whole state is one record in storage (encode / decode), written in the
// same batch as the entry that changed it.
//
// Rules are etcd's (server/auth/store.go): a root user holding the root role
// must exist before auth is enabled; the root role may do everything; the
// root user and its root role cannot be removed while auth is on; granting
// the root role needs no role named root; every change bumps the revision,
// and a request checked against an older revision is refused so the client
// re-authenticates.

import { AuthError } from "./errors.ts";
import { covers, type Interval, type KeyRange, mergeIntervals, PermType, validGrant } from "./perms.ts";

export const ROOT = "root";

export interface AuthPermission {
  type: PermType;
  key: Uint8Array;
  /** Empty: the single key; [0]: every key from `key` on. */
  rangeEnd: Uint8Array;
}

export interface AuthUser {
  name: string;
  /** A slow salted hash (password.ts); empty for a user without password. */
  passwordHash: string;
  /** Sorted, no duplicates. */
  roles: string[];
  noPassword: boolean;
}

export interface AuthRole {
  name: string;
  /** Sorted by key, then range end. */
  perms: AuthPermission[];
}

/** Who a request runs as: the user and the auth revision its token or check saw. */
export interface AuthInfo {
  username: string;
  revision: number;
}

/** The auth requests that change state, as applied. */
export type AuthChange =
  | { op: "enable" }
  | { op: "disable" }
  | { op: "userAdd"; name: string; passwordHash: string; noPassword: boolean }
  | { op: "userDelete"; name: string }
  | { op: "userChangePassword"; name: string; passwordHash: string }
  | { op: "userGrantRole"; name: string; role: string }
  | { op: "userRevokeRole"; name: string; role: string }
  | { op: "roleAdd"; name: string }
  | { op: "roleDelete"; name: string }
  | { op: "roleGrantPermission"; name: string; perm: AuthPermission }
  | { op: "roleRevokePermission"; name: string; key: Uint8Array; rangeEnd: Uint8Array }
  /** A login: checks the user exists; the token itself is the server's (tokens.ts). */
  | { op: "authenticate"; name: string; token: string };

export class AuthState {
  private enabled = false;
  private rev = 1;
  private readonly users = new Map<string, AuthUser>();
  private readonly roles = new Map<string, AuthRole>();
  /** Each user's merged READ and WRITE intervals, as etcd's range permission cache; emptied by every change. */
  private readonly permCache = new Map<string, { read: Interval[]; write: Interval[] }>();

  get isEnabled(): boolean {
    return this.enabled;
  }
  /** etcd starts its auth revision at 1 and bumps it on every change. */
  get revision(): number {
    return this.rev;
  }

  user(name: string): AuthUser | undefined {
    const u = this.users.get(name);
    return u === undefined ? undefined : { ...u, roles: [...u.roles] };
  }
  role(name: string): AuthRole | undefined {
    const r = this.roles.get(name);
    return r === undefined ? undefined : { name: r.name, perms: r.perms.map((p) => ({ ...p })) };
  }
  userNames(): string[] {
    return [...this.users.keys()].sort();
  }
  roleNames(): string[] {
    return [...this.roles.keys()].sort();
  }

  /**
   * Applies one change; throws AuthError (before changing anything) when etcd
   * would refuse it. Returns whether the state changed (and must be written).
   */
  apply(c: AuthChange): boolean {
    switch (c.op) {
      case "enable": {
        if (this.enabled) return false;
        const root = this.users.get(ROOT);
        if (root === undefined) throw new AuthError("ROOT_USER_NOT_EXIST");
        if (!root.roles.includes(ROOT)) throw new AuthError("ROOT_ROLE_NOT_EXIST");
        this.enabled = true;
        break;
      }
      case "disable":
        if (!this.enabled) return false;
        this.enabled = false;
        break;
      case "userAdd":
        if (c.name === "") throw new AuthError("USER_EMPTY");
        if (this.users.has(c.name)) throw new AuthError("USER_ALREADY_EXIST", c.name);
        this.users.set(c.name, {
          name: c.name,
          passwordHash: c.noPassword ? "" : c.passwordHash,
          roles: [],
          noPassword: c.noPassword,
        });
        break;
      case "userDelete":
        this.mustUser(c.name);
        if (this.enabled && c.name === ROOT) throw new AuthError("INVALID_AUTH_MGMT", "deleting root");
        this.users.delete(c.name);
        break;
      case "userChangePassword": {
        const u = this.mustUser(c.name);
        this.users.set(c.name, { ...u, passwordHash: c.passwordHash, noPassword: false });
        break;
      }
      case "userGrantRole": {
        const u = this.mustUser(c.name);
        if (c.role !== ROOT && !this.roles.has(c.role)) throw new AuthError("ROLE_NOT_FOUND", c.role);
        if (u.roles.includes(c.role)) return false;
        this.users.set(c.name, { ...u, roles: [...u.roles, c.role].sort() });
        break;
      }
      case "userRevokeRole": {
        const u = this.mustUser(c.name);
        if (this.enabled && c.name === ROOT && c.role === ROOT)
          throw new AuthError("INVALID_AUTH_MGMT", "revoking root from root");
        if (!u.roles.includes(c.role)) throw new AuthError("ROLE_NOT_GRANTED", `${c.role} to ${c.name}`);
        this.users.set(c.name, { ...u, roles: u.roles.filter((r) => r !== c.role) });
        break;
      }
      case "roleAdd":
        if (c.name === "") throw new AuthError("ROLE_EMPTY");
        if (this.roles.has(c.name)) throw new AuthError("ROLE_ALREADY_EXIST", c.name);
        this.roles.set(c.name, { name: c.name, perms: [] });
        break;
      case "roleDelete": {
        if (this.enabled && c.name === ROOT)
          throw new AuthError("INVALID_AUTH_MGMT", "deleting the root role");
        this.mustRole(c.name);
        this.roles.delete(c.name);
        for (const u of this.users.values()) {
          if (u.roles.includes(c.name))
            this.users.set(u.name, { ...u, roles: u.roles.filter((r) => r !== c.name) });
        }
        break;
      }
      case "roleGrantPermission": {
        const r = this.mustRole(c.name);
        if (!validGrant(c.perm))
          throw new AuthError("INVALID_AUTH_MGMT", "a permission with an empty key range");
        const perms = r.perms.filter((p) => !sameRange(p, c.perm.key, c.perm.rangeEnd));
        perms.push({ type: c.perm.type, key: c.perm.key.slice(), rangeEnd: c.perm.rangeEnd.slice() });
        perms.sort(comparePerms);
        this.roles.set(c.name, { name: c.name, perms });
        break;
      }
      case "roleRevokePermission": {
        const r = this.mustRole(c.name);
        const perms = r.perms.filter((p) => !sameRange(p, c.key, c.rangeEnd));
        if (perms.length === r.perms.length) throw new AuthError("PERMISSION_NOT_GRANTED", c.name);
        this.roles.set(c.name, { name: c.name, perms });
        break;
      }
      case "authenticate":
        if (!this.enabled) throw new AuthError("AUTH_NOT_ENABLED");
        this.mustUser(c.name);
        return false;
    }
    this.rev++;
    this.permCache.clear();
    return true;
  }

  private mustUser(name: string): AuthUser {
    if (name === "") throw new AuthError("USER_EMPTY");
    const u = this.users.get(name);
    if (u === undefined) throw new AuthError("USER_NOT_FOUND", name);
    return u;
  }

  private mustRole(name: string): AuthRole {
    if (name === "") throw new AuthError("ROLE_EMPTY");
    const r = this.roles.get(name);
    if (r === undefined) throw new AuthError("ROLE_NOT_FOUND", name);
    return r;
  }

  private isRoot(name: string): boolean {
    return this.users.get(name)?.roles.includes(ROOT) ?? false;
  }

  /**
   * etcd's isOpPermitted preamble: with auth off anything goes; otherwise the
   * request must name a user, have been checked at the current revision, and
   * the user must exist. Returns the user, or undefined when auth is off.
   */
  private authorize(info: AuthInfo | undefined): AuthUser | undefined {
    if (!this.enabled) return undefined;
    if (info === undefined || info.username === "") throw new AuthError("USER_EMPTY");
    if (info.revision < this.rev) throw new AuthError("AUTH_OLD_REVISION", `${info.revision} < ${this.rev}`);
    const u = this.users.get(info.username);
    if (u === undefined) throw new AuthError("USER_NOT_FOUND", info.username);
    return u;
  }

  /** Throws unless the user may do `type` on every key of the range (or auth is off). */
  checkRange(info: AuthInfo | undefined, type: PermType.READ | PermType.WRITE, range: KeyRange): void {
    const u = this.authorize(info);
    if (u === undefined || u.roles.includes(ROOT)) return;
    let cached = this.permCache.get(u.name);
    if (cached === undefined) {
      cached = { read: this.merged(u, PermType.READ), write: this.merged(u, PermType.WRITE) };
      this.permCache.set(u.name, cached);
    }
    if (!covers(type === PermType.READ ? cached.read : cached.write, range))
      throw new AuthError("PERMISSION_DENIED");
  }

  private merged(u: AuthUser, type: PermType): Interval[] {
    const granted: AuthPermission[] = [];
    for (const name of u.roles) {
      const r = this.roles.get(name);
      if (r !== undefined)
        for (const p of r.perms) if (p.type === type || p.type === PermType.READWRITE) granted.push(p);
    }
    return mergeIntervals(granted);
  }

  /** Throws unless the user holds the root role (or auth is off). */
  checkAdmin(info: AuthInfo | undefined): void {
    const u = this.authorize(info);
    if (u !== undefined && !u.roles.includes(ROOT)) throw new AuthError("PERMISSION_DENIED");
  }

  /** Whether the user may see `name`'s entry (root, or the user itself), as etcd's UserGet. */
  checkUserGet(info: AuthInfo | undefined, name: string): void {
    if (this.enabled && info !== undefined && info.username === name && !this.isRoot(name)) {
      this.authorize(info);
      return;
    }
    this.checkAdmin(info);
  }

  /** Whether the user may see role `name` (root, or a role it holds), as etcd's RoleGet. */
  checkRoleGet(info: AuthInfo | undefined, name: string): void {
    if (this.enabled && info !== undefined && this.users.get(info.username)?.roles.includes(name)) {
      this.authorize(info);
      return;
    }
    this.checkAdmin(info);
  }

  /** The whole state as one record (deterministic: users and roles sorted by name). */
  encode(): Uint8Array {
    const b64 = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString("base64");
    const doc = {
      v: 1,
      enabled: this.enabled,
      revision: this.rev,
      users: this.userNames().map((n) => {
        const u = this.users.get(n) as AuthUser;
        return { name: u.name, hash: u.passwordHash, roles: u.roles, noPassword: u.noPassword };
      }),
      roles: this.roleNames().map((n) => ({
        name: n,
        perms: (this.roles.get(n) as AuthRole).perms.map((p) => ({
          type: p.type,
          key: b64(p.key),
          end: b64(p.rangeEnd),
        })),
      })),
    };
    return new TextEncoder().encode(JSON.stringify(doc));
  }

  static decode(bytes: Uint8Array | undefined): AuthState {
    const s = new AuthState();
    if (bytes === undefined) return s;
    const doc = JSON.parse(new TextDecoder().decode(bytes)) as {
      v: number;
      enabled: boolean;
      revision: number;
      users: { name: string; hash: string; roles: string[]; noPassword: boolean }[];
      roles: { name: string; perms: { type: PermType; key: string; end: string }[] }[];
    };
    if (doc.v !== 1) throw new Error(`auth record version ${doc.v} is not supported`);
    s.enabled = doc.enabled;
    s.rev = doc.revision;
    for (const u of doc.users) {
      s.users.set(u.name, { name: u.name, passwordHash: u.hash, roles: u.roles, noPassword: u.noPassword });
    }
    const bytesOf = (b: string) => new Uint8Array(Buffer.from(b, "base64"));
    for (const r of doc.roles) {
      s.roles.set(r.name, {
        name: r.name,
        perms: r.perms.map((p) => ({ type: p.type, key: bytesOf(p.key), rangeEnd: bytesOf(p.end) })),
      });
    }
    return s;
  }
}

function sameRange(p: AuthPermission, key: Uint8Array, rangeEnd: Uint8Array): boolean {
  return Buffer.compare(p.key, key) === 0 && Buffer.compare(p.rangeEnd, rangeEnd) === 0;
}

function comparePerms(a: AuthPermission, b: AuthPermission): number {
  return Buffer.compare(a.key, b.key) || Buffer.compare(a.rangeEnd, b.rangeEnd);
}
