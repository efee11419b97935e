// Turns the simulator's client history into the checker's lin-kv operations.

import {
  checkOperations,
  formatViolation,
  type LinKvInput,
  type LinKvOutput,
  linKvModel,
  type Operation,
} from "../check/index.ts";
import type { HistoryEntry } from "./client.ts";

export function toLinKv(h: readonly HistoryEntry[]): Operation<LinKvInput, LinKvOutput>[] {
  return h.map((e) => {
    const r = e.request;
    const input: LinKvInput =
      r.op === "read"
        ? { type: "read", key: r.key }
        : r.op === "write"
          ? { type: "write", key: r.key, value: r.value }
          : { type: "cas", key: r.key, from: r.from, to: r.to };
    let output: LinKvOutput | undefined;
    const res = e.result;
    if (res === undefined) output = undefined;
    else if (res.type === "read_ok") {
      output = res.value === undefined ? { type: "error", code: 20 } : { type: "read_ok", value: res.value };
    } else output = res;
    return { clientId: e.client, input, call: e.call, ret: e.ret, output };
  });
}

export type LinVerdict = "linearizable" | "not-linearizable" | "unknown";

export function checkHistory(
  h: readonly HistoryEntry[],
  timeoutMs = 10_000,
): { verdict: LinVerdict; explanation?: string } {
  const res = checkOperations(linKvModel, toLinKv(h), { timeoutMs });
  return { verdict: res.verdict, explanation: res.violation ? formatViolation(res.violation) : undefined };
}
