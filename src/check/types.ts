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
 * has `ret: Infinity` and `output: undefined` (any output is then ignored):
 * it may have taken effect at any moment after `call`, or never. An operation
 * that definitely failed (did not take effect) must simply be left out of the
 * history.
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
 * `step` must be a pure function. The checker passes `output: undefined`
 * exactly for operations with `ret: Infinity`, whose outcome is unknown:
 * `step` must then accept the operation in every state and return the state
 * as if it had taken effect (the "never took effect" case is covered by the
 * checker, which may always order such an operation after all others).
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
  /** True for the operation whose return was reached without it taking effect. */
  overdue: boolean;
}

/**
 * Why a history is not linearizable: the longest prefix of operations that
 * could be put in a legal order, and the operations that could then not be
 * placed next. Only the failing partition is described.
 *
 * Every operation in `stuck` is rejected by the model in the state the prefix
 * ends in: had one been allowed, the search would have found a longer prefix.
 * For the same reason unknown-outcome operations that were callable by then
 * appear in the prefix, as if they took effect, never in `stuck`.
 */
export interface Violation<I, O> {
  /** Index of the failing partition, and how many there were. */
  partition: number;
  partitions: number;
  /** Number of operations in the failing partition. */
  partitionSize: number;
  /** Model state at the start of the partition. */
  initialState: string;
  /** Model state at the end of the prefix, in which every `stuck` operation is rejected. */
  finalState: string;
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
  /** Set when the verdict is "unknown": out of time, or too many states to explore. */
  unknownReason?: "timeout" | "too-large";
}
