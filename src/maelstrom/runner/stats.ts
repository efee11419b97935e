/**
 * Summaries of a run's history: operation counts by type and outcome (as
 * Jepsen's stats checker counts them), availability, and latency quantiles.
 */
import { KEY_DOES_NOT_EXIST, PRECONDITION_FAILED } from "../../check/index.ts";
import type { OpRecord, OpType, Outcome } from "./types.ts";

export interface OutcomeCounts {
  count: number;
  ok: number;
  fail: number;
  info: number;
}

export interface Quantiles {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface Stats {
  all: OutcomeCounts;
  byType: Record<OpType, OutcomeCounts>;
  /** Error replies by code; timeouts are counted apart. */
  errorCodes: Record<string, number>;
  timeouts: number;
  /** Fraction of operations that succeeded (Jepsen's ok-count / count); undefined with no operations. */
  availability: number | undefined;
  /**
   * Fraction of operations the cluster served: successes plus errors 20
   * (key-does-not-exist) and 22 (precondition-failed), which report the
   * key's state rather than an outage.
   */
  served: number | undefined;
  /** Latencies of successful operations, in ms. */
  latencyMs: Quantiles | undefined;
  latencyByTypeMs: Record<OpType, Quantiles | undefined>;
  finalReads: OutcomeCounts;
}

const emptyCounts = (): OutcomeCounts => ({ count: 0, ok: 0, fail: 0, info: 0 });

export function computeStats(history: OpRecord[]): Stats {
  const all = emptyCounts();
  const byType: Record<OpType, OutcomeCounts> = {
    read: emptyCounts(),
    write: emptyCounts(),
    cas: emptyCounts(),
  };
  const finalReads = emptyCounts();
  const errorCodes: Record<string, number> = {};
  const latencies: number[] = [];
  const latencyByType: Record<OpType, number[]> = { read: [], write: [], cas: [] };
  let timeouts = 0;
  let dataErrors = 0;
  for (const op of history) {
    const outcome: Outcome = op.outcome ?? "info";
    for (const c of op.final ? [all, byType[op.input.type], finalReads] : [all, byType[op.input.type]]) {
      c.count++;
      c[outcome]++;
    }
    if (op.output?.type === "error") {
      errorCodes[op.output.code] = (errorCodes[op.output.code] ?? 0) + 1;
      if (op.output.code === KEY_DOES_NOT_EXIST || op.output.code === PRECONDITION_FAILED) dataErrors++;
    } else if (op.error === "timeout") {
      timeouts++;
    }
    if (outcome === "ok" && op.ret !== undefined) {
      latencies.push(op.ret - op.call);
      latencyByType[op.input.type].push(op.ret - op.call);
    }
  }
  return {
    all,
    byType,
    errorCodes,
    timeouts,
    availability: all.count === 0 ? undefined : all.ok / all.count,
    served: all.count === 0 ? undefined : (all.ok + dataErrors) / all.count,
    latencyMs: quantiles(latencies),
    latencyByTypeMs: {
      read: quantiles(latencyByType.read),
      write: quantiles(latencyByType.write),
      cas: quantiles(latencyByType.cas),
    },
    finalReads,
  };
}

/** Nearest-rank quantiles; undefined for no samples. */
export function quantiles(samples: number[]): Quantiles | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) =>
    round3(sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]);
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: round3(sorted[sorted.length - 1]) };
}

export function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
