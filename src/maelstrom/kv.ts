// The lin-kv state machine: keys and values are arbitrary JSON, compared by
// canonical JSON text (object keys sorted), as Maelstrom's checker does.

import { canonicalJson, type Json, type LinKvInput, type LinKvOutput } from "../check/index.ts";

export type { Json };

/** A client request: the same shape the checker's lin-kv model takes. */
export type KvOp = LinKvInput;

/** A reply body: the same shape the checker's lin-kv model expects. */
export type KvReply = LinKvOutput;

/** Keys and values compare as the checker compares them: canonical JSON text. */
const canonical = canonicalJson;

export class LinKvMap {
  private readonly values = new Map<string, Json>();

  apply(op: KvOp): KvReply {
    const k = canonical(op.key);
    switch (op.type) {
      case "read":
        return this.read(op.key);
      case "write":
        this.values.set(k, op.value);
        return { type: "write_ok" };
      case "cas": {
        if (!this.values.has(k)) return { type: "error", code: 20, text: `key ${k} does not exist` };
        const cur = this.values.get(k) as Json;
        if (canonical(cur) !== canonical(op.from)) {
          return {
            type: "error",
            code: 22,
            text: `expected ${canonical(op.from)}, but had ${canonical(cur)}`,
          };
        }
        this.values.set(k, op.to);
        return { type: "cas_ok" };
      }
    }
  }

  read(key: Json): KvReply {
    const k = canonical(key);
    if (!this.values.has(k)) return { type: "error", code: 20, text: `key ${k} does not exist` };
    return { type: "read_ok", value: this.values.get(k) as Json };
  }

  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify([...this.values]));
  }

  static restore(image: Uint8Array): LinKvMap {
    const m = new LinKvMap();
    if (image.length === 0) return m;
    for (const [k, v] of JSON.parse(new TextDecoder().decode(image)) as [string, Json][]) m.values.set(k, v);
    return m;
  }
}
