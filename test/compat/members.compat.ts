// The compatibility tier, cluster side: Debian's etcdctl changes the
// membership of a 3-member floe cluster (member list / add --learner /
// promote / remove) and moves its leadership, as an operator would.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, test } from "node:test";
import { LocalCluster, type Member, until } from "../cluster/local.ts";

let cl: LocalCluster;
let eps = "";

function etcdctl(args: string[], at = eps): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      "etcdctl",
      [`--endpoints=${at}`, ...args],
      { env: { ...process.env, ETCDCTL_API: "3" }, timeout: 30_000 },
      (e, out, err) => resolve({ code: e ? (typeof e.code === "number" ? e.code : 1) : 0, out, err }),
    );
  });
}

async function ok(args: string[], at = eps): Promise<string> {
  const r = await etcdctl(args, at);
  assert.equal(r.code, 0, `etcdctl ${args.join(" ")} failed: ${r.err}${r.out}`);
  return r.out;
}

interface Listed {
  id: string;
  name: string;
  peerUrls: string;
  clientUrls: string;
  learner: boolean;
}

/** `etcdctl member list` (simple format: id, status, name, peer URLs, client URLs, is learner). */
async function memberList(): Promise<Listed[]> {
  const out = await ok(["member", "list"]);
  return out
    .trim()
    .split("\n")
    .map((line) => line.split(", "))
    .map(([id, , name, peerUrls, clientUrls, learner]) => ({
      id: id as string,
      name: name as string,
      peerUrls: peerUrls as string,
      clientUrls: clientUrls as string,
      learner: learner === "true",
    }));
}

before(async () => {
  cl = new LocalCluster(["--snapshot-count", "50"]);
  for (const name of ["n1", "n2", "n3"]) await cl.addMember(name);
  await cl.startAll();
  eps = cl.members.map((m) => m.endpoint).join(",");
});

after(async () => {
  await cl?.close();
});

test("etcdctl member add --learner, promote, move-leader and member remove work on a 3-member cluster", async () => {
  const start = await memberList();
  assert.deepEqual(start.map((m) => m.name).sort(), ["n1", "n2", "n3"]);
  for (const m of start) assert.equal(m.learner, false);
  // data before the new member exists: it must arrive through the log or a snapshot
  for (let i = 0; i < 120; i++) await ok(["put", `before-${i}`, `v${i}`]);

  const n4: Member = await cl.addMember("n4");
  const added = await ok(["member", "add", "n4", "--learner", `--peer-urls=http://127.0.0.1:${n4.peerPort}`]);
  assert.match(added, /Member +[0-9a-f]+ added to cluster +[0-9a-f]+/);
  assert.match(added, /ETCD_INITIAL_CLUSTER_STATE="existing"/);
  cl.start(n4, { state: "existing" });

  // n4 publishes its name and client URL once it runs
  const listed = await until("n4 listed as a started learner with its client URL", async () => {
    const m = (await memberList()).find((x) => x.name === "n4");
    return m?.learner && m.clientUrls === `http://127.0.0.1:${n4.clientPort}` ? m : undefined;
  });
  const promoted = await until("the learner promoted (it must catch up first)", async () => {
    const r = await etcdctl(["member", "promote", listed.id]);
    return r.code === 0 ? r.out : undefined;
  });
  assert.match(promoted, new RegExp(`Member +${listed.id} promoted in cluster +[0-9a-f]+`));
  assert.equal((await memberList()).find((x) => x.name === "n4")?.learner, false);
  assert.equal(await ok(["get", "before-119", "--print-value-only"], n4.endpoint), "v119\n");

  const moved = await until("leadership moved to n4", async () => {
    const r = await etcdctl(["move-leader", listed.id]);
    return r.code === 0 ? r.out : undefined;
  });
  assert.match(moved, new RegExp(`Leadership transferred from [0-9a-f]+ to ${listed.id}`));
  assert.equal((await cl.waitLeader()).name, "n4");

  // removing the leader: it steps down, the others elect one, and n4 stops on its own
  const removed = await ok(["member", "remove", listed.id]);
  assert.match(removed, new RegExp(`Member +${listed.id} removed from cluster +[0-9a-f]+`));
  await until("n4 exits after its removal", async () => (n4.proc?.exitCode !== null ? true : undefined));
  const rest = cl.members.filter((m) => m !== n4);
  eps = rest.map((m) => m.endpoint).join(",");
  await cl.waitLeader(rest);
  assert.deepEqual((await memberList()).map((m) => m.name).sort(), ["n1", "n2", "n3"]);
  await ok(["put", "after", "ok"]);
  assert.equal(await ok(["get", "after", "--print-value-only"]), "ok\n");
});
