// The NOSPACE alarm on a real floe process with a 1 MiB quota, driven by the
// etcd3 client: fill up, get etcd's error, see the alarm, free space the etcd
// way (compact, defrag), stay refused until disarm, keep the alarm across a
// restart, then write again.
import assert from "node:assert/strict";
import { test } from "node:test";
import { noop } from "cockatiel";
import { AlarmAction, AlarmType, Etcd3 } from "etcd3";
import { type FloeProcess, startFloe } from "./floe-process.ts";

const QUOTA_BYTES = 1024 * 1024;
const VALUE = "x".repeat(64 * 1024);
const NO_SPACE = /etcdserver: mvcc: database space exceeded/;

// No retries or circuit breaker: the refusals are the point, not faults to ride out.
const client = (hosts: string): Etcd3 =>
  new Etcd3({ hosts, faultHandling: { host: () => noop, global: noop } });

async function alarms(c: Etcd3): Promise<string[]> {
  const r = await c.maintenance.alarm({ action: AlarmAction.Get, alarm: AlarmType.None, memberID: 0 });
  return r.alarms.map((a) => `${BigInt(a.memberID).toString(16)}:${String(a.alarm)}`);
}

async function memberHex(c: Etcd3): Promise<string> {
  return BigInt((await c.maintenance.status()).header.member_id).toString(16);
}

test("a full backend refuses writes with NOSPACE until compact, defrag and alarm disarm; the alarm survives restart", async (t) => {
  let floe: FloeProcess = await startFloe({ args: ["--quota-backend-bytes", String(QUOTA_BYTES)] });
  t.after(() => floe.stop());
  let c = client(floe.endpoint);
  t.after(() => c.close());
  const me = await memberHex(c);

  // Overwrite one key until the quota refuses: old revisions keep the space in use.
  let refused: Error | undefined;
  for (let i = 0; i < 64 && refused === undefined; i++) {
    await c
      .put("big")
      .value(`${i}:${VALUE}`)
      .catch((e: Error) => {
        refused = e;
      });
  }
  assert.ok(refused, "the quota never refused a put");
  assert.match(refused.message, NO_SPACE);
  assert.deepEqual(await alarms(c), [`${me}:Nospace`]);

  // Every write that adds data is refused; reads and deletes work.
  await assert.rejects(c.put("small").value("1").exec(), NO_SPACE);
  await assert.rejects(c.lease(60).grant(), NO_SPACE);
  await assert.rejects(c.if("big", "Version", ">", 0).then(c.put("t").value("1")).commit(), NO_SPACE);
  assert.match((await c.get("big").string()) ?? "", /^\d+:x/);
  assert.equal((await c.delete().key("nothing")).deleted, "0");

  // etcd's recovery: compact away the history, defragment. Space is free now...
  const rev = (await c.get("big").exec()).header.revision;
  await c.kv.compact({ revision: rev, physical: true });
  await c.maintenance.defragment();
  const st = await c.maintenance.status();
  assert.ok(Number(st.dbSize) < QUOTA_BYTES / 2, `dbSize ${st.dbSize} after defrag`);
  // ...but the alarm still stands, also after a restart.
  await assert.rejects(c.put("small").value("1").exec(), NO_SPACE);
  c.close();
  await floe.stop();
  floe = await startFloe({
    dataDir: floe.dataDir,
    port: floe.port,
    peerPort: floe.peerPort,
    args: ["--quota-backend-bytes", String(QUOTA_BYTES)],
    readyPath: "/version", // /health answers 503 while the alarm stands, as etcd's does
  });
  const health = await fetch(`${floe.endpoint}/health`);
  assert.equal(health.status, 503);
  assert.deepEqual(await health.json(), { health: "false" });
  assert.match(health.headers.get("x-floe-health-reason") ?? "", /NOSPACE/);
  c = client(floe.endpoint);
  assert.deepEqual(await alarms(c), [`${me}:Nospace`]);
  await assert.rejects(c.put("small").value("1").exec(), NO_SPACE);

  // Disarm (through Raft) and write again.
  const off = await c.maintenance.alarm({
    action: AlarmAction.Deactivate,
    alarm: AlarmType.Nospace,
    memberID: BigInt(`0x${me}`).toString(),
  });
  assert.equal(off.alarms.length, 1);
  assert.deepEqual(await alarms(c), []);
  await c.put("small").value("1");
  assert.equal(await c.get("small").string(), "1");
  assert.equal((await fetch(`${floe.endpoint}/health`)).status, 200);
});
