// etcd's auth on a 3-member cluster, through the JSON gateway (the token in
// the Authorization header) and the etcd3 client (gRPC metadata): the rules
// are replicated state, a token from one member works on every member, and
// everything survives a restart.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { Etcd3 } from "etcd3";
import { LocalCluster, type Member, until } from "./local.ts";

const clusters: LocalCluster[] = [];
after(async () => {
  for (const c of clusters) await c.close();
});

const b64 = (s: string) => Buffer.from(s).toString("base64");

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: gateway JSON is read loosely in assertions.
  body: any;
}

async function call(m: Member, path: string, body: unknown, token?: string): Promise<Answer> {
  const r = await fetch(`http://${m.endpoint}/v3/${path}`, {
    method: "POST",
    headers: token === undefined ? {} : { authorization: token },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
}

async function ok(m: Member, path: string, body: unknown, token?: string): Promise<Answer["body"]> {
  const a = await call(m, path, body, token);
  assert.equal(a.status, 200, `${path} on ${m.name}: ${JSON.stringify(a.body)}`);
  return a.body;
}

async function refused(m: Member, path: string, body: unknown, token: string | undefined, message: string) {
  const a = await call(m, path, body, token);
  assert.notEqual(a.status, 200, `${path} on ${m.name} should be refused`);
  assert.equal(a.body.message ?? a.body.error?.message, message, JSON.stringify(a.body));
}

async function login(m: Member, name: string, password: string): Promise<string> {
  return (await ok(m, "auth/authenticate", { name, password })).token;
}

test("auth on 3 members: users, roles and key permissions are enforced everywhere and survive a restart", async () => {
  const c = new LocalCluster();
  clusters.push(c);
  for (const n of ["a", "b", "c"]) await c.addMember(n);
  await c.startAll();
  const [a, bm, cm] = c.members;
  try {
    // with auth off a token is not needed and login is refused as etcd does
    await ok(a, "kv/put", { key: b64("open"), value: b64("1") });
    await refused(
      a,
      "auth/authenticate",
      { name: "root", password: "x" },
      undefined,
      "etcdserver: authentication is not enabled",
    );
    await refused(a, "auth/enable", {}, undefined, "etcdserver: root user does not exist");
    await ok(a, "auth/user/add", { name: "root", password: "rootpw" });
    await ok(bm, "auth/role/add", { name: "root" });
    await ok(a, "auth/user/grant", { user: "root", role: "root" });
    await ok(a, "auth/role/add", { name: "app" });
    await ok(a, "auth/role/grant", {
      name: "app",
      perm: { permType: "READWRITE", key: b64("app/"), range_end: b64("app0") },
    });
    await ok(a, "auth/role/grant", { name: "app", perm: { permType: "READ", key: b64("cfg") } });
    await ok(cm, "auth/user/add", { name: "alice", password: "alicepw" });
    await ok(a, "auth/user/grant", { user: "alice", role: "app" });
    await ok(a, "auth/enable", {});

    // no token: the user is empty; a bad password or token is refused
    await refused(
      bm,
      "kv/put",
      { key: b64("app/x"), value: b64("1") },
      undefined,
      "etcdserver: user name is empty",
    );
    await refused(
      bm,
      "auth/authenticate",
      { name: "alice", password: "nope" },
      undefined,
      "etcdserver: authentication failed, invalid user ID or password",
    );
    await refused(bm, "kv/range", { key: b64("cfg") }, "forged.1", "etcdserver: invalid auth token");

    // a token from one member works on the others (the login went through the log)
    const alice = await login(a, "alice", "alicepw");
    const root = await login(bm, "root", "rootpw");
    await until("alice's token on every member", async () => {
      for (const m of c.members)
        if ((await call(m, "kv/range", { key: b64("cfg") }, alice)).status !== 200) return undefined;
      return true;
    });
    await ok(cm, "kv/put", { key: b64("app/x"), value: b64("v") }, alice);
    await ok(bm, "kv/range", { key: b64("app/"), range_end: b64("app0") }, alice);
    await refused(cm, "kv/put", { key: b64("cfg"), value: b64("v") }, alice, "etcdserver: permission denied");
    await refused(a, "kv/put", { key: b64("open"), value: b64("2") }, alice, "etcdserver: permission denied");
    await refused(
      a,
      "kv/range",
      { key: b64("app/"), range_end: b64("\0") },
      alice,
      "etcdserver: permission denied",
    );
    await refused(
      a,
      "kv/deleterange",
      { key: b64("app/"), range_end: b64("b") },
      alice,
      "etcdserver: permission denied",
    );
    // a txn is checked on every compare and both branches
    const txn = (compareKey: string, failurePut: string) => ({
      compare: [{ key: b64(compareKey), target: "VERSION", result: "EQUAL", version: "0" }],
      success: [{ request_put: { key: b64("app/t"), value: b64("1") } }],
      failure: [{ request_put: { key: b64(failurePut), value: b64("1") } }],
    });
    await ok(bm, "kv/txn", txn("app/none", "app/f"), alice);
    await refused(bm, "kv/txn", txn("secret", "app/f"), alice, "etcdserver: permission denied");
    await refused(bm, "kv/txn", txn("app/none", "open"), alice, "etcdserver: permission denied");
    // a lease's TimeToLive needs read permission on its keys, also when a follower relays it to the leader
    const lease = (await ok(a, "lease/grant", { TTL: "60" }, alice)).ID as string;
    await ok(a, "kv/put", { key: b64("app/leased"), value: b64("1"), lease }, alice);
    const leader = await c.waitLeader();
    for (const m of c.members) {
      const ttl = await ok(m, "lease/timetolive", { ID: lease, keys: true }, alice);
      assert.deepEqual(ttl.keys, [b64("app/leased")], `${m.name}${m === leader ? " (leader)" : ""}`);
    }
    const rootLease = (await ok(a, "lease/grant", { TTL: "60" }, alice)).ID as string;
    await refused(
      a,
      "kv/put",
      { key: b64("open"), value: b64("1"), lease: rootLease },
      alice,
      "etcdserver: permission denied",
    );
    await ok(
      a,
      "kv/put",
      { key: b64("open2"), value: b64("1"), lease: rootLease },
      await login(a, "root", "rootpw"),
    );
    await refused(
      bm,
      "lease/timetolive",
      { ID: rootLease, keys: true },
      alice,
      "etcdserver: permission denied",
    );
    await refused(bm, "lease/revoke", { ID: rootLease }, alice, "etcdserver: permission denied");
    // maintenance and auth management need root; membership listing does not
    await refused(a, "maintenance/defragment", {}, alice, "etcdserver: permission denied");
    await refused(a, "auth/user/list", {}, alice, "etcdserver: permission denied");
    await refused(a, "kv/compaction", { revision: "2" }, alice, "etcdserver: permission denied");
    await ok(a, "cluster/member/list", {}, alice);
    assert.deepEqual((await ok(a, "auth/user/get", { name: "alice" }, alice)).roles, ["app"]);
    assert.deepEqual((await ok(cm, "auth/user/list", {}, root)).users, ["alice", "root"]);
    await ok(cm, "kv/put", { key: b64("open"), value: b64("by-root") }, root);

    // the etcd3 client logs in over gRPC (metadata token) and is held to the same rules
    const client = new Etcd3({ hosts: [bm.endpoint], auth: { username: "alice", password: "alicepw" } });
    try {
      await client.put("app/grpc").value("1");
      assert.equal(await client.get("app/grpc").string(), "1");
      await assert.rejects(client.put("open").value("x").exec(), /permission denied/);
    } finally {
      client.close();
    }
    const anonymous = new Etcd3({ hosts: [bm.endpoint] });
    try {
      await assert.rejects(anonymous.get("app/grpc").string(), /user name is empty/);
    } finally {
      anonymous.close();
    }

    // every member holds the same auth state: equal HashKV
    const rev = (await ok(a, "kv/range", { key: b64("open") }, root)).header.revision;
    const hashes = await Promise.all(
      c.members.map(async (m) => String((await ok(m, "maintenance/hashkv", { revision: rev }, root)).hash)),
    );
    assert.equal(new Set(hashes).size, 1, `hashes ${hashes}`);

    // a restarted member keeps the rules (not the tokens: clients log in again, as with etcd)
    const refreshing = new Etcd3({ hosts: [cm.endpoint], auth: { username: "alice", password: "alicepw" } });
    await refreshing.put("app/r").value("1");
    await c.kill(cm);
    c.start(cm);
    await c.waitLeader();
    const alice2 = await until("alice can log in on the restarted member", async () => {
      const r = await call(cm, "auth/authenticate", { name: "alice", password: "alicepw" });
      return r.status === 200 ? (r.body.token as string) : undefined;
    });
    await refused(
      cm,
      "kv/put",
      { key: b64("open"), value: b64("3") },
      alice2,
      "etcdserver: permission denied",
    );
    await ok(cm, "kv/put", { key: b64("app/after"), value: b64("1") }, alice2);
    // the etcd3 client's token died with the restart: told "invalid auth token", it logs in again
    try {
      assert.equal(await refreshing.get("app/r").string(), "1");
    } finally {
      refreshing.close();
    }

    // a password change ends the user's tokens; disabling auth opens the store again
    await ok(a, "auth/user/changepw", { name: "alice", password: "new" }, root);
    await until("alice's old token is dead everywhere", async () => {
      for (const m of c.members)
        if ((await call(m, "kv/range", { key: b64("cfg") }, alice)).status === 200) return undefined;
      return true;
    });
    await login(bm, "alice", "new");
    await ok(a, "auth/disable", {}, root);
    await until("auth off on every member", async () => {
      for (const m of c.members)
        if ((await call(m, "kv/put", { key: b64("open"), value: b64("4") })).status !== 200) return undefined;
      return true;
    });
  } catch (e) {
    console.error(c.logs());
    throw e;
  }
});
