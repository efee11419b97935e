// The simulator's state machine: a map of small integer keys to values, with
// client sessions so a command delivered twice (duplicated network message,
// retried proposal) takes effect once (Raft thesis §6.3). Leases (grant,
// keepalive, revoke, puts with a lease) exist only on the MVCC machine.

export type KvCommand =
  | { op: "read"; key: number; client: number; req: number }
  | { op: "write"; key: number; value: number; lease?: number; client: number; req: number }
  | { op: "cas"; key: number; from: number; to: number; client: number; req: number }
  /** Deletes `key`, or with `end` every key whose name falls in [name(key), name(end)) (see inDeleteRange). */
  | { op: "delete"; key: number; end?: number; client: number; req: number }
  | { op: "grant"; lease: number; ttl: number; client: number; req: number }
  /** Answered by the leader's lessor, not proposed. */
  | { op: "keepalive"; lease: number; client: number; req: number }
  | { op: "revoke"; lease: number; client: number; req: number }
  /** A linearizable Range of `key` at a past `revision` (MVCC machine only); checked against the final history, not by the linearizability checker. */
  | { op: "readAt"; key: number; revision: number; client: number; req: number };

export type KvResult =
  | { type: "read_ok"; value: number | undefined }
  | { type: "read_at_ok"; value: number | undefined }
  | { type: "write_ok" }
  | { type: "cas_ok" }
  | { type: "delete_ok"; deleted: number }
  | { type: "grant_ok" }
  | { type: "keepalive_ok"; ttl: number }
  | { type: "revoke_ok" }
  /** A definite refusal: the lease does not exist (never granted, revoked or expired). */
  | { type: "lease_not_found" }
  | { type: "error"; code: 20 | 22 | 30; text: string };

/** Keys from here on are clients' leased keys: LEASED_KEYS + c is client c's, named "l<c>". */
export const LEASED_KEYS = 1_000_000;

/**
 * A key's name in the store; the MVCC machine's keys are these bytes, ordered
 * bytewise. Leased keys sort after every shared key, so no delete of a range
 * of shared keys covers one.
 */
export const keyName = (k: number): string => (k >= LEASED_KEYS ? `l${k - LEASED_KEYS}` : `k${k}`);

/**
 * Whether a delete of [key, end) covers key k: by name, compared bytewise as
 * the MVCC store compares keys (so with 10 or more keys "k10" lies between
 * "k1" and "k2"); without `end`, only `key` itself.
 */
export function inDeleteRange(k: number, c: { key: number; end?: number }): boolean {
  if (c.end === undefined) return k === c.key;
  const n = keyName(k);
  return n >= keyName(c.key) && n < keyName(c.end);
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeCommand(c: KvCommand): Uint8Array {
  return enc.encode(JSON.stringify(c));
}

export function decodeCommand(data: Uint8Array): KvCommand {
  return JSON.parse(dec.decode(data)) as KvCommand;
}

interface Session {
  req: number;
  result: KvResult;
}

export class KvStateMachine {
  private data = new Map<number, number>();
  private sessions = new Map<number, Session>();

  /** Applies a command; a repeated (client, req) returns the first result without applying again. */
  apply(c: KvCommand): KvResult {
    const s = this.sessions.get(c.client);
    if (s && c.req <= s.req) {
      return s.req === c.req
        ? s.result
        : { type: "error", code: 30, text: "stale request: a newer one already ran" };
    }
    const result = this.execute(c);
    this.sessions.set(c.client, { req: c.req, result });
    return result;
  }

  read(key: number): number | undefined {
    return this.data.get(key);
  }

  private execute(c: KvCommand): KvResult {
    switch (c.op) {
      case "read":
        return { type: "read_ok", value: this.data.get(c.key) };
      case "write":
        this.data.set(c.key, c.value);
        return { type: "write_ok" };
      case "cas": {
        const cur = this.data.get(c.key);
        if (cur === undefined) return { type: "error", code: 20, text: `key ${c.key} does not exist` };
        if (cur !== c.from) return { type: "error", code: 22, text: `expected ${c.from}, found ${cur}` };
        this.data.set(c.key, c.to);
        return { type: "cas_ok" };
      }
      case "grant":
      case "keepalive":
      case "revoke":
      case "readAt":
        throw new Error(`${c.op}: needs the MVCC machine (--machine mvcc)`);
      case "delete": {
        let deleted = 0;
        for (const k of [...this.data.keys()]) {
          if (inDeleteRange(k, c) && this.data.delete(k)) deleted++;
        }
        return { type: "delete_ok", deleted };
      }
    }
  }

  snapshot(): Uint8Array {
    return enc.encode(JSON.stringify({ data: [...this.data], sessions: [...this.sessions] }));
  }

  static restore(image: Uint8Array): KvStateMachine {
    const sm = new KvStateMachine();
    if (image.length === 0) return sm;
    const v = JSON.parse(dec.decode(image)) as { data: [number, number][]; sessions: [number, Session][] };
    sm.data = new Map(v.data);
    sm.sessions = new Map(v.sessions);
    return sm;
  }
}
