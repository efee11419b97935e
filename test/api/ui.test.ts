// The dashboard's server side (src/api/ui.ts) on the client port: the member
// report, the event stream, what it refuses, and the latency quantiles it
// computes from histogram buckets. The page itself is tested in a browser
// (test/ui/, npm run test:ui).
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { pino } from "pino";
import { MemberSchema } from "../../src/api/gen/etcdserverpb/rpc_pb.ts";
import { type ApiServer, startApiServer } from "../../src/api/server.ts";
import { quantileMs } from "../../src/api/ui.ts";
import type { Sample } from "../../src/api/ui-types.ts";
import { makeCerts } from "../common/certs.ts";
import { FakeBackend, MEMBER_ID } from "./fake-backend.ts";

let server: ApiServer;
let bare: ApiServer;

before(async () => {
  const logger = pino({ level: "silent" });
  server = await startApiServer({
    backend: new FakeBackend(),
    port: 0,
    logger,
    ui: { sampleMs: 100 },
    limits: { maxGatewayBodyBytes: 64 * 1024 },
  });
  bare = await startApiServer({ backend: new FakeBackend(), port: 0, logger, ui: { assetsDir: undefined } });
});

after(async () => {
  await server.close({ graceMs: 100 });
  await bare.close({ graceMs: 100 });
});

function get(
  s: ApiServer,
  path: string,
  method = "GET",
  body?: Buffer,
): Promise<{ status: number; type: string; body: string; location?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: s.host, port: s.port, path, method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          type: String(res.headers["content-type"] ?? ""),
          body,
          ...(res.headers.location ? { location: res.headers.location } : {}),
        }),
      );
    });
    req.on("error", reject);
    req.end(body);
  });
}

test("/ui/api/member reports the member's id, leader, indexes and counters", async () => {
  const r = await get(server, "/ui/api/member");
  assert.equal(r.status, 200);
  assert.match(r.type, /application\/json/);
  const m = JSON.parse(r.body);
  assert.equal(m.id, MEMBER_ID.toString(16));
  assert.equal(m.leader, MEMBER_ID.toString(16));
  assert.equal(m.term, 3);
  assert.equal(m.dbSize, 4096);
  assert.equal(typeof m.cpuMicros, "number");
  assert.ok(Array.isArray(m.request.le) && Array.isArray(m.fsync.counts));
});

test("/ui/api/events sends the history, then a sample per interval with every member", async () => {
  const events = await new Promise<{ event: string; data: string }[]>((resolve, reject) => {
    const got: { event: string; data: string }[] = [];
    const req = http.get({ host: server.host, port: server.port, path: "/ui/api/events" }, (res) => {
      assert.equal(res.headers["content-type"], "text/event-stream");
      let buf = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        buf += c;
        for (let end = buf.indexOf("\n\n"); end >= 0; end = buf.indexOf("\n\n")) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1] ?? "";
          const data = /^data: (.*)$/m.exec(block)?.[1] ?? "";
          got.push({ event, data });
          if (got.length === 3) {
            req.destroy();
            resolve(got);
          }
        }
      });
    });
    req.on("error", (e) => (got.length >= 3 ? undefined : reject(e)));
  });
  assert.equal(events[0]?.event, "history");
  assert.ok(Array.isArray(JSON.parse(events[0]?.data ?? "")));
  for (const e of events.slice(1)) {
    assert.equal(e.event, "sample");
    const s = JSON.parse(e.data) as Sample;
    assert.equal(s.servedBy, MEMBER_ID.toString(16));
    assert.equal(s.members.length, 1);
    const m = s.members[0];
    assert.equal(m?.name, "fake");
    assert.equal(m?.up, true);
    assert.equal(m?.role, "leader");
    assert.deepEqual(m?.clientUrls, ["http://127.0.0.1:2379"]);
  }
  // a page that opens later gets what was sampled while the first one listened
  const later = await new Promise<string>((resolve, reject) => {
    const req = http.get({ host: server.host, port: server.port, path: "/ui/api/events" }, (res) => {
      let buf = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        buf += c;
        if (buf.includes("\n\n")) {
          req.destroy();
          resolve(buf);
        }
      });
    });
    req.on("error", reject);
  });
  const history = JSON.parse(/^data: (.*)$/m.exec(later)?.[1] ?? "[]") as Sample[];
  assert.ok(history.length >= 2, `history of ${history.length} samples`);
});

test("/ui/api/whoami: auth off and no certificate on a cleartext connection", async () => {
  const r = await get(server, "/ui/api/whoami");
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.body), { authEnabled: false, commonName: null });
});

test("/ui redirects to /ui/; without built assets the page says how to build them", async () => {
  const r = await get(bare, "/ui");
  assert.equal(r.status, 301);
  assert.equal(r.location, "/ui/");
  const page = await get(bare, "/ui/");
  assert.equal(page.status, 404);
  assert.match(page.body, /npm run build/);
});

test("/ui serves only its own files: no path out of the assets directory", async () => {
  for (const path of ["/ui/..%2fpackage.json", "/ui/%2e%2e/package.json", "/ui/.hidden", "/ui/a/b.js"]) {
    const r = await get(server, path);
    assert.equal(r.status, 404, path);
  }
});

test("the member proxy takes only POSTs of gateway paths to members in the member list", async () => {
  assert.equal((await get(server, `/ui/api/members/${MEMBER_ID.toString(16)}/v3/kv/range`)).status, 405);
  const unknown = await get(server, "/ui/api/members/abc/v3/kv/range", "POST");
  assert.equal(unknown.status, 404);
  assert.match(JSON.parse(unknown.body).error, /no member abc/);
  // a body over the gateway's limit is refused before anything is forwarded, as the gateway refuses it
  const big = await get(
    server,
    `/ui/api/members/${MEMBER_ID.toString(16)}/v3/kv/put`,
    "POST",
    Buffer.alloc(100 * 1024, 0x20),
  );
  assert.equal(big.status, 400);
  assert.match(JSON.parse(big.body).message, /request is too large/);
  // not a gateway path: not the proxy, so an unknown file
  assert.equal((await get(server, `/ui/api/members/${MEMBER_ID.toString(16)}/metrics`, "POST")).status, 404);
});

test("quantiles from histogram buckets: the counts since the previous reading, interpolated in the bucket", () => {
  const le = [0.001, 0.002, 0.004, Number.POSITIVE_INFINITY];
  const prev = { le, counts: [10, 10, 10, 10], sum: 0 };
  // since prev: 0 under 1 ms, 50 in (1, 2] ms, 50 in (2, 4] ms
  const cur = { le, counts: [10, 60, 110, 110], sum: 0 };
  assert.equal(quantileMs(prev, cur, 0.5), 2);
  assert.equal(quantileMs(prev, cur, 0.25), 1.5);
  assert.ok(Math.abs(quantileMs(prev, cur, 0.99) - 3.96) < 1e-9);
  assert.ok(Number.isNaN(quantileMs(cur, cur, 0.5)), "nothing counted: no value");
  // beyond the last finite bound: that bound
  assert.equal(quantileMs(undefined, { le, counts: [0, 0, 0, 5], sum: 0 }, 0.5), 4);
});

test("over TLS with client certificates required, the sampler reaches another member with this member's certificate", async () => {
  const dir = mkdtempSync(join(tmpdir(), "floe-ui-tls-"));
  makeCerts(dir, ["a", "b", "viewer"]);
  const f = (n: string) => join(dir, n);
  const tlsOf = (n: string) => ({
    certFile: f(`${n}.crt`),
    keyFile: f(`${n}.key`),
    trustedCaFile: f("ca.crt"),
    clientCertAuth: true,
  });
  const logger = pino({ level: "silent" });
  const b = await startApiServer({ backend: new FakeBackend(), port: 0, logger, tls: tlsOf("b") });
  /** A member list of two: this fake member, and b at its https client URL. */
  class TwoMembers extends FakeBackend {
    override async memberList() {
      const r = await super.memberList();
      r.members.push(create(MemberSchema, { ID: 0xb0bn, name: "b", clientURLs: [b.url], peerURLs: [] }));
      return r;
    }
  }
  const a = await startApiServer({
    backend: new TwoMembers(),
    port: 0,
    logger,
    tls: tlsOf("a"),
    ui: { sampleMs: 100 },
  });
  /** A browser's request to a, with the "viewer" client certificate. */
  const viewer = (path: string) => ({
    host: a.host,
    port: a.port,
    path,
    ca: readFileSync(f("ca.crt")),
    cert: readFileSync(f("viewer.crt")),
    key: readFileSync(f("viewer.key")),
  });
  try {
    const sample = await new Promise<Sample>((resolve, reject) => {
      const req = https.get(viewer("/ui/api/events"), (res) => {
        let buf = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          buf += c;
          const m = /event: sample\ndata: (.*)\n\n/.exec(buf);
          if (m) {
            req.destroy();
            resolve(JSON.parse(m[1] as string) as Sample);
          }
        });
      });
      req.on("error", reject);
    });
    // the connection's verified certificate names its user, for the page's login
    const who = await new Promise<string>((resolve, reject) => {
      https
        .get(viewer("/ui/api/whoami"), (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => (body += c));
          res.on("end", () => resolve(body));
        })
        .on("error", reject);
    });
    assert.deepEqual(JSON.parse(who), { authEnabled: false, commonName: "viewer" });
    const other = sample.members.find((m) => m.name === "b");
    assert.ok(other, "b is in the sample");
    assert.equal(other.error, "", "b answered");
    assert.equal(other.up, true);
    assert.deepEqual(other.clientUrls, [b.url]);
  } finally {
    await a.close({ graceMs: 100 });
    await b.close({ graceMs: 100 });
  }
});
