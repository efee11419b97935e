// Real multi-member clusters: replication, follower reads, membership
// changes, leadership transfer, failover after kill -9, snapshot catch-up.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { LocalCluster, type Member, until } from "./local.ts";

const clusters: LocalCluster[] = [];
after(async () => {
  for (const c of clusters) await c.close();
});

async function threeMembers(extra: string[] = []): Promise<LocalCluster> {
  const c = new LocalCluster(extra);
  clusters.push(c);
  for (const n of ["a", "b", "c"]) await c.addMember(n);
  await c.startAll();
  return c;
}

/** HashKV of every member at one revision, over the JSON gateway (the etcd3 client lacks HashKV). */
async function hashes(c: LocalCluster, members: Member[]): Promise<string[]> {
  const rev = (await c.client(members[0]).get("zz-any").exec()).header.revision;
  return Promise.all(
    members.map(async (m) => {
      const r = await fetch(`http://${m.endpoint}/v3/maintenance/hashkv`, {
        method: "POST",
        body: JSON.stringify({ revision: rev }),
      });
      const body = (await r.json()) as { hash?: string | number };
      if (!r.ok || body.hash === undefined) throw new Error(`hashkv on ${m.name}: ${JSON.stringify(body)}`);
      return String(body.hash);
    }),
  );
}

test("a 3-member cluster takes writes on any member and serves linearizable reads on followers", async () => {
  const c = await threeMembers();
  try {
    const leader = await c.waitLeader();
    const followers = c.members.filter((m) => m !== leader);
    await c.client(followers[0]).put("k1").value("from-follower");
    await c.client(leader).put("k2").value("from-leader");
    // Linearizable read on the other follower, right after the write was acknowledged elsewhere.
    assert.equal(await c.client(followers[1]).get("k1").string(), "from-follower");
    assert.equal(await c.client(followers[1]).get("k2").string(), "from-leader");
    // each member publishes its client URL through the log once it runs (etcd's publish), soon after start
    const list = await until("every member's client URL published", async () => {
      const l = await c.client(followers[1]).cluster.memberList({});
      return l.members.every((m) => m.clientURLs.length === 1) ? l : undefined;
    });
    assert.deepEqual(list.members.map((m) => m.name).sort(), ["a", "b", "c"]);
    for (const m of list.members) {
      const own = c.members.find((x) => x.name === m.name);
      assert.deepEqual(m.clientURLs, [`http://127.0.0.1:${own?.clientPort}`], `client URL of ${m.name}`);
    }
    const st = await Promise.all(c.members.map((m) => c.client(m).maintenance.status()));
    assert.equal(new Set(st.map((s) => s.leader)).size, 1);
    assert.equal(new Set(st.map((s) => s.header.cluster_id)).size, 1);
  } finally {
    await c.close();
  }
});

test("a learner joins an existing cluster from a snapshot, is promoted, takes the leadership, and leaves when removed", async () => {
  const c = await threeMembers(["--snapshot-count", "20"]);
  try {
    const a = c.members[0];
    for (let i = 0; i < 60; i++) await c.client(a).put(`pre-${i}`).value(`v${i}`);
    const d = await c.addMember("d");
    const added = await c
      .client(a)
      .cluster.memberAdd({ peerURLs: [`http://127.0.0.1:${d.peerPort}`], isLearner: true });
    assert.equal(added.member.isLearner, true);
    c.start(d, { state: "existing" });
    await until("the learner to serve the data", async () =>
      (await c.client(d).get("pre-59").serializable(true).string()) === "v59" ? true : undefined,
    );
    assert.match(d.log, /snapshot-restored/);
    await until("promotion", async () => {
      await c.client(a).cluster.memberPromote({ ID: added.member.ID });
      return true;
    });
    const list = await c.client(a).cluster.memberList({});
    assert.equal(list.members.find((m) => m.ID === added.member.ID)?.isLearner, false);
    assert.equal(list.members.find((m) => m.ID === added.member.ID)?.name, "d");
    const leader = await c.waitLeader();
    await c.client(leader).maintenance.moveLeader({ targetID: added.member.ID });
    assert.equal((await c.waitLeader()).name, "d");
    await c.client(d).put("after-move").value("ok");
    // Removing the leader: it steps down, the others elect a new leader, and it stops.
    await c.client(a).cluster.memberRemove({ ID: added.member.ID });
    await until("the removed member to exit", async () => (d.proc?.exitCode !== null ? true : undefined));
    const next = await c.waitLeader(c.members.filter((m) => m !== d));
    assert.notEqual(next.name, "d");
    assert.equal(await c.client(next).get("after-move").string(), "ok");
    const names = (await c.client(next).cluster.memberList({})).members.map((m) => m.name).sort();
    assert.deepEqual(names, ["a", "b", "c"]);
  } finally {
    await c.close();
  }
});

test("after kill -9 of the leader a new leader serves, acknowledged writes survive, and the restarted member converges", async () => {
  const c = await threeMembers(["--snapshot-count", "30"]);
  try {
    const leader = await c.waitLeader();
    const other = c.members.find((m) => m !== leader) as Member;
    const acked: string[] = [];
    for (let i = 0; i < 40; i++) {
      await c.client(other).put(`k${i}`).value(`v${i}`);
      acked.push(`k${i}`);
    }
    await c.kill(leader, "SIGKILL");
    const next = await c.waitLeader(c.running());
    assert.notEqual(next.name, leader.name);
    // Writes go on while the old leader is down (its log falls behind a snapshot).
    for (let i = 40; i < 120; i++) {
      await c.client(next).put(`k${i}`).value(`v${i}`);
      acked.push(`k${i}`);
    }
    c.start(leader);
    await until("the restarted member to catch up", async () =>
      (await c.client(leader).get("k119").serializable(true).string()) === "v119" ? true : undefined,
    );
    for (const k of acked) assert.equal(await c.client(leader).get(k).string(), `v${k.slice(1)}`);
    await until("equal HashKV on all members", async () => {
      const h = await hashes(c, c.members);
      return new Set(h).size === 1 ? true : undefined;
    });
  } finally {
    await c.close();
  }
});

test("a minority member refuses linearizable reads and writes with etcd's errors, and serves serializable reads", async () => {
  const c = await threeMembers();
  try {
    await c.client(c.members[0]).put("x").value("1");
    const [a, b, lone] = c.members;
    await until("x everywhere", async () =>
      (await c.client(lone).get("x").serializable(true).string()) === "1" ? true : undefined,
    );
    await c.kill(a);
    await c.kill(b);
    assert.equal(await c.client(lone).get("x").serializable(true).string(), "1");
    const err = await c
      .client(lone)
      .put("y")
      .value("2")
      .exec()
      .then(
        () => undefined,
        (e: Error) => e,
      );
    assert.ok(err, "a write without a quorum must fail");
    assert.match(String(err?.message), /timed out|no leader|leader/i);
  } finally {
    await c.close();
  }
});

test("leases work through a follower: keepalive and time-to-live are relayed to the leader, expiry deletes keys everywhere", async () => {
  const c = await threeMembers();
  try {
    const leader = await c.waitLeader();
    const follower = c.members.find((m) => m !== leader) as Member;
    const client = c.client(follower);
    const kept = client.lease(2, { autoKeepAlive: false });
    await kept.grant();
    await kept.put("kept").value("1");
    const short = client.lease(2, { autoKeepAlive: false });
    await short.grant();
    await short.put("short").value("1");
    // Keep one alive by hand through the follower for longer than its TTL.
    const until4s = Date.now() + 4000;
    while (Date.now() < until4s) {
      await kept.keepaliveOnce();
      await new Promise((r) => setTimeout(r, 300));
    }
    const ttl = Number((await client.leaseClient.leaseTimeToLive({ ID: await kept.grant() })).TTL);
    assert.ok(ttl > 0 && ttl <= 2, `remaining TTL ${ttl}`);
    for (const m of c.members) {
      await until(`expiry of the unrenewed lease on ${m.name}`, async () =>
        (await c.client(m).get("short").serializable(true).string()) === null ? true : undefined,
      );
      assert.equal(await c.client(m).get("kept").string(), "1");
    }
    await kept.revoke();
    assert.equal(await c.client(leader).get("kept").string(), null);
  } finally {
    await c.close();
  }
});

test("a DeleteRange of 12,001 keys applies on every member, and a member that fell behind installs a snapshot of more than 10,000 records", async () => {
  const c = await threeMembers(["--snapshot-count", "500"]);
  try {
    const leader = await c.waitLeader();
    const behind = c.members.find((m) => m !== leader) as Member;
    const client = c.client(leader);
    const n = 12_001;
    for (let i = 0; i < n; i += 200) {
      await Promise.all(
        Array.from({ length: Math.min(200, n - i) }, (_, j) => client.put(`big/${i + j}`).value("v")),
      );
    }
    await c.kill(behind);
    assert.equal(
      Number(
        await client
          .delete()
          .prefix("big/")
          .exec()
          .then((r) => r.deleted),
      ),
      n,
    );
    // More than the 1000 entries the log keeps behind a snapshot: the member needs the snapshot.
    for (let i = 0; i < 1600; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) => client.put(`after/${i + j}`).value(String(i + j))),
      );
    }
    c.start(behind);
    await until(
      "the restarted member to catch up",
      async () =>
        (await c.client(behind).get("after/1599").serializable(true).string()) === "1599" ? true : undefined,
      60_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n--- its log:\n${behind.log.slice(-4000)}`);
    });
    assert.match(behind.log, /snapshot-restored/);
    assert.equal(await c.client(behind).getAll().prefix("big/").count(), 0);
    for (const m of c.members) assert.equal(m.proc?.exitCode, null, `${m.name} is still running`);
  } finally {
    await c.close();
  }
});
