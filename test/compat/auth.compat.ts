// The compat tier's auth tests: Debian's etcdctl against real floe members
// with users, roles and permissions, client certificates (CN login, a
// revoked certificate), simple-token expiry and JWT tokens.
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { makeCerts, revokeCert } from "../common/certs.ts";
import { freePort, ROOT, startFloe } from "../integration/floe-process.ts";
import { etcdctlAt, okAt, okWhenUp } from "./etcdctl-run.ts";

/** Starts `floe start` with a TLS client port and `args`; stopped when the test ends. */
async function startTls(
  t: { after: (f: () => Promise<void>) => void },
  dir: string,
  args: string[],
): Promise<string> {
  const [port, peerPort] = [await freePort(), await freePort()];
  const proc: ChildProcess = spawn(
    process.execPath,
    [
      "bin/floe.js",
      "start",
      "--name",
      "tls1",
      "--data-dir",
      join(dir, "d"),
      "--listen-client-urls",
      `https://127.0.0.1:${port}`,
      "--listen-peer-urls",
      `http://127.0.0.1:${peerPort}`,
      "--log-level",
      "warn",
      ...args,
    ],
    { cwd: ROOT, stdio: "ignore" },
  );
  t.after(async () => {
    proc.kill("SIGTERM");
    await new Promise((res) => proc.once("exit", res));
  });
  return `127.0.0.1:${port}`;
}

/**
 * A member whose clients must present a certificate from a fresh test CA
 * (--client-cert-auth), with certificates made for `names` (CN = the name);
 * `as(name)` is etcdctl's flags to connect as one of them.
 */
async function startMtls(
  t: { after: (f: () => Promise<void>) => void },
  names: string[],
  extra: (dir: string) => string[] = () => [],
): Promise<{ at: string; as: (who: string) => string[] }> {
  const dir = mkdtempSync(join(tmpdir(), "floe-mtls-"));
  makeCerts(dir, ["server", ...names]);
  const f = (n: string) => join(dir, n);
  const at = await startTls(t, dir, [
    "--cert-file",
    f("server.crt"),
    "--key-file",
    f("server.key"),
    "--trusted-ca-file",
    f("ca.crt"),
    "--client-cert-auth",
    ...extra(dir),
  ]);
  const as = (who: string) => [
    "--insecure-transport=false",
    `--cacert=${f("ca.crt")}`,
    `--cert=${f(`${who}.crt`)}`,
    `--key=${f(`${who}.key`)}`,
  ];
  return { at, as };
}

/** POSTs to the JSON gateway; `token` goes in the Authorization header. */
async function gateway(at: string, path: string, body: unknown, token?: string) {
  const r = await fetch(`http://${at}/v3/${path}`, {
    method: "POST",
    headers: token === undefined ? {} : { authorization: token },
    body: JSON.stringify(body),
  });
  // biome-ignore lint/suspicious/noExplicitAny: gateway JSON is read loosely in assertions.
  return { status: r.status, body: (await r.json()) as any };
}

/** Root and a user "u" limited to the prefix u/, then auth on. */
async function setUpUsers(at: string, extra: string[] = []): Promise<void> {
  const ok = (args: string[]) => okAt(at, [...extra, ...args]);
  await ok(["user", "add", "root:rootpw"]);
  await ok(["user", "grant-role", "root", "root"]);
  await ok(["user", "add", "u:upw"]);
  await ok(["role", "add", "ur"]);
  await ok(["role", "grant-permission", "ur", "readwrite", "--prefix", "u/"]);
  await ok(["user", "grant-role", "u", "ur"]);
  assert.equal(await ok(["auth", "enable"]), "Authentication Enabled\n");
}

test("etcdctl: users, roles, key permissions, auth enable and disable, as with etcd", async (t) => {
  const m = await startFloe();
  t.after(() => m.stop());
  const at = `127.0.0.1:${m.port}`;
  const run = (args: string[]) => etcdctlAt(at, args);
  const ok = (args: string[]) => okAt(at, args);
  assert.equal(await ok(["user", "add", "root:rootpw"]), "User root created\n");
  assert.equal(await ok(["role", "add", "root"]), "Role root created\n");
  assert.equal(await ok(["user", "grant-role", "root", "root"]), "Role root is granted to user root\n");
  assert.equal(await ok(["role", "add", "r1"]), "Role r1 created\n");
  assert.equal(await ok(["role", "grant-permission", "r1", "readwrite", "foo"]), "Role r1 updated\n");
  assert.equal(await ok(["role", "grant-permission", "r1", "read", "--prefix", "pre/"]), "Role r1 updated\n");
  assert.equal(await ok(["user", "add", "alice:apw"]), "User alice created\n");
  assert.equal(await ok(["user", "grant-role", "alice", "r1"]), "Role r1 is granted to user alice\n");
  assert.match((await run(["role", "add", "r1"])).err, /Error: etcdserver: role name already exists/);
  assert.equal(await ok(["auth", "enable"]), "Authentication Enabled\n");

  assert.match((await run(["put", "a", "1"])).err, /Error: etcdserver: user name is empty/);
  assert.equal(await ok(["--user", "root:rootpw", "put", "a", "1"]), "OK\n");
  assert.equal(await ok(["--user", "alice:apw", "put", "foo", "bar"]), "OK\n");
  assert.equal(await ok(["--user", "alice:apw", "get", "foo", "--print-value-only"]), "bar\n");
  assert.match(
    (await run(["--user", "alice:apw", "put", "a", "2"])).err,
    /Error: etcdserver: permission denied/,
  );
  assert.match((await run(["--user", "alice:apw", "get", "a"])).err, /Error: etcdserver: permission denied/);
  assert.match((await run(["--user", "alice:apw", "put", "pre/x", "1"])).err, /permission denied/);
  assert.equal(await ok(["--user", "root:rootpw", "put", "pre/x", "1"]), "OK\n");
  assert.equal(await ok(["--user", "alice:apw", "get", "--prefix", "pre/", "--print-value-only"]), "1\n");
  assert.match(
    (await run(["--user", "alice:wrong", "get", "foo"])).err,
    /Error: etcdserver: authentication failed, invalid user ID or password/,
  );
  assert.equal(await ok(["--user", "root:rootpw", "user", "list"]), "alice\nroot\n");
  assert.equal(
    await ok(["--user", "root:rootpw", "role", "get", "r1"]),
    "Role r1\nKV Read:\n\tfoo\n\t[pre/, pre0) (prefix pre/)\nKV Write:\n\tfoo\n",
  );
  assert.equal(await ok(["--user", "alice:apw", "user", "get", "alice"]), "User: alice\nRoles: r1\n");
  assert.match((await run(["--user", "alice:apw", "user", "list"])).err, /permission denied/);
  // maintenance and membership need root; listing members and status do not
  const snapFile = join(mkdtempSync(join(tmpdir(), "floe-auth-snap-")), "s.db");
  for (const admin of [
    ["defrag"],
    ["snapshot", "save", snapFile],
    ["endpoint", "hashkv"],
    ["alarm", "list"],
    ["compaction", "1"],
    ["move-leader", "1"],
    ["member", "add", "x", "--peer-urls=http://127.0.0.1:1"],
    ["member", "remove", "1"],
  ]) {
    assert.match((await run(["--user", "alice:apw", ...admin])).err, /permission denied/, admin.join(" "));
  }
  assert.match(await ok(["--user", "alice:apw", "member", "list"]), /started/);
  assert.match(await ok(["--user", "alice:apw", "endpoint", "status"]), /127\.0\.0\.1/);
  assert.match(await ok(["--user", "root:rootpw", "snapshot", "save", snapFile]), /Snapshot saved/);
  assert.match(
    (await run(["--user", "root:rootpw", "user", "delete", "root"])).err,
    /invalid auth management/,
  );
  // a txn is checked on its compares and both branches
  const txn = (compareKey: string, elsePut: string) =>
    `value("${compareKey}") = "bar"\n\nput foo ok\n\nput ${elsePut} no\n\n`;
  assert.equal(await okAt(at, ["--user", "alice:apw", "txn"], txn("foo", "foo")), "SUCCESS\n\nOK\n");
  assert.match(
    (await etcdctlAt(at, ["--user", "alice:apw", "txn"], txn("a", "foo"))).err,
    /permission denied/,
  );
  assert.match(
    (await etcdctlAt(at, ["--user", "alice:apw", "txn"], txn("foo", "a"))).err,
    /permission denied/,
  );
  // a watch is checked when it is created
  assert.match((await run(["--user", "alice:apw", "watch", "a"])).err, /permission denied/);
  assert.match((await run(["--user", "alice:apw", "watch", "--prefix", "p"])).err, /permission denied/);
  assert.equal(
    await ok(["--user", "root:rootpw", "role", "revoke-permission", "r1", "foo"]),
    "Permission of key foo is revoked from role r1\n",
  );
  assert.match((await run(["--user", "alice:apw", "put", "foo", "x"])).err, /permission denied/);
  assert.equal(await ok(["--user", "root:rootpw", "auth", "disable"]), "Authentication Disabled\n");
  assert.equal(await ok(["get", "a", "--print-value-only"]), "1\n");
});

test("etcdctl: with --client-cert-auth, a client certificate's CN is the user, also without a password", async (t) => {
  const { at, as } = await startMtls(t, ["root", "carol"]);
  await okWhenUp(at, [...as("root"), "user", "add", "root", "--no-password"]);
  await okAt(at, [...as("root"), "user", "grant-role", "root", "root"]);
  await okAt(at, [...as("root"), "user", "add", "carol", "--no-password"]);
  await okAt(at, [...as("root"), "role", "add", "c"]);
  await okAt(at, [...as("root"), "role", "grant-permission", "c", "readwrite", "--prefix", "carol/"]);
  await okAt(at, [...as("root"), "user", "grant-role", "carol", "c"]);
  assert.equal(await okAt(at, [...as("root"), "auth", "enable"]), "Authentication Enabled\n");
  // no token: the CN names the user
  assert.equal(await okAt(at, [...as("carol"), "put", "carol/k", "v"]), "OK\n");
  assert.match((await etcdctlAt(at, [...as("carol"), "put", "other", "v"])).err, /permission denied/);
  assert.equal(await okAt(at, [...as("root"), "put", "other", "v"]), "OK\n");
  // a user without a password cannot log in with one
  assert.match(
    (await etcdctlAt(at, [...as("carol"), "--user", "carol:x", "get", "carol/k"])).err,
    /authentication failed/,
  );
});

test("etcdctl: a client certificate listed in --client-crl-file is refused; an unlisted one is served", async (t) => {
  const { at, as } = await startMtls(t, ["alice", "mallory"], (dir) => [
    "--client-crl-file",
    revokeCert(dir, "mallory"),
  ]);
  assert.equal(await okWhenUp(at, [...as("alice"), "put", "k", "v"]), "OK\n");
  const r = await etcdctlAt(at, [...as("mallory"), "--command-timeout=3s", "get", "k"]);
  assert.notEqual(r.code, 0, "the revoked certificate was served");
  assert.equal(await okAt(at, [...as("alice"), "get", "k", "--print-value-only"]), "v\n");
});

test("simple tokens expire after --auth-token-ttl of disuse; etcdctl logs in again and is served", async (t) => {
  const m = await startFloe({ args: ["--auth-token-ttl", "2"] });
  t.after(() => m.stop());
  const at = `127.0.0.1:${m.port}`;
  await setUpUsers(at);
  const login = await gateway(at, "auth/authenticate", { name: "u", password: "upw" });
  assert.equal(login.status, 200);
  const token = login.body.token as string;
  assert.equal((await gateway(at, "kv/put", { key: btoa("u/a"), value: btoa("1") }, token)).status, 200);
  await new Promise((r) => setTimeout(r, 1200));
  // used within the TTL: renewed
  assert.equal((await gateway(at, "kv/range", { key: btoa("u/a") }, token)).status, 200);
  await new Promise((r) => setTimeout(r, 2600));
  const expired = await gateway(at, "kv/range", { key: btoa("u/a") }, token);
  assert.equal(expired.status, 401);
  assert.equal(expired.body.message, "etcdserver: invalid auth token");
  assert.equal(await okAt(at, ["--user", "u:upw", "get", "u/a", "--print-value-only"]), "1\n");
});

test("etcdctl with --auth-token jwt: signed tokens work on every request, expire, and die with an auth change", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "floe-jwt-"));
  execFileSync("openssl", ["genrsa", "-out", join(dir, "priv.pem"), "2048"], { stdio: "ignore" });
  execFileSync("openssl", ["rsa", "-in", join(dir, "priv.pem"), "-pubout", "-out", join(dir, "pub.pem")], {
    stdio: "ignore",
  });
  const spec = `jwt,pub-key=${join(dir, "pub.pem")},priv-key=${join(dir, "priv.pem")},sign-method=RS256,ttl=3s`;
  const m = await startFloe({ args: ["--auth-token", spec] });
  t.after(() => m.stop());
  const at = `127.0.0.1:${m.port}`;
  await setUpUsers(at);
  assert.equal(await okAt(at, ["--user", "u:upw", "put", "u/j", "1"]), "OK\n");
  assert.match((await etcdctlAt(at, ["--user", "u:upw", "put", "x", "1"])).err, /permission denied/);
  const login = await gateway(at, "auth/authenticate", { name: "u", password: "upw" });
  const token = login.body.token as string;
  assert.equal(token.split(".").length, 3, `a JWT: ${token}`);
  const claims = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
  assert.equal(claims.username, "u");
  assert.equal((await gateway(at, "kv/range", { key: btoa("u/j") }, token)).status, 200);
  // a forged signature is refused
  const forged = `${token.split(".").slice(0, 2).join(".")}.${"A".repeat(40)}`;
  assert.equal(
    (await gateway(at, "kv/range", { key: btoa("u/j") }, forged)).body.message,
    "etcdserver: invalid auth token",
  );
  // an auth change makes older tokens stale; the client logs in again
  await okAt(at, ["--user", "root:rootpw", "role", "add", "other"]);
  assert.equal(
    (await gateway(at, "kv/range", { key: btoa("u/j") }, token)).body.message,
    "etcdserver: revision of auth store is old",
  );
  assert.equal(await okAt(at, ["--user", "u:upw", "get", "u/j", "--print-value-only"]), "1\n");
  // after its ttl a token is refused
  const fresh = (await gateway(at, "auth/authenticate", { name: "u", password: "upw" })).body.token as string;
  await new Promise((r) => setTimeout(r, 4100));
  assert.equal(
    (await gateway(at, "kv/range", { key: btoa("u/j") }, fresh)).body.message,
    "etcdserver: invalid auth token",
  );
});
