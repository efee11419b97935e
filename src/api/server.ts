// One TCP port for gRPC and HTTP/1.1, as etcd's client port. Cleartext
// connections are told apart by their first bytes: the HTTP/2 connection
// preface goes to floe's own HTTP/2 server (h2/: gRPC, plus plain HTTP over h2), anything
// else to the HTTP/1.1 server, which answers garbage with 400 and hangs up.
// With TLS, ALPN decides, and the preface check covers clients without ALPN.
// Bytes read while deciding are pushed back (socket.unshift) before the
// connection is handed over, so nothing is lost.

import { readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import tls from "node:tls";
import { pino } from "pino";
import type { Registry } from "prom-client";
import { RevocationList } from "../common/index.ts";
import { CallRunner } from "./calls.ts";
import { gatewayRoutes } from "./gateway-routes.ts";
import { H2Connection, H2HttpRequest, H2HttpResponse, PREFACE } from "./h2/index.ts";
import { createHttpListener, type HttpRequestLike, type HttpResponseLike } from "./http.ts";
import { methodTable } from "./methods.ts";
import { createApiMetrics, defaultRegistry } from "./metrics.ts";
import { Operations } from "./operations.ts";
import {
  type ApiServerOptions,
  defaultEtcdClusterVersion,
  defaultEtcdVersion,
  type EtcdVersions,
  resolveLimits,
  type TlsOptions,
} from "./options.ts";
import { findUiAssets, type UiOptions } from "./ui.ts";
import { createGrpcWire, isGrpcRequest } from "./wire.ts";

type Kind = "h2" | "http1";

/**
 * How the dashboard reaches other members' client URLs over https: with this
 * member's certificate (they may require one) and its CA; without a CA (a
 * self-signed --auto-tls cluster) unverified, as etcd's own clients of
 * auto-TLS members are.
 */
function peerTlsOf(tls: TlsOptions | undefined): UiOptions["tls"] {
  if (tls === undefined) return undefined;
  return {
    cert: readFileSync(tls.certFile),
    key: readFileSync(tls.keyFile),
    ...(tls.trustedCaFile ? { ca: readFileSync(tls.trustedCaFile) } : { rejectUnauthorized: false }),
  };
}

/**
 * Reads until the first bytes show whether this is HTTP/2 (the full preface)
 * or not (any byte that differs from it), then puts the bytes back.
 * Resolves undefined when the connection closes or stays silent too long.
 */
function sniff(socket: net.Socket, timeoutMs: number): Promise<Kind | undefined> {
  return new Promise((resolve) => {
    let seen = Buffer.alloc(0);
    const finish = (kind: Kind | undefined) => {
      clearTimeout(timer);
      socket.removeListener("readable", onReadable);
      socket.removeListener("end", onGone);
      socket.removeListener("close", onGone);
      if (kind !== undefined && seen.length > 0) socket.unshift(seen);
      resolve(kind);
    };
    const onReadable = () => {
      for (let chunk = socket.read(); chunk !== null; chunk = socket.read()) {
        seen = Buffer.concat([seen, chunk as Buffer]);
      }
      const n = Math.min(seen.length, PREFACE.length);
      if (!seen.subarray(0, n).equals(PREFACE.subarray(0, n))) finish("http1");
      else if (seen.length >= PREFACE.length) finish("h2");
    };
    const onGone = () => finish(undefined);
    const timer = setTimeout(onGone, timeoutMs);
    socket.on("readable", onReadable);
    socket.once("end", onGone);
    socket.once("close", onGone);
  });
}

export interface ApiServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  readonly host: string;
  /** e.g. "http://127.0.0.1:2379"; https with TLS. */
  readonly url: string;
  /** The /metrics registry; register backend metrics here. */
  readonly metrics: Registry;
  /**
   * Stops accepting connections, cancels every open call (watch streams end),
   * lets connections finish for up to graceMs (default 1000), then closes the rest.
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

/** Starts the client port and resolves once it is listening. */
export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const limits = resolveLimits(options.limits);
  const log = options.logger ?? pino({ name: "floe-api" });
  const registry = options.metrics ?? defaultRegistry();
  const metrics = createApiMetrics(registry);
  const versions: EtcdVersions = {
    server: options.etcdVersion?.server ?? defaultEtcdVersion,
    cluster: options.etcdVersion?.cluster ?? defaultEtcdClusterVersion,
  };
  const ops = new Operations(options.backend, limits, versions);
  const shutdown = new AbortController();
  const runner = new CallRunner(log, metrics);
  const methods = methodTable(ops);
  const grpc = createGrpcWire({ methods, runner, limits, shutdown: shutdown.signal });
  const httpListener = createHttpListener({
    ops,
    runner,
    routes: gatewayRoutes(methods, versions.server),
    registry,
    shutdown: shutdown.signal,
    ui: { assetsDir: findUiAssets(), tls: peerTlsOf(options.tls), ...options.ui },
  });
  // http and http2-compat objects differ in types, not in what the listener uses
  const asHttp = (req: unknown, res: unknown) =>
    httpListener(req as HttpRequestLike, res as HttpResponseLike);

  const h2Connections = new Set<H2Connection>();
  const serveHttp2 = (socket: net.Socket) => {
    const conn = new H2Connection(socket, {
      maxConcurrentStreams: limits.maxConcurrentStreams,
      onStream: (stream) => {
        if (isGrpcRequest(stream.headers)) return grpc(stream);
        asHttp(new H2HttpRequest(stream), new H2HttpResponse(stream));
      },
      onClose: (err) => {
        h2Connections.delete(conn);
        if (err) log.debug({ err }, "http2 connection error");
      },
    });
    h2Connections.add(conn);
  };
  // watch streams over HTTP/1.1 keep their request open: no whole-request timeout
  const h1 = http.createServer({ requestTimeout: 0 }, asHttp);
  h1.on("clientError", (err, socket) => {
    log.debug({ err }, "malformed HTTP/1.1 request");
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
    else socket.destroy();
  });

  const sockets = new Set<net.Socket>();
  const handOff = (socket: net.Socket, kind: Kind) => {
    metrics.connections.inc({ kind });
    socket.once("close", () => metrics.connections.dec({ kind }));
    if (kind !== "h2") return void h1.emit("connection", socket);
    serveHttp2(socket);
  };
  const onConnection = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    // a reset or a TLS failure on any connection must never reach the process
    socket.on("error", (err) => log.debug({ err }, "client connection error"));
    if (shutdown.signal.aborted || socket.destroyed) return void socket.destroy();
    const alpn = (socket as tls.TLSSocket).alpnProtocol;
    if (alpn === "h2" || alpn === "http/1.1") return handOff(socket, alpn === "h2" ? "h2" : "http1");
    metrics.connections.inc({ kind: "pending" });
    sniff(socket, limits.firstBytesTimeoutMs).then((kind) => {
      metrics.connections.dec({ kind: "pending" });
      if (kind === undefined || socket.destroyed) {
        metrics.rejectedConnections.inc({ reason: "no-preface" });
        socket.destroy();
        return;
      }
      handOff(socket, kind);
    });
  };

  const tcp = options.tls === undefined ? net.createServer() : createTlsServer(options.tls);
  if (options.tls?.crlFile !== undefined) {
    // etcd's check: a client certificate the CRL lists is refused after the handshake
    const crl = RevocationList.load(options.tls.crlFile);
    tcp.prependListener("secureConnection", (socket: tls.TLSSocket) => {
      const serial = crl.revokedIn(socket);
      if (serial === undefined) return;
      metrics.rejectedConnections.inc({ reason: "revoked-certificate" });
      log.warn(
        { serial, remote: socket.remoteAddress, crl: crl.file },
        "refused a client with a revoked certificate",
      );
      socket.destroy();
    });
  }
  tcp.maxConnections = limits.maxConnections;
  tcp.on("drop", () => metrics.rejectedConnections.inc({ reason: "max-connections" }));
  tcp.on(options.tls === undefined ? "connection" : "secureConnection", onConnection);
  tcp.on("tlsClientError", (err: Error) => log.debug({ err }, "TLS handshake failed"));

  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(options.port ?? 2379, host, () => {
      tcp.removeListener("error", reject);
      resolve();
    });
  });
  tcp.on("error", (err) => log.error({ err }, "client port error"));
  const port = (tcp.address() as net.AddressInfo).port;
  const scheme = options.tls === undefined ? "http" : "https";
  log.info({ host, port, tls: options.tls !== undefined }, "client port listening");

  return {
    port,
    host,
    url: `${scheme}://${host.includes(":") ? `[${host}]` : host}:${port}`,
    metrics: registry,
    close: async ({ graceMs = 1000 } = {}) => {
      if (shutdown.signal.aborted) return;
      shutdown.abort();
      const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      for (const conn of h2Connections) conn.close();
      h1.closeIdleConnections();
      const allGone = Promise.all([...sockets].map((s) => new Promise((r) => s.once("close", r))));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([allGone, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

function createTlsServer(opts: NonNullable<ApiServerOptions["tls"]>): tls.Server {
  const ca = opts.trustedCaFile === undefined ? undefined : readFileSync(opts.trustedCaFile);
  const verifyClients = opts.clientCertAuth ?? ca !== undefined;
  if (verifyClients && ca === undefined) throw new Error("client certificate auth needs a trusted CA file");
  return tls.createServer({
    cert: readFileSync(opts.certFile),
    key: readFileSync(opts.keyFile),
    ...(ca === undefined ? {} : { ca }),
    ...(verifyClients ? { requestCert: true, rejectUnauthorized: true } : {}),
    ...(opts.ciphers === undefined ? {} : { ciphers: opts.ciphers }),
    ALPNProtocols: ["h2", "http/1.1"],
  });
}
