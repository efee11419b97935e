// A member's key index comes back from its checkpoint on restart: written
// at a clean stop (and in the background), used on the next start with the
// records after it, and giving the same answers as the records themselves.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Etcd3 } from "etcd3";
import { type FloeProcess, startFloe } from "./floe-process.ts";

/** The "floe member ready" line's keyIndex field. */
async function readyKeyIndex(p: FloeProcess): Promise<string> {
  let out = "";
  p.proc.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  for (let i = 0; i < 100; i++) {
    const line = `${out}\n${p.stderr()}`.split("\n").find((l) => l.includes("floe member ready"));
    if (line) return JSON.parse(line).keyIndex as string;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no ready line in ${out}`);
}

async function contents(endpoint: string): Promise<Record<string, string>> {
  const c = new Etcd3({ hosts: endpoint });
  try {
    return await c.getAll().prefix("k/").strings();
  } finally {
    c.close();
  }
}

test("a restarted member rebuilds its key index from the checkpoint and answers as before", async () => {
  const args = ["--log-level", "info"];
  let p = await startFloe({ args });
  const dataDir = p.dataDir;
  const port = p.port;
  const peerPort = p.peerPort;
  const reopen = async () => {
    p = await startFloe({ dataDir, port, peerPort, args });
    return readyKeyIndex(p);
  };
  try {
    assert.equal(await readyKeyIndex(p), "all records (checkpoint: none)");
    const c = new Etcd3({ hosts: p.endpoint });
    const puts = [];
    for (let i = 0; i < 2000; i++) puts.push(c.put(`k/${i % 700}`).value(`v${i}`));
    await Promise.all(puts);
    await c.delete().prefix("k/1");
    const lease = await c.lease(600, { autoKeepAlive: false }).grant();
    await c.put("k/leased").value("l").lease(lease);
    c.close();
    const before = await contents(p.endpoint);
    assert.ok(Object.keys(before).length > 500);

    // A clean stop saves the checkpoint.
    assert.equal(await p.stop(), 0);
    assert.match(await reopen(), /^checkpoint at revision \d+$/);
    assert.deepEqual(await contents(p.endpoint), before);

    // More history, then a crash: the checkpoint plus the records after it.
    const c2 = new Etcd3({ hosts: p.endpoint });
    for (let i = 0; i < 300; i++) await c2.put(`k/${i % 50}`).value(`w${i}`);
    await c2.delete().key("k/7");
    const ttl = await c2.lease(600, { autoKeepAlive: false }).grant();
    await c2.put("k/2").value("leased-again").lease(ttl);
    c2.close();
    const later = await contents(p.endpoint);
    await p.stop("SIGKILL");
    assert.match(await reopen(), /^checkpoint at revision \d+$/);
    assert.deepEqual(await contents(p.endpoint), later);
    const c3 = new Etcd3({ hosts: p.endpoint });
    try {
      const r = await c3.leaseClient.leaseTimeToLive({ ID: ttl, keys: true });
      assert.deepEqual(
        r.keys.map((k) => k.toString()),
        ["k/2"],
      );
    } finally {
      c3.close();
    }
  } finally {
    await p.stop();
  }
});
