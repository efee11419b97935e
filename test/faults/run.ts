// One fault-injection run, Jepsen style: start a cluster, drive clients,
// apply a seeded schedule of faults (each healed before the next), heal
// everything, then check: a leader serves again within a bound, every member
// converges to the same data, no acknowledged insert is missing, no insert
// reported as definitely failed is present, and the register history is
// linearizable. A failure throws with the seed, the counterexample and the
// tail of each member's stderr.

import assert from "node:assert/strict";
import { test } from "node:test";
import { checkOperations, formatViolation, linKvModel } from "../../src/check/index.ts";
import { FaultCluster } from "./cluster.ts";
import {
  type AppliedFault,
  applyFault,
  describeSchedule,
  type FaultKind,
  makeSchedule,
  probeWrite,
} from "./nemesis.ts";
import { Prng, seedFromEnv } from "./prng.ts";
import { delay, poll, summarize } from "./util.ts";
import { Workload, type WorkloadOptions } from "./workload.ts";

export interface ScenarioOptions {
  name: string;
  size: number;
  seed: number;
  kinds: readonly FaultKind[];
  steps: number;
  holdMs: [number, number];
  gapMs: [number, number];
  coverEachKind?: boolean;
  /**
   * After healing a fault, wait until every member follows one leader before
   * the next (default). Off, faults land on a cluster still recovering from
   * the last one: members restarting, elections in progress.
   */
  settle?: boolean;
  workload?: Partial<WorkloadOptions>;
  snapshotCount?: number;
  logLevel?: "warn" | "info";
  /** Load before the first fault and after the last heal. */
  warmupMs?: number;
  cooldownMs?: number;
  /** After the final heal, some member must acknowledge a write within this bound. */
  recoveryBoundMs?: number;
  convergeDeadlineMs?: number;
  checkTimeoutMs?: number;
  /** How network faults are made (cluster.ts): the TCP proxy (default) or network namespaces. */
  network?: "proxy" | "netns";
}

export interface ScenarioReport {
  name: string;
  seed: number;
  verdict: string;
  operations: number;
  partitions: number;
  checkMs: number;
  counts: { ok: number; fail: number; info: number };
  inserts: { acked: number; unknown: number; failed: number; present: number };
  failoverMs: number[];
  failoverByKind: Map<string, number[]>;
  recoveryMs: number;
  convergeMs: number;
  /** Snapshots installed from a leader, counted from info-level logs (0 at warn level). */
  snapshotsRestored: number;
  durationMs: number;
}

const DEFAULT_WORKLOAD: WorkloadOptions = {
  clients: 6,
  keysPerWindow: 3,
  keyWindowMs: 8000,
  requestTimeoutMs: 2000,
  thinkMs: 40,
};

export async function runScenario(o: ScenarioOptions): Promise<ScenarioReport> {
  const began = Date.now();
  const rng = new Prng(o.seed);
  const schedule = makeSchedule(rng.fork(), {
    kinds: o.kinds,
    steps: o.steps,
    holdMs: o.holdMs,
    gapMs: o.gapMs,
    coverEachKind: o.coverEachKind,
  });
  const nemesisRng = rng.fork();
  const log = (line: string) =>
    console.log(`[${o.name} +${((Date.now() - began) / 1000).toFixed(1)}s] ${line}`);
  log(
    `seed=${o.seed} (replay: FLOE_FAULT_SEED=${o.seed}) members=${o.size} schedule: ${describeSchedule(schedule)}`,
  );

  const cluster = new FaultCluster({
    size: o.size,
    snapshotCount: o.snapshotCount,
    label: o.name,
    logLevel: o.logLevel,
    network: o.network,
  });
  const workload = new Workload(cluster, rng.fork(), { ...DEFAULT_WORKLOAD, ...o.workload });
  const failoverByKind = new Map<string, number[]>();
  const failures: string[] = [];
  let ok = false;
  try {
    await cluster.start();
    log(
      `cluster up: ${cluster.members.map((m) => `${m.name}=${m.id64.toString(16)}`).join(" ")}; data in ${cluster.baseDir}`,
    );
    workload.start();
    await delay(o.warmupMs ?? 1500);

    for (const [i, step] of schedule.entries()) {
      const applied: AppliedFault = await applyFault(cluster, nemesisRng, step.kind, log);
      log(`fault ${i + 1}/${schedule.length}: ${applied.description}`);
      // The fault is held for its scheduled time: a duration, not a condition to wait for.
      await delay(step.holdMs);
      const failover = applied.failover ? await applied.failover : undefined;
      await applied.heal();
      if (applied.failover) {
        if (failover === undefined)
          failures.push(`no write was acknowledged after fault ${i + 1} (${applied.description})`);
        else {
          const list = failoverByKind.get(step.kind) ?? [];
          list.push(failover);
          failoverByKind.set(step.kind, list);
          log(`  failover (fault -> first acknowledged write): ${failover} ms`);
        }
      }
      if (o.settle ?? true) {
        const leader = await cluster.waitHealthy(30_000);
        log(`healed; leader ${leader.name}`);
      } else {
        log("healed");
      }
      await delay(step.gapMs);
    }

    cluster.healAll();
    const healedAt = Date.now();
    const recoveryBound = o.recoveryBoundMs ?? 15_000;
    const recoveryMs = await probeWrite(() => cluster.running(), healedAt, recoveryBound);
    if (recoveryMs === undefined)
      failures.push(`no member acknowledged a write within ${recoveryBound} ms of healing`);
    else log(`all faults healed; first write acknowledged after ${recoveryMs} ms`);
    await delay(o.cooldownMs ?? 1500);
    await workload.stop();
    log(
      `workload stopped: ok=${workload.counts.ok} fail=${workload.counts.fail} info=${workload.counts.info}`,
    );

    const converged = await cluster.converge(o.convergeDeadlineMs ?? 20_000);
    log(
      `converged at revision ${converged.revision}, HashKV ${converged.hash}, after ${converged.elapsedMs} ms`,
    );

    // Final reads through the leader, as part of the history: what every key holds at the end.
    const leader = await cluster.waitHealthy(10_000);
    for (const key of [...workload.keysUsed].sort()) {
      const h = workload.history.invoke(0, { type: "read", key });
      const r = await poll(`final read of ${key}`, 10_000, () =>
        leader.client.kv.range({ key: Buffer.from(key) }, { deadline: Date.now() + 2000 }),
      );
      if (r.kvs.length === 0) workload.history.ok(h, { type: "error", code: 20 });
      else workload.history.ok(h, { type: "read_ok", value: Number(r.kvs[0].value.toString()) });
    }

    // Lost writes: every acknowledged insert is there; none that definitely failed is.
    const present = new Set(
      (
        await poll("the final insert listing", 10_000, () =>
          leader.client.kv.range(
            { key: Buffer.from("s/"), range_end: Buffer.from("s0"), keys_only: true },
            { deadline: Date.now() + 5000 },
          ),
        )
      ).kvs.map((kv) => kv.key.toString()),
    );
    const acked = workload.inserts.filter((e) => e.outcome === "ok");
    const definite = workload.inserts.filter((e) => e.outcome === "fail");
    const lost = acked.filter((e) => !present.has(e.key));
    const resurrected = definite.filter((e) => present.has(e.key));
    if (lost.length > 0) {
      failures.push(
        `${lost.length} acknowledged inserts are missing: ${lost
          .slice(0, 10)
          .map((e) => e.key)
          .join(", ")}`,
      );
    }
    if (resurrected.length > 0) {
      failures.push(
        `${resurrected.length} inserts reported as definitely failed are present: ` +
          resurrected
            .slice(0, 10)
            .map((e) => e.key)
            .join(", "),
      );
    }
    const unknownInserts = workload.inserts.length - acked.length - definite.length;
    log(
      `inserts: acked=${acked.length} unknown=${unknownInserts} failed=${definite.length} present=${present.size} lost=${lost.length}`,
    );

    const ops = workload.history.operations();
    const result = checkOperations(linKvModel, ops, { timeoutMs: o.checkTimeoutMs ?? 60_000 });
    log(
      `linearizability: ${result.verdict} (${result.operations} operations in ${result.partitions} keys, ${Math.round(result.elapsedMs)} ms)`,
    );
    if (result.verdict === "not-linearizable" && result.violation) {
      failures.push(`history is not linearizable:\n${formatViolation(result.violation, { maxPrefix: 30 })}`);
    } else if (result.verdict !== "linearizable") {
      failures.push(`the checker could not decide (${result.unknownReason}) within its time limit`);
    }
    failures.push(...cluster.unexpectedExits());

    const snapshotsRestored = cluster.members.reduce((n, m) => n + m.snapshotsRestored, 0);
    if (o.logLevel === "info") log(`snapshots installed from a leader: ${snapshotsRestored}`);
    const failoverMs = [...failoverByKind.values()].flat();
    log(summarize("failover", failoverMs));
    for (const [kind, values] of failoverByKind) log(`  ${summarize(kind, values)}`);
    if (workload.errorKinds.size > 0) {
      const kinds = [...workload.errorKinds].sort((a, b) => b[1] - a[1]).slice(0, 6);
      log(`client errors: ${kinds.map(([m, n]) => `${n}x ${m}`).join(" | ")}`);
    }

    if (failures.length > 0) throw new Error(failures.join("\n"));
    ok = true;
    return {
      name: o.name,
      seed: o.seed,
      verdict: result.verdict,
      operations: result.operations,
      partitions: result.partitions,
      checkMs: result.elapsedMs,
      counts: { ...workload.counts },
      inserts: {
        acked: acked.length,
        unknown: unknownInserts,
        failed: definite.length,
        present: present.size,
      },
      failoverMs,
      failoverByKind,
      recoveryMs: recoveryMs ?? Number.NaN,
      convergeMs: converged.elapsedMs,
      snapshotsRestored,
      durationMs: Date.now() - began,
    };
  } catch (e) {
    const msg = (e as Error).stack ?? String(e);
    throw new Error(
      `${o.name} failed (reproduce the schedule with FLOE_FAULT_SEED=${o.seed}; data kept in ${cluster.baseDir}):\n` +
        `${[...failures, ...(failures.length > 0 && (e as Error).message === failures.join("\n") ? [] : [msg])].join("\n")}\n` +
        `network rules at failure: ${cluster.rules.describe()}\n${cluster.tails(25)}`,
    );
  } finally {
    await workload.stop().catch(() => {});
    await cluster.close(!ok);
  }
}

/**
 * One fault scenario as a test: runs it with the seed from FLOE_FAULT_SEED
 * (or a fresh one, printed for replay), asserts the history is linearizable,
 * then any scenario-specific check on the report.
 */
export function scenarioTest(
  title: string,
  options: Omit<ScenarioOptions, "seed">,
  t: { timeout?: number; skip?: string; check?: (report: ScenarioReport) => void } = {},
): void {
  test(title, { timeout: t.timeout ?? 300_000, skip: t.skip }, async () => {
    const report = await runScenario({ ...options, seed: seedFromEnv() });
    assert.equal(report.verdict, "linearizable");
    t.check?.(report);
  });
}
