// `floe dev` (npm start): three members, banner, etcd clients work, Ctrl-C
// stops all of them, and a second start keeps the data.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Etcd3 } from "etcd3";
import { freePort, ROOT } from "../integration/floe-process.ts";

async function startDev(dataDir: string, client: number[], peer: number[]) {
  const proc = spawn(
    process.execPath,
    [
      "bin/floe.js",
      "dev",
      "--data-dir",
      dataDir,
      "--client-ports",
      client.join(","),
      "--peer-ports",
      peer.join(","),
      "--log-level",
      "warn",
    ],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  proc.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const deadline = Date.now() + 30_000;
  while (!out.includes("cluster is up")) {
    if (proc.exitCode !== null) throw new Error(`floe dev exited: ${out}`);
    if (Date.now() > deadline) throw new Error(`no banner: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, output: () => out };
}

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createConnection({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });

test("floe dev starts three members etcd clients can use, prints the endpoints, stops them all on SIGINT and keeps the data", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "floe-dev-"));
  const client = [await freePort(), await freePort(), await freePort()];
  const peer = [await freePort(), await freePort(), await freePort()];
  const first = await startDev(dataDir, client, peer);
  assert.match(
    first.output(),
    new RegExp(`etcdctl --endpoints=127.0.0.1:${client[0]},127.0.0.1:${client[1]}`),
  );
  const etcd = new Etcd3({ hosts: client.map((p) => `127.0.0.1:${p}`) });
  try {
    await etcd.put("dev-key").value("dev-value");
    const members = await etcd.cluster.memberList({});
    assert.deepEqual(members.members.map((m) => m.name).sort(), ["n1", "n2", "n3"]);
  } finally {
    etcd.close();
  }
  const exited = new Promise<number | null>((r) => first.proc.once("exit", (code) => r(code)));
  first.proc.kill("SIGINT");
  assert.equal(await exited, 0);
  assert.match(first.output(), /all members stopped/);
  for (const p of [...client, ...peer]) assert.equal(await listening(p), false, `port ${p} still open`);

  const second = await startDev(dataDir, client, peer);
  const again = new Etcd3({ hosts: [`127.0.0.1:${client[2]}`] });
  try {
    assert.equal(await again.get("dev-key").string(), "dev-value");
  } finally {
    again.close();
    const done = new Promise((r) => second.proc.once("exit", r));
    second.proc.kill("SIGINT");
    await done;
  }
});
