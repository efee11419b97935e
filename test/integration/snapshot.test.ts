// Snapshot save over the Maintenance API, `floe snapshot status|restore`, and
// a new member started from the restored data directory.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Etcd3 } from "etcd3";
import { Maintenance } from "../../src/api/gen/etcdserverpb/rpc_pb.ts";
import { floeCli, freePort, restoreSnapshotCli, startFloe } from "./floe-process.ts";

test("snapshot save, floe snapshot status/restore, and a member started from the restored data keeps every key", async () => {
  const first = await startFloe();
  const dir = mkdtempSync(join(tmpdir(), "floe-restore-"));
  const file = join(dir, "backup.db");
  try {
    const c = new Etcd3({ hosts: first.endpoint });
    for (let i = 0; i < 20; i++) await c.put(`snap/${i}`).value(`v${i}`);
    await c.delete().key("snap/0");
    c.close();
    const m = createClient(Maintenance, createGrpcTransport({ baseUrl: first.endpoint }));
    const chunks: Uint8Array[] = [];
    for await (const r of m.snapshot({})) chunks.push(r.blob);
    writeFileSync(file, Buffer.concat(chunks));
  } finally {
    await first.stop();
  }
  assert.match(floeCli("snapshot", "status", file), /ok, \d+ bytes, .* SHA-256 verified/);
  const peerPort = await freePort();
  const dataDir = join(dir, "restored");
  const out = restoreSnapshotCli(file, dataDir, peerPort);
  assert.match(out, /restored .* revision \d+/);
  // Restoring over existing data is refused.
  assert.throws(() => floeCli("snapshot", "restore", file, "--data-dir", dataDir), /not empty/);
  const second = await startFloe({ dataDir, peerPort });
  try {
    const c = new Etcd3({ hosts: second.endpoint });
    const all = await c.getAll().prefix("snap/").strings();
    assert.equal(Object.keys(all).length, 19);
    assert.equal(all["snap/7"], "v7");
    assert.equal(all["snap/0"], undefined);
    await c.put("snap/new").value("after-restore");
    assert.equal(await c.get("snap/new").string(), "after-restore");
    c.close();
  } finally {
    await second.stop();
  }
  // A damaged file is refused with a clear error.
  const bad = join(dir, "bad.db");
  writeFileSync(bad, Buffer.alloc(600, 1));
  assert.throws(() => floeCli("snapshot", "status", bad), /SHA-256 mismatch/);
});
