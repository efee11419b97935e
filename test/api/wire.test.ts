// The gRPC wire layer (src/api/wire.ts) seen from a raw HTTP/2 client: the
// envelope, compression, limits and protocol errors that generated clients
// never send, and the one method table behind gRPC and the gateway.

import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, test } from "node:test";
import { gzipSync } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { GrpcCode } from "../../src/api/errors.ts";
import { gatewayRoutes } from "../../src/api/gateway-routes.ts";
import * as pb from "../../src/api/gen/etcdserverpb/rpc_pb.ts";
import { Election } from "../../src/api/gen/v3electionpb/v3election_pb.ts";
import { Lock } from "../../src/api/gen/v3lockpb/v3lock_pb.ts";
import { methodTable } from "../../src/api/methods.ts";
import { Operations } from "../../src/api/operations.ts";
import { defaultLimits } from "../../src/api/options.ts";
import { EnvelopeReader } from "../../src/api/wire.ts";
import { FakeBackend } from "./fake-backend.ts";
import { type Harness, startHarness } from "./helpers.ts";

const MAX_REQUEST_BYTES = 64 * 1024;
const OVERHEAD = 16 * 1024;
let h: Harness;
let session: http2.ClientHttp2Session;

before(async () => {
  h = await startHarness({ maxRequestBytes: MAX_REQUEST_BYTES, grpcOverheadBytes: OVERHEAD });
  session = http2.connect(h.server.url);
});
after(async () => {
  session.close();
  await h.close();
});

const frame = (msg: Uint8Array, compressed = false): Buffer => {
  const out = Buffer.alloc(5 + msg.length);
  out[0] = compressed ? 1 : 0;
  out.writeUInt32BE(msg.length, 1);
  out.set(msg, 5);
  return out;
};

interface Answer {
  status: number;
  grpcStatus: number;
  grpcMessage: string;
  body: Buffer;
  ms: number;
}

/** Sends a request; `send` writes the body (and decides whether to end it). */
function call(
  path: string,
  send: (req: http2.ClientHttp2Stream) => void,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...headers,
    });
    let status = 0;
    let grpc: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on("response", (hdrs) => {
      status = Number(hdrs[":status"]);
      if (hdrs["grpc-status"] !== undefined) grpc = hdrs;
    });
    req.on("trailers", (t) => {
      grpc = t;
    });
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", reject);
    req.on("close", () =>
      resolve({
        status,
        grpcStatus: Number(grpc["grpc-status"] ?? -1),
        grpcMessage: decodeURIComponent(String(grpc["grpc-message"] ?? "")),
        body: Buffer.concat(chunks),
        ms: Date.now() - started,
      }),
    );
    send(req);
  });
}

const putBytes = (key: string, value: string) =>
  toBinary(
    pb.PutRequestSchema,
    create(pb.PutRequestSchema, { key: Buffer.from(key), value: Buffer.from(value) }),
  );
const rangeBytes = (key: string) =>
  toBinary(pb.RangeRequestSchema, create(pb.RangeRequestSchema, { key: Buffer.from(key) }));

test("a message announcing 1 GiB is refused RESOURCE_EXHAUSTED at once, before its body arrives", async () => {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(2 ** 30, 1);
  // the client never ends its stream: only the envelope header was sent
  const a = await call("/etcdserverpb.KV/Put", (req) => req.write(header));
  assert.equal(a.grpcStatus, GrpcCode.RESOURCE_EXHAUSTED);
  assert.equal(
    a.grpcMessage,
    `grpc: received message larger than max (${2 ** 30} vs. ${MAX_REQUEST_BYTES + OVERHEAD})`,
  );
  assert.ok(a.ms < 1000, `answered after ${a.ms} ms`);
  // the same on a streaming method
  const w = await call("/etcdserverpb.Watch/Watch", (req) => req.write(header));
  assert.equal(w.grpcStatus, GrpcCode.RESOURCE_EXHAUSTED);
});

test("a gzip-compressed request (grpc-encoding gzip) is served; an unknown encoding is refused", async () => {
  const put = await call(
    "/etcdserverpb.KV/Put",
    (req) => req.end(frame(gzipSync(putBytes("gz", "v1")), true)),
    { "grpc-encoding": "gzip" },
  );
  assert.equal(put.grpcStatus, 0, put.grpcMessage);
  const got = await call("/etcdserverpb.KV/Range", (req) => req.end(frame(rangeBytes("gz"))));
  const resp = fromBinary(pb.RangeResponseSchema, got.body.subarray(5));
  assert.equal(Buffer.from(resp.kvs[0]?.value ?? []).toString(), "v1");

  const bad = await call("/etcdserverpb.KV/Put", (req) => req.end(frame(putBytes("x", "y"), true)), {
    "grpc-encoding": "snappy",
  });
  assert.equal(bad.grpcStatus, GrpcCode.UNIMPLEMENTED);
  // a compressed flag without an encoding is a protocol error, not a crash
  const flagOnly = await call("/etcdserverpb.KV/Put", (req) => req.end(frame(putBytes("x", "y"), true)));
  assert.equal(flagOnly.grpcStatus, GrpcCode.INVALID_ARGUMENT);
});

test("a unary request sent a byte at a time is served; two messages or a torn one are refused", async () => {
  const body = frame(putBytes("slow", "v"));
  const a = await call("/etcdserverpb.KV/Put", (req) => {
    let i = 0;
    const next = () => {
      if (i === body.length) return void req.end();
      req.write(body.subarray(i, i + 1), next);
      i++;
    };
    next();
  });
  assert.equal(a.grpcStatus, 0, a.grpcMessage);

  const two = await call("/etcdserverpb.KV/Put", (req) =>
    req.end(Buffer.concat([frame(putBytes("a", "1")), frame(putBytes("b", "2"))])),
  );
  assert.equal(two.grpcStatus, GrpcCode.INVALID_ARGUMENT);
  const torn = await call("/etcdserverpb.KV/Put", (req) => req.end(body.subarray(0, body.length - 1)));
  assert.equal(torn.grpcStatus, GrpcCode.INVALID_ARGUMENT);
  const garbage = await call("/etcdserverpb.KV/Put", (req) => req.end(frame(Buffer.from([0xff, 0xff]))));
  assert.equal(garbage.grpcStatus, GrpcCode.INVALID_ARGUMENT);
  assert.match(garbage.grpcMessage, /^floe: invalid request: parse KV.Put/);
});

test("unknown paths and content types are answered with a status, never left hanging", async () => {
  const unknown = await call("/etcdserverpb.KV/Nope", (req) => req.end(frame(rangeBytes("a"))));
  assert.equal(unknown.grpcStatus, GrpcCode.UNIMPLEMENTED);
  const json = await call("/etcdserverpb.KV/Range", (req) => req.end("{}"), {
    "content-type": "application/grpc+json",
  });
  assert.equal(json.grpcStatus, GrpcCode.UNIMPLEMENTED);
});

test("a server stream (Snapshot) and a bidi stream (LeaseKeepAlive) over the raw wire", async () => {
  const snap = await call("/etcdserverpb.Maintenance/Snapshot", (req) =>
    req.end(frame(toBinary(pb.SnapshotRequestSchema, create(pb.SnapshotRequestSchema)))),
  );
  assert.equal(snap.grpcStatus, 0, snap.grpcMessage);
  assert.ok(snap.body.length > 5);

  const reqs = [7n, 8n].map((ID) =>
    frame(toBinary(pb.LeaseKeepAliveRequestSchema, create(pb.LeaseKeepAliveRequestSchema, { ID }))),
  );
  const ka = await call("/etcdserverpb.Lease/LeaseKeepAlive", (req) => req.end(Buffer.concat(reqs)));
  assert.equal(ka.grpcStatus, 0, ka.grpcMessage);
  const ids: bigint[] = [];
  const reader = new EnvelopeReader(1 << 20);
  reader.push(ka.body, (_c, data) => ids.push(fromBinary(pb.LeaseKeepAliveResponseSchema, data).ID));
  assert.deepEqual(ids, [7n, 8n]);
});

test("EnvelopeReader: messages across chunks, several per chunk, and the size limit", () => {
  const msgs = [Buffer.from("a"), Buffer.alloc(0), Buffer.alloc(3000, 7), Buffer.from("end")];
  const wire = Buffer.concat(msgs.map((m) => frame(m)));
  for (const size of [1, 2, 5, 7, 4096, wire.length]) {
    const reader = new EnvelopeReader(4000);
    const seen: Buffer[] = [];
    for (let i = 0; i < wire.length; i += size) {
      reader.push(wire.subarray(i, i + size), (_c, data) => seen.push(Buffer.from(data)));
    }
    assert.deepEqual(seen, msgs, `chunk size ${size}`);
    assert.equal(reader.pending, 0);
  }
  assert.throws(
    () => new EnvelopeReader(2999).push(frame(Buffer.alloc(3000)), () => {}),
    /received message larger than max/,
  );
});

test("the method table covers every method of the eight services, and the gateway serves every one", () => {
  const table = methodTable(
    new Operations(new FakeBackend(), { ...defaultLimits }, { server: "3.4.23", cluster: "3.4.0" }),
  );
  const services = [pb.KV, pb.Watch, pb.Lease, pb.Cluster, pb.Maintenance, pb.Auth, Election, Lock];
  const expected = services.flatMap((s) => s.methods.map((m) => `/${s.typeName}/${m.name}`));
  assert.deepEqual(
    table.map((m) => m.path),
    expected,
  );
  // every method has a gateway path, as in etcd's rpc.proto, v3election.proto and v3lock.proto,
  // and the gateway serves each of them
  const routes = gatewayRoutes(table);
  for (const m of table) {
    assert.ok(m.gatewayPaths.length > 0, `${m.name} has a gateway path`);
    for (const path of m.gatewayPaths) assert.equal(routes.get(path)?.method, m.name, path);
  }
});
