// The shared client port: protocol detection by the HTTP/2 preface, hostile
// or broken connections, connection limits, TLS with ALPN, and shutdown.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import http2 from "node:http2";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import tls from "node:tls";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Etcd3 } from "etcd3";
import { pino } from "pino";
import * as pb from "../../src/api/gen/etcdserverpb/rpc_pb.ts";
import { HpackDecoder } from "../../src/api/h2/index.ts";
import { AsyncQueue } from "../../src/api/queue.ts";
import { startApiServer } from "../../src/api/server.ts";
import { opensslCiphers } from "../../src/common/ciphers.ts";
import { selfSignedCert } from "../../src/server/autotls.ts";
import { makeCerts, revokeCert } from "../common/certs.ts";
import { FakeBackend } from "./fake-backend.ts";
import { rawFrame } from "./h2/raw-frames.ts";
import { type Harness, startHarness, waitFor } from "./helpers.ts";

const PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
let h: Harness;
before(async () => {
  h = await startHarness({ firstBytesTimeoutMs: 300, maxConnections: 50 });
});
after(() => h.close());

/** Opens a raw connection, writes `bytes`, and resolves with what came back before the server closed it. */
function rawExchange(bytes: Buffer | string, opts: { end?: boolean } = {}): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(h.server.port, "127.0.0.1");
    let got = "";
    socket.on("data", (d) => (got += d.toString("latin1")));
    socket.on("error", () => undefined);
    socket.on("close", () => resolve(got));
    socket.write(bytes);
    if (opts.end) socket.end();
  });
}

async function stillServes(): Promise<void> {
  const r = await fetch(`${h.server.url}/health`);
  assert.equal(r.status, 200);
  const kv = createClient(pb.KV, createGrpcTransport({ baseUrl: h.server.url }));
  assert.ok((await kv.range({ key: new Uint8Array([1]) })).header);
}

test("garbage bytes get an HTTP 400 and a closed connection, and the server keeps serving", async () => {
  const reply = await rawExchange(
    Buffer.from([0x16, 0x03, 0x01, 0xff, 0x00, 0x13, 0x37, 0x0a, 0x0d, 0x0a, 0x0d, 0x0a]),
  );
  assert.match(reply, /^HTTP\/1\.1 400/);
  const text = await rawExchange("HELLO WORLD\r\n\r\n");
  assert.match(text, /^HTTP\/1\.1 400/);
  await stillServes();
});

test("a half-sent HTTP/2 preface is dropped after firstBytesTimeoutMs, silent connections too", async () => {
  const started = Date.now();
  assert.equal(await rawExchange(PREFACE.slice(0, 10)), "");
  assert.equal(await rawExchange(""), "");
  assert.ok(Date.now() - started < 3000);
  await stillServes();
});

test("a full preface followed by garbage ends that HTTP/2 session only", async () => {
  const reply = await rawExchange(`${PREFACE}this is not an http2 frame at all.............`);
  // the HTTP/2 server answers with its SETTINGS and a GOAWAY, then closes
  assert.ok(reply.length > 0);
  await stillServes();
});

test("a preface prefix, then a disconnect, is harmless; so is a byte-at-a-time preface", async () => {
  assert.equal(await rawExchange("PRI * HT", { end: true }), "");
  const socket = net.connect(h.server.port, "127.0.0.1");
  await new Promise((r) => socket.once("connect", r));
  for (const ch of PREFACE) {
    socket.write(ch);
    await new Promise((r) => setImmediate(r));
  }
  // after the preface the server sends its SETTINGS frame: it took the bytes as HTTP/2
  const first = await new Promise<Buffer>((r) => socket.once("data", r));
  assert.equal(first[3], 0x4, "a SETTINGS frame");
  socket.destroy();
  await stillServes();
});

test("plain HTTP over HTTP/2 (no gRPC content type) reaches the HTTP endpoints", async () => {
  const session = http2.connect(h.server.url);
  try {
    const body = await new Promise<string>((resolve, reject) => {
      const stream = session.request({ ":path": "/version" });
      let text = "";
      stream.setEncoding("utf8");
      stream.on("data", (c: string) => (text += c));
      stream.on("end", () => resolve(text));
      stream.on("error", reject);
    });
    assert.deepEqual(JSON.parse(body), { etcdserver: "3.4.23", etcdcluster: "3.4.0" });
  } finally {
    session.close();
  }
});

/** One request on an HTTP/2 session: the response headers, trailers and body. */
function h2Request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: Buffer,
): Promise<{ headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    let text = "";
    stream.on("response", (h) => (responseHeaders = h));
    stream.on("trailers", (t) => (trailers = t));
    stream.setEncoding("latin1");
    stream.on("data", (c: string) => (text += c));
    stream.on("end", () => resolve({ headers: responseHeaders, trailers, body: text }));
    stream.on("error", reject);
    if (body !== undefined) stream.end(body);
  });
}

test("an :authority given as a URL (etcdctl 3.4's endpoint commands send one) is served", async () => {
  // nghttp2 (Node's http2 server) answered these with RST_STREAM PROTOCOL_ERROR
  const session = http2.connect(h.server.url);
  try {
    for (const authority of [`http://127.0.0.1:${h.server.port}`, `https://127.0.0.1:${h.server.port}/`]) {
      // twice: the second request names the authority by its HPACK table index
      for (let i = 0; i < 2; i++) {
        const health = await h2Request(session, { ":path": "/health", ":authority": authority });
        assert.equal(health.headers[":status"], 200);
        const status = await h2Request(
          session,
          {
            ":method": "POST",
            ":path": "/etcdserverpb.Maintenance/Status",
            ":authority": authority,
            "content-type": "application/grpc",
            te: "trailers",
          },
          Buffer.alloc(5), // one empty message
        );
        assert.equal(status.trailers["grpc-status"], "0", JSON.stringify(status.trailers));
        assert.ok(status.body.length > 5);
      }
    }
  } finally {
    session.close();
  }
  await stillServes();
});

/**
 * An HTTP/2 client on a raw socket that behaves like grpc-go: it sends no
 * request before the server's first SETTINGS, ACKs every SETTINGS, then GETs
 * /health with the given :authority. Resolves with the body, or rejects on a
 * GOAWAY or RST_STREAM.
 */
function waitingClientGet(authority: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(h.server.port, "127.0.0.1");
    const literal = (nameIndex: number, value: string) =>
      Buffer.concat([Buffer.from([nameIndex, value.length]), Buffer.from(value)]);
    // :method GET, :scheme http (static 2 and 6), :path and :authority as literals without indexing
    const block = Buffer.concat([Buffer.from([0x82, 0x86]), literal(4, "/health"), literal(1, authority)]);
    let buf = Buffer.alloc(0);
    let sent = false;
    let body = "";
    socket.on("error", reject);
    socket.on("close", () => reject(new Error(`closed; body so far ${JSON.stringify(body)}`)));
    socket.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
        const length = buf.readUIntBE(0, 3);
        const [type, flags] = [buf[3] as number, buf[4] as number];
        const payload = buf.subarray(9, 9 + length);
        buf = buf.subarray(9 + length);
        if (type === 4 && !(flags & 1)) {
          socket.write(rawFrame(4, 1, 0)); // ACK every SETTINGS
          if (!sent) socket.write(rawFrame(1, 0x5, 1, block)); // END_HEADERS | END_STREAM
          sent = true;
        } else if (type === 0 && payload.length > 0) body += payload.toString();
        if (type === 7 || type === 3) reject(new Error(`frame type ${type}: ${payload.toString("hex")}`));
        if (type === 0 && flags & 1) {
          socket.removeAllListeners("close");
          socket.destroy();
          resolve(body);
        }
      }
    });
    socket.write(Buffer.concat([Buffer.from(PREFACE), rawFrame(4, 0, 0)]));
  });
}

test("a client that waits for the server's SETTINGS (like grpc-go) is served, whatever its :authority", async () => {
  assert.match(await waitingClientGet(`127.0.0.1:${h.server.port}`), /health/);
  assert.match(await waitingClientGet(`http://127.0.0.1:${h.server.port}`), /health/);
  await stillServes();
});

test("etcdctl 3.4's HEADERS block (Huffman-coded URL as :authority) decodes to its fields", () => {
  // captured from `etcdctl --endpoints=http://127.0.0.1:22379 endpoint status` (the frame's payload)
  const block = Buffer.from(
    "8386459760a924882d9dcb6571afa066a925a87510ac6e48d36a3f41909d29aee30c044eae05c0b86e084cbaff5f8b1d" +
      "75d0620d263d4c4d65647a8b9acac8b4c7602bb2caecff40027465864d833505b11f40899acac8b24d494f6a7f867df7" +
      "1e7016ff408d25062d495875996ee5b1063d5f03332e34",
    "hex",
  );
  const fields = new HpackDecoder().decode(block);
  const get = (name: string) => fields[fields.indexOf(name) + 1];
  assert.equal(get(":method"), "POST");
  assert.equal(get(":scheme"), "http");
  assert.equal(get(":authority"), "http://127.0.0.1:22379");
  assert.equal(get(":path"), "/etcdserverpb.Maintenance/Status");
  assert.equal(get("content-type"), "application/grpc");
  assert.equal(get("te"), "trailers");
});

test("HTTP/1.1 and gRPC clients share the port at the same time", async () => {
  const client = new Etcd3({ hosts: h.server.url });
  try {
    const results = await Promise.all([
      client.put("shared").value("1"),
      fetch(`${h.server.url}/version`).then((r) => r.json()),
      client.get("shared").string(),
      fetch(`${h.server.url}/v3/kv/range`, {
        method: "POST",
        body: JSON.stringify({ key: "c2hhcmVk" }),
      }).then((r) => r.json()),
    ]);
    assert.deepEqual(results[1], { etcdserver: "3.4.23", etcdcluster: "3.4.0" });
  } finally {
    client.close();
  }
});

test("connections beyond maxConnections are closed at once", async () => {
  const sockets = await Promise.all(
    Array.from(
      { length: 55 },
      () =>
        new Promise<net.Socket>((resolve) => {
          const s = net.connect(h.server.port, "127.0.0.1", () => resolve(s));
          s.on("error", () => undefined);
        }),
    ),
  );
  const closed = await Promise.all(
    sockets.map(
      (s) =>
        new Promise<boolean>((resolve) => {
          s.once("close", () => resolve(true));
          setTimeout(() => resolve(false), 150);
        }),
    ),
  );
  assert.ok(
    closed.filter(Boolean).length >= 5,
    `expected at least 5 refused, saw ${closed.filter(Boolean).length}`,
  );
  for (const s of sockets) s.destroy();
});

function makeCert(dir: string): { certFile: string; keyFile: string } | undefined {
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
      ].concat([
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        keyFile,
        "-out",
        certFile,
      ]),
      { stdio: "ignore" },
    );
    return { certFile, keyFile };
  } catch {
    return undefined;
  }
}

test("with TLS, ALPN routes h2 to gRPC and http/1.1 to the HTTP endpoints", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "floe-api-tls-"));
  const tls = makeCert(dir);
  if (tls === undefined) {
    t.skip("openssl is not available to make a test certificate");
    return;
  }
  const server = await startApiServer({
    backend: new FakeBackend(),
    port: 0,
    tls,
    logger: pino({ level: "silent" }),
  });
  try {
    assert.match(server.url, /^https:/);
    const transport = createGrpcTransport({
      baseUrl: server.url,
      nodeOptions: { rejectUnauthorized: false },
    });
    const resp = await createClient(pb.KV, transport).range({ key: new Uint8Array([1]) });
    assert.ok(resp.header);
    // with ALPN http/1.1, and without ALPN (the preface check decides)
    for (const alpn of [["http/1.1"], undefined]) {
      const options = { rejectUnauthorized: false, agent: false, ...(alpn ? { ALPNProtocols: alpn } : {}) };
      const health = await new Promise<string>((resolve, reject) => {
        https
          .get(`${server.url}/health`, options as https.RequestOptions, (res) => {
            let body = "";
            res.on("data", (c) => (body += c));
            res.on("end", () => resolve(body));
          })
          .on("error", reject);
      });
      assert.deepEqual(JSON.parse(health), { health: "true" });
    }
  } finally {
    await server.close({ graceMs: 100 });
    rmSync(dir, { recursive: true, force: true });
  }
});

test("close() ends open watch streams and refuses new connections", async () => {
  const local = await startHarness();
  const watch = createClient(pb.Watch, createGrpcTransport({ baseUrl: local.server.url }));
  const requests = new AsyncQueue<pb.WatchRequest>(1);
  await requests.push(
    create(pb.WatchRequestSchema, {
      requestUnion: { case: "createRequest", value: { key: new Uint8Array([1]) } },
    }),
  );
  const seen: pb.WatchResponse[] = [];
  const ended = (async () => {
    for await (const r of watch.watch(requests)) seen.push(r);
  })().then(
    () => "ended",
    () => "ended with an error",
  );
  await waitFor(() => seen.length === 1 && local.backend.hub.size === 1, "the watch to be created");
  const started = Date.now();
  await local.close();
  assert.ok(Date.now() - started < 2000);
  assert.match(await ended, /^ended/);
  assert.equal(local.backend.hub.size, 0);
  await assert.rejects(fetch(`${local.server.url}/health`));
});

for (const crlKind of [{}, { der: true, expired: true }]) {
  test(`client-cert auth: a client needs a certificate the trusted CA signed and the CRL does not list (CRL ${crlKind.der ? "DER, expired" : "PEM"})`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "floe-api-mtls-"));
    makeCerts(dir, ["server", "alice", "mallory"]);
    // etcd reads PEM and DER CRLs and honours one past its next update (its own
    // fixture revoke.crl expired in 2021): it revokes what it lists, nothing more
    const crl = revokeCert(dir, "mallory", crlKind);
    const f = (n: string) => join(dir, n);
    const server = await startApiServer({
      backend: new FakeBackend(),
      port: 0,
      tls: {
        certFile: f("server.crt"),
        keyFile: f("server.key"),
        trustedCaFile: f("ca.crt"),
        clientCertAuth: true,
        crlFile: crl,
      },
      logger: pino({ level: "silent" }),
    });
    const rangeAs = async (who: string | undefined) => {
      const nodeOptions = {
        ca: readFileSync(f("ca.crt")),
        ...(who === undefined
          ? {}
          : { cert: readFileSync(f(`${who}.crt`)), key: readFileSync(f(`${who}.key`)) }),
      };
      const transport = createGrpcTransport({ baseUrl: server.url, nodeOptions });
      return createClient(pb.KV, transport).range({ key: new Uint8Array([1]) }, { timeoutMs: 3000 });
    };
    try {
      assert.ok((await rangeAs("alice")).header, "a signed, unrevoked certificate is served");
      await assert.rejects(rangeAs(undefined), "no certificate: refused in the handshake");
      await assert.rejects(rangeAs("mallory"), "a revoked certificate: refused right after the handshake");
    } finally {
      await server.close({ graceMs: 100 });
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test("cipher-suites: a TLS 1.2 client must offer a listed suite; TLS 1.3 is unaffected, as in etcd", async () => {
  const dir = mkdtempSync(join(tmpdir(), "floe-api-ciphers-"));
  makeCerts(dir, ["server"]);
  const server = await startApiServer({
    backend: new FakeBackend(),
    port: 0,
    tls: {
      certFile: join(dir, "server.crt"),
      keyFile: join(dir, "server.key"),
      ciphers: opensslCiphers("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    },
    logger: pino({ level: "silent" }),
  });
  const handshake = (o: tls.ConnectionOptions) =>
    new Promise<string>((resolve, reject) => {
      const s = tls.connect({
        host: "127.0.0.1",
        port: server.port,
        ca: readFileSync(join(dir, "ca.crt")),
        ...o,
      });
      s.once("secureConnect", () => {
        const c = s.getCipher();
        s.destroy();
        resolve(`${c.version} ${c.name}`);
      });
      s.once("error", reject);
    });
  try {
    const tls12 = { minVersion: "TLSv1.2", maxVersion: "TLSv1.2" } as const;
    assert.equal(
      await handshake({ ...tls12, ciphers: "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384" }),
      "TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256",
    );
    await assert.rejects(
      handshake({ ...tls12, ciphers: "ECDHE-RSA-AES256-GCM-SHA384" }),
      /handshake failure|no shared cipher/i,
    );
    assert.match(await handshake({ minVersion: "TLSv1.3" }), /^TLSv1\.3 /);
  } finally {
    await server.close({ graceMs: 100 });
    rmSync(dir, { recursive: true, force: true });
  }
});

test("auto TLS: a self-signed certificate for the listen hosts, made once and reused", async () => {
  const dir = mkdtempSync(join(tmpdir(), "floe-autotls-"));
  const urls = ["https://127.0.0.1:2379", "https://node1.example:2379"];
  const first = await selfSignedCert(dir, "n1", urls);
  const cert = new X509Certificate(readFileSync(first.certFile));
  assert.equal(cert.subject, "CN=n1");
  assert.equal(cert.issuer, "CN=n1");
  assert.match(cert.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);
  assert.match(cert.subjectAltName ?? "", /DNS:node1\.example/);
  assert.equal(statSync(first.keyFile).mode & 0o777, 0o600);
  const again = await selfSignedCert(dir, "n1", urls);
  assert.equal(new X509Certificate(readFileSync(again.certFile)).fingerprint256, cert.fingerprint256);
  const server = await startApiServer({
    backend: new FakeBackend(),
    port: 0,
    tls: first,
    logger: pino({ level: "silent" }),
  });
  try {
    // A client that trusts the certificate itself (etcdctl would need --insecure-skip-tls-verify).
    const transport = createGrpcTransport({
      baseUrl: server.url,
      nodeOptions: { ca: readFileSync(first.certFile) },
    });
    assert.ok(
      (await createClient(pb.KV, transport).range({ key: new Uint8Array([1]) }, { timeoutMs: 3000 })).header,
    );
  } finally {
    await server.close({ graceMs: 100 });
    rmSync(dir, { recursive: true, force: true });
  }
});
