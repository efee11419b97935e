// The Election and Lock services on a real floe process: gRPC (a Connect
// client with the generated v3electionpb / v3lockpb descriptors) and the JSON
// gateway, leadership handed on by Resign and by lease expiry, and auth
// applied to the steps the services take on the caller's behalf.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as pb from "../../src/api/gen/etcdserverpb/rpc_pb.ts";
import { Election } from "../../src/api/gen/v3electionpb/v3election_pb.ts";
import { Lock } from "../../src/api/gen/v3lockpb/v3lock_pb.ts";
import { type FloeProcess, startFloe } from "./floe-process.ts";

let floe: FloeProcess;
let transport: ReturnType<typeof createGrpcTransport>;

before(async () => {
  floe = await startFloe();
  transport = createGrpcTransport({ baseUrl: floe.endpoint });
});
after(async () => {
  await floe?.stop();
});

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined) => new TextDecoder().decode(b);
const b64 = (s: string) => Buffer.from(s).toString("base64");

async function settlesWithin<T>(p: Promise<T>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  const settled = p.then(
    () => true,
    () => true,
  );
  const r = await Promise.race([settled, timeout]);
  clearTimeout(timer);
  return r;
}

async function post(path: string, body: unknown, token?: string): Promise<{ status: number; text: string }> {
  const r = await fetch(`${floe.endpoint}${path}`, {
    method: "POST",
    headers: token === undefined ? {} : { authorization: token },
    body: JSON.stringify(body),
  });
  return { status: r.status, text: await r.text() };
}

test("two campaigners on a real member: the second leads only after the first resigns", async () => {
  const election = createClient(Election, transport);
  const first = (await election.campaign({ name: enc("it-e"), value: enc("one") })).leader;
  assert.ok(first !== undefined);
  const second = election.campaign({ name: enc("it-e"), value: enc("two") });
  assert.equal(await settlesWithin(second, 300), false, "the second campaigner waits");
  await election.proclaim({ leader: first, value: enc("one'") });
  assert.equal(dec((await election.leader({ name: enc("it-e") })).kv?.value), "one'");
  await election.resign({ leader: first });
  const won = (await second).leader;
  assert.ok(won !== undefined && won.rev > first.rev);
  assert.equal(dec((await election.leader({ name: enc("it-e") })).kv?.value), "two");
  await election.resign({ leader: won });
  await assert.rejects(election.leader({ name: enc("it-e") }), (e: unknown) => {
    assert.ok(e instanceof ConnectError);
    assert.equal(e.code, Code.Unknown);
    assert.equal(e.rawMessage, "election: no leader");
    return true;
  });
});

test("when the leader's lease expires the next campaigner leads, and Observe reports it", async () => {
  const election = createClient(Election, transport);
  const lease = createClient(pb.Lease, transport);
  const short = (await lease.leaseGrant({ TTL: 1n })).ID;
  await election.campaign({ name: enc("it-x"), lease: short, value: enc("brief") });
  const abort = new AbortController();
  const seen: string[] = [];
  const observing = (async () => {
    try {
      for await (const r of election.observe({ name: enc("it-x") }, { signal: abort.signal })) {
        seen.push(dec(r.kv?.value));
      }
    } catch (e) {
      if (!abort.signal.aborted) throw e;
    }
  })();
  const next = (await election.campaign({ name: enc("it-x"), value: enc("lasting") })).leader;
  assert.ok(next !== undefined);
  const deadline = Date.now() + 10_000;
  while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  abort.abort();
  await observing;
  assert.deepEqual(seen, ["brief", "lasting"]);
});

test("Lock and Unlock on a real member over gRPC and the gateway", async () => {
  const lock = createClient(Lock, transport);
  const held = await lock.lock({ name: enc("it-m") });
  const viaGateway = post("/v3/lock/lock", { name: b64("it-m") });
  assert.equal(await settlesWithin(viaGateway, 300), false, "the gateway's locker waits");
  await lock.unlock({ key: held.key });
  const got = await viaGateway;
  assert.equal(got.status, 200);
  const key = (JSON.parse(got.text) as { key: string }).key;
  assert.match(Buffer.from(key, "base64").toString(), /^it-m\/[0-9a-f]+$/);
  assert.equal((await post("/v3beta/lock/unlock", { key })).status, 200);
});

test("with auth on, a campaign runs with the caller's permissions", async () => {
  const ok = async (path: string, body: unknown, token?: string) => {
    const r = await post(path, body, token);
    assert.equal(r.status, 200, `${path}: ${r.text}`);
    return JSON.parse(r.text) as Record<string, unknown>;
  };
  await ok("/v3/auth/user/add", { name: "root", password: "rootpw" });
  await ok("/v3/auth/role/add", { name: "root" });
  await ok("/v3/auth/user/grant", { user: "root", role: "root" });
  await ok("/v3/auth/role/add", { name: "voter" });
  await ok("/v3/auth/role/grant", {
    name: "voter",
    perm: { permType: "READWRITE", key: b64("vote/"), range_end: b64("vote0") },
  });
  await ok("/v3/auth/user/add", { name: "alice", password: "alicepw" });
  await ok("/v3/auth/user/grant", { user: "alice", role: "voter" });
  await ok("/v3/auth/enable", {});
  try {
    const alice = (await ok("/v3/auth/authenticate", { name: "alice", password: "alicepw" })).token as string;
    const campaign = await ok("/v3/election/campaign", { name: b64("vote"), value: b64("a") }, alice);
    assert.match(Buffer.from((campaign.leader as { key: string }).key, "base64").toString(), /^vote\//);
    const denied = await post("/v3/election/campaign", { name: b64("elsewhere"), value: b64("a") }, alice);
    assert.deepEqual(
      { status: denied.status, body: JSON.parse(denied.text) },
      {
        status: 500,
        body: {
          error: "etcdserver: permission denied",
          message: "etcdserver: permission denied",
          code: 2,
        },
      },
    );
    const anonymous = await post("/v3/lock/lock", { name: b64("vote") });
    assert.equal(JSON.parse(anonymous.text).message, "etcdserver: user name is empty");
  } finally {
    const root = (await ok("/v3/auth/authenticate", { name: "root", password: "rootpw" })).token as string;
    await ok("/v3/auth/disable", {}, root);
  }
});
