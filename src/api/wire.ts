// gRPC on Node's core HTTP/2 stream API: the one wire layer for every method
// of the method table (methods.ts), unary and streaming. Profiles of a loaded
// leader showed a general-purpose framework's per-call plumbing (HTTP/2
// compat objects, async-iterable adapters, a signal per call) costing more
// CPU than Raft, the WAL and MVCC together, so this layer does only what the
// gRPC protocol asks:
//
//   request:  POST :path /<package.Service>/<Method>, content-type
//             application/grpc[+proto], optional grpc-encoding (identity or
//             gzip) and grpc-timeout; the body is a sequence of messages,
//             each a 5-byte envelope (compressed flag, u32be length) and the
//             protobuf bytes.
//   response: headers, zero or more enveloped messages, trailers with
//             grpc-status and grpc-message; a call that fails before any
//             message answers with one HEADERS frame ("trailers-only").
//
// A message whose envelope announces more than the receive limit is refused
// at once with RESOURCE_EXHAUSTED (as grpc-go does for etcd), before its body
// arrives; nothing is buffered beyond one message.

import { TLSSocket } from "node:tls";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import { type DescMessage, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { CallContext } from "./backend.ts";
import type { CallRunner } from "./calls.ts";
import { FloeError } from "./errors.ts";
import { fastDecoders, fastEncoders } from "./fast-codec.ts";
import { encodeHeaderBlock, type H2Stream, HpackEncoder } from "./h2/index.ts";
import type { ApiMethod } from "./methods.ts";
import type { ApiLimits } from "./options.ts";
import { AsyncQueue } from "./queue.ts";

const gunzipAsync = promisify(gunzip);

/**
 * grpc-message as the gRPC spec encodes it: UTF-8, with only bytes outside
 * printable ASCII and "%" percent-encoded (grpc-go and grpc-js decode it so;
 * encodeURIComponent would leave "etcdserver%3A ..." at the client).
 */
export function grpcMessageEncode(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length && plain; i++) {
    const c = message.charCodeAt(i);
    plain = c >= 0x20 && c <= 0x7e && c !== 0x25;
  }
  if (plain) return message;
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** grpc-timeout (an integer and a unit, H M S m u n) in whole milliseconds, at least 1. */
export function parseTimeoutMs(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]);
  const scale = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 }[m[2] as "H"];
  return Math.max(1, Math.ceil(n * scale));
}

/**
 * Splits a request body into gRPC messages as its chunks arrive. A chunk is
 * copied only when a message spans chunks, and then once, so a large message
 * sent in small packets costs linear time.
 */
export class EnvelopeReader {
  private chunks: Buffer[] = [];
  private have = 0;
  /** Bytes needed before the next message (or envelope header) is complete. */
  private need = 5;

  constructor(private readonly maxMessageBytes: number) {}

  /** Bytes held that do not yet form a whole message. */
  get pending(): number {
    return this.have;
  }

  /** Feeds a chunk; calls onMessage for each whole message; throws FloeError for a bad envelope. */
  push(chunk: Buffer, onMessage: (compressed: boolean, data: Buffer) => void): void {
    this.chunks.push(chunk);
    this.have += chunk.length;
    if (this.have < this.need) return;
    const buf = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.have);
    let at = 0;
    for (;;) {
      if (buf.length - at < 5) {
        this.need = 5;
        break;
      }
      const flag = buf[at] as number;
      const len = buf.readUInt32BE(at + 1);
      if (flag > 1) throw FloeError.of("INVALID_REQUEST", `gRPC message flag ${flag}`);
      if (len > this.maxMessageBytes) {
        throw FloeError.of("MESSAGE_TOO_LARGE", `(${len} vs. ${this.maxMessageBytes})`);
      }
      if (buf.length - at - 5 < len) {
        this.need = 5 + len;
        break;
      }
      onMessage(flag === 1, buf.subarray(at + 5, at + 5 + len));
      at += 5 + len;
    }
    const rest = at === 0 ? buf : buf.subarray(at);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.have = rest.length;
  }
}

/** One message in its envelope. */
function envelope(msg: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + msg.length);
  out[0] = 0;
  out.writeUInt32BE(msg.length, 1);
  out.set(msg, 5);
  return out;
}

const ACCEPT_ENCODING = "identity,gzip";
const RESPONSE_HEADERS = encodeHeaderBlock([
  [":status", "200"],
  ["content-type", "application/grpc"],
]);
const OK_TRAILERS = encodeHeaderBlock([["grpc-status", "0"]]);
const hpack = new HpackEncoder();

/**
 * The CN of the certificate a TLS client presented and the trusted CA
 * verified (--client-cert-auth), as etcd takes the user from it; undefined
 * on cleartext or without a verified certificate.
 */
export function clientCommonName(socket: unknown): string | undefined {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  const cn = socket.getPeerCertificate()?.subject?.CN;
  return typeof cn === "string" && cn !== "" ? cn : undefined;
}

/** A signal for calls without a deadline or a stream to cancel: nothing aborts it. */
const NEVER: AbortSignal = new AbortController().signal;

/** Answers a call that failed before any message with one HEADERS frame ("trailers-only"). */
function trailersOnly(stream: H2Stream, e: FloeError): void {
  if (stream.closed) return;
  if (stream.headersSent) {
    endWith(stream, e);
    return;
  }
  // a client still sending (an oversized message) is then told to stop (RST_STREAM NO_ERROR)
  stream.respond(
    hpack.encode([
      [":status", "200"],
      ["content-type", "application/grpc"],
      ["grpc-accept-encoding", ACCEPT_ENCODING],
      ["grpc-status", String(e.grpcCode)],
      ["grpc-message", grpcMessageEncode(e.message)],
    ]),
    true,
  );
}

/** Ends a stream whose headers went out with the given status in the trailers. */
function endWith(stream: H2Stream, e: FloeError | undefined): void {
  if (stream.closed || stream.writableEnded) return;
  const trailers =
    e === undefined
      ? OK_TRAILERS
      : hpack.encode([
          ["grpc-status", String(e.grpcCode)],
          ["grpc-message", grpcMessageEncode(e.message)],
        ]);
  stream.end(undefined, trailers);
}

/** Resolves once `stream` can take more output, or is gone. */
function drained(stream: H2Stream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.onDrain = undefined;
      stream.offClose(done);
      resolve();
    };
    stream.onDrain = done;
    stream.onClose(done);
  });
}

export interface WireDeps {
  readonly methods: readonly ApiMethod[];
  readonly runner: CallRunner;
  readonly limits: ApiLimits;
  /** Aborts every streaming call when the server shuts down. */
  readonly shutdown: AbortSignal;
}

/** Serves one HTTP/2 stream that carries a gRPC call. */
export type GrpcStreamHandler = (stream: H2Stream) => void;

type Headers = Readonly<Record<string, string>>;

export const isGrpcRequest = (headers: Headers): boolean =>
  (headers["content-type"] ?? "").startsWith("application/grpc");

export function createGrpcWire(deps: WireDeps): GrpcStreamHandler {
  const { runner, limits, shutdown } = deps;
  const byPath = new Map(deps.methods.map((m) => [m.path, m]));
  const maxMessageBytes = limits.maxRequestBytes + limits.grpcOverheadBytes;

  /** The protobuf bytes of one received message: inflated if compressed. */
  function inflate(compressed: boolean, data: Buffer, gzip: boolean): Buffer | Promise<Buffer> {
    if (!compressed) return data;
    if (!gzip) {
      throw FloeError.of("INVALID_REQUEST", "compressed gRPC message without grpc-encoding");
    }
    return gunzipAsync(data, { maxOutputLength: maxMessageBytes }).catch((e: NodeJS.ErrnoException) => {
      throw e.code === "ERR_BUFFER_TOO_LARGE"
        ? FloeError.of("MESSAGE_TOO_LARGE", `(inflated beyond ${maxMessageBytes})`)
        : FloeError.of("INVALID_REQUEST", `gzip: ${e.message}`);
    });
  }

  function parse(m: ApiMethod, bytes: Buffer): unknown {
    try {
      const fast = fastDecoders.get(m.input);
      return fast?.(bytes) ?? fromBinary(m.input, bytes);
    } catch (e) {
      throw FloeError.of("INVALID_REQUEST", `parse ${m.name}: ${(e as Error).message}`);
    }
  }

  function encode(output: DescMessage, msg: unknown): Buffer {
    const fast = fastEncoders.get(output);
    const bytes = fast?.(msg as never) ?? toBinary(output, msg as never);
    if (bytes.length > limits.maxSendBytes) {
      throw FloeError.of("MESSAGE_TOO_LARGE", `response of ${bytes.length} bytes`);
    }
    return envelope(bytes);
  }

  /** A waiting unary call's signal: aborts when the client goes away (the stream closes), at its deadline or on shutdown. */
  function cancelledWhenGone(stream: H2Stream, timeoutMs: number | undefined): AbortSignal {
    const gone = new AbortController();
    if (stream.closed) gone.abort();
    else stream.onClose(() => gone.abort());
    const signals = [gone.signal, shutdown];
    if (timeoutMs !== undefined) signals.push(AbortSignal.timeout(timeoutMs));
    return AbortSignal.any(signals);
  }

  const asFloe = (e: unknown, m: ApiMethod): FloeError =>
    e instanceof FloeError ? e : FloeError.of("INTERNAL", `${m.name}: ${String(e)}`);

  /** Unary: one message in, one out. The request's bytes ride along for proposals. */
  function serveUnary(
    stream: H2Stream,
    headers: Headers,
    m: ApiMethod & { kind: "unary" },
    gzip: boolean,
  ): void {
    const reader = new EnvelopeReader(maxMessageBytes);
    let message: { compressed: boolean; data: Buffer } | undefined;
    let failed = false;
    const fail = (e: unknown) => {
      if (failed) return;
      failed = true;
      trailersOnly(stream, asFloe(e, m));
    };
    const onMessage = (compressed: boolean, data: Buffer) => {
      if (message !== undefined) throw FloeError.of("INVALID_REQUEST", `${m.name} takes one message`);
      message = { compressed, data };
    };
    stream.onData = (chunk: Buffer) => {
      if (failed) return;
      try {
        reader.push(chunk, onMessage);
      } catch (e) {
        fail(e);
      }
    };
    stream.onEnd = () => {
      if (failed) return;
      if (message === undefined || reader.pending > 0) {
        return fail(FloeError.of("INVALID_REQUEST", `${m.name} takes one whole message`));
      }
      try {
        const bytes = inflate(message.compressed, message.data, gzip);
        if (bytes instanceof Promise) bytes.then(run).catch(fail);
        else run(bytes);
      } catch (e) {
        fail(e);
      }
    };
    const run = (bytes: Buffer) => {
      const req = parse(m, bytes);
      const timeoutMs = parseTimeoutMs(headers["grpc-timeout"] as string | undefined);
      const ctx: CallContext = {
        signal: m.waits
          ? cancelledWhenGone(stream, timeoutMs)
          : timeoutMs === undefined
            ? NEVER
            : AbortSignal.timeout(timeoutMs),
        requestBytes: bytes,
        token: headers.token,
        get commonName() {
          return clientCommonName(stream.socket);
        },
      };
      runner
        .unary("grpc", m.name, ctx, () => m.unary(req as never, ctx))
        .then((resp) => {
          if (stream.closed) return;
          const out = encode(m.output, resp);
          stream.respond(RESPONSE_HEADERS);
          stream.end(out, OK_TRAILERS);
        })
        .catch(fail);
    };
  }

  /** Server and bidi streams: requests as an AsyncIterable, responses written at the client's pace. */
  function serveStream(
    stream: H2Stream,
    headers: Headers,
    m: ApiMethod & { kind: "server_streaming" | "bidi_streaming" },
    gzip: boolean,
  ): void {
    const controller = new AbortController();
    const timeoutMs = parseTimeoutMs(headers["grpc-timeout"] as string | undefined);
    const signals = [controller.signal, shutdown];
    if (timeoutMs !== undefined) signals.push(AbortSignal.timeout(timeoutMs));
    const ctx: CallContext = {
      signal: AbortSignal.any(signals),
      token: headers.token,
      get commonName() {
        return clientCommonName(stream.socket);
      },
    };
    const requests = new AsyncQueue<unknown>(limits.streamBufferMessages);
    const reader = new EnvelopeReader(maxMessageBytes);
    // messages are parsed in arrival order, also when some must be inflated
    let chain: Promise<void> = Promise.resolve();
    const onMessage = (compressed: boolean, data: Buffer) => {
      chain = chain.then(async () => {
        const req = parse(m, await inflate(compressed, data, gzip));
        if (requests.length >= limits.streamBufferMessages) stream.pause();
        await requests.push(req);
        if (requests.length < limits.streamBufferMessages) stream.resume();
      });
      chain.catch((e: unknown) => requests.fail(asFloe(e, m)));
    };
    stream.onData = (chunk: Buffer) => {
      try {
        reader.push(chunk, onMessage);
      } catch (e) {
        requests.fail(e);
        stream.pause();
      }
    };
    stream.onEnd = () => {
      chain = chain.then(() => {
        if (reader.pending > 0) throw FloeError.of("INVALID_REQUEST", "request stream ends inside a message");
        requests.end();
      });
      chain.catch((e: unknown) => requests.fail(asFloe(e, m)));
    };
    stream.onClose(() => {
      controller.abort();
      requests.end();
    });

    let source: AsyncIterable<unknown>;
    if (m.kind === "bidi_streaming") {
      source = m.bidi(requests as AsyncIterable<never>, ctx);
      // watch and keepalive clients may wait for the response headers before their first message
      stream.respond(RESPONSE_HEADERS);
    } else {
      source = (async function* () {
        let req: unknown;
        let count = 0;
        for await (const r of requests) {
          req = r;
          count++;
        }
        if (count !== 1) throw FloeError.of("INVALID_REQUEST", `${m.name} takes one message`);
        yield* m.serverStream(req as never, ctx);
      })();
    }

    (async () => {
      for await (const resp of runner.stream(
        "grpc",
        m.name,
        ctx,
        source,
        m.kind === "server_streaming" ? "server_stream" : "bidi_stream",
      )) {
        if (stream.closed) break;
        const out = encode(m.output, resp);
        if (!stream.headersSent) stream.respond(RESPONSE_HEADERS);
        if (!stream.write(out)) await drained(stream);
      }
      if (stream.headersSent) endWith(stream, undefined);
      else trailersOnly(stream, FloeError.of("INVALID_REQUEST", "no response")); // unreachable for etcd's RPCs
    })().catch((e: unknown) => {
      // runner.stream has made every failure a FloeError (a cancelled call CANCELLED)
      const err = asFloe(e, m);
      if (stream.headersSent) endWith(stream, err);
      else trailersOnly(stream, err);
    });
  }

  return (stream) => {
    const headers = stream.headers;
    const path = headers[":path"] ?? "";
    const m = byPath.get(path);
    if (m === undefined || headers[":method"] !== "POST") {
      return trailersOnly(stream, FloeError.of("NOT_SUPPORTED", `unknown method ${path}`));
    }
    const ct = headers["content-type"];
    if (ct !== "application/grpc" && ct !== "application/grpc+proto") {
      return trailersOnly(stream, FloeError.of("NOT_SUPPORTED", `content-type ${ct}`));
    }
    const enc = headers["grpc-encoding"];
    if (enc !== undefined && enc !== "identity" && enc !== "gzip") {
      return trailersOnly(stream, FloeError.of("NOT_SUPPORTED", `grpc-encoding ${enc}`));
    }
    const gzip = enc === "gzip";
    try {
      if (m.kind === "unary") serveUnary(stream, headers, m, gzip);
      else serveStream(stream, headers, m, gzip);
    } catch (e) {
      // a bug here must cost one call, never the member
      runner.log.error({ err: e, method: m.name }, "gRPC wire layer failed");
      trailersOnly(stream, FloeError.of("INTERNAL", String(e)));
    }
  };
}
