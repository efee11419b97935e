// Turns the simulator's client history into the checker's lin-kv operations.

import {
  checkOperations,
  formatViolation,
  type LinKvInput,
  type LinKvOutput,
  type LinKvState,
  linKvModel,
  type Model,
  type Operation,
} from "../check/index.ts";
import type { HistoryEntry } from "./client.ts";

type SimInput = LinKvInput | { type: "delete"; key: number };
type SimOutput = LinKvOutput | { type: "delete_ok" };

/** Maelstrom's lin-kv registers plus a delete, which leaves its key without a value. */
export const simKvModel: Model<LinKvState, SimInput, SimOutput> = {
  ...(linKvModel as unknown as Model<LinKvState, SimInput, SimOutput>),
  step(state, input, output) {
    if (input.type === "delete")
      return { ok: output === undefined || output.type === "delete_ok", state: null };
    return linKvModel.step(state, input, output as LinKvOutput | undefined);
  },
  describeOperation(input, output) {
    if (input.type !== "delete") return linKvModel.describeOperation?.(input, output as LinKvOutput) ?? "";
    return output === undefined ? `delete ${input.key} (outcome unknown)` : `delete ${input.key} -> ok`;
  },
};

/**
 * A delete becomes one delete per key it covers, each over the same interval:
 * a necessary condition (every key's history must be linearizable), though
 * not a check that the keys went together or of the count deleted.
 */
export function toLinKv(h: readonly HistoryEntry[]): Operation<SimInput, SimOutput>[] {
  return h.flatMap((e): Operation<SimInput, SimOutput>[] => {
    const r = e.request;
    if (r.op === "delete") {
      const output: SimOutput | undefined = e.result === undefined ? undefined : { type: "delete_ok" };
      return (e.covers ?? []).map((key) => ({
        clientId: e.client,
        input: { type: "delete", key },
        call: e.call,
        ret: e.ret,
        output,
      }));
    }
    const input: LinKvInput =
      r.op === "read"
        ? { type: "read", key: r.key }
        : r.op === "write"
          ? { type: "write", key: r.key, value: r.value }
          : { type: "cas", key: r.key, from: r.from, to: r.to };
    let output: SimOutput | undefined;
    const res = e.result;
    if (res === undefined) output = undefined;
    else if (res.type === "read_ok") {
      output = res.value === undefined ? { type: "error", code: 20 } : { type: "read_ok", value: res.value };
    } else if (res.type === "delete_ok") output = { type: "delete_ok" };
    else output = res;
    return [{ clientId: e.client, input, call: e.call, ret: e.ret, output }];
  });
}

export type LinVerdict = "linearizable" | "not-linearizable" | "unknown";

export function checkHistory(
  h: readonly HistoryEntry[],
  timeoutMs = 10_000,
): { verdict: LinVerdict; explanation?: string } {
  const res = checkOperations(simKvModel, toLinKv(h), { timeoutMs });
  return { verdict: res.verdict, explanation: res.violation ? formatViolation(res.violation) : undefined };
}
