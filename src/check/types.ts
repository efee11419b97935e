/**
 * Shared types of the linearizability checker. They are deliberately generic
 * so that a simulator, a Maelstrom runner and the file parsers all feed the
 * same search.
 */

/**
 * One client operation as observed from outside the system.
 *
 * `call` and `ret` are timestamps on any monotonic clock (wall time, logical
 * ticks, line numbers). Two operations whose intervals merely touch
 * (`a.ret === b.call`) are treated as concurrent, which can only make the
 * checker more permissive, never report a false violation.
 *
 * An operation whose outcome is unknown (a timeout, a crash, Jepsen's `:info`)
 * has `ret: Infinity` and `output: undefined`: it may have taken effect at any
 * moment after `call`, or never. An operation that definitely failed (did not
 * take effect) must simply be left out of the history.
 */
export interface Operation<I, O> {
  clientId: number;
  input: I;
  call: number;
  output: O | undefined;
  ret: number;
}

/**
 * A sequential specification.
 *
 * `step` must be a pure function. When `output` is `undefined` the outcome is
 * unknown: `step` must accept the operation in every state and return the
 * state as if the operation had taken effect (the "never took effect" case is
 * covered by the checker, which may always order such an operation last).
 */
export interface Model<S, I, O> {
  init(): S;
  step(state: S, input: I, output: O | undefined): { ok: boolean; state: S };
  /** Must agree with `hash`: equal states have equal hashes. */
  equal(a: S, b: S): boolean;
  hash(state: S): string | number;
  /**
   * Split a history into independent sub-histories (e.g. one per key), each
   * checked on its own from `init()`. A history is linearizable iff every
   * part is, so this is where large histories become tractable.
   */
  partition?(ops: Operation<I, O>[]): Operation<I, O>[][];
  describeOperation?(input: I, output: O | undefined): string;
  describeState?(state: S): string;
}

export interface CheckOptions {
  /** Give up after this long and answer "unknown". Default: no limit. */
  timeoutMs?: number;
}

export type Verdict = "linearizable" | "not-linearizable" | "unknown";

/** An operation as it appears in an explanation, already rendered as text. */
export interface ExplainedOperation<I, O> {
  op: Operation<I, O>;
  description: string;
}

export interface LinearizedStep<I, O> extends ExplainedOperation<I, O> {
  /** The model state right after this operation took effect. */
  stateAfter: string;
}

export interface StuckOperation<I, O> extends ExplainedOperation<I, O> {
  /**
   * "rejected": the model does not allow this operation in the state reached
   * by the prefix. "dead-end": it is allowed, but every continuation after it
   * was already explored and failed.
   */
  reason: "rejected" | "dead-end";
  /** True for the operation whose return was reached without it taking effect. */
  overdue: boolean;
}

/**
 * Why a history is not linearizable: the longest prefix of operations that
 * could be put in a legal order, and the operations that could then not be
 * placed next. Only the failing partition is described.
 */
export interface Violation<I, O> {
  /** Index of the failing partition, and how many there were. */
  partition: number;
  partitions: number;
  /** Number of operations in the failing partition. */
  partitionSize: number;
  /** Model state at the start of the partition. */
  initialState: string;
  prefix: LinearizedStep<I, O>[];
  stuck: StuckOperation<I, O>[];
}

export interface CheckResult<I, O> {
  verdict: Verdict;
  /** Operations checked (definite failures are not part of a history). */
  operations: number;
  partitions: number;
  elapsedMs: number;
  /** Set when the verdict is "not-linearizable". */
  violation?: Violation<I, O>;
}
