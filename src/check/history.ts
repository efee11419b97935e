import type { Operation } from "./types.ts";

/** A handle for an operation in flight, returned by `HistoryRecorder.invoke`. */
export type OpHandle = number;

/**
 * Builds a history as a simulator or test runner observes it: invoke an
 * operation, then complete it with `ok` (a definite reply), `fail` (a
 * definite "did not take effect") or `info` (outcome unknown). Operations
 * still open when `operations()` is called count as unknown.
 *
 * Timestamps default to a counter that ticks on every event, which is right
 * whenever events are recorded in the order they happened. Pass explicit
 * times (e.g. simulated clock readings) either always or never.
 */
export class HistoryRecorder<I, O> {
  private readonly ops: (Operation<I, O> | undefined)[] = [];
  private readonly open = new Set<OpHandle>();
  private clock = 0;

  invoke(clientId: number, input: I, time?: number): OpHandle {
    const call = this.tick(time);
    this.open.add(this.ops.length);
    return this.ops.push({ clientId, input, call, output: undefined, ret: Number.POSITIVE_INFINITY }) - 1;
  }

  ok(handle: OpHandle, output: O, time?: number): void {
    const op = this.close(handle);
    op.output = output;
    op.ret = this.tick(time);
  }

  /** The operation certainly did not take effect: it is left out of the history. */
  fail(handle: OpHandle): void {
    this.close(handle);
    this.ops[handle] = undefined;
  }

  /** The outcome is unknown: it may take effect at any later time, or never. */
  info(handle: OpHandle): void {
    this.close(handle);
  }

  /** The history so far, in invocation order, ready for `checkOperations`. */
  operations(): Operation<I, O>[] {
    return this.ops.filter((op): op is Operation<I, O> => op !== undefined).map((op) => ({ ...op }));
  }

  private close(handle: OpHandle): Operation<I, O> {
    const op = this.ops[handle];
    if (op === undefined || !this.open.delete(handle)) {
      throw new Error(`operation ${handle} is not in flight`);
    }
    return op;
  }

  private tick(time: number | undefined): number {
    if (time === undefined) return this.clock++;
    this.clock = Math.max(this.clock, time + 1);
    return time;
  }
}
