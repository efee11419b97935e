/**
 * floe's linearizability checker. It owns one promise: given a history of
 * client operations (each invoked, then completed with a reply, a definite
 * failure, or an unknown outcome) and a sequential model, it decides whether
 * some order of the operations, consistent with real time and with the
 * model, explains every reply, and when none does it says where the longest
 * legal order gets stuck. It depends on nothing else in floe, so the
 * simulator, a Maelstrom runner and the `check` CLI can all use it.
 *
 * The search is Wing & Gong / Lowe's just-in-time linearization with
 * memoized configurations, as in Porcupine, over independent partitions
 * (e.g. per key) searched in interleaved slices.
 */
export { checkOperations } from "./check.ts";
export { type FormatOptions, formatViolation } from "./explain.ts";
export { HistoryRecorder, type OpHandle } from "./history.ts";
export { type KvInput, type KvOutput, type KvState, kvModel } from "./models/kv.ts";
export {
  canonicalJson,
  type Json,
  KEY_DOES_NOT_EXIST,
  type LinKvInput,
  type LinKvOutput,
  type LinKvState,
  linKvModel,
  linKvOutcome,
  PRECONDITION_FAILED,
} from "./models/linkv.ts";
export {
  type RegisterInput,
  type RegisterOutput,
  type RegisterState,
  registerModel,
} from "./models/register.ts";
export {
  checkHistory,
  type ParsedHistory,
  ParseError,
  parseHistory,
  parseJepsenLog,
  parseKvEdn,
} from "./parse.ts";
export type {
  CheckOptions,
  CheckResult,
  ExplainedOperation,
  LinearizedStep,
  Model,
  Operation,
  StuckOperation,
  Verdict,
  Violation,
} from "./types.ts";
