// The auth store against a model: random sequences of user, role, grant and
// revoke operations, with permission checks after each step. The model
// decides coverage point by point (a range is covered when its start and
// every grant end inside it are covered), independently of the store's
// merge-then-contain intervals; the store also survives encode/decode.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { AuthError, AuthState, type KeyRange, PermType } from "../../src/auth/index.ts";

/** Raise for a soak: AUTH_PROPERTY_RUNS=20000 node --import tsx --test test/auth/property.test.ts */
const RUNS = Number(process.env.AUTH_PROPERTY_RUNS ?? 10_000);

const USERS = ["u1", "u2"];
const ROLES = ["r1", "r2"];
const bytes = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));
// A small key set, so grants often touch or overlap (a grant's end is another's start) and
// single-key grants meet their neighbours ("a" then "a\0").
const key = fc.constantFrom("a", "a\x00", "aa", "ab", "b", "b\x00", "ba", "bb");
/** A range end: one key (""), from the key on ("\0"), or a bound. */
const rangeEnd = fc.oneof(fc.constant(""), fc.constant("\0"), key);

type Op =
  | { op: "userAdd" | "userDelete"; user: string }
  | { op: "roleAdd" | "roleDelete"; role: string }
  | { op: "grantRole" | "revokeRole"; user: string; role: string }
  | { op: "grantPerm"; role: string; type: PermType; key: string; end: string }
  | { op: "revokePerm"; role: string; key: string; end: string }
  | { op: "check"; user: string; type: PermType.READ | PermType.WRITE; key: string; end: string };

const user = fc.constantFrom(...USERS);
const role = fc.constantFrom(...ROLES);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({ op: fc.constantFrom("userAdd" as const, "userDelete" as const), user }),
    weight: 1,
  },
  {
    arbitrary: fc.record({ op: fc.constantFrom("roleAdd" as const, "roleDelete" as const), role }),
    weight: 1,
  },
  {
    arbitrary: fc.record({ op: fc.constantFrom("grantRole" as const, "revokeRole" as const), user, role }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      op: fc.constant("grantPerm" as const),
      role,
      type: fc.constantFrom(PermType.READ, PermType.WRITE, PermType.READWRITE),
      key,
      end: rangeEnd,
    }),
    weight: 4,
  },
  { arbitrary: fc.record({ op: fc.constant("revokePerm" as const), role, key, end: rangeEnd }), weight: 1 },
  {
    arbitrary: fc.record({
      op: fc.constant("check" as const),
      user,
      type: fc.constantFrom(PermType.READ as const, PermType.WRITE as const),
      key,
      end: rangeEnd,
    }),
    weight: 6,
  },
);

interface Grant {
  type: PermType;
  key: string;
  end: string;
}

class Model {
  users = new Map<string, Set<string>>();
  roles = new Map<string, Grant[]>();

  /** The code the store must refuse `o` with, or undefined; applies it when accepted. */
  apply(o: Op): string | undefined {
    switch (o.op) {
      case "userAdd":
        if (this.users.has(o.user)) return "USER_ALREADY_EXIST";
        this.users.set(o.user, new Set());
        return undefined;
      case "userDelete":
        if (!this.users.delete(o.user)) return "USER_NOT_FOUND";
        return undefined;
      case "roleAdd":
        if (this.roles.has(o.role)) return "ROLE_ALREADY_EXIST";
        this.roles.set(o.role, []);
        return undefined;
      case "roleDelete":
        if (!this.roles.delete(o.role)) return "ROLE_NOT_FOUND";
        for (const rs of this.users.values()) rs.delete(o.role);
        return undefined;
      case "grantRole": {
        const rs = this.users.get(o.user);
        if (rs === undefined) return "USER_NOT_FOUND";
        if (!this.roles.has(o.role)) return "ROLE_NOT_FOUND";
        rs.add(o.role);
        return undefined;
      }
      case "revokeRole": {
        const rs = this.users.get(o.user);
        if (rs === undefined) return "USER_NOT_FOUND";
        if (!rs.delete(o.role)) return "ROLE_NOT_GRANTED";
        return undefined;
      }
      case "grantPerm": {
        const g = this.roles.get(o.role);
        if (g === undefined) return "ROLE_NOT_FOUND";
        if (o.end !== "" && o.end !== "\0" && o.end <= o.key) return "INVALID_AUTH_MGMT";
        this.roles.set(o.role, [
          ...g.filter((p) => p.key !== o.key || p.end !== o.end),
          { type: o.type, key: o.key, end: o.end },
        ]);
        return undefined;
      }
      case "revokePerm": {
        const g = this.roles.get(o.role);
        if (g === undefined) return "ROLE_NOT_FOUND";
        const left = g.filter((p) => p.key !== o.key || p.end !== o.end);
        if (left.length === g.length) return "PERMISSION_NOT_GRANTED";
        this.roles.set(o.role, left);
        return undefined;
      }
      case "check": {
        const rs = this.users.get(o.user);
        if (rs === undefined) return "USER_NOT_FOUND";
        const grants = [...rs]
          .flatMap((r) => this.roles.get(r) ?? [])
          .filter((g) => g.type === o.type || g.type === PermType.READWRITE);
        return covered(grants, o.key, o.end) ? undefined : "PERMISSION_DENIED";
      }
    }
  }
}

/** [start, end) of a grant or request; end undefined = unbounded. */
function interval(k: string, end: string): [string, string | undefined] {
  if (end === "") return [k, `${k}\0`];
  if (end === "\0") return [k, undefined];
  return [k, end];
}

function covered(grants: Grant[], k: string, end: string): boolean {
  const iv = grants.map((g) => interval(g.key, g.end));
  const at = (x: string) => iv.some(([s, e]) => s <= x && (e === undefined || x < e));
  const [s, e0] = interval(k, end);
  const e = e0 !== undefined && e0 <= s ? `${s}\0` : e0;
  // an empty request range asks for no key, but is refused unless its start is covered (as etcd)
  const points = [
    s,
    ...iv
      .map(([, ge]) => ge)
      .filter((p): p is string => p !== undefined && p > s && (e === undefined || p < e)),
  ];
  return points.every(at);
}

function storeApply(s: AuthState, o: Op): string | undefined {
  try {
    switch (o.op) {
      case "userAdd":
        s.apply({ op: "userAdd", name: o.user, passwordHash: "h", noPassword: false });
        break;
      case "userDelete":
        s.apply({ op: "userDelete", name: o.user });
        break;
      case "roleAdd":
        s.apply({ op: "roleAdd", name: o.role });
        break;
      case "roleDelete":
        s.apply({ op: "roleDelete", name: o.role });
        break;
      case "grantRole":
        s.apply({ op: "userGrantRole", name: o.user, role: o.role });
        break;
      case "revokeRole":
        s.apply({ op: "userRevokeRole", name: o.user, role: o.role });
        break;
      case "grantPerm":
        s.apply({
          op: "roleGrantPermission",
          name: o.role,
          perm: { type: o.type, key: bytes(o.key), rangeEnd: bytes(o.end) },
        });
        break;
      case "revokePerm":
        s.apply({ op: "roleRevokePermission", name: o.role, key: bytes(o.key), rangeEnd: bytes(o.end) });
        break;
      case "check": {
        const range: KeyRange = { key: bytes(o.key), rangeEnd: bytes(o.end) };
        s.checkRange({ username: o.user, revision: s.revision }, o.type, range);
        break;
      }
    }
    return undefined;
  } catch (e) {
    if (e instanceof AuthError) return e.code;
    throw e;
  }
}

/** A store with root and auth on, so checks apply. */
function enabledStore(): AuthState {
  const s = new AuthState();
  s.apply({ op: "userAdd", name: "root", passwordHash: "h", noPassword: false });
  s.apply({ op: "userGrantRole", name: "root", role: "root" });
  s.apply({ op: "enable" });
  return s;
}

test("the auth store agrees with a point-by-point model on every change and check, and across encode/decode", () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), (ops) => {
      let s = enabledStore();
      const m = new Model();
      // start with every user holding every role, so grants soon matter to checks
      const setup: Op[] = [
        ...USERS.map((u) => ({ op: "userAdd" as const, user: u })),
        ...ROLES.map((r) => ({ op: "roleAdd" as const, role: r })),
        ...USERS.flatMap((u) => ROLES.map((r) => ({ op: "grantRole" as const, user: u, role: r }))),
      ];
      for (const o of setup) assert.equal(storeApply(s, o), m.apply(o));
      for (const [i, o] of ops.entries()) {
        const want = m.apply(o);
        const rev = s.revision;
        const got = storeApply(s, o);
        assert.equal(got, want, `step ${i}: ${JSON.stringify(o)}`);
        // only accepted changes bump the revision (checks never do)
        if (o.op === "check" || got !== undefined) assert.equal(s.revision, rev);
        if (i % 7 === 6) s = AuthState.decode(s.encode());
      }
    }),
    { numRuns: RUNS },
  );
});
