/**
 * Network latency distributions, as Maelstrom's `--latency` and
 * `--latency-dist` define them: `constant` always the mean, `uniform` an
 * integer in [0, 2 x mean], `exponential` with the given mean. They apply
 * to node-to-node messages only; Maelstrom gives client messages no latency,
 * since slow clients tend to hide anomalies.
 */
import type { Rand } from "../../raft/index.ts";

export const LATENCY_DISTS = ["constant", "uniform", "exponential"] as const;
export type LatencyDistName = (typeof LATENCY_DISTS)[number];

/** Returns a sampler of latencies in milliseconds, drawing from `rand`. */
export function latencySampler(dist: LatencyDistName, meanMs: number, rand: Rand): () => number {
  if (!(meanMs >= 0) || !Number.isFinite(meanMs)) {
    throw new RangeError(`latency mean must be a non-negative number of ms, got ${meanMs}`);
  }
  if (meanMs === 0) return () => 0;
  switch (dist) {
    case "constant":
      return () => meanMs;
    case "uniform": {
      // Integers 0..2m inclusive have mean m; a fractional mean rounds the upper bound.
      const choices = Math.round(2 * meanMs) + 1;
      return () => rand.int(choices);
    }
    case "exponential":
      // Inverse CDF; 1 - u is in (0, 1], so the logarithm is finite.
      return () => -meanMs * Math.log(1 - rand.float());
  }
}
