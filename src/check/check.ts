import { PartitionSearch, type SearchViolation } from "./search.ts";
import { SearchLimitError } from "./tables.ts";
import type { CheckOptions, CheckResult, Model, Operation, Verdict, Violation } from "./types.ts";

/**
 * Decides whether `ops` is linearizable with respect to `model`.
 *
 * The history is split with `model.partition` (when defined) and each part is
 * searched independently; the first part found not linearizable is explained
 * in `violation`. Partitions are searched in interleaved slices, so a
 * violation anywhere is found about as fast as in the cheapest failing part.
 * The verdict is "unknown" when `timeoutMs` runs out first, or when the
 * search outgrows memory limits (see `unknownReason`).
 *
 * Throws a RangeError for malformed operations (NaN or infinite call times,
 * or a return before its call).
 */
export function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  ops: Operation<I, O>[],
  opts: CheckOptions = {},
): CheckResult<I, O> {
  const start = performance.now();
  const deadline = opts.timeoutMs === undefined ? Number.POSITIVE_INFINITY : start + opts.timeoutMs;
  ops.forEach(validate);
  const parts = model.partition ? model.partition(ops) : [ops];
  const result = (verdict: Verdict, extra: Partial<CheckResult<I, O>> = {}): CheckResult<I, O> => ({
    verdict,
    operations: parts.reduce((sum, p) => sum + p.length, 0),
    partitions: parts.length,
    elapsedMs: performance.now() - start,
    ...extra,
  });
  try {
    const searches: (PartitionSearch<S, I, O> | undefined)[] = parts.map(
      (p) => new PartitionSearch(model, p),
    );
    let active = searches.map((_, i) => i);
    // Round-robin in growing slices: cheap partitions finish (or fail) early,
    // and the clock is read only between slices, never in the search loop.
    for (let slice = 1 << 12; active.length > 0; slice = Math.min(slice * 2, MAX_SLICE)) {
      const still: number[] = [];
      for (const i of active) {
        // Every active partition is unfinished, so running out of time now means "unknown".
        if (performance.now() > deadline) return result("unknown", { unknownReason: "timeout" });
        const search = searches[i]!;
        const r = search.run(slice);
        if (r === "violation") {
          const violation = explainViolation(model, parts[i], search.violation(), i, parts.length);
          return result("not-linearizable", { violation });
        }
        if (r === "running") still.push(i);
        else searches[i] = undefined; // let its tables be collected
      }
      active = still;
    }
  } catch (e) {
    if (e instanceof SearchLimitError) return result("unknown", { unknownReason: "too-large" });
    throw e;
  }
  return result("linearizable");
}

/** About 10-20 ms of search: the granularity of timeouts and of interleaving. */
const MAX_SLICE = 1 << 18;

function validate<I, O>(op: Operation<I, O>, index: number): void {
  if (!Number.isFinite(op.call) || Number.isNaN(op.ret) || op.ret < op.call) {
    throw new RangeError(
      `operation ${index} (client ${op.clientId}) has call ${op.call} and return ${op.ret}; ` +
        "need a finite call and a return no earlier than the call (Infinity when unknown)",
    );
  }
}

function explainViolation<S, I, O>(
  model: Model<S, I, O>,
  ops: Operation<I, O>[],
  v: SearchViolation<S>,
  partition: number,
  partitions: number,
): Violation<I, O> {
  const describeState = (id: number) => describeStateWith(model, v.states[id]);
  const describe = (op: Operation<I, O>) => describeOperationWith(model, op);
  return {
    partition,
    partitions,
    partitionSize: ops.length,
    initialState: describeState(v.prefixStates[0]),
    finalState: describeState(v.prefixStates[v.prefixStates.length - 1]),
    prefix: v.prefix.map((i, k) => ({
      op: ops[i],
      description: describe(ops[i]),
      stateAfter: describeState(v.prefixStates[k + 1]),
    })),
    stuck: v.candidates.map((i) => ({ op: ops[i], description: describe(ops[i]), overdue: i === v.overdue })),
  };
}

function describeOperationWith<S, I, O>(model: Model<S, I, O>, op: Operation<I, O>): string {
  const output = op.ret === Number.POSITIVE_INFINITY ? undefined : op.output;
  if (model.describeOperation) return model.describeOperation(op.input, output);
  return `${safeJson(op.input)} -> ${output === undefined ? "?" : safeJson(output)}`;
}

function describeStateWith<S, I, O>(model: Model<S, I, O>, state: S): string {
  return model.describeState ? model.describeState(state) : safeJson(state);
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
