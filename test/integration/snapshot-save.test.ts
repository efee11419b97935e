// `floe snapshot save` end to end: a multi-chunk snapshot downloaded over the
// Maintenance API, accepted by `floe snapshot status`, restored by
// `floe snapshot restore` into a member that serves every key.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Etcd3 } from "etcd3";
import { Maintenance } from "../../src/api/gen/etcdserverpb/rpc_pb.ts";
import { readBolt } from "../../src/bbolt/index.ts";
import { TrailerCheck } from "../../src/cli/snapshot.ts";
import { floeCli, freePort, ROOT, restoreSnapshotCli, startFloe } from "./floe-process.ts";

test("floe snapshot save downloads a verified multi-chunk snapshot that status accepts and restore brings back", async () => {
  const dir = mkdtempSync(join(tmpdir(), "floe-save-"));
  const file = join(dir, "backup.db");
  const value = (i: number): string => `${i}:`.padEnd(64 * 1024, String.fromCharCode(97 + (i % 26)));
  const first = await startFloe();
  try {
    const c = new Etcd3({ hosts: first.endpoint });
    // About 2.5 MiB: more than one 1 MiB store chunk and many 32 KiB messages.
    for (let i = 0; i < 40; i++) await c.put(`save/${i}`).value(value(i));
    c.close();
    const out = floeCli("snapshot", "save", file, "--endpoints", `127.0.0.1:${first.port}`);
    assert.match(out, new RegExp(`Snapshot saved at ${file} \\(\\d+ bytes, SHA-256 verified\\)`));
  } finally {
    await first.stop();
  }
  assert.deepEqual(readdirSync(dir), ["backup.db"], "no .part file is left behind");
  assert.ok(statSync(file).size > 40 * 64 * 1024);
  assert.equal((statSync(file).size - 32) % 4096, 0, "a bbolt database of whole pages, then the digest");
  assert.match(
    floeCli("snapshot", "status", file),
    /ok, \d+ bytes, etcd backend layout \(bbolt\), revision 41, \d+ keys in 11 buckets, SHA-256 verified/,
  );

  const peerPort = await freePort();
  const dataDir = join(dir, "restored");
  restoreSnapshotCli(file, dataDir, peerPort);
  const second = await startFloe({ dataDir, peerPort });
  try {
    const c = new Etcd3({ hosts: second.endpoint });
    const all = await c.getAll().prefix("save/").strings();
    assert.equal(Object.keys(all).length, 40);
    assert.equal(all["save/17"], value(17));
    c.close();
  } finally {
    await second.stop();
  }

  // The same database as an etcd member's data directory (what `etcdctl
  // snapshot restore` writes): floe start imports it.
  const etcdDir = join(dir, "etcd-member");
  mkdirSync(join(etcdDir, "member", "snap"), { recursive: true });
  const db = readFileSync(file);
  writeFileSync(join(etcdDir, "member", "snap", "db"), db.subarray(0, db.length - 32));
  const third = await startFloe({ dataDir: etcdDir });
  try {
    const c = new Etcd3({ hosts: third.endpoint });
    const r = await c.get("save/39").exec();
    assert.equal(r.kvs[0]?.value.toString(), value(39));
    assert.equal(Number(r.kvs[0]?.mod_revision), 41, "revisions are kept");
    assert.ok(existsSync(join(etcdDir, "member.json")), "the member now has floe's own files beside member/");
    c.close();
  } finally {
    await third.stop();
  }
});

test("floe snapshot save from an unreachable member fails and leaves neither the file nor a partial one", async () => {
  const dir = mkdtempSync(join(tmpdir(), "floe-save-"));
  const file = join(dir, "none.db");
  const port = await freePort();
  const r = spawnSync(
    process.execPath,
    ["bin/floe.js", "snapshot", "save", file, "--endpoints", `127.0.0.1:${port}`],
    {
      cwd: ROOT,
      encoding: "utf8",
    },
  );
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /floe snapshot: /);
  assert.equal(existsSync(file), false);
  assert.deepEqual(readdirSync(dir), []);
});

test("the trailer check accepts a stream ending in its SHA-256 however it is chunked, and nothing else", () => {
  const body = Buffer.alloc(1000, 7);
  const whole = Buffer.concat([body, createHash("sha256").update(body).digest()]);
  for (const cut of [1, 31, 32, 33, 500, 999, 1000, 1031]) {
    const t = new TrailerCheck();
    t.update(whole.subarray(0, cut));
    t.update(whole.subarray(cut));
    assert.equal(t.ok(), true, `cut at ${cut}`);
  }
  const damaged = Buffer.from(whole);
  damaged[10] ^= 1;
  const t = new TrailerCheck();
  t.update(damaged);
  assert.equal(t.ok(), false);
  const short = new TrailerCheck();
  short.update(whole.subarray(0, 20));
  assert.equal(short.ok(), false);
});

test("a snapshot is taken whole before it is sent: a physical compaction during a paused download neither waits nor changes what the download holds", async (t) => {
  const floe = await startFloe();
  t.after(() => floe.stop());
  const c = new Etcd3({ hosts: floe.endpoint });
  t.after(() => c.close());
  for (let i = 0; i < 48; i++) await c.put(`hist/${i % 4}`).value("v".repeat(64 * 1024));
  const m = createClient(Maintenance, createGrpcTransport({ baseUrl: floe.endpoint }));
  const download = m.snapshot({})[Symbol.asyncIterator]();
  const first = await download.next();
  assert.equal(first.done, false);
  const blobs: Uint8Array[] = [first.value.blob];
  const rev = (await c.get("hist/0").exec()).header.revision;
  // the member keeps serving, and the compaction does not wait for the paused download
  await c.kv.compact({ revision: rev, physical: true });
  assert.equal((await c.get("hist/1").string())?.length, 64 * 1024);
  for (let r = await download.next(); !r.done; r = await download.next()) blobs.push(r.value.blob);
  const check = new TrailerCheck();
  for (const b of blobs) check.update(b);
  assert.ok(check.ok(), "the download ends with the SHA-256 of what came before it");
  const file = Buffer.concat(blobs);
  const keys = readBolt(file.subarray(0, file.length - 32)).get("key") ?? [];
  assert.equal(
    keys.length,
    48,
    "every revision of the moment the snapshot was taken, compacted later or not",
  );
});
