// Running one call on behalf of either protocol: turn whatever it threw into
// a registry error (logging the ones that are bugs), and count it.

import type { Logger } from "pino";
import type { CallContext } from "./backend.ts";
import { Errors, FloeError, GrpcCode } from "./errors.ts";
import type { ApiMetrics } from "./metrics.ts";

export type Protocol = "grpc" | "gateway";

const codeNames = new Map<number, string>(Object.entries(GrpcCode).map(([name, code]) => [code, name]));

/** The name of a gRPC code for metric labels, e.g. "OUT_OF_RANGE". */
export const grpcCodeName = (code: number): string => codeNames.get(code) ?? String(code);

/** gRPC code names as grpc-go prints them (the grpc_code label etcd's dashboards match on). */
const GO_CODE_NAMES = [
  "OK",
  "Canceled",
  "Unknown",
  "InvalidArgument",
  "DeadlineExceeded",
  "NotFound",
  "AlreadyExists",
  "PermissionDenied",
  "ResourceExhausted",
  "FailedPrecondition",
  "Aborted",
  "OutOfRange",
  "Unimplemented",
  "Internal",
  "Unavailable",
  "DataLoss",
  "Unauthenticated",
];

export type GrpcKind = "unary" | "server_stream" | "bidi_stream";

/** The proto package of each service that is not etcdserverpb's, for the grpc_service label. */
const PACKAGE_OF_SERVICE: Readonly<Record<string, string>> = { Election: "v3electionpb", Lock: "v3lockpb" };

/**
 * A FloeError for anything a call threw. Cancellation becomes CANCELLED; any
 * other unknown error is a bug: logged with its stack and answered INTERNAL,
 * so a faulty handler fails one call, never the process.
 */
export function toFloeError(e: unknown, log: Logger, method: string, ctx?: CallContext): FloeError {
  if (e instanceof FloeError) return e;
  const reason: unknown = ctx?.signal.aborted ? ctx.signal.reason : e;
  if (reason instanceof Error && reason.name === "TimeoutError")
    return FloeError.of("DEADLINE_EXCEEDED", method);
  if (ctx?.signal.aborted || (e instanceof Error && e.name === "AbortError")) {
    return FloeError.of("CANCELLED", method);
  }
  log.error({ err: e, method }, "unexpected error in API handler");
  return new FloeError(Errors.INTERNAL, { cause: e });
}

export class CallRunner {
  constructor(
    readonly log: Logger,
    readonly metrics: ApiMetrics,
  ) {}

  /** Runs a unary call; resolves with its response or rejects with a FloeError. */
  async unary<T>(protocol: Protocol, method: string, ctx: CallContext, fn: () => Promise<T>): Promise<T> {
    const stopTimer = this.metrics.requestSeconds.startTimer({ protocol, method });
    try {
      const resp = await fn();
      this.metrics.requests.inc({ protocol, method, code: "OK" });
      if (protocol === "grpc") this.handled("unary", method, 0);
      return resp;
    } catch (e) {
      const err = toFloeError(e, this.log, method, ctx);
      this.metrics.requests.inc({ protocol, method, code: grpcCodeName(err.grpcCode) });
      if (protocol === "grpc") this.handled("unary", method, err.grpcCode);
      throw err;
    } finally {
      stopTimer();
    }
  }

  /** Wraps a response stream: errors become FloeErrors, the call is counted when it ends. */
  async *stream<T>(
    protocol: Protocol,
    method: string,
    ctx: CallContext,
    source: AsyncIterable<T>,
    kind: GrpcKind = "bidi_stream",
  ): AsyncGenerator<T> {
    this.metrics.streams.inc({ method });
    let code = 0;
    try {
      yield* source;
    } catch (e) {
      const err = toFloeError(e, this.log, method, ctx);
      code = err.grpcCode;
      throw err;
    } finally {
      this.metrics.streams.dec({ method });
      this.metrics.requests.inc({ protocol, method, code: grpcCodeName(code) });
      if (protocol === "grpc") this.handled(kind, method, code);
    }
  }

  private handled(kind: GrpcKind, method: string, code: number): void {
    const dot = method.indexOf(".");
    const service = method.slice(0, dot);
    this.metrics.grpcHandled.inc({
      grpc_type: kind,
      grpc_service: `${PACKAGE_OF_SERVICE[service] ?? "etcdserverpb"}.${service}`,
      grpc_method: method.slice(dot + 1),
      grpc_code: GO_CODE_NAMES[code] ?? String(code),
    });
  }
}
