// The NOSPACE alarm in a 3-member cluster: raised through Raft by the member
// that ran out of space, seen by every member, refusing writes on every
// member, cleared through any member.
import assert from "node:assert/strict";
import { test } from "node:test";
import { noop } from "cockatiel";
import { AlarmAction, AlarmType, Etcd3 } from "etcd3";
import { LocalCluster, type Member, until } from "./local.ts";

const NO_SPACE = /etcdserver: mvcc: database space exceeded/;

test("a NOSPACE alarm raised on one member is listed by all, refuses writes on all, and is disarmed through another", async (t) => {
  const c = new LocalCluster(["--quota-backend-bytes", String(1024 * 1024)]);
  t.after(() => c.close());
  for (const n of ["a", "b", "c"]) await c.addMember(n);
  await c.startAll();
  const clients = new Map<Member, Etcd3>();
  const client = (m: Member): Etcd3 => {
    let e = clients.get(m);
    if (!e) {
      e = new Etcd3({ hosts: [m.endpoint], faultHandling: { host: () => noop, global: noop } });
      clients.set(m, e);
    }
    return e;
  };
  t.after(() => {
    for (const e of clients.values()) e.close();
  });
  const alarms = async (m: Member): Promise<string> => {
    const r = await client(m).maintenance.alarm({
      action: AlarmAction.Get,
      alarm: AlarmType.None,
      memberID: 0,
    });
    return r.alarms.map((a) => `${a.memberID}:${String(a.alarm)}`).join(",");
  };

  const leader = await c.waitLeader();
  const [f1, f2] = c.members.filter((m) => m !== leader);
  let refused: Error | undefined;
  for (let i = 0; i < 64 && refused === undefined; i++) {
    await client(f1)
      .put("big")
      .value(`${i}:`.padEnd(64 * 1024, "x"))
      .catch((e: Error) => {
        refused = e;
      });
  }
  assert.ok(refused, "the quota never refused a put");
  assert.match(refused.message, NO_SPACE);
  // The first member to pass the quota raised the alarm; every member lists the same alarms.
  const raised = await until("every member to list the alarm", async () => {
    const lists = await Promise.all(c.members.map(alarms));
    return new Set(lists).size === 1 && lists[0] !== "" ? lists[0] : undefined;
  });
  assert.match(raised, /^\d+:Nospace/);
  for (const m of c.members) await assert.rejects(client(m).put("small").value("1").exec(), NO_SPACE);

  // etcd's recovery: compact, defragment each member, disarm through another member.
  const rev = (await client(f2).get("big").exec()).header.revision;
  await client(f2).kv.compact({ revision: rev, physical: true });
  for (const m of c.members) await client(m).maintenance.defragment();
  for (const a of raised.split(",")) {
    const [memberID] = a.split(":");
    await client(f2).maintenance.alarm({
      action: AlarmAction.Deactivate,
      alarm: AlarmType.Nospace,
      memberID,
    });
  }
  await until("every member to list no alarms", async () =>
    (await Promise.all(c.members.map(alarms))).every((l) => l === "") ? true : undefined,
  );
  await client(leader).put("small").value("1");
  assert.equal(await client(f1).get("small").string(), "1");
});
