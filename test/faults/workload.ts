// Concurrent clients driving read / write / cas (a txn) on a few registers,
// plus inserts of unique keys, against a FaultCluster through the etcd3
// client, recording every operation as invoke -> ok / fail / info.
//
// Registers are Maelstrom-style lin-kv keys (src/check's linKvModel), so the
// history partitions per key. Keys rotate every `keyWindowMs`, which bounds
// the size of each partition and with it the checker's search. Every write
// carries a value never written before, so a lost or resurrected write shows
// up as a read no linear order explains.

import {
  HistoryRecorder,
  KEY_DOES_NOT_EXIST,
  type LinKvInput,
  type LinKvOutput,
  PRECONDITION_FAILED,
} from "../../src/check/index.ts";
import type { FaultCluster, Member } from "./cluster.ts";
import type { Prng } from "./prng.ts";
import { delay } from "./util.ts";

export type Outcome = "ok" | "fail" | "info";

/**
 * What an error says about whether a write took effect. Only errors that
 * floe raises before anything is proposed, or that mean the request never
 * left the client, are definite; a timeout, a dropped connection or a
 * stopping server may hide an applied write.
 */
export function classifyError(e: unknown): "fail" | "info" {
  const msg = String((e as Error)?.message ?? e);
  if (
    /request timed out|server stopped|leader changed|unhealthy|timeout|deadline|dropped|reset|hang up/i.test(
      msg,
    )
  ) {
    return "info";
  }
  // floe drops a proposal synchronously when no leader is known (runtime ProposalDropped): nothing was proposed.
  if (/etcdserver: no leader/.test(msg)) return "fail";
  // The connection was never established, so the request was never sent.
  if (/ECONNREFUSED|No connection established|connect ECONN|Failed to connect/i.test(msg)) return "fail";
  if (/etcdserver:/.test(msg)) return "fail";
  return "info";
}

export interface WorkloadOptions {
  clients: number;
  keysPerWindow: number;
  keyWindowMs: number;
  /** Per-request client deadline: past it the outcome is unknown. */
  requestTimeoutMs: number;
  /** Pause between a client's operations, so a 2-core machine is not saturated. */
  thinkMs: number;
}

export interface SetEntry {
  key: string;
  outcome: Outcome | "pending";
}

export class Workload {
  readonly history = new HistoryRecorder<LinKvInput, LinKvOutput>();
  /** Unique-key inserts: every acknowledged one must be present at the end. */
  readonly inserts: SetEntry[] = [];
  readonly counts = { ok: 0, fail: 0, info: 0 };
  readonly keysUsed = new Set<string>();
  private stopping = false;
  private readonly loops: Promise<void>[] = [];
  private startedAt = 0;
  /** Definite-failure messages seen, with counts, for the summary. */
  readonly errorKinds = new Map<string, number>();

  constructor(
    private readonly cluster: FaultCluster,
    private readonly prng: Prng,
    readonly opts: WorkloadOptions,
  ) {}

  start(): void {
    this.startedAt = Date.now();
    for (let c = 0; c < this.opts.clients; c++) this.loops.push(this.clientLoop(c + 1, this.prng.fork()));
  }

  /** Stops issuing operations and waits for the ones in flight to end. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }

  private key(window: number, k: number): string {
    return `r/${window}/${k}`;
  }

  private async clientLoop(clientId: number, rng: Prng): Promise<void> {
    let target: Member | undefined;
    let seq = 0;
    // The last value this client saw per key: cas guesses it, so some swaps succeed.
    const seen = new Map<string, number>();
    while (!this.stopping) {
      const members = this.cluster.current();
      if (target === undefined || !members.includes(target))
        target = members[(clientId + seq) % members.length];
      const window = Math.floor((Date.now() - this.startedAt) / this.opts.keyWindowMs);
      const key = this.key(window, rng.int(0, this.opts.keysPerWindow - 1));
      this.keysUsed.add(key);
      seq++;
      const value = clientId * 1_000_000 + seq;
      const roll = rng.next();
      let outcome: Outcome;
      if (roll < 0.1) {
        outcome = await this.insert(target, `s/${clientId}/${seq}`);
      } else if (roll < 0.45) {
        outcome = await this.read(clientId, target, key, seen);
      } else if (roll < 0.75) {
        outcome = await this.write(clientId, target, key, value, seen);
      } else {
        const from =
          seen.get(key) ?? rng.int(1, this.opts.clients) * 1_000_000 + rng.int(1, Math.max(1, seq));
        outcome = await this.cas(clientId, target, key, from, value, seen);
      }
      this.counts[outcome]++;
      if (outcome !== "ok") {
        // Another member may be reachable; an unknown outcome also earns a short pause, as a real
        // client's backoff would, which keeps the number of unknown writes (the checker's cost) down.
        target = members[(members.indexOf(target) + 1) % members.length];
        await delay(outcome === "info" ? 100 : 20);
      } else if (this.opts.thinkMs > 0) {
        await delay(rng.int(0, this.opts.thinkMs));
      }
    }
  }

  private callOptions() {
    return { deadline: Date.now() + this.opts.requestTimeoutMs };
  }

  private noteError(e: unknown, outcome: "fail" | "info"): void {
    // Addresses, ports and timings vary per error; the summary groups by kind.
    const text = String((e as Error)?.message ?? e)
      .replace(/\d+\.\d+s/g, "Ns")
      .replace(/127\.0\.0\.1:\d+/g, "host")
      .replace(/,?remote_addr=\S*|metadata filters: \S*/g, "");
    const msg = `${outcome}: ${text.slice(0, 90)}`;
    this.errorKinds.set(msg, (this.errorKinds.get(msg) ?? 0) + 1);
  }

  private async read(clientId: number, m: Member, key: string, seen: Map<string, number>): Promise<Outcome> {
    const h = this.history.invoke(clientId, { type: "read", key });
    try {
      const r = await m.client.kv.range({ key: Buffer.from(key) }, this.callOptions());
      if (r.kvs.length === 0) {
        this.history.ok(h, { type: "error", code: KEY_DOES_NOT_EXIST });
      } else {
        const value = Number(r.kvs[0].value.toString());
        seen.set(key, value);
        this.history.ok(h, { type: "read_ok", value });
      }
      return "ok";
    } catch (e) {
      // A read that did not answer changed nothing: leave it out either way.
      this.noteError(e, classifyError(e));
      this.history.fail(h);
      return classifyError(e);
    }
  }

  private async write(
    clientId: number,
    m: Member,
    key: string,
    value: number,
    seen: Map<string, number>,
  ): Promise<Outcome> {
    const h = this.history.invoke(clientId, { type: "write", key, value });
    try {
      await m.client.kv.put({ key: Buffer.from(key), value: Buffer.from(String(value)) }, this.callOptions());
      this.history.ok(h, { type: "write_ok" });
      seen.set(key, value);
      return "ok";
    } catch (e) {
      return this.settleError(h, e);
    }
  }

  private async cas(
    clientId: number,
    m: Member,
    key: string,
    from: number,
    to: number,
    seen: Map<string, number>,
  ): Promise<Outcome> {
    const h = this.history.invoke(clientId, { type: "cas", key, from, to });
    try {
      const k = Buffer.from(key);
      const r = await m.client.kv.txn(
        {
          compare: [{ key: k, target: "Value", result: "Equal", value: Buffer.from(String(from)) }],
          success: [{ request_put: { key: k, value: Buffer.from(String(to)) } }],
          // On a failed compare, read the key in the same txn: absent and mismatched are different answers.
          failure: [{ request_range: { key: k } }],
        },
        this.callOptions(),
      );
      if (r.succeeded) {
        seen.set(key, to);
        this.history.ok(h, { type: "cas_ok" });
      } else {
        const kvs = r.responses[0]?.response_range?.kvs ?? [];
        if (kvs.length === 0) {
          this.history.ok(h, { type: "error", code: KEY_DOES_NOT_EXIST });
        } else {
          seen.set(key, Number(kvs[0].value.toString()));
          this.history.ok(h, { type: "error", code: PRECONDITION_FAILED });
        }
      }
      return "ok";
    } catch (e) {
      return this.settleError(h, e);
    }
  }

  private settleError(h: number, e: unknown): Outcome {
    const outcome = classifyError(e);
    this.noteError(e, outcome);
    if (outcome === "fail") this.history.fail(h);
    else this.history.info(h);
    return outcome;
  }

  private async insert(m: Member, key: string): Promise<Outcome> {
    const entry: SetEntry = { key, outcome: "pending" };
    this.inserts.push(entry);
    try {
      await m.client.kv.put({ key: Buffer.from(key), value: Buffer.from("1") }, this.callOptions());
      entry.outcome = "ok";
    } catch (e) {
      entry.outcome = classifyError(e);
      this.noteError(e, entry.outcome);
    }
    return entry.outcome;
  }
}
