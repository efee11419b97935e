// The Election and Lock services (v3electionpb, v3lockpb) over gRPC and the
// JSON gateway, in front of the fake backend: etcd 3.4's keys, revisions,
// waiting order, cancellation clean-up and error codes and texts.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as pb from "../../src/api/gen/etcdserverpb/rpc_pb.ts";
import { Election, type LeaderResponse } from "../../src/api/gen/v3electionpb/v3election_pb.ts";
import { Lock } from "../../src/api/gen/v3lockpb/v3lock_pb.ts";
import { b64, type Harness, startHarness, unb64, waitFor } from "./helpers.ts";

let h: Harness;
let transport: ReturnType<typeof createGrpcTransport>;

before(async () => {
  h = await startHarness();
  transport = createGrpcTransport({ baseUrl: h.server.url });
});
after(() => h.close());

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined) => new TextDecoder().decode(b);
const MISSING_LEADER = '"leader" field must be provided';

async function rejectsWith(p: Promise<unknown>, code: Code, message: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ConnectError, `expected a ConnectError, got ${String(err)}`);
    assert.equal(Code[err.code], Code[code]);
    assert.equal(err.rawMessage, message);
    return true;
  });
}

async function post(path: string, body: unknown): Promise<{ status: number; text: string }> {
  const r = await fetch(`${h.server.url}${path}`, { method: "POST", body: JSON.stringify(body) });
  return { status: r.status, text: await r.text() };
}

/** Whether `p` is still pending after the server had the chance to act on everything queued. */
async function pending(p: Promise<unknown>): Promise<boolean> {
  const marker = Symbol("pending");
  const first = await Promise.race([p.then(() => "settled").catch(() => "settled"), immediate(marker)]);
  return first === marker;
}
const immediate = <T>(v: T) => new Promise<T>((r) => setTimeout(() => r(v), 50));

const kv = () => createClient(pb.KV, transport);
async function valueAt(key: Uint8Array): Promise<string | undefined> {
  const r = await kv().range({ key });
  return r.kvs[0] === undefined ? undefined : dec(r.kvs[0].value);
}

test("Campaign without a lease grants a 60 s session lease and answers the LeaderKey <name>/<lease hex> at its create revision", async () => {
  const election = createClient(Election, transport);
  const resp = await election.campaign({ name: enc("e1"), value: enc("v1") });
  const leader = resp.leader;
  assert.ok(leader !== undefined);
  assert.equal(dec(leader.name), "e1");
  assert.notEqual(leader.lease, 0n);
  assert.equal(dec(leader.key), `e1/${leader.lease.toString(16)}`);
  assert.equal(leader.rev, resp.header?.revision);
  const ttl = await createClient(pb.Lease, transport).leaseTimeToLive({ ID: leader.lease });
  assert.equal(ttl.grantedTTL, 60n);

  const current = await election.leader({ name: enc("e1") });
  assert.equal(dec(current.kv?.key), dec(leader.key));
  assert.equal(dec(current.kv?.value), "v1");
  assert.equal(current.kv?.lease, leader.lease);
  assert.equal(current.kv?.createRevision, leader.rev);
});

test("a second campaigner becomes leader only after the first resigns; Proclaim updates only the leader's value", async () => {
  const election = createClient(Election, transport);
  const lease = createClient(pb.Lease, transport);
  const l1 = (await lease.leaseGrant({ TTL: 30n })).ID;
  const l2 = (await lease.leaseGrant({ TTL: 30n })).ID;
  const first = (await election.campaign({ name: enc("e2"), lease: l1, value: enc("a") })).leader;
  assert.ok(first !== undefined);
  assert.equal(first.lease, l1);

  const watchersBefore = h.backend.hub.size;
  const second = election.campaign({ name: enc("e2"), lease: l2, value: enc("b") });
  await waitFor(() => h.backend.hub.size > watchersBefore, "the second campaigner to watch the first's key");
  assert.equal(await pending(second), true, "the second campaigner waits while the first leads");

  await election.proclaim({ leader: first, value: enc("a2") });
  assert.equal(await valueAt(first.key), "a2");
  assert.equal(dec((await election.leader({ name: enc("e2") })).kv?.value), "a2");
  assert.equal(await pending(second), true, "a proclamation does not end the wait");

  const resigned = await election.resign({ leader: first });
  assert.ok((resigned.header?.revision ?? 0n) > first.rev);
  const won = (await second).leader;
  assert.ok(won !== undefined);
  assert.equal(dec(won.key), `e2/${l2.toString(16)}`);
  assert.ok(won.rev > first.rev);
  assert.equal(await valueAt(first.key), undefined);
  assert.equal(dec((await election.leader({ name: enc("e2") })).kv?.value), "b");
  await waitFor(() => h.backend.hub.size === watchersBefore, "the waiter's watch to be released");

  // the old LeaderKey no longer proves leadership
  await rejectsWith(
    election.proclaim({ leader: first, value: enc("x") }),
    Code.Unknown,
    "election: not leader",
  );
  await election.resign({ leader: first }); // resigning again changes nothing and is no error
  assert.equal(await valueAt(won.key), "b");
});

test("campaigning again with the same lease takes over its own key and proclaims the new value", async () => {
  const election = createClient(Election, transport);
  const l = (await createClient(pb.Lease, transport).leaseGrant({ TTL: 30n })).ID;
  const a = (await election.campaign({ name: enc("e3"), lease: l, value: enc("one") })).leader;
  const b = (await election.campaign({ name: enc("e3"), lease: l, value: enc("two") })).leader;
  assert.deepEqual(b?.key, a?.key);
  assert.equal(b?.rev, a?.rev);
  assert.equal(await valueAt(a?.key ?? new Uint8Array()), "two");
});

test("Leader of an election without candidates, and member errors inside a campaign, are UNKNOWN with etcd's text", async () => {
  const election = createClient(Election, transport);
  await rejectsWith(election.leader({ name: enc("nobody") }), Code.Unknown, "election: no leader");
  await rejectsWith(
    election.campaign({ name: enc("e4"), lease: 0x7777n, value: enc("v") }),
    Code.Unknown,
    "etcdserver: requested lease not found",
  );
});

test("Proclaim and Resign without a leader field fail with etcd's error over gRPC", async () => {
  const election = createClient(Election, transport);
  await rejectsWith(election.proclaim({ value: enc("v2") }), Code.Unknown, MISSING_LEADER);
  await rejectsWith(election.resign({}), Code.Unknown, MISSING_LEADER);
});

test("the gateway answers a missing leader field with etcd's exact body under /v3 and /v3beta", async () => {
  const want = `{"error":"\\"leader\\" field must be provided","message":"\\"leader\\" field must be provided","code":2}`;
  for (const prefix of ["/v3", "/v3beta"]) {
    const proclaim = await post(`${prefix}/election/proclaim`, { value: b64("v2") });
    assert.deepEqual(proclaim, { status: 500, text: want });
    const resign = await post(`${prefix}/election/resign`, {});
    assert.deepEqual(resign, { status: 500, text: want });
  }
});

test("the gateway campaigns, proclaims, reads the leader and resigns with base64 bytes and int64 strings", async () => {
  for (const prefix of ["/v3", "/v3beta"]) {
    const name = `/election-prefix${prefix}`;
    const campaign = await post(`${prefix}/election/campaign`, { name: b64(name), value: b64("v1") });
    assert.equal(campaign.status, 200);
    assert.match(campaign.text, /"leader":\{"name":"/);
    const leader = (JSON.parse(campaign.text) as { leader: Record<string, string> }).leader;
    assert.equal(unb64(leader.name as string), name);
    assert.equal(unb64(leader.key as string), `${name}/${BigInt(leader.lease as string).toString(16)}`);
    assert.match(leader.rev as string, /^\d+$/);

    const proclaim = await post(`${prefix}/election/proclaim`, { leader, value: b64("v2") });
    assert.equal(proclaim.status, 200);
    assert.match(proclaim.text, /"revision":/);
    const current = await post(`${prefix}/election/leader`, { name: b64(name) });
    assert.equal(unb64((JSON.parse(current.text) as { kv: { value: string } }).kv.value), "v2");
    assert.equal((await post(`${prefix}/election/resign`, { leader })).status, 200);
    const none = await post(`${prefix}/election/leader`, { name: b64(name) });
    assert.deepEqual(none, {
      status: 500,
      text: '{"error":"election: no leader","message":"election: no leader","code":2}',
    });
  }
});

test("Observe streams the leader, its proclamations, and the next leader once it resigns", async () => {
  const election = createClient(Election, transport);
  const lease = createClient(pb.Lease, transport);
  const l1 = (await lease.leaseGrant({ TTL: 30n })).ID;
  const l2 = (await lease.leaseGrant({ TTL: 30n })).ID;
  const abort = new AbortController();
  const seen: LeaderResponse[] = [];
  const observing = (async () => {
    try {
      for await (const r of election.observe({ name: enc("e5") }, { signal: abort.signal })) seen.push(r);
    } catch (e) {
      if (!abort.signal.aborted) throw e;
    }
  })();
  // no leader yet: the first put under the prefix is the first answer
  const first = (await election.campaign({ name: enc("e5"), lease: l1, value: enc("a") })).leader;
  assert.ok(first !== undefined);
  await waitFor(() => seen.length >= 1, "the first leader");
  await election.proclaim({ leader: first, value: enc("a2") });
  await waitFor(() => seen.length >= 2, "the proclamation");
  const second = election.campaign({ name: enc("e5"), lease: l2, value: enc("b") });
  await election.resign({ leader: first });
  await second;
  await waitFor(() => seen.length >= 3, "the next leader");
  abort.abort();
  await observing;
  assert.deepEqual(
    seen.map((r) => [dec(r.kv?.key), dec(r.kv?.value)]),
    [
      [`e5/${l1.toString(16)}`, "a"],
      [`e5/${l1.toString(16)}`, "a2"],
      [`e5/${l2.toString(16)}`, "b"],
    ],
  );
  assert.equal(seen[0]?.header?.revision, first.rev);
  assert.equal(seen[1]?.header?.revision, seen[1]?.kv?.modRevision);
});

test("a campaigner that goes away while waiting resigns: its key is deleted and its watch released", async () => {
  const election = createClient(Election, transport);
  const lease = createClient(pb.Lease, transport);
  const l1 = (await lease.leaseGrant({ TTL: 30n })).ID;
  const l2 = (await lease.leaseGrant({ TTL: 30n })).ID;
  await election.campaign({ name: enc("e6"), lease: l1, value: enc("a") });
  const watchersBefore = h.backend.hub.size;
  const abort = new AbortController();
  const waiting = election.campaign(
    { name: enc("e6"), lease: l2, value: enc("b") },
    { signal: abort.signal },
  );
  const key2 = enc(`e6/${l2.toString(16)}`);
  await waitFor(() => h.backend.hub.size > watchersBefore, "the second campaigner to wait");
  assert.equal(await valueAt(key2), "b");
  abort.abort();
  await assert.rejects(waiting);
  await waitFor(() => h.backend.hub.size === watchersBefore, "the waiter's watch to be released");
  for (let i = 0; i < 100 && (await valueAt(key2)) !== undefined; i++) await immediate(undefined);
  assert.equal(await valueAt(key2), undefined);
  assert.equal(dec((await election.leader({ name: enc("e6") })).kv?.value), "a");
});

test("Lock is held by the oldest waiter; locking again with one lease is one acquisition; Unlock hands it on", async () => {
  const lock = createClient(Lock, transport);
  const lease = createClient(pb.Lease, transport);
  const l1 = (await lease.leaseGrant({ TTL: 30n })).ID;
  const l2 = (await lease.leaseGrant({ TTL: 30n })).ID;
  const held = await lock.lock({ name: enc("m1"), lease: l1 });
  assert.equal(dec(held.key), `m1/${l1.toString(16)}`);
  assert.deepEqual((await lock.lock({ name: enc("m1"), lease: l1 })).key, held.key);

  const next = lock.lock({ name: enc("m1"), lease: l2 });
  assert.equal(await pending(next), true, "the second locker waits");
  const unlocked = await lock.unlock({ key: held.key });
  assert.ok((unlocked.header?.revision ?? 0n) > 0n);
  const got = await next;
  assert.equal(dec(got.key), `m1/${l2.toString(16)}`);
  assert.ok((got.header?.revision ?? 0n) >= (unlocked.header?.revision ?? 0n));
  assert.equal(await valueAt(held.key), undefined);
  await lock.unlock({ key: got.key });
});

test("Lock without a lease grants a session lease; a locker that goes away deletes its key", async () => {
  const lock = createClient(Lock, transport);
  const held = await lock.lock({ name: enc("m2") });
  const leaseHex = dec(held.key).slice("m2/".length);
  const ttl = await createClient(pb.Lease, transport).leaseTimeToLive({ ID: BigInt(`0x${leaseHex}`) });
  assert.equal(ttl.grantedTTL, 60n);

  const abort = new AbortController();
  const waiting = lock.lock({ name: enc("m2") }, { signal: abort.signal });
  assert.equal(await pending(waiting), true);
  const waiters = await kv().range({ key: enc("m2/"), rangeEnd: enc("m20") });
  assert.equal(waiters.count, 2n);
  abort.abort();
  await assert.rejects(waiting);
  for (let i = 0; i < 100; i++) {
    if ((await kv().range({ key: enc("m2/"), rangeEnd: enc("m20") })).count === 1n) break;
    await immediate(undefined);
  }
  assert.equal((await kv().range({ key: enc("m2/"), rangeEnd: enc("m20") })).count, 1n);
});

test("the gateway locks and unlocks under /v3 and /v3beta", async () => {
  for (const prefix of ["/v3", "/v3beta"]) {
    const locked = await post(`${prefix}/lock/lock`, { name: b64(`gw${prefix}`) });
    assert.equal(locked.status, 200);
    const key = (JSON.parse(locked.text) as { key: string }).key;
    assert.match(unb64(key), new RegExp(`^gw${prefix}/[0-9a-f]+$`));
    const unlocked = await post(`${prefix}/lock/unlock`, { key });
    assert.equal(unlocked.status, 200);
    assert.match(unlocked.text, /"revision":/);
    assert.equal(await valueAt(Buffer.from(key, "base64")), undefined);
  }
});

test("gRPC metrics name the election and lock services with their own packages", async () => {
  await createClient(Lock, transport).unlock({ key: enc("metrics-key") });
  const text = await (await fetch(`${h.server.url}/metrics`)).text();
  assert.match(text, /grpc_server_handled_total\{[^}]*grpc_service="v3lockpb\.Lock"/);
});
