// HTTP/1.1 on the client port: /health, /version, /metrics and etcd's JSON
// gateway, with etcd's JSON shapes for results and errors.

import assert from "node:assert/strict";
import http from "node:http";
import { after, before, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { FloeError } from "../../src/api/errors.ts";
import {
  AlarmRequest_AlarmAction,
  AlarmRequestSchema,
  AlarmType,
} from "../../src/api/gen/etcdserverpb/rpc_pb.ts";
import { b64, type Harness, startHarness, unb64, waitFor } from "./helpers.ts";

let h: Harness;
before(async () => {
  h = await startHarness({ maxRequestBytes: 64 * 1024, maxGatewayBodyBytes: 256 * 1024 });
});
after(() => h.close());

/** A request over HTTP/1.1 exactly (fetch would too, but this pins the protocol). */
function request(
  path: string,
  body?: string,
  method = "POST",
): Promise<{ status: number; text: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${h.server.url}${path}`, { method, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const post = async (path: string, body: unknown) => {
  const r = await request(path, JSON.stringify(body));
  return { status: r.status, json: JSON.parse(r.text) as Record<string, unknown> };
};

test("/health reports etcd's JSON and turns 503 on an alarm", async () => {
  const ok = await request("/health", undefined, "GET");
  assert.equal(ok.status, 200);
  assert.deepEqual(JSON.parse(ok.text), { health: "true" });
  assert.equal(ok.headers["content-type"], "text/plain; charset=utf-8", "as etcd 3.4 sends it");
  assert.equal(ok.headers["x-floe-health-reason"], undefined);
  await h.backend.alarm(
    create(AlarmRequestSchema, { action: AlarmRequest_AlarmAction.ACTIVATE, alarm: AlarmType.NOSPACE }),
  );
  const bad = await request("/health", undefined, "GET");
  assert.equal(bad.status, 503);
  assert.deepEqual(JSON.parse(bad.text), { health: "false" });
  assert.equal(bad.headers["x-floe-health-reason"], "ALARM NOSPACE");
  await h.backend.alarm(create(AlarmRequestSchema, { action: AlarmRequest_AlarmAction.DEACTIVATE }));
});

test("/version claims an etcd 3.4 server and cluster", async () => {
  const r = await request("/version", undefined, "GET");
  assert.deepEqual(JSON.parse(r.text), { etcdserver: "3.4.23", etcdcluster: "3.4.0" });
});

test("/metrics serves Prometheus text with process_resident_memory_bytes and floe's request counters", async () => {
  await post("/v3/kv/range", { key: b64("x") });
  const r = await request("/metrics", undefined, "GET");
  assert.equal(r.status, 200);
  assert.match(r.headers["content-type"] ?? "", /^text\/plain/);
  assert.match(r.text, /^process_resident_memory_bytes \d+/m);
  assert.match(r.text, /^floe_api_requests_total\{protocol="gateway",method="KV.Range",code="OK"\} \d+/m);
});

test("gateway put and range use base64 bytes, int64 strings and proto field names, as etcd's gateway", async () => {
  const put = await post("/v3/kv/put", { key: b64("foo"), value: b64("bar") });
  assert.equal(put.status, 200);
  const header = put.json.header as Record<string, string>;
  assert.deepEqual(Object.keys(header), ["cluster_id", "member_id", "revision", "raft_term"]);
  assert.equal(header.cluster_id, "14841639068965178418");
  const range = await post("/v3/kv/range", { key: b64("foo") });
  const kvs = range.json.kvs as Array<Record<string, string>>;
  assert.equal(unb64(kvs[0]?.value ?? ""), "bar");
  assert.equal(kvs[0]?.create_revision, header.revision);
  assert.equal(range.json.count, "1");
  // etcd 3.4's older /v3beta prefix serves the same routes
  const beta = await post("/v3beta/kv/range", { key: b64("foo") });
  assert.equal(beta.status, 200);
  assert.equal(unb64((beta.json.kvs as Array<Record<string, string>>)[0]?.value ?? ""), "bar");
  // camelCase JSON names are accepted on input too
  const byPrefix = await post("/v3/kv/range", { key: b64("fo"), rangeEnd: b64("fp"), keys_only: true });
  assert.equal((byPrefix.json.kvs as Array<Record<string, string>>)[0]?.value, undefined);
});

test("gateway txn, deleterange, lease routes and aliases, member list and status", async () => {
  const txn = await post("/v3/kv/txn", {
    compare: [{ key: b64("foo"), result: "EQUAL", target: "VALUE", value: b64("bar") }],
    success: [{ request_put: { key: b64("foo"), value: b64("baz") } }],
  });
  assert.equal(txn.json.succeeded, true);
  const grant = await post("/v3/lease/grant", { TTL: "60" });
  assert.equal(grant.json.TTL, "60");
  const ttl = await post("/v3/kv/lease/timetolive", { ID: grant.json.ID, keys: true });
  assert.equal(ttl.json.grantedTTL, "60");
  const leases = await post("/v3/lease/leases", {});
  assert.deepEqual(leases.json.leases, [{ ID: grant.json.ID }]);
  assert.equal((await post("/v3/kv/lease/revoke", { ID: grant.json.ID })).status, 200);
  const del = await post("/v3/kv/deleterange", { key: b64("foo"), prev_kv: true });
  assert.equal(del.json.deleted, "1");
  const members = await post("/v3/cluster/member/list", {});
  assert.equal((members.json.members as Array<Record<string, unknown>>)[0]?.name, "fake");
  const status = await post("/v3/maintenance/status", {});
  assert.equal(status.json.version, "3.4.23");
});

test("gateway errors carry etcd's JSON shape and the HTTP status grpc-gateway uses", async () => {
  h.backend.failWith("range", FloeError.of("COMPACTED"));
  const compacted = await post("/v3/kv/range", { key: b64("foo"), revision: "1" });
  assert.equal(compacted.status, 400);
  const msg = "etcdserver: mvcc: required revision has been compacted";
  assert.deepEqual(compacted.json, { error: msg, code: 11, message: msg });
  h.backend.failWith("leaseRevoke", FloeError.of("LEASE_NOT_FOUND"));
  const notFound = await post("/v3/lease/revoke", { ID: "1" });
  assert.equal(notFound.status, 404);
  assert.equal(notFound.json.code, 5);
  const empty = await post("/v3/kv/put", { value: b64("v") });
  assert.deepEqual(empty.json, {
    error: "etcdserver: key is not provided",
    code: 3,
    message: "etcdserver: key is not provided",
  });
  h.backend.failWith("put", new Error("disk on fire"));
  const internal = await post("/v3/kv/put", { key: b64("k") });
  assert.equal(internal.status, 500);
  assert.equal(internal.json.message, "floe: internal error");
});

test("gateway refuses malformed JSON, wrong types, oversize bodies, unknown paths and GET", async () => {
  const malformed = await request("/v3/kv/range", "{not json");
  assert.equal(malformed.status, 400);
  assert.match(JSON.parse(malformed.text).message, /^floe: invalid request: malformed JSON body/);
  const wrongType = await post("/v3/kv/range", { key: 42 });
  assert.equal(wrongType.status, 400);
  assert.match(wrongType.json.message as string, /^floe: invalid request: etcdserverpb.RangeRequest/);
  const big = await post("/v3/kv/put", { key: b64("k"), value: Buffer.alloc(100 * 1024).toString("base64") });
  assert.equal(big.status, 400);
  assert.equal(big.json.message, "etcdserver: request is too large");
  const huge = await post("/v3/kv/put", {
    key: b64("k"),
    value: Buffer.alloc(300 * 1024).toString("base64"),
  });
  assert.equal(huge.json.message, "etcdserver: request is too large");
});

test("gateway 404 and 405 are etcd's plain-text answers; a 3.4 gateway has no /v3/auth/status", async () => {
  const nope = await request("/v3/nope", "{}");
  assert.equal(nope.status, 404);
  assert.equal(nope.text, "Not Found\n");
  assert.equal(nope.headers["content-type"], "text/plain; charset=utf-8");
  const get = await request("/v3/kv/range", undefined, "GET");
  assert.equal(get.status, 405);
  assert.equal(get.text, "Method Not Allowed\n");
  assert.equal(get.headers["content-type"], "text/plain; charset=utf-8");
  // AuthStatus came with etcd 3.5; the harness claims 3.4.23 as floe does
  assert.equal((await request("/v3/auth/status", "{}")).status, 404);
  assert.equal((await request("/v3beta/auth/status", "{}")).status, 404);
  assert.notEqual((await request("/v3/auth/user/list", "{}")).status, 404, "3.4's auth routes stay");
});

test("gateway /v3/watch streams newline-delimited results until the client disconnects", async () => {
  const lines: Array<Record<string, Record<string, unknown>>> = [];
  const req = http.request(`${h.server.url}/v3/watch`, { method: "POST", agent: false });
  const closed = new Promise<void>((resolve) => req.on("close", () => resolve()));
  req.on("error", () => undefined);
  req.on("response", (res) => {
    let buf = "";
    res.setEncoding("utf8");
    res.on("data", (c: string) => {
      buf += c;
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        lines.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
      }
    });
    res.on("error", () => undefined);
  });
  // the body ends after one message, as with curl -d; the stream stays open
  req.end(JSON.stringify({ create_request: { key: b64("w"), prev_kv: true } }));
  await waitFor(() => lines.length === 1, "the created line");
  assert.equal(lines[0]?.result?.created, true);
  await post("/v3/kv/put", { key: b64("w"), value: b64("1") });
  await post("/v3/kv/put", { key: b64("w"), value: b64("2") });
  await waitFor(() => lines.length === 3, "two event lines");
  const events = lines
    .slice(1)
    .map((l) => (l.result?.events as Array<Record<string, Record<string, string>>> | undefined)?.[0]);
  assert.deepEqual(
    events.map((e) => unb64(e?.kv?.value ?? "")),
    ["1", "2"],
  );
  assert.equal(unb64(events[1]?.prev_kv?.value ?? ""), "1");
  req.destroy();
  await closed;
  await waitFor(() => h.backend.hub.size === 0, "the watcher to be released after the client left");
});

test("gateway /v3/lease/keepalive answers each message of the body", async () => {
  const grant = await post("/v3/lease/grant", { TTL: "5" });
  const r = await request("/v3/lease/keepalive", `${JSON.stringify({ ID: grant.json.ID })}\n{"ID":"77"}`);
  const lines = r.text
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l).result);
  assert.deepEqual(
    lines.map((l) => [l.ID, l.TTL]),
    [
      [grant.json.ID, "5"],
      ["77", undefined],
    ],
  );
});

test("a streaming gateway call that fails ends with grpc-gateway's stream error line", async () => {
  h.backend.failWith("watch", FloeError.of("NO_LEADER"));
  const r = await request("/v3/watch", JSON.stringify({ create_request: { key: b64("x") } }));
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.text.trim()), {
    error: {
      grpc_code: 14,
      http_code: 503,
      message: "etcdserver: no leader",
      http_status: "Service Unavailable",
    },
  });
});
