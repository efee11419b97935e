// --experimental-initial-corrupt-check on a real cluster: a restarted member
// asks its peers for their key space hash over the peer port before it serves.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { LocalCluster, until } from "./local.ts";

const clusters: LocalCluster[] = [];
after(async () => {
  for (const c of clusters) await c.close();
});

test("a member restarted with --experimental-initial-corrupt-check compares its hash with both peers and serves", async () => {
  const c = new LocalCluster(["--experimental-initial-corrupt-check"]);
  clusters.push(c);
  for (const n of ["a", "b", "c"]) await c.addMember(n);
  await c.startAll();
  try {
    const leader = await c.waitLeader();
    for (let i = 0; i < 20; i++) await c.client(leader).put(`k${i}`).value(String(i));
    const follower = c.members.find((m) => m !== leader);
    assert.ok(follower);
    // quiet cluster: every member at the same revision before the restart
    await until("all members applied the writes", async () => {
      const revs = await Promise.all(
        c.members.map(async (m) => (await c.client(m).get("k0").exec()).header.revision),
      );
      return new Set(revs).size === 1 ? true : undefined;
    });
    await c.kill(follower, "SIGTERM");
    c.start(follower);
    await until("the restarted member logs its check", async () =>
      /initial corruption check done/.test(follower.log) ? true : undefined,
    );
    const line = follower.log.split("\n").find((l) => l.includes("initial corruption check done")) ?? "";
    assert.equal(JSON.parse(line).matched.length, 2, line);
    // Right after a restart the member may not know the leader yet: a
    // linearizable read is then refused with "no leader" (retryable, as
    // etcd's "leader changed" is), so the read is retried until it is served.
    const served = await until(
      "the restarted member serves a linearizable read",
      async () => (await c.client(follower).get("k19").string()) ?? undefined,
    );
    assert.equal(served, "19");
  } catch (e) {
    console.error(c.logs());
    throw e;
  }
});
