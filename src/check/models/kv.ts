import type { Model, Operation } from "../types.ts";

export type KvInput =
  | { f: "get"; key: string }
  | { f: "put"; key: string; value: string }
  | { f: "append"; key: string; value: string };

/** `{ value }` answers a get; `{ ok: true }` a put or append. */
export type KvOutput = { value: string } | { ok: true };

/**
 * One key's value with a running polynomial hash: appends then hash in time
 * proportional to the appended text, not to the whole (growing) value.
 */
export interface KvState {
  value: string;
  hash: number;
}

/**
 * A map from string keys to string values with get / put / append, where an
 * absent key reads as "". Partitioned per key: the state of one partition is
 * the value of its key.
 */
export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init: () => ({ value: "", hash: 0 }),
  step(state, input, output) {
    switch (input.f) {
      case "get":
        if (output === undefined) return { ok: true, state };
        return { ok: "value" in output && output.value === state.value, state };
      case "put":
        return { ok: true, state: { value: input.value, hash: extendHash(0, input.value) } };
      case "append":
        return {
          ok: true,
          state: { value: state.value + input.value, hash: extendHash(state.hash, input.value) },
        };
    }
  },
  equal: (a, b) => a.hash === b.hash && a.value === b.value,
  hash: (s) => s.hash,
  partition(ops) {
    const byKey = new Map<string, Operation<KvInput, KvOutput>[]>();
    for (const op of ops) {
      // An unknown-outcome get constrains nothing; dropping it shrinks the search.
      if (op.input.f === "get" && op.ret === Number.POSITIVE_INFINITY) continue;
      let part = byKey.get(op.input.key);
      if (part === undefined) byKey.set(op.input.key, (part = []));
      part.push(op);
    }
    return [...byKey.values()];
  },
  describeOperation(input, output) {
    const unknown = output === undefined ? " (outcome unknown)" : "";
    const key = JSON.stringify(input.key);
    if (input.f === "get") {
      return output !== undefined && "value" in output
        ? `get ${key} -> ${JSON.stringify(output.value)}`
        : `get ${key}${unknown}`;
    }
    return `${input.f} ${key} ${JSON.stringify(input.value)}${unknown}`;
  },
  describeState: (s) => JSON.stringify(s.value),
};

function extendHash(h: number, text: string): number {
  for (let i = 0; i < text.length; i++) h = (Math.imul(h, 0x01000193) + text.charCodeAt(i)) | 0;
  return h;
}
