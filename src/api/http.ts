// Plain HTTP on the client port (HTTP/1.1, and HTTP/2 requests that are not
// gRPC): /health, /version, /metrics and the JSON gateway under /v3/. Errors
// use grpc-gateway's shapes, which etcd's gateway returns:
//   unary:  HTTP status from the gRPC code, body {"error": msg, "message": msg, "code": n}
//           (grpc-gateway's field order, which etcd's own tests compare as text)
//   stream: a last line {"error": {"grpc_code": n, "http_code": s, "message": msg, "http_status": text}}

import { STATUS_CODES } from "node:http";
import type { Registry } from "prom-client";
import type { CallContext } from "./backend.ts";
import { type CallRunner, toFloeError } from "./calls.ts";
import { FloeError, httpStatusOf } from "./errors.ts";
import type { GatewayRoute } from "./gateway-routes.ts";
import { jsonValues, parseJsonBody, readBody } from "./json-stream.ts";
import type { Operations } from "./operations.ts";
import { drained } from "./queue.ts";
import { createUiHandler, type UiOptions } from "./ui.ts";
import { clientCommonName } from "./wire.ts";

/** The parts of node's http and http2-compat request objects the handlers use. */
export interface HttpRequestLike extends AsyncIterable<Buffer | string> {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers?: Readonly<Record<string, string | string[] | undefined>>;
  readonly socket?: unknown;
}

/** The parts of node's http and http2-compat response objects the handlers use. */
export interface HttpResponseLike {
  writeHead(statusCode: number, headers: Record<string, string>): unknown;
  write(chunk: string): boolean;
  end(chunk?: string | Buffer): unknown;
  once(event: "close" | "drain", listener: () => void): unknown;
  removeListener(event: "close" | "drain", listener: () => void): unknown;
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
}

export type HttpListener = (req: HttpRequestLike, res: HttpResponseLike) => void;

const JSON_TYPE = { "content-type": "application/json" };

function sendJson(res: HttpResponseLike, status: number, body: unknown): void {
  res.writeHead(status, JSON_TYPE);
  res.end(JSON.stringify(body));
}

/** Go's http.Error: the text and a newline, as text/plain, not to be sniffed. */
function sendPlain(res: HttpResponseLike, status: number, text: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" });
  res.end(`${text}\n`);
}

function sendError(res: HttpResponseLike, err: FloeError): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  sendJson(res, httpStatusOf(err.grpcCode), { error: err.message, message: err.message, code: err.grpcCode });
}

function streamErrorLine(err: FloeError): string {
  const httpCode = httpStatusOf(err.grpcCode);
  const error = {
    grpc_code: err.grpcCode,
    http_code: httpCode,
    message: err.message,
    http_status: STATUS_CODES[httpCode] ?? "",
  };
  return `${JSON.stringify({ error })}\n`;
}

/** A context whose signal aborts when the response closes (finished, or the client went away) or on shutdown. */
function contextOf(res: HttpResponseLike, shutdown: AbortSignal, req?: HttpRequestLike): CallContext {
  const controller = new AbortController();
  res.once("close", () => controller.abort());
  // etcd's gateway passes the Authorization header on as the token
  const token = req?.headers?.authorization;
  return {
    signal: AbortSignal.any([controller.signal, shutdown]),
    token: typeof token === "string" ? token : undefined,
    commonName: clientCommonName(req?.socket),
  };
}

export interface HttpDeps {
  readonly ops: Operations;
  readonly runner: CallRunner;
  readonly routes: ReadonlyMap<string, GatewayRoute>;
  readonly registry: Registry;
  /** Aborts every call's context when the server shuts down. */
  readonly shutdown: AbortSignal;
  /** The dashboard under /ui (ui.ts). */
  readonly ui: UiOptions;
}

/**
 * etcd's JSON gateway is a gRPC client of its own member over one loopback
 * connection, so at most --max-concurrent-streams gateway calls (unary or
 * streaming) run at once and the rest wait for a stream to finish. floe
 * serves the gateway in-process and keeps the same limit with these slots.
 */
export class GatewaySlots {
  private inUse = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    readonly capacity: number,
    /** Told the number of waiting calls whenever it changes (a metric). */
    private readonly onWaiting: (n: number) => void = () => {},
  ) {}

  get active(): number {
    return this.inUse;
  }

  /** Resolves when a slot is held; rejects if `signal` aborts first (the client left). */
  acquire(signal: AbortSignal): Promise<void> {
    if (this.inUse < this.capacity) {
      this.inUse++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal.removeEventListener("abort", onAbort);
        this.inUse++;
        resolve();
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(grant);
        if (i >= 0) this.waiting.splice(i, 1);
        this.onWaiting(this.waiting.length);
        reject(FloeError.of("CANCELLED"));
      };
      this.waiting.push(grant);
      this.onWaiting(this.waiting.length);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  release(): void {
    this.inUse--;
    const next = this.waiting.shift();
    if (next === undefined) return;
    this.onWaiting(this.waiting.length);
    next();
  }
}

export function createHttpListener(deps: HttpDeps): HttpListener {
  const { ops, runner, routes, registry, shutdown } = deps;
  const ui = createUiHandler({ ops, registry, log: runner.log, shutdown, options: deps.ui });
  const maxBody = ops.limits.maxGatewayBodyBytes;
  const slots = new GatewaySlots(ops.limits.maxConcurrentStreams, (n) =>
    runner.metrics.gatewayWaiting.set(n),
  );

  async function gated(ctx: CallContext, call: () => Promise<void>): Promise<void> {
    await slots.acquire(ctx.signal);
    try {
      await call();
    } finally {
      slots.release();
    }
  }

  async function unary(route: GatewayRoute & { kind: "unary" }, req: HttpRequestLike, res: HttpResponseLike) {
    const ctx = contextOf(res, shutdown, req);
    await gated(ctx, async () => {
      const body = await runner.unary("gateway", route.method, ctx, async () =>
        route.run(parseJsonBody(await readBody(req, maxBody)), ctx),
      );
      sendJson(res, 200, body);
    });
  }

  async function stream(
    route: GatewayRoute & { kind: "stream" },
    req: HttpRequestLike,
    res: HttpResponseLike,
  ) {
    const ctx = contextOf(res, shutdown, req);
    await gated(ctx, async () => {
      const jsonIn = route.clientStreams
        ? jsonValues(req, maxBody)
        : (async function* () {
            yield parseJsonBody(await readBody(req, maxBody));
          })();
      res.writeHead(200, JSON_TYPE);
      try {
        for await (const json of runner.stream("gateway", route.method, ctx, route.run(jsonIn, ctx))) {
          if (res.writableEnded || ctx.signal.aborted) break;
          if (!res.write(`${JSON.stringify({ result: json })}\n`)) await drained(res);
        }
      } catch (e) {
        if (!res.writableEnded) res.write(streamErrorLine(e as FloeError));
      }
      if (!res.writableEnded) res.end();
    });
  }

  async function health(res: HttpResponseLike) {
    const report = await ops.health(contextOf(res, shutdown));
    // etcd 3.4's answer: {"health":"true"|"false"} and nothing else, sent as
    // text/plain; why a member is unhealthy goes in a header of its own.
    const type = { "content-type": "text/plain; charset=utf-8" };
    const headers = report.reason ? { ...type, "x-floe-health-reason": report.reason } : type;
    res.writeHead(report.healthy ? 200 : 503, headers);
    res.end(JSON.stringify({ health: String(report.healthy) }));
  }

  async function metrics(res: HttpResponseLike) {
    const text = await registry.metrics();
    res.writeHead(200, { "content-type": registry.contentType });
    res.end(text);
  }

  async function handle(req: HttpRequestLike, res: HttpResponseLike) {
    const path = (req.url ?? "/").split("?", 1)[0] ?? "/";
    const method = req.method ?? "GET";
    if (path === "/health") return health(res);
    if (path === "/version") {
      return sendJson(res, 200, { etcdserver: ops.versions.server, etcdcluster: ops.versions.cluster });
    }
    if (path === "/metrics") return metrics(res);
    const served = ui(path, req, res);
    if (served !== undefined) return served;
    const route = routes.get(path);
    // etcd's gateway answers these as Go's http.Error does: plain text
    if (route === undefined) return sendPlain(res, 404, "Not Found");
    if (method !== "POST") return sendPlain(res, 405, "Method Not Allowed");
    return route.kind === "unary" ? unary(route, req, res) : stream(route, req, res);
  }

  return (req, res) => {
    handle(req, res).catch((e: unknown) => sendError(res, toFloeError(e, runner.log, req.url ?? "http")));
  };
}
