// Turns the simulator's client history into the checker's lin-kv operations.

import {
  checkOperations,
  formatViolation,
  type LinKvInput,
  type LinKvOutput,
  linKvModel,
  type Model,
  type Operation,
} from "../check/index.ts";
import { type HistoryEntry, leasedKey } from "./client.ts";

type SimInput =
  | LinKvInput
  | { type: "write"; key: number; value: number; lease: number }
  | { type: "delete"; key: number }
  /** A lease's end (revoke or expiry): deletes the key if its live version holds that lease. */
  | { type: "lease-end"; key: number; lease: number; why: "revoke" | "expiry" };
type SimOutput = LinKvOutput | { type: "delete_ok" } | { type: "revoke_ok" };

/** A key's live version as "value@lease" (lease 0: none), or null when the key has none. */
type SimState = string | null;
const versionOf = (value: number, lease: number): string => `${value}@${lease}`;
const valuePart = (s: SimState): string | undefined => (s === null ? undefined : s.slice(0, s.indexOf("@")));
const leaseOf = (s: SimState): number => (s === null ? 0 : Number(s.slice(s.indexOf("@") + 1)));

/**
 * The simulator's keys: registers (read, write, cas as Maelstrom's lin-kv)
 * with deletes, and with leases: a put may attach a lease, and the lease's
 * end (a revoke a client made, or an expiry whose moment nobody knows and
 * which is recorded as an operation of unknown outcome from the first put
 * with that lease on) deletes the key if its live version still holds it.
 */
export const simKvModel: Model<SimState, SimInput, SimOutput> = {
  init: () => null,
  step(state, input, output) {
    switch (input.type) {
      case "read":
        if (output === undefined) return { ok: true, state };
        if (output.type === "read_ok") return { ok: valuePart(state) === String(output.value), state };
        return { ok: output.type === "error" && output.code === 20 && state === null, state };
      case "write":
        return {
          ok: output === undefined || output.type === "write_ok",
          state: versionOf(Number(input.value), "lease" in input ? input.lease : 0),
        };
      case "cas": {
        const matches = state !== null && valuePart(state) === String(input.from);
        const after = versionOf(Number(input.to), 0);
        if (output === undefined) return { ok: true, state: matches ? after : state };
        if (output.type === "cas_ok") return { ok: matches, state: after };
        if (output.type !== "error") return { ok: false, state };
        if (output.code === 20) return { ok: state === null, state };
        return { ok: output.code === 22 && state !== null && !matches, state };
      }
      case "delete":
        return { ok: output === undefined || output.type === "delete_ok", state: null };
      case "lease-end":
        return {
          ok: output === undefined || output.type === "revoke_ok",
          state: state !== null && leaseOf(state) === input.lease ? null : state,
        };
    }
  },
  equal: (a, b) => a === b,
  hash: (s) => (s === null ? 0 : s),
  partition: (ops) => (linKvModel.partition as unknown as (o: typeof ops) => (typeof ops)[])(ops),
  describeOperation(input, output) {
    const tail = output === undefined ? " (outcome unknown)" : "";
    switch (input.type) {
      case "delete":
        return `delete ${input.key}${tail || " -> ok"}`;
      case "lease-end":
        return `${input.why} of lease ${input.lease} (key ${input.key})${tail || " -> ok"}`;
      case "write":
        if ("lease" in input && input.lease !== 0)
          return `write ${input.key} ${input.value} with lease ${input.lease}${tail || " -> ok"}`;
        break;
    }
    return linKvModel.describeOperation?.(input as LinKvInput, output as LinKvOutput) ?? "";
  },
  describeState: (s) =>
    s === null
      ? "(no value)"
      : leaseOf(s) === 0
        ? `${valuePart(s)}`
        : `${valuePart(s)} (lease ${leaseOf(s)})`,
};

/**
 * A delete becomes one delete per key it covers, each over the same interval:
 * a necessary condition (every key's history must be linearizable), though
 * not a check that the keys went together or of the count deleted. A revoke
 * ends its lease on the client's leased key (only that client puts there);
 * each lease put there may also end by expiry at any moment after its first
 * put. Grants and keepalives change no key: the expiry check (simulation.ts)
 * looks at them. Definite refusals (lease not found) had no effect.
 */
export function toLinKv(h: readonly HistoryEntry[]): Operation<SimInput, SimOutput>[] {
  const out: Operation<SimInput, SimOutput>[] = [];
  const expiries = new Map<number, Operation<SimInput, SimOutput>>();
  for (const e of h) {
    const r = e.request;
    const base = { clientId: e.client, call: e.call, ret: e.ret };
    if (e.result?.type === "lease_not_found") continue;
    switch (r.op) {
      case "grant":
      case "keepalive":
        continue;
      case "revoke":
        out.push({
          ...base,
          input: { type: "lease-end", key: leasedKey(r.client), lease: r.lease, why: "revoke" },
          output: e.result === undefined ? undefined : { type: "revoke_ok" },
        });
        continue;
      case "delete": {
        const output: SimOutput | undefined = e.result === undefined ? undefined : { type: "delete_ok" };
        for (const key of e.covers ?? []) out.push({ ...base, input: { type: "delete", key }, output });
        continue;
      }
      case "write":
        if (r.lease !== undefined && !expiries.has(r.lease)) {
          expiries.set(r.lease, {
            clientId: e.client,
            call: e.call,
            ret: Number.POSITIVE_INFINITY,
            input: { type: "lease-end", key: r.key, lease: r.lease, why: "expiry" },
            output: undefined,
          });
        }
        out.push({
          ...base,
          input: { type: "write", key: r.key, value: r.value, lease: r.lease ?? 0 },
          output: e.result === undefined ? undefined : { type: "write_ok" },
        });
        continue;
      case "read": {
        const res = e.result;
        let output: SimOutput | undefined;
        if (res?.type === "read_ok")
          output =
            res.value === undefined ? { type: "error", code: 20 } : { type: "read_ok", value: res.value };
        out.push({ ...base, input: { type: "read", key: r.key }, output });
        continue;
      }
      case "cas": {
        const res = e.result;
        const output: SimOutput | undefined =
          res === undefined ? undefined : res.type === "cas_ok" || res.type === "error" ? res : undefined;
        out.push({ ...base, input: { type: "cas", key: r.key, from: r.from, to: r.to }, output });
        continue;
      }
    }
  }
  return [...out, ...expiries.values()];
}

export type LinVerdict = "linearizable" | "not-linearizable" | "unknown";

export function checkHistory(
  h: readonly HistoryEntry[],
  timeoutMs = 10_000,
): { verdict: LinVerdict; explanation?: string } {
  const res = checkOperations(simKvModel, toLinKv(h), { timeoutMs });
  return { verdict: res.verdict, explanation: res.violation ? formatViolation(res.violation) : undefined };
}
