// The auth store's rules (etcd's server/auth/store.go) and its permission
// intervals, without a server.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type AuthChange, AuthError, AuthState, PermType, permits } from "../../src/auth/index.ts";

const b = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));
const NONE = new Uint8Array(0);
const FROM = Uint8Array.of(0);

function refused(s: AuthState, c: AuthChange, code: string): void {
  const before = Buffer.from(s.encode()).toString();
  assert.throws(
    () => s.apply(c),
    (e: unknown) => e instanceof AuthError && e.code === code,
  );
  assert.equal(Buffer.from(s.encode()).toString(), before, `${c.op} refused with ${code} changed nothing`);
}

function rootReady(): AuthState {
  const s = new AuthState();
  s.apply({ op: "userAdd", name: "root", passwordHash: "h", noPassword: false });
  s.apply({ op: "userGrantRole", name: "root", role: "root" });
  return s;
}

test("auth enable needs a root user that holds the root role; enabling twice is a no-op", () => {
  const s = new AuthState();
  refused(s, { op: "enable" }, "ROOT_USER_NOT_EXIST");
  s.apply({ op: "userAdd", name: "root", passwordHash: "h", noPassword: false });
  refused(s, { op: "enable" }, "ROOT_ROLE_NOT_EXIST");
  // the root role needs no role record to be granted
  s.apply({ op: "userGrantRole", name: "root", role: "root" });
  const rev = s.revision;
  assert.equal(s.apply({ op: "enable" }), true);
  assert.equal(s.revision, rev + 1);
  assert.equal(s.apply({ op: "enable" }), false);
  assert.equal(s.revision, rev + 1);
});

test("users and roles: duplicates, empty and unknown names are refused with etcd's errors", () => {
  const s = new AuthState();
  refused(s, { op: "userAdd", name: "", passwordHash: "h", noPassword: false }, "USER_EMPTY");
  s.apply({ op: "userAdd", name: "u", passwordHash: "h", noPassword: false });
  refused(s, { op: "userAdd", name: "u", passwordHash: "h", noPassword: false }, "USER_ALREADY_EXIST");
  refused(s, { op: "userGrantRole", name: "u", role: "nope" }, "ROLE_NOT_FOUND");
  refused(s, { op: "userGrantRole", name: "nobody", role: "root" }, "USER_NOT_FOUND");
  refused(s, { op: "roleAdd", name: "" }, "ROLE_EMPTY");
  s.apply({ op: "roleAdd", name: "r" });
  refused(s, { op: "roleAdd", name: "r" }, "ROLE_ALREADY_EXIST");
  refused(s, { op: "userRevokeRole", name: "u", role: "r" }, "ROLE_NOT_GRANTED");
  refused(
    s,
    { op: "roleRevokePermission", name: "r", key: b("k"), rangeEnd: NONE },
    "PERMISSION_NOT_GRANTED",
  );
  s.apply({ op: "userGrantRole", name: "u", role: "r" });
  assert.deepEqual(s.user("u")?.roles, ["r"]);
  // deleting a role takes it from its users
  s.apply({ op: "roleDelete", name: "r" });
  assert.deepEqual(s.user("u")?.roles, []);
  assert.deepEqual(s.roleNames(), []);
});

test("with auth on, root and its root role cannot be removed", () => {
  const s = rootReady();
  s.apply({ op: "roleAdd", name: "root" });
  s.apply({ op: "enable" });
  refused(s, { op: "userDelete", name: "root" }, "INVALID_AUTH_MGMT");
  refused(s, { op: "userRevokeRole", name: "root", role: "root" }, "INVALID_AUTH_MGMT");
  refused(s, { op: "roleDelete", name: "root" }, "INVALID_AUTH_MGMT");
  s.apply({ op: "disable" });
  s.apply({ op: "userRevokeRole", name: "root", role: "root" });
  s.apply({ op: "userDelete", name: "root" });
  assert.equal(s.user("root"), undefined);
});

test("checks: auth off allows all; on, the user must be named, current and permitted; root may do anything", () => {
  const s = rootReady();
  s.apply({ op: "userAdd", name: "alice", passwordHash: "h", noPassword: false });
  s.apply({ op: "roleAdd", name: "app" });
  s.apply({
    op: "roleGrantPermission",
    name: "app",
    perm: { type: PermType.READWRITE, key: b("app/"), rangeEnd: b("app0") },
  });
  s.apply({
    op: "roleGrantPermission",
    name: "app",
    perm: { type: PermType.READ, key: b("cfg"), rangeEnd: NONE },
  });
  s.apply({ op: "userGrantRole", name: "alice", role: "app" });
  const alice = () => ({ username: "alice", revision: s.revision });
  // off: nothing is checked, even without a user
  s.checkRange(undefined, PermType.WRITE, { key: b("x"), rangeEnd: NONE });
  s.checkAdmin({ username: "", revision: 0 });
  s.apply({ op: "enable" });
  const deny = (f: () => void, code: string) =>
    assert.throws(f, (e: unknown) => e instanceof AuthError && e.code === code);
  deny(
    () =>
      s.checkRange({ username: "", revision: s.revision }, PermType.READ, { key: b("cfg"), rangeEnd: NONE }),
    "USER_EMPTY",
  );
  deny(
    () =>
      s.checkRange({ username: "alice", revision: s.revision - 1 }, PermType.READ, {
        key: b("cfg"),
        rangeEnd: NONE,
      }),
    "AUTH_OLD_REVISION",
  );
  deny(
    () =>
      s.checkRange({ username: "bob", revision: s.revision }, PermType.READ, {
        key: b("cfg"),
        rangeEnd: NONE,
      }),
    "USER_NOT_FOUND",
  );
  s.checkRange(alice(), PermType.READ, { key: b("cfg"), rangeEnd: NONE });
  deny(() => s.checkRange(alice(), PermType.WRITE, { key: b("cfg"), rangeEnd: NONE }), "PERMISSION_DENIED");
  s.checkRange(alice(), PermType.WRITE, { key: b("app/x"), rangeEnd: NONE });
  s.checkRange(alice(), PermType.READ, { key: b("app/"), rangeEnd: b("app0") });
  deny(() => s.checkRange(alice(), PermType.READ, { key: b("app/"), rangeEnd: FROM }), "PERMISSION_DENIED");
  deny(() => s.checkAdmin(alice()), "PERMISSION_DENIED");
  s.checkAdmin({ username: "root", revision: s.revision });
  s.checkRange({ username: "root", revision: s.revision }, PermType.WRITE, { key: b("any"), rangeEnd: FROM });
  // a user sees itself, and the roles it holds, without root
  s.checkUserGet(alice(), "alice");
  deny(() => s.checkUserGet(alice(), "root"), "PERMISSION_DENIED");
  s.checkRoleGet(alice(), "app");
  deny(() => s.checkRoleGet(alice(), "root"), "PERMISSION_DENIED");
});

test("permission intervals: single keys, ranges, from-key, and touching grants joined", () => {
  const g = (key: string, end: string | Uint8Array) => ({
    key: b(key),
    rangeEnd: typeof end === "string" ? b(end) : end,
  });
  assert.ok(permits([g("a", NONE)], g("a", NONE)));
  assert.ok(!permits([g("a", NONE)], g("a", "b")), "one key does not cover a range");
  assert.ok(!permits([g("a", NONE)], g("ab", NONE)));
  assert.ok(permits([g("a", "c")], g("b", NONE)));
  assert.ok(!permits([g("a", "c")], g("c", NONE)), "the range end is exclusive");
  assert.ok(permits([g("a", "c"), g("c", "e")], g("b", "d")), "touching grants join");
  assert.ok(!permits([g("a", "c"), g("d", "e")], g("b", "d")), "a gap is not covered");
  assert.ok(permits([g("m", FROM)], g("z", FROM)));
  assert.ok(!permits([g("m", "zz")], g("n", FROM)), "a bounded grant does not cover from-key");
  assert.ok(permits([g("a", NONE), g("a\0", "b")], g("a", "b")), "key a then [a\\0, b) cover [a, b)");
  assert.ok(!permits([], g("a", NONE)));
});

test("a grant on the same key and range end replaces the type; the encoding round-trips exactly", () => {
  const s = rootReady();
  s.apply({ op: "roleAdd", name: "r" });
  s.apply({
    op: "roleGrantPermission",
    name: "r",
    perm: { type: PermType.READ, key: b("k"), rangeEnd: NONE },
  });
  s.apply({
    op: "roleGrantPermission",
    name: "r",
    perm: { type: PermType.WRITE, key: b("b"), rangeEnd: b("c") },
  });
  s.apply({
    op: "roleGrantPermission",
    name: "r",
    perm: { type: PermType.READWRITE, key: b("k"), rangeEnd: NONE },
  });
  const perms = s.role("r")?.perms ?? [];
  assert.deepEqual(
    perms.map((p) => [p.type, Buffer.from(p.key).toString(), Buffer.from(p.rangeEnd).toString()]),
    [
      [PermType.WRITE, "b", "c"],
      [PermType.READWRITE, "k", ""],
    ],
  );
  s.apply({ op: "userAdd", name: "nopw", passwordHash: "", noPassword: true });
  s.apply({ op: "enable" });
  const copy = AuthState.decode(s.encode());
  assert.deepEqual(Buffer.from(copy.encode()), Buffer.from(s.encode()));
  assert.equal(copy.isEnabled, true);
  assert.equal(copy.revision, s.revision);
  assert.equal(copy.user("nopw")?.noPassword, true);
  s.apply({ op: "roleRevokePermission", name: "r", key: b("k"), rangeEnd: NONE });
  assert.equal(s.role("r")?.perms.length, 1);
});
