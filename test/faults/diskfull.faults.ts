// A full disk, for real: a member's data directory on a 6 MiB tmpfs, four
// clients writing 4 KiB values until the disk fills. The member must stop
// with a line that says the disk is full and which part of it could not be
// written, answer the requests in flight with etcd's "server stopped" (or
// drop them, never acknowledge them falsely), and, once the disk has room
// again, restart with every acknowledged write. Needs root (mount); elsewhere
// the test says why it cannot run.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { noop } from "cockatiel";
import { Etcd3 } from "etcd3";
import { startFloe } from "../integration/floe-process.ts";
import { poll } from "./util.ts";

function tmpfsUnavailable(): string | false {
  if (process.getuid?.() !== 0) return "mounting a tmpfs needs root";
  const probe = mkdtempSync(join(tmpdir(), "floe-tmpfs-probe-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", probe], { stdio: "pipe" });
    execFileSync("umount", [probe], { stdio: "pipe" });
    return false;
  } catch (e) {
    return `cannot mount a tmpfs: ${(e as Error).message}`;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

const unavailable = tmpfsUnavailable();

test("a full disk stops the member with a line naming the cause; requests in flight are refused; acknowledged writes survive", {
  skip: unavailable,
}, async () => {
  const mnt = mkdtempSync(join(tmpdir(), "floe-diskfull-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=6m", "tmpfs", mnt]);
  const dataDir = join(mnt, "data");
  mkdirSync(dataDir);
  const client = (endpoint: string) =>
    new Etcd3({ hosts: endpoint, faultHandling: { host: () => noop, global: noop } });
  try {
    const floe = await startFloe({ dataDir });
    const etcd = client(floe.endpoint);
    const acked = new Map<string, string>();
    const errors: string[] = [];
    const value = (k: string) => `${k}:`.padEnd(4096, "x");
    const writer = async (w: number) => {
      for (let i = 0; floe.proc.exitCode === null && errors.length < 50; i++) {
        const key = `full/${w}/${i}`;
        try {
          await etcd.put(key).value(value(key)).exec();
          acked.set(key, value(key));
        } catch (e) {
          errors.push(String((e as Error).message));
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    };
    await Promise.all([0, 1, 2, 3].map(writer));
    const code = await poll("the member to stop", 20_000, async () => floe.proc.exitCode ?? undefined);
    etcd.close();
    const stderr = floe.stderr();
    assert.equal(code, 1, stderr);
    assert.match(
      stderr,
      /stopping the member in .*: the disk is full: (the Raft log in \S+\/wal|the key-value store in \S+\/kv|a snapshot in \S+\/snap) could not be written \(ENOSPC\)/,
      stderr,
    );
    assert.ok(acked.size > 100, `only ${acked.size} writes before the disk filled`);
    // what clients saw for the requests in flight: etcd's refusal, or a dropped connection
    assert.ok(errors.length > 0);
    for (const e of errors) {
      assert.match(
        e,
        /etcdserver: server stopped|UNAVAILABLE|No connection established|ECONNRESET|Call cancelled/,
        e,
      );
    }
    console.log(
      `# ${acked.size} writes acknowledged before the disk filled; client errors: ${[...new Set(errors)].join(" | ")}`,
    );

    // room again: the member restarts with every acknowledged write
    execFileSync("mount", ["-o", "remount,size=64m", mnt]);
    const again = await startFloe({ dataDir, port: floe.port, peerPort: floe.peerPort });
    const etcd2 = client(again.endpoint);
    try {
      const all = await etcd2.getAll().prefix("full/").strings();
      const lost = [...acked].filter(([k, v]) => all[k] !== v).map(([k]) => k);
      assert.deepEqual(lost, [], `${lost.length} acknowledged writes lost`);
      await etcd2.put("full/after").value("ok").exec();
    } finally {
      etcd2.close();
      await again.stop();
    }
  } finally {
    execFileSync("umount", ["-l", mnt]);
    rmSync(mnt, { recursive: true, force: true });
  }
});
