// A direct gRPC path for the hot unary KV calls (Range, Put, DeleteRange,
// Txn) on Node's core HTTP/2 stream API. Profiles of a loaded leader showed
// the general path (HTTP/2 compat objects, Connect's async-iterable plumbing
// and an AbortSignal per call) costing more CPU than Raft, the WAL and MVCC
// together. The wire format is the same gRPC: a 5-byte envelope
// (compressed flag, u32be length) around the protobuf message, response
// headers, one message, then grpc-status trailers. Anything this path does not
// handle (compressed messages, other methods, streams) goes the general way.

import type http2 from "node:http2";
import { type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import type { CallContext } from "./backend.ts";
import type { CallRunner } from "./calls.ts";
import { FloeError } from "./errors.ts";
import * as pb from "./gen/etcdserverpb/rpc_pb.ts";
import { grpcMessageEncode } from "./grpc.ts";
import type { Operations } from "./operations.ts";

interface Route {
  method: string;
  input: DescMessage;
  output: DescMessage;
  call: (req: never, ctx: CallContext) => Promise<unknown>;
}

function route<I extends DescMessage, O extends DescMessage>(
  method: string,
  input: I,
  output: O,
  call: (req: MessageShape<I>, ctx: CallContext) => Promise<MessageShape<O>>,
): Route {
  return { method, input, output, call: call as Route["call"] };
}

/** A signal for calls without a deadline: nothing here aborts them (the stream's close drops the answer). */
const NEVER: AbortSignal = new AbortController().signal;

/** grpc-timeout (an integer and a unit, H M S m u n) in whole milliseconds, at least 1. */
export function parseTimeoutMs(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]);
  const scale = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 }[m[2] as "H"];
  return Math.max(1, Math.ceil(n * scale));
}

export type FastGrpc = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean;

/** Returns a handler that serves a stream and returns true, or returns false to leave it to the general path. */
export function createFastGrpc(ops: Operations, runner: CallRunner): FastGrpc {
  const routes = new Map<string, Route>([
    ["/etcdserverpb.KV/Range", route("KV.Range", pb.RangeRequestSchema, pb.RangeResponseSchema, ops.range)],
    ["/etcdserverpb.KV/Put", route("KV.Put", pb.PutRequestSchema, pb.PutResponseSchema, ops.put)],
    [
      "/etcdserverpb.KV/DeleteRange",
      route("KV.DeleteRange", pb.DeleteRangeRequestSchema, pb.DeleteRangeResponseSchema, ops.deleteRange),
    ],
    ["/etcdserverpb.KV/Txn", route("KV.Txn", pb.TxnRequestSchema, pb.TxnResponseSchema, ops.txn)],
  ]);
  const maxBytes = ops.limits.maxRequestBytes + ops.limits.grpcOverheadBytes;

  const fail = (stream: http2.ServerHttp2Stream, e: FloeError) => {
    if (stream.destroyed || stream.headersSent) return;
    stream.respond(
      {
        ":status": 200,
        "content-type": "application/grpc",
        "grpc-status": String(e.grpcCode),
        "grpc-message": grpcMessageEncode(e.message),
      },
      { endStream: true },
    );
  };

  return (stream, headers) => {
    const r = routes.get(headers[":path"] ?? "");
    if (!r || headers[":method"] !== "POST") return false;
    const ct = headers["content-type"] ?? "";
    if (ct !== "application/grpc" && ct !== "application/grpc+proto") return false;
    const enc = headers["grpc-encoding"];
    if (enc !== undefined && enc !== "identity") return false;

    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    stream.on("data", (c: Buffer) => {
      size += c.length;
      if (size > maxBytes + 5) tooLarge = true;
      else chunks.push(c);
    });
    stream.on("error", () => {});
    stream.once("end", () => {
      try {
        serve();
      } catch (e) {
        // a bug here must cost one call, never the member
        runner.log.error({ err: e, method: r.method }, "fast gRPC path failed");
        fail(stream, FloeError.of("INTERNAL", String(e)));
      }
    });
    const serve = () => {
      if (tooLarge) return fail(stream, FloeError.of("REQUEST_TOO_LARGE"));
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      if (body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) {
        return fail(stream, FloeError.of("INVALID_REQUEST", "expected one uncompressed gRPC message"));
      }
      let req: unknown;
      try {
        req = fromBinary(r.input, body.subarray(5));
      } catch (e) {
        return fail(stream, FloeError.of("INVALID_REQUEST", `parse ${r.method}: ${(e as Error).message}`));
      }
      const timeoutMs = parseTimeoutMs(headers["grpc-timeout"] as string | undefined);
      const ctx: CallContext = {
        signal: timeoutMs === undefined ? NEVER : AbortSignal.timeout(timeoutMs),
        requestBytes: body.subarray(5),
      };
      runner
        .unary("grpc", r.method, ctx, () => r.call(req as never, ctx))
        .then(
          (resp) => {
            if (stream.destroyed) return;
            const msg = toBinary(r.output, resp as never);
            const out = Buffer.allocUnsafe(5 + msg.length);
            out[0] = 0;
            out.writeUInt32BE(msg.length, 1);
            out.set(msg, 5);
            stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
            stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
            stream.end(out);
          },
          (e: unknown) => fail(stream, e instanceof FloeError ? e : FloeError.of("INTERNAL", String(e))),
        );
    };
    return true;
  };
}
