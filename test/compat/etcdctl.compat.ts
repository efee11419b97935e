// The compatibility tier: drives a real floe process with Debian's etcdctl.
// Run with `npm run test:compat` (CI installs etcd-client first).
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type FloeProcess, freePort, ROOT, startFloe } from "../integration/floe-process.ts";
import { etcdctlAt, okAt } from "./etcdctl-run.ts";

let floe: FloeProcess;
// A bare host:port endpoint; the http:// form is tested too.
let endpoint = "";
const etcdctl = (args: string[], input?: string, at: string = endpoint) => etcdctlAt(at, args, input);
const ok = (args: string[], input?: string, at: string = endpoint) => okAt(at, args, input);

before(async () => {
  floe = await startFloe();
  endpoint = `127.0.0.1:${floe.port}`;
});

after(async () => {
  await floe?.stop();
});

test("etcdctl: put, get with --prefix/--rev/--limit/--sort-by/--keys-only, del", async () => {
  assert.equal((await ok(["put", "k1", "v1"])).trim(), "OK");
  await ok(["put", "k2", "v2"]);
  await ok(["put", "k3", "v3"]);
  assert.equal(await ok(["get", "k", "--prefix"]), "k1\nv1\nk2\nv2\nk3\nv3\n");
  assert.equal(await ok(["get", "k", "--prefix", "--limit", "1"]), "k1\nv1\n");
  assert.equal(await ok(["get", "k", "--prefix", "--keys-only"]), "k1\n\nk2\n\nk3\n\n");
  assert.equal(
    await ok(["get", "k", "--prefix", "--sort-by", "KEY", "--order", "DESCEND"]),
    "k3\nv3\nk2\nv2\nk1\nv1\n",
  );
  const json = JSON.parse(await ok(["get", "k1", "-w", "json"]));
  const rev = Number(json.kvs[0].mod_revision);
  await ok(["put", "k1", "v1b"]);
  assert.equal(await ok(["get", "k1", `--rev=${rev}`]), "k1\nv1\n");
  const help = await etcdctl(["get", "--help"]);
  if (help.out.includes("--count-only")) {
    assert.match(await ok(["get", "k", "--prefix", "--count-only", "-w", "json"]), /"count":3/);
  }
  assert.equal((await ok(["del", "k2"])).trim(), "1");
  assert.equal(await ok(["get", "k2"]), "");
});

test("etcdctl: interactive txn", async () => {
  await ok(["put", "t", "a"]);
  const out = await ok(["txn", "-i"], 'value("t") = "a"\n\nput t b\n\nput t c\n\n');
  assert.match(out, /SUCCESS/);
  assert.equal(await ok(["get", "t", "--print-value-only"]), "b\n");
});

test("floe txn prints what etcdctl txn prints for the same input", async () => {
  const floeTxn = (input: string): string =>
    execFileSync(process.execPath, ["bin/floe.js", "txn", "-i", "--endpoints", endpoint], {
      cwd: ROOT,
      input,
      encoding: "utf8",
    });
  await ok(["put", "ft/a", "1"]);
  await ok(["put", "ft/b", "2"]);
  // Each pair runs the same txn through both tools, on the same state.
  const inputs = [
    'value("ft/a") = "1"\nmod("ft/b") > "0"\n\nput ft/c "three words"\nget ft/ --prefix\n\nput ft/c no\n\n',
    'ver("ft/a") != "1"\n\nput ft/c no\n\ndel ft/c --prev-kv\nget ft/a\n\n',
  ];
  for (const input of inputs) {
    await ok(["put", "ft/c", "x"]);
    const want = await ok(["txn", "-i"], input);
    await ok(["put", "ft/c", "x"]);
    assert.equal(floeTxn(input), want, input);
  }
});

test("etcdctl: watch sees a put", async () => {
  const child = spawn("etcdctl", [`--endpoints=${endpoint}`, "watch", "wk"], {
    env: { ...process.env, ETCDCTL_API: "3" },
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  await new Promise((r) => setTimeout(r, 500));
  await ok(["put", "wk", "hello"]);
  const deadline = Date.now() + 5000;
  while (!out.includes("hello") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  child.kill();
  assert.equal(out, "PUT\nwk\nhello\n");
});

test("etcdctl: lease grant, put with lease, timetolive, keep-alive --once, revoke", async () => {
  const grant = await ok(["lease", "grant", "30"]);
  const id = /lease ([0-9a-f]+) granted/.exec(grant)?.[1];
  assert.ok(id, grant);
  await ok(["put", "lk", "lv", `--lease=${id}`]);
  assert.match(await ok(["lease", "timetolive", id, "--keys"]), /attached keys\(\[lk\]\)/);
  assert.match(await ok(["lease", "keep-alive", "--once", id]), /keepalived with TTL/);
  assert.match(await ok(["lease", "revoke", id]), /revoked/);
  assert.equal(await ok(["get", "lk"]), "");
});

test("etcdctl: compaction, then an old revision is refused", async () => {
  const r1 = JSON.parse(await ok(["put", "c", "1", "-w", "json"])).header.revision;
  await ok(["put", "c", "2"]);
  const r2 = JSON.parse(await ok(["get", "c", "-w", "json"])).header.revision;
  assert.match(await ok(["compaction", String(r2), "--physical"]), /compacted revision/);
  const r = await etcdctl(["get", "c", `--rev=${r1}`]);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /required revision has been compacted/);
});

test("etcdctl: endpoint status, health, hashkv; defrag; alarm list and disarm", async () => {
  assert.match(await ok(["endpoint", "status", "-w", "table"]), /3\.4\.23/);
  const health = await etcdctl(["endpoint", "health"]);
  assert.equal(health.code, 0, health.err);
  assert.match(health.out + health.err, /is healthy/);
  assert.match(await ok(["endpoint", "hashkv"]), new RegExp(`${endpoint}, \\d+`));
  assert.match(await ok(["defrag"]), /Finished defragmenting/);
  assert.equal(await ok(["alarm", "list"]), "");
  assert.equal(await ok(["alarm", "disarm"]), "");
});

test("etcdctl: http:// endpoints work as host:port ones do", async () => {
  const url = `http://127.0.0.1:${floe.port}`;
  assert.equal((await ok(["put", "u", "1"], undefined, url)).trim(), "OK");
  assert.equal(await ok(["get", "u", "--print-value-only"], undefined, url), "1\n");
  // endpoint-level commands dial each endpoint with the URL as the HTTP/2 :authority (nghttp2 refused it)
  const both = `${url},${endpoint}`;
  const table = await ok(["endpoint", "status", "-w", "table"], undefined, both);
  assert.match(table, new RegExp(`\\| +${url} \\|.*3\\.4\\.23`));
  assert.match(table, new RegExp(`\\| +${endpoint} \\|.*3\\.4\\.23`));
  const health = await etcdctl(["endpoint", "health"], undefined, both);
  assert.equal(health.code, 0, health.err);
  assert.match(health.out + health.err, new RegExp(`${url} is healthy`));
  assert.match(await ok(["endpoint", "hashkv"], undefined, url), new RegExp(`${url}, \\d+`));
  assert.match(await ok(["member", "list"], undefined, url), /started/);
  assert.match(await ok(["defrag"], undefined, url), /Finished defragmenting/);
  const id = /lease ([0-9a-f]+) granted/.exec(await ok(["lease", "grant", "30"], undefined, url))?.[1];
  assert.ok(id);
  assert.match(await ok(["lease", "revoke", id], undefined, url), /revoked/);
  const file = join(mkdtempSync(join(tmpdir(), "floe-snap-")), "s.db");
  await ok(["snapshot", "save", file], undefined, url);
  assert.ok(statSync(file).size > 32);
});

test("etcdctl: snapshot save, status and restore work on floe's snapshot, and floe starts from etcdctl's restore", async () => {
  const dir = mkdtempSync(join(tmpdir(), "floe-snap-"));
  const file = join(dir, "s.db");
  assert.equal((await ok(["put", "snap/k", "snapshotted"])).trim(), "OK");
  const rev = Number(JSON.parse(await ok(["get", "snap/k", "-w", "json"])).header.revision);
  await ok(["snapshot", "save", file]);
  assert.ok(existsSync(file) && statSync(file).size > 32);
  // etcdctl opens it with bbolt: etcd's backend layout, the revision of the save
  const st = JSON.parse(await ok(["-w", "json", "snapshot", "status", file])) as Record<string, number>;
  assert.equal(st.revision, rev);
  assert.ok(st.totalKey >= 2, `totalKey ${st.totalKey}`);
  // etcdctl writes an etcd data directory from it; floe start imports that
  const peerPort = await freePort();
  const dataDir = join(dir, "restored");
  const peer = `http://127.0.0.1:${peerPort}`;
  const r = await etcdctl([
    "snapshot",
    "restore",
    file,
    "--data-dir",
    dataDir,
    "--name",
    "it",
    "--initial-cluster",
    `it=${peer}`,
    "--initial-advertise-peer-urls",
    peer,
  ]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /added member/);
  const restored = await startFloe({ dataDir, peerPort });
  try {
    const at = `127.0.0.1:${restored.port}`;
    assert.equal(await ok(["get", "snap/k", "--print-value-only"], undefined, at), "snapshotted\n");
    const got = JSON.parse(await ok(["get", "snap/k", "-w", "json"], undefined, at));
    assert.equal(Number(got.kvs[0].mod_revision), rev, "revisions are kept");
  } finally {
    await restored.stop();
  }
});

test("etcdctl: a full backend says database space exceeded and raises NOSPACE; compaction, defrag, alarm disarm recover", async (t) => {
  const small = await startFloe({ args: ["--quota-backend-bytes", String(1024 * 1024)] });
  t.after(() => small.stop());
  const at = `127.0.0.1:${small.port}`;
  const value = "x".repeat(64 * 1024);
  let refused: { code: number; out: string; err: string } | undefined;
  for (let i = 0; i < 64 && refused === undefined; i++) {
    const r = await etcdctl(["put", "big", `${i}${value}`], undefined, at);
    if (r.code !== 0) refused = r;
  }
  assert.ok(refused, "the quota never refused a put");
  assert.match(refused.err, /etcdserver: mvcc: database space exceeded/);
  assert.match(await ok(["alarm", "list"], undefined, at), /^memberID:\d+ alarm:NOSPACE\s*$/);
  assert.match((await etcdctl(["put", "k", "v"], undefined, at)).err, /database space exceeded/);

  const rev = JSON.parse(await ok(["get", "big", "-w", "json"], undefined, at)).header.revision;
  assert.match(await ok(["compaction", String(rev)], undefined, at), /compacted revision/);
  assert.match(await ok(["defrag"], undefined, at), /Finished defragmenting/);
  // Space is free, but writes stay refused until the alarm is disarmed.
  assert.match((await etcdctl(["put", "k", "v"], undefined, at)).err, /database space exceeded/);
  assert.match(await ok(["alarm", "disarm"], undefined, at), /alarm:NOSPACE/);
  assert.equal(await ok(["alarm", "list"], undefined, at), "");
  assert.equal((await ok(["put", "k", "v"], undefined, at)).trim(), "OK");
  assert.equal(await ok(["get", "k", "--print-value-only"], undefined, at), "v\n");
});

test("etcdctl: a member with --auto-tls and --peer-auto-tls serves TLS that etcdctl reaches by skipping verification", async () => {
  const dir = mkdtempSync(join(tmpdir(), "floe-autotls-"));
  const [port, peerPort] = [await freePort(), await freePort()];
  const proc = spawn(
    process.execPath,
    [
      "bin/floe.js",
      "start",
      "--name",
      "t1",
      "--data-dir",
      join(dir, "d"),
      "--listen-client-urls",
      `https://127.0.0.1:${port}`,
      "--advertise-client-urls",
      `https://127.0.0.1:${port}`,
      "--listen-peer-urls",
      `https://127.0.0.1:${peerPort}`,
      "--initial-advertise-peer-urls",
      `https://127.0.0.1:${peerPort}`,
      "--initial-cluster",
      `t1=https://127.0.0.1:${peerPort}`,
      "--auto-tls",
      "--peer-auto-tls",
      "--cipher-suites",
      "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
      "--log-level",
      "warn",
    ],
    { cwd: ROOT, stdio: "ignore" },
  );
  const at = `127.0.0.1:${port}`;
  const tlsArgs = ["--insecure-transport=false", "--insecure-skip-tls-verify"];
  try {
    let r = await etcdctl([...tlsArgs, "--command-timeout=2s", "put", "tls-key", "v"], undefined, at);
    for (let i = 0; i < 40 && r.code !== 0; i++) {
      await new Promise((res) => setTimeout(res, 250));
      r = await etcdctl([...tlsArgs, "--command-timeout=2s", "put", "tls-key", "v"], undefined, at);
    }
    assert.equal(r.code, 0, r.err);
    assert.equal(await ok([...tlsArgs, "get", "tls-key", "--print-value-only"], undefined, at), "v\n");
    // Plaintext to a TLS port fails; so does verifying the self-signed certificate.
    assert.notEqual((await etcdctl(["--command-timeout=2s", "get", "tls-key"], undefined, at)).code, 0);
    assert.notEqual(
      (await etcdctl(["--insecure-transport=false", "--command-timeout=2s", "get", "tls-key"], undefined, at))
        .code,
      0,
    );
    assert.ok(existsSync(join(dir, "d", "fixtures", "client", "cert.pem")));
    assert.ok(existsSync(join(dir, "d", "fixtures", "peer", "cert.pem")));
  } finally {
    proc.kill("SIGTERM");
    await new Promise((res) => proc.once("exit", res));
  }
});
