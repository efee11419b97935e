// A Prometheus histogram for the hot paths (every WAL fsync, every unary
// call), registered in a prom-client Registry beside prom-client's own
// metrics and exported in the same format.
//
// Why not prom-client's Histogram: its observe() hashes the label object and
// finds the bucket by looking up the bound, a float, as an object property
// (a number-to-string conversion per call). Under kvbench put-1 that was
// about 2.5% of every member's main-thread CPU. Here a series is a
// Float64Array of bucket counts, found once per label set and kept by the
// caller; observe() is a bound search and two additions.

import type { Registry } from "prom-client";

/** One label set's counts: `counts[i]` observations in bucket i (not cumulative; the last is +Inf). */
export class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;

  constructor(
    private readonly bounds: readonly number[],
    readonly labels: Readonly<Record<string, string>>,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]) i++;
    this.counts[i]++;
    this.sum += value;
  }
}

interface ExportedValue {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

/**
 * A histogram with fixed label names. `series(...values)` returns the series
 * for one combination of label values (created on first use); callers on a
 * hot path keep it. Exports like prom-client's Histogram: cumulative
 * `_bucket` values with `le`, then `_sum` and `_count`.
 */
export class FastHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly bounds: number[];
  private readonly byKey = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    buckets: readonly number[],
    private readonly labelNames: readonly string[] = [],
    registry?: Registry,
  ) {
    this.bounds = [...buckets].sort((a, b) => a - b);
    // prom-client's Registry takes any object with name, help, type and get()
    registry?.registerMetric(this as never);
  }

  /** The series of these label values (in labelNames order). */
  series(...values: string[]): HistogramSeries {
    if (values.length !== this.labelNames.length) {
      throw new Error(`${this.name}: ${values.length} label values for ${this.labelNames.length} names`);
    }
    const key = values.join("\u0000");
    let s = this.byKey.get(key);
    if (s === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => {
        labels[n] = values[i];
      });
      s = new HistogramSeries(this.bounds, labels);
      this.byKey.set(key, s);
    }
    return s;
  }

  /** Observes into the series without labels (a histogram with no label names). */
  observe(value: number): void {
    this.series().observe(value);
  }

  /** The values in prom-client's form (Registry.metrics() and getMetricsAsJSON() read this). */
  get(): { name: string; help: string; type: string; aggregator: string; values: ExportedValue[] } {
    const values: ExportedValue[] = [];
    for (const s of this.byKey.values()) {
      let acc = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        acc += s.counts[i];
        values.push({
          labels: { le: i < this.bounds.length ? this.bounds[i] : "+Inf", ...s.labels },
          value: acc,
          metricName: `${this.name}_bucket`,
        });
      }
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...s.labels }, value: acc, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.byKey.clear();
  }
}
