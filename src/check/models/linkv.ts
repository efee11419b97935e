import type { Model, Operation } from "../types.ts";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A request to Maelstrom's lin-kv service (the `msg_id` and routing fields left out). */
export type LinKvInput =
  | { type: "read"; key: Json }
  | { type: "write"; key: Json; value: Json }
  | { type: "cas"; key: Json; from: Json; to: Json };

/** The reply body, as Maelstrom's lin-kv service sends it. */
export type LinKvOutput =
  | { type: "read_ok"; value: Json }
  | { type: "write_ok" }
  | { type: "cas_ok" }
  | { type: "error"; code: number; text?: string };

/** Maelstrom error code: the key is absent (read or cas). Definite. */
export const KEY_DOES_NOT_EXIST = 20;
/** Maelstrom error code: cas found a value different from `from`. Definite. */
export const PRECONDITION_FAILED = 22;

/** Maelstrom codes that guarantee the request had no effect; 0 (timeout), 13 (crash) and custom codes may have. */
const DEFINITE_ERRORS = new Set([1, 10, 11, 12, 14, 20, 21, 22, 30]);

/**
 * What a lin-kv reply means for the history: "ok" — keep it with its reply
 * (this includes errors 20 and 22, which report what the key held);
 * "failed" — a definite error, the request had no effect, leave it out;
 * "unknown" — a timeout, crash or unrecognised error: record it with
 * `ret: Infinity` and `output: undefined`. `partition` applies this itself, so
 * a runner may record every reply as received.
 */
export function linKvOutcome(output: LinKvOutput): "ok" | "failed" | "unknown" {
  if (output.type !== "error" || output.code === KEY_DOES_NOT_EXIST || output.code === PRECONDITION_FAILED) {
    return "ok";
  }
  return DEFINITE_ERRORS.has(output.code) ? "failed" : "unknown";
}

/** One key's value as canonical JSON text, or null while the key does not exist. */
export type LinKvState = string | null;

/**
 * The model of Maelstrom's `lin-kv` workload: independent keys, each a
 * register with read / write / cas. Keys and values are arbitrary JSON,
 * compared structurally (object key order does not matter). A read of a
 * missing key answers error 20; a cas on a missing key fails with 20 and a
 * cas whose `from` does not match fails with 22. Partitioned per key.
 */
export const linKvModel: Model<LinKvState, LinKvInput, LinKvOutput> = {
  init: () => null,
  step(state, input, output) {
    if (output !== undefined && output.type === "error" && linKvOutcome(output) !== "ok") {
      // Only reachable without `partition`: treat definite errors as no-ops, the rest as unknown.
      if (linKvOutcome(output) === "failed") return { ok: true, state };
      output = undefined;
    }
    switch (input.type) {
      case "read":
        if (output === undefined) return { ok: true, state };
        if (output.type === "read_ok")
          return { ok: state !== null && state === canonicalJson(output.value), state };
        return { ok: isError(output, KEY_DOES_NOT_EXIST) && state === null, state };
      case "write":
        return { ok: output === undefined || output.type === "write_ok", state: canonicalJson(input.value) };
      case "cas": {
        const matches = state !== null && state === canonicalJson(input.from);
        if (output === undefined) return { ok: true, state: matches ? canonicalJson(input.to) : state };
        if (output.type === "cas_ok") return { ok: matches, state: canonicalJson(input.to) };
        if (isError(output, KEY_DOES_NOT_EXIST)) return { ok: state === null, state };
        return { ok: isError(output, PRECONDITION_FAILED) && state !== null && !matches, state };
      }
    }
  },
  equal: (a, b) => a === b,
  hash: (s) => (s === null ? 0 : s),
  partition(ops) {
    const byKey = new Map<string, Operation<LinKvInput, LinKvOutput>[]>();
    for (let op of ops) {
      const outcome =
        op.output === undefined || op.ret === Number.POSITIVE_INFINITY ? "unknown" : linKvOutcome(op.output);
      if (outcome === "failed") continue;
      if (outcome === "unknown") {
        // An unknown-outcome read constrains nothing; dropping it shrinks the search.
        if (op.input.type === "read") continue;
        op = { ...op, output: undefined, ret: Number.POSITIVE_INFINITY };
      }
      const key = canonicalJson(op.input.key);
      let part = byKey.get(key);
      if (part === undefined) byKey.set(key, (part = []));
      part.push(op);
    }
    return [...byKey.values()];
  },
  describeOperation(input, output) {
    const key = canonicalJson(input.key);
    const head =
      input.type === "read"
        ? `read ${key}`
        : input.type === "write"
          ? `write ${key} ${canonicalJson(input.value)}`
          : `cas ${key} ${canonicalJson(input.from)}->${canonicalJson(input.to)}`;
    if (output === undefined) return `${head} (outcome unknown)`;
    if (output.type === "read_ok") return `${head} -> ${canonicalJson(output.value)}`;
    if (output.type === "error") return `${head} -> error ${output.code}`;
    return `${head} -> ok`;
  },
  describeState: (s) => (s === null ? "(no value)" : s),
};

function isError(output: LinKvOutput, code: number): boolean {
  return output.type === "error" && output.code === code;
}

/** JSON text with object keys sorted, so structurally equal values compare equal as strings. */
export function canonicalJson(value: Json): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(",")}}`;
}
