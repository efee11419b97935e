// Small shared helpers: polling with a deadline, timed holds, percentiles.

export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Calls `f` until it returns a value other than undefined, at most every
 * `everyMs`, and throws naming `what` (and the last error seen) once
 * `deadlineMs` has passed.
 */
export async function poll<T>(
  what: string,
  deadlineMs: number,
  f: () => Promise<T | undefined>,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const why = last === undefined ? "" : `; last error: ${(last as Error).message ?? String(last)}`;
      throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}${why}`);
    }
    await delay(everyMs);
  }
}

/** Nearest-rank percentile of `values` (0 < p <= 100); NaN for an empty list. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function summarize(label: string, values: readonly number[]): string {
  if (values.length === 0) return `${label}: count=0`;
  const r = (p: number) => Math.round(percentile(values, p));
  return `${label}: count=${values.length} p50=${r(50)}ms p90=${r(90)}ms max=${Math.round(Math.max(...values))}ms`;
}
