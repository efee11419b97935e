// Disaster recovery when a majority is permanently lost: a survivor's data
// directory becomes a new one-member cluster, which then grows again.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { ROOT } from "../integration/floe-process.ts";
import { LocalCluster, until } from "./local.ts";

test("floe snapshot restore turns a survivor's data dir into a new cluster with every acknowledged key, and a new member joins it", async () => {
  const old = new LocalCluster();
  const fresh = new LocalCluster();
  try {
    for (const n of ["a", "b", "c"]) await old.addMember(n);
    await old.startAll();
    const [a, b, c] = old.members;
    for (let i = 0; i < 30; i++) await old.client(a).put(`key-${i}`).value(`value-${i}`);
    // The majority is lost for good; the survivor is stopped too.
    await old.kill(a);
    await old.kill(b);
    await old.kill(c, "SIGTERM");
    const r = await fresh.addMember("r");
    const out = execFileSync(
      process.execPath,
      [
        "bin/floe.js",
        "snapshot",
        "restore",
        c.dataDir,
        "--data-dir",
        r.dataDir,
        "--name",
        "r",
        "--initial-advertise-peer-urls",
        `http://127.0.0.1:${r.peerPort}`,
        "--advertise-client-urls",
        `http://127.0.0.1:${r.clientPort}`,
      ],
      { cwd: ROOT, encoding: "utf8" },
    );
    assert.match(out, /restored .* into /);
    fresh.start(r);
    await fresh.waitLeader([r]);
    for (let i = 0; i < 30; i++) assert.equal(await fresh.client(r).get(`key-${i}`).string(), `value-${i}`);
    const members = (await fresh.client(r).cluster.memberList({})).members;
    assert.deepEqual(
      members.map((m) => m.name),
      ["r"],
    );
    // The restored cluster grows: a new member catches up from its snapshot.
    const s = await fresh.addMember("s");
    await fresh.client(r).cluster.memberAdd({ peerURLs: [`http://127.0.0.1:${s.peerPort}`] });
    fresh.start(s, { state: "existing" });
    await until("the new member to serve the restored keys", async () =>
      (await fresh.client(s).get("key-29").serializable(true).string()) === "value-29" ? true : undefined,
    );
    await fresh.client(s).put("after").value("restore");
    assert.equal(await fresh.client(r).get("after").string(), "restore");
  } finally {
    await old.close();
    await fresh.close();
  }
});
