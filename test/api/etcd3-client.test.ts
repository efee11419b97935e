// The npm etcd3 client (grpc-js underneath) against the API over real gRPC.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Etcd3, EtcdLeaseInvalidError, GRPCOutOfRangeError } from "etcd3";
import { type Harness, startHarness, waitFor } from "./helpers.ts";

let h: Harness;
let client: Etcd3;

before(async () => {
  h = await startHarness();
  client = new Etcd3({ hosts: h.server.url });
});

after(async () => {
  client.close();
  await h.close();
});

test("etcd3 client puts, gets, ranges over a prefix and deletes", async () => {
  await client.put("fruit/apple").value("red");
  await client.put("fruit/banana").value("yellow");
  await client.put("veg/carrot").value("orange");
  assert.equal(await client.get("fruit/apple").string(), "red");
  assert.deepEqual(await client.getAll().prefix("fruit/").strings(), {
    "fruit/apple": "red",
    "fruit/banana": "yellow",
  });
  assert.equal(await client.getAll().prefix("fruit/").count(), 2);
  await client.delete().key("fruit/apple");
  assert.equal(await client.get("fruit/apple").string(), null);
  const deleted = await client.delete().prefix("fruit/").exec();
  assert.equal(deleted.deleted, "1");
});

test("etcd3 client runs a compare-and-swap txn on both branches", async () => {
  await client.put("cas").value("v1");
  const won = await client.if("cas", "Value", "==", "v1").then(client.put("cas").value("v2")).commit();
  assert.equal(won.succeeded, true);
  const lost = await client
    .if("cas", "Value", "==", "v1")
    .then(client.put("cas").value("never"))
    .else(client.get("cas"))
    .commit();
  assert.equal(lost.succeeded, false);
  assert.equal(Buffer.from(lost.responses[0]?.response_range?.kvs[0]?.value ?? "").toString(), "v2");
});

test("etcd3 client watch receives put and delete events for its key", async () => {
  const watcher = await client.watch().key("watched").create();
  const seen: string[] = [];
  watcher.on("put", (kv) => seen.push(`put ${kv.value.toString()}`));
  watcher.on("delete", () => seen.push("delete"));
  await client.put("watched").value("one");
  await client.put("other").value("ignored");
  await client.delete().key("watched");
  await waitFor(() => seen.length === 2, "two watch events");
  assert.deepEqual(seen, ["put one", "delete"]);
  await watcher.cancel();
  await waitFor(() => h.backend.hub.size === 0, "the backend watcher to be cancelled");
});

test("etcd3 client grants a lease, attaches a key, keeps it alive and revokes it", async () => {
  const lease = client.lease(30, { autoKeepAlive: false });
  await lease.put("leased").value("x");
  const id = await lease.grant();
  const ttl = await client.get("leased").exec();
  assert.equal(ttl.kvs[0]?.lease, id);
  const keepalive = await lease.keepaliveOnce();
  assert.equal(keepalive.TTL, "30");
  const leases = await client.leaseClient.leaseLeases();
  assert.deepEqual(
    leases.leases.map((l) => l.ID),
    [id],
  );
  await lease.revoke();
  assert.equal(await client.get("leased").string(), null);
});

test("etcd3 client maps lease-not-found and compacted errors like etcd", async () => {
  await assert.rejects(client.put("k").value("v").lease("999").exec(), EtcdLeaseInvalidError);
  await client.put("k").value("v");
  const rev = Number(h.backend.revision);
  await client.put("k").value("w");
  await h.backend.compact({
    $typeName: "etcdserverpb.CompactionRequest",
    revision: BigInt(rev + 1),
    physical: false,
  });
  await assert.rejects(client.get("k").revision(rev).string(), (err: Error) => {
    assert.ok(err instanceof GRPCOutOfRangeError, `got ${err.constructor.name}`);
    assert.match(err.message, /etcdserver: mvcc: required revision has been compacted/);
    return true;
  });
});
