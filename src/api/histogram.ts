// A Prometheus histogram for the hot paths (every WAL fsync, every unary
// call), registered in a prom-client Registry beside prom-client's own
// metrics and exported in the same format.
//
// Why not prom-client's Histogram: its observe() hashes the label object and
// finds the bucket by looking up the bound, a float, as an object property
// (a number-to-string conversion per call). Under kvbench put-1 that was
// about 2.5% of every member's main-thread CPU. Here a series is a
// Float64Array of bucket counts, found by one map lookup per label value
// (none without labels); observe() is a bound search and two additions.

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
 * for one combination of label values (created on first use). Exports like
 * prom-client's Histogram: cumulative `_bucket` values with `le`, then
 * `_sum` and `_count`.
 */
export class FastHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly bounds: number[];
  /** Every series, in the order first used (the export's order). */
  private all: HistogramSeries[] = [];
  /** The series by label value, one map level per label name (the last level holds series). */
  private tree = new Map<string, unknown>();
  /** The one series of a histogram without labels. */
  private unlabelled: HistogramSeries | undefined;

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
    const n = this.labelNames.length;
    if (values.length !== n) {
      throw new Error(`${this.name}: ${values.length} label values for ${n} names`);
    }
    if (n === 0) return (this.unlabelled ??= this.create(values));
    let level = this.tree;
    for (let i = 0; i < n - 1; i++) {
      let next = level.get(values[i]) as Map<string, unknown> | undefined;
      if (next === undefined) {
        next = new Map();
        level.set(values[i], next);
      }
      level = next;
    }
    let s = level.get(values[n - 1]) as HistogramSeries | undefined;
    if (s === undefined) {
      s = this.create(values);
      level.set(values[n - 1], s);
    }
    return s;
  }

  private create(values: readonly string[]): HistogramSeries {
    const labels: Record<string, string> = {};
    this.labelNames.forEach((n, i) => {
      labels[n] = values[i];
    });
    const s = new HistogramSeries(this.bounds, labels);
    this.all.push(s);
    return s;
  }

  /** Observes into the series without labels (a histogram with no label names). */
  observe(value: number): void {
    (this.unlabelled ?? this.series()).observe(value);
  }

  /** The values in prom-client's form (Registry.metrics() and getMetricsAsJSON() read this). */
  get(): { name: string; help: string; type: string; aggregator: string; values: ExportedValue[] } {
    const values: ExportedValue[] = [];
    for (const s of this.all) {
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
    this.all = [];
    this.tree = new Map();
    this.unlabelled = undefined;
  }
}
