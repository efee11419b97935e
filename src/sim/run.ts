// Runs one seed end to end: simulation, invariants, liveness, linearizability.

import { checkHistory, type LinVerdict } from "./history.ts";
import { type SimOptions, Simulation } from "./simulation.ts";

export interface SeedOutcome {
  seed: number;
  nodes: number;
  /** Invariant violations, Raft assertion failures, and liveness failures. */
  violations: string[];
  verdict: LinVerdict;
  explanation?: string;
  ops: number;
  stats: Record<string, number>;
  config: string;
  recoveredAfterMs: number | undefined;
}

export async function runSeed(opts: SimOptions): Promise<SeedOutcome> {
  const res = await new Simulation(opts).run();
  const violations = [...res.violations];
  if (res.crashed) violations.push(`assertion: ${res.crashed}`);
  if (!res.liveness.ok) violations.push(`liveness: ${res.liveness.reason}`);
  const { verdict, explanation } = checkHistory(res.history);
  return {
    seed: opts.seed,
    nodes: opts.nodes,
    violations,
    verdict,
    explanation,
    ops: res.history.length,
    stats: res.stats,
    config: res.config,
    recoveredAfterMs: res.liveness.recoveredAfterMs,
  };
}

export function failed(o: SeedOutcome): boolean {
  return o.violations.length > 0 || o.verdict === "not-linearizable";
}

export function reproduceHint(o: SeedOutcome, extra = ""): string {
  return `reproduce with: npm run sim -- --seed ${o.seed} --nodes ${o.nodes}${extra}`;
}
