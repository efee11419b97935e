// Drives a real floe process with the etcd3 npm client.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { noop } from "cockatiel";
import { Etcd3 } from "etcd3";
import { type FloeProcess, startFloe } from "./floe-process.ts";

let floe: FloeProcess;
let client: Etcd3;

before(async () => {
  floe = await startFloe();
  client = new Etcd3({ hosts: floe.endpoint });
});

after(async () => {
  client?.close();
  await floe?.stop();
});

const waitFor = async (what: string, f: () => Promise<boolean>, ms = 10_000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

test("etcd3: put, get, delete and prefix ranges with limit, sort, keys-only and count", async () => {
  await client.put("crud/a").value("1");
  await client.put("crud/b").value("2");
  await client.put("crud/c").value("3");
  assert.equal(await client.get("crud/a").string(), "1");
  assert.deepEqual(await client.getAll().prefix("crud/").strings(), {
    "crud/a": "1",
    "crud/b": "2",
    "crud/c": "3",
  });
  assert.deepEqual(await client.getAll().prefix("crud/").limit(2).keys(), ["crud/a", "crud/b"]);
  assert.deepEqual(await client.getAll().prefix("crud/").sort("Key", "Descend").keys(), [
    "crud/c",
    "crud/b",
    "crud/a",
  ]);
  assert.equal(await client.getAll().prefix("crud/").count(), 3);
  const r = await client.getAll().prefix("crud/").exec();
  assert.equal(r.count, "3");
  assert.ok(BigInt(r.header.revision) >= 3n);
  assert.notEqual(r.header.cluster_id, "0");
  await client.delete().key("crud/b");
  assert.equal(await client.get("crud/b").string(), null);
  assert.equal(await client.getAll().prefix("crud/").count(), 2);
});

test("etcd3: versions and revisions follow etcd (create, mod, version reset after delete)", async () => {
  await client.put("ver").value("a");
  await client.put("ver").value("b");
  let kv = (await client.get("ver").exec()).kvs[0];
  assert.equal(kv.version, "2");
  const created = kv.create_revision;
  await client.delete().key("ver");
  await client.put("ver").value("c");
  kv = (await client.get("ver").exec()).kvs[0];
  assert.equal(kv.version, "1");
  assert.ok(BigInt(kv.create_revision) > BigInt(created));
});

test("etcd3: transactions compare and choose a branch atomically", async () => {
  await client.put("txn/k").value("v1");
  const ok = await client
    .if("txn/k", "Value", "==", "v1")
    .then(client.put("txn/k").value("v2"))
    .else(client.put("txn/other").value("x"))
    .commit();
  assert.equal(ok.succeeded, true);
  const no = await client
    .if("txn/k", "Value", "==", "v1")
    .then(client.put("txn/k").value("v3"))
    .else(client.get("txn/k"))
    .commit();
  assert.equal(no.succeeded, false);
  assert.equal(await client.get("txn/k").string(), "v2");
  assert.equal(await client.get("txn/other").string(), null);
});

test("etcd3: historical reads, and reads below a compaction fail with etcd's error", async () => {
  const r1 = await client.put("hist").value("old").exec();
  await client.put("hist").value("new");
  const rev = r1.header.revision;
  assert.equal(await client.get("hist").revision(rev).string(), "old");
  const latest = (await client.get("hist").exec()).header.revision;
  await (
    client as unknown as { kv: { compact(r: { revision: string; physical: boolean }): Promise<unknown> } }
  ).kv.compact({
    revision: latest,
    physical: true,
  });
  await assert.rejects(client.get("hist").revision(rev).string(), /required revision has been compacted/);
  await assert.rejects(
    client
      .get("hist")
      .revision(String(BigInt(latest) + 1000n))
      .string(),
    /future revision/,
  );
});

test("etcd3: watch delivers live events with prev_kv, replays history and stops on cancel", async () => {
  const start = (await client.put("w/a").value("0").exec()).header.revision;
  await client.put("w/a").value("1");
  const seen: string[] = [];
  const w = await client.watch().prefix("w/").startRevision(start).withPreviousKV().create();
  w.on("put", (kv, prev) =>
    seen.push(`${kv.key.toString()}=${kv.value.toString()}<${prev?.value.toString() ?? ""}`),
  );
  w.on("delete", (kv) => seen.push(`del ${kv.key.toString()}`));
  await client.put("w/b").value("2");
  await client.delete().key("w/a");
  await waitFor("events", async () => seen.length >= 4);
  assert.deepEqual(seen, ["w/a=0<", "w/a=1<0", "w/b=2<", "del w/a"]);
  await w.cancel();
  await client.put("w/c").value("3");
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(seen.length, 4, "no events after cancel");
});

test("etcd3: a lease's keys are deleted when it expires, and keepalive keeps them", async () => {
  const short = client.lease(1, { autoKeepAlive: false });
  await short.put("lease/short").value("x");
  const kept = client.lease(1);
  await kept.put("lease/kept").value("y");
  assert.equal(await client.get("lease/short").string(), "x");
  await waitFor(
    "the lease to expire",
    async () => (await client.get("lease/short").string()) === null,
    10_000,
  );
  assert.equal(await client.get("lease/kept").string(), "y", "the kept-alive lease still holds its key");
  await kept.revoke();
  assert.equal(await client.get("lease/kept").string(), null);
});

test("etcd3: oversized values are refused with etcd's errors and nothing is written", async () => {
  // a client without a circuit breaker: the refusals are the point, not faults to ride out
  const strict = new Etcd3({ hosts: floe.endpoint, faultHandling: { host: () => noop, global: noop } });
  try {
    // over --max-request-bytes (1.5 MiB) but within the gRPC receive limit: etcd's own check
    await assert.rejects(
      strict
        .put("big")
        .value(Buffer.alloc(1.5 * 1024 * 1024 + 1))
        .exec(),
      /^Error: 3 INVALID_ARGUMENT: etcdserver: request is too large$/,
    );
    // over the receive limit (1.5 MiB + 512 KiB): grpc-go's refusal, word for word as etcd 3.4 answers
    await assert.rejects(
      strict
        .put("big")
        .value(Buffer.alloc(2 * 1024 * 1024))
        .exec(),
      /^Error: 8 RESOURCE_EXHAUSTED: grpc: received message larger than max \(2097162 vs\. 2097152\)$/,
    );
    assert.equal(await strict.get("big").string(), null);
  } finally {
    strict.close();
  }
});

test("etcd3: data survives a clean restart and a kill -9 of the process", async () => {
  await client.put("durable/a").value("1");
  await client.put("durable/b").value("2");
  const before = (await client.get("durable/a").exec()).header.revision;
  client.close();
  assert.equal(await floe.stop("SIGTERM"), 0);
  floe = await startFloe({ dataDir: floe.dataDir, port: floe.port, peerPort: floe.peerPort });
  client = new Etcd3({ hosts: floe.endpoint });
  assert.deepEqual(await client.getAll().prefix("durable/").strings(), {
    "durable/a": "1",
    "durable/b": "2",
  });
  await client.put("durable/c").value("3");
  client.close();
  await floe.stop("SIGKILL");
  floe = await startFloe({ dataDir: floe.dataDir, port: floe.port, peerPort: floe.peerPort });
  client = new Etcd3({ hosts: floe.endpoint });
  assert.deepEqual(await client.getAll().prefix("durable/").strings(), {
    "durable/a": "1",
    "durable/b": "2",
    "durable/c": "3",
  });
  const after = (await client.get("durable/a").exec()).header.revision;
  assert.ok(BigInt(after) > BigInt(before));
});

test("floe client verbs: put, get --prefix, lease grant and del talk to the server", async () => {
  const { execFileSync } = await import("node:child_process");
  const floeCli = (...args: string[]): string =>
    execFileSync(process.execPath, ["bin/floe.js", ...args, "--endpoints", `127.0.0.1:${floe.port}`], {
      cwd: new URL("../../", import.meta.url),
      encoding: "utf8",
    });
  assert.equal(floeCli("put", "cli/a", "1"), "OK\n");
  assert.equal(floeCli("put", "cli/b", "2"), "OK\n");
  assert.equal(floeCli("get", "cli/", "--prefix"), "cli/a\n1\ncli/b\n2\n");
  assert.match(floeCli("lease", "grant", "30"), /^lease [0-9a-f]{16} granted with TTL\(30s\)\n$/);
  assert.equal(floeCli("del", "cli/", "--prefix"), "2\n");
  assert.equal(await client.get("cli/a").string(), null);
});

test("/metrics carries etcd's metric families with the member's values", async () => {
  await client.put("metrics/k").value("v");
  await client.get("metrics/k").string();
  const text = await (await fetch(`${floe.endpoint}/metrics`)).text();
  const value = (line: RegExp): number => {
    const m = text.match(line);
    assert.ok(m, `no line matching ${line}`);
    return Number(m[1]);
  };
  assert.equal(value(/^etcd_server_has_leader (\S+)$/m), 1);
  assert.equal(value(/^etcd_server_is_leader (\S+)$/m), 1, "a single member leads");
  assert.equal(value(/^etcd_server_version\{server_version="3\.4\.23"\} (\S+)$/m), 1);
  const committed = value(/^etcd_server_proposals_committed_total (\S+)$/m);
  assert.ok(committed > 1, `committed ${committed}`);
  assert.ok(value(/^etcd_server_proposals_applied_total (\S+)$/m) >= 1);
  assert.equal(value(/^etcd_server_proposals_pending (\S+)$/m), 0);
  assert.ok(value(/^etcd_server_leader_changes_seen_total (\S+)$/m) >= 1);
  assert.ok(value(/^etcd_disk_wal_fsync_duration_seconds_count (\S+)$/m) > 0);
  assert.ok(value(/^etcd_mvcc_db_total_size_in_bytes (\S+)$/m) > 0);
  assert.ok(value(/^etcd_debugging_mvcc_keys_total (\S+)$/m) >= 1);
  assert.ok(
    value(
      /^grpc_server_handled_total\{grpc_type="unary",grpc_service="etcdserverpb\.KV",grpc_method="Put",grpc_code="OK"\} (\S+)$/m,
    ) >= 1,
  );
  // the backend commits (bitcask group syncs) at its 100 ms interval
  await waitFor("a backend commit", async () => {
    const t = await (await fetch(`${floe.endpoint}/metrics`)).text();
    return /^etcd_disk_backend_commit_duration_seconds_count [1-9]/m.test(t);
  });
});

test("floe debug dump shows a stopped member's identity, hard state, decoded WAL entries and bitcask stats", async () => {
  const { execFileSync } = await import("node:child_process");
  await client.put("dump/key").value("v");
  client.close();
  assert.equal(await floe.stop("SIGTERM"), 0);
  const out = execFileSync(
    process.execPath,
    ["bin/floe.js", "debug", "dump", floe.dataDir, "--entries", "1000"],
    {
      cwd: new URL("../../", import.meta.url),
      encoding: "utf8",
    },
  );
  assert.match(out, /== member\n\{\n {2}"name": "it"/);
  assert.match(out, /hard state: term=\d+ vote=[0-9a-f]+ commit=\d+/);
  assert.ok(out.includes(`"key":"${Buffer.from("dump/key").toString("base64")}"`), "the last put is decoded");
  assert.match(out, /== bitcask\n\{"keys":\d+/);
});
