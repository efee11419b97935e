// Latency recording and the report of `floe bench`: an HdrHistogram in
// microseconds (3 significant digits, so a percentile is within 0.1% of the
// recorded value), summarised as etcd's benchmark tool does (total, slowest,
// fastest, average, stddev, requests/s) plus p50 / p90 / p99 / p99.9 / max.

import hdr from "hdr-histogram-js";

export type Histogram = ReturnType<typeof hdr.build>;

export function newHistogram(): Histogram {
  // autoResize: a stalled request of minutes is still recorded, not thrown
  return hdr.build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3, autoResize: true });
}

/** Records `ms` (a performance.now() difference) at microsecond resolution. */
export function recordMs(h: Histogram, ms: number): void {
  h.recordValue(Math.max(0, Math.round(ms * 1000)));
}

export interface LatencySummary {
  count: number;
  minMs: number;
  meanMs: number;
  stddevMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

const ms = (us: number): number => Math.round(us) / 1000;

export function summarize(h: Histogram): LatencySummary {
  const n = h.totalCount;
  // a percentile reads as the top of its bucket, which can pass the true max
  const at = (p: number): number => ms(Math.min(h.getValueAtPercentile(p), h.maxValue));
  return {
    count: n,
    minMs: n ? ms(h.minNonZeroValue === Number.MAX_SAFE_INTEGER ? 0 : h.minNonZeroValue) : 0,
    meanMs: n ? ms(h.mean) : 0,
    stddevMs: n ? ms(h.stdDeviation) : 0,
    p50Ms: at(50),
    p90Ms: at(90),
    p99Ms: at(99),
    p999Ms: at(99.9),
    maxMs: ms(h.maxValue),
  };
}

export interface ErrorCounts {
  [message: string]: number;
}

export function countError(errors: ErrorCounts, e: unknown): void {
  const m = e instanceof Error ? e.message : String(e);
  errors[m] = (errors[m] ?? 0) + 1;
}

/** What `floe bench put|range|txn-put --json` prints. */
export interface BenchResult {
  op: string;
  endpoints: string[];
  conns: number;
  clients: number;
  /** Requests that completed successfully. */
  count: number;
  errors: number;
  errorMessages: ErrorCounts;
  elapsedSec: number;
  /** Successful requests per second of wall time. */
  throughput: number;
  latency: LatencySummary;
  /** CPU seconds (user + system) this bench process spent during the run: the client's own cost. */
  clientCpuSec: number;
  params: Record<string, string | number | boolean>;
}

const f3 = (x: number): string => x.toFixed(4);

export function formatResult(r: BenchResult): string {
  const l = r.latency;
  const lines = [
    `${r.op}: ${r.count} requests, ${r.clients} clients over ${r.conns} connections to ${r.endpoints.join(",")}`,
    "",
    "Summary:",
    `  Total:\t${r.elapsedSec.toFixed(4)} secs.`,
    `  Slowest:\t${f3(l.maxMs / 1000)} secs.`,
    `  Fastest:\t${f3(l.minMs / 1000)} secs.`,
    `  Average:\t${f3(l.meanMs / 1000)} secs.`,
    `  Stddev:\t${f3(l.stddevMs / 1000)} secs.`,
    `  Requests/sec:\t${r.throughput.toFixed(2)}`,
    `  Client CPU:\t${r.clientCpuSec.toFixed(2)} secs.`,
    "",
    "Latency percentiles (ms):",
    `  p50 ${l.p50Ms}  p90 ${l.p90Ms}  p99 ${l.p99Ms}  p99.9 ${l.p999Ms}  max ${l.maxMs}`,
  ];
  if (r.errors > 0) {
    lines.push("", `Errors: ${r.errors}`);
    for (const [m, n] of Object.entries(r.errorMessages)) lines.push(`  ${n}\t${m}`);
  }
  return lines.join("\n");
}
