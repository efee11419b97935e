import { type SearchViolation, searchPartition } from "./search.ts";
import type { CheckOptions, CheckResult, Model, Operation, Violation } from "./types.ts";

/**
 * Decides whether `ops` is linearizable with respect to `model`.
 *
 * The history is split with `model.partition` (when defined) and each part is
 * searched independently; the first part found not linearizable is explained
 * in `violation`. With `timeoutMs`, a search that runs out of time yields the
 * verdict "unknown" (unless a violation was already found).
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
  const operations = parts.reduce((sum, p) => sum + p.length, 0);
  let timedOut = false;
  for (let i = 0; i < parts.length; i++) {
    const outcome = searchPartition(model, parts[i], deadline);
    if (outcome.kind === "violation") {
      return {
        verdict: "not-linearizable",
        operations,
        partitions: parts.length,
        elapsedMs: performance.now() - start,
        violation: explainViolation(model, parts[i], outcome, i, parts.length),
      };
    }
    if (outcome.kind === "timeout") {
      // The deadline is shared, so every later partition would time out too.
      timedOut = true;
      break;
    }
  }
  return {
    verdict: timedOut ? "unknown" : "linearizable",
    operations,
    partitions: parts.length,
    elapsedMs: performance.now() - start,
  };
}

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
    prefix: v.prefix.map((i, k) => ({
      op: ops[i],
      description: describe(ops[i]),
      stateAfter: describeState(v.prefixStates[k + 1]),
    })),
    stuck: v.candidates.map((i, k) => ({
      op: ops[i],
      description: describe(ops[i]),
      reason: v.rejected[k] ? "rejected" : "dead-end",
      overdue: i === v.overdue,
    })),
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
