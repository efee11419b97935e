// Running one call on behalf of either protocol: turn whatever it threw into
// a registry error (logging the ones that are bugs), and count it.

import type { Logger } from "pino";
import type { CallContext } from "./backend.ts";
import { Errors, FloeError } from "./errors.ts";
import type { ApiMetrics, GrpcKind, Protocol } from "./metrics.ts";

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
    const started = performance.now();
    try {
      const resp = await fn();
      this.metrics.calls.add(protocol, "unary", method, 0);
      return resp;
    } catch (e) {
      const err = toFloeError(e, this.log, method, ctx);
      this.metrics.calls.add(protocol, "unary", method, err.grpcCode);
      throw err;
    } finally {
      this.metrics.requestSeconds.series(protocol, method).observe((performance.now() - started) / 1000);
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
      this.metrics.calls.add(protocol, kind, method, code);
    }
  }
}
