import type { Model, Operation } from "../types.ts";

/** A single register holding an integer, or null before the first write. */
export type RegisterState = number | null;

export type RegisterInput =
  | { f: "read" }
  | { f: "write"; value: number }
  | { f: "cas"; from: number; to: number };

/** `{ value }` answers a read; `{ ok }` a write or cas (`ok: false`: the compare failed). */
export type RegisterOutput = { value: number | null } | { ok: boolean };

/**
 * A read / write / compare-and-set register, the object of Jepsen's etcd
 * tests. A cas reported as failed is taken to mean that the compare was
 * evaluated and did not match, so it is checked like a read that saw a
 * different value.
 */
export const registerModel: Model<RegisterState, RegisterInput, RegisterOutput> = {
  init: () => null,
  step(state, input, output) {
    switch (input.f) {
      case "read":
        if (output === undefined) return { ok: true, state };
        return { ok: "value" in output && output.value === state, state };
      case "write":
        // A write that definitely failed should not be in the history; if it is, it changed nothing.
        if (output !== undefined && "ok" in output && !output.ok) return { ok: true, state };
        return { ok: true, state: input.value };
      case "cas": {
        const matches = state === input.from;
        if (output === undefined) return { ok: true, state: matches ? input.to : state };
        const swapped = "ok" in output && output.ok;
        return { ok: swapped === matches, state: swapped ? input.to : state };
      }
    }
  },
  equal: (a, b) => a === b,
  hash: (s) => (s === null ? "nil" : s),
  partition: (ops) => [ops.filter((op) => !isUnknownRead(op))],
  describeOperation(input, output) {
    const unknown = output === undefined ? " (outcome unknown)" : "";
    switch (input.f) {
      case "read":
        return output !== undefined && "value" in output ? `read -> ${show(output.value)}` : `read${unknown}`;
      case "write":
        return `write ${input.value}${unknown}`;
      case "cas": {
        const result = output === undefined ? unknown : "ok" in output && output.ok ? " ok" : " failed";
        return `cas ${input.from}->${input.to}${result}`;
      }
    }
  },
  describeState: show,
};

/** An unknown-outcome read constrains nothing; dropping it shrinks the search. */
function isUnknownRead(op: Operation<RegisterInput, RegisterOutput>): boolean {
  return op.input.f === "read" && op.ret === Number.POSITIVE_INFINITY;
}

function show(v: number | null): string {
  return v === null ? "nil" : String(v);
}
