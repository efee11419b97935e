/**
 * Writes a run's results directory: results.json, history.txt,
 * messages.txt, timeline.html and, for a violation, violation.txt (the
 * nodes' stderr logs are already there, written while they ran).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { formatHistory } from "./history.ts";
import type { TypeCounts } from "./network.ts";
import type { RunnerOptions } from "./options.ts";
import type { RunOutcome } from "./run.ts";
import { renderTimeline } from "./timeline.ts";

export interface MessageSummary {
  servers: {
    sent: number;
    delivered: number;
    droppedByPartition: number;
    undelivered: number;
    byType: Record<string, TypeCounts>;
  };
  clients: {
    requests: number;
    replies: number;
    lateReplies: number;
    byType: Record<string, number>;
  };
  /** Node-to-node messages per client operation (Maelstrom's msgs-per-op). */
  serverMsgsPerOp: number | undefined;
}

export function messageSummary(r: RunOutcome): MessageSummary {
  const net = r.network;
  const ops = r.stats.all.count;
  return {
    servers: {
      sent: net.sent,
      delivered: net.delivered,
      droppedByPartition: net.droppedByPartition,
      undelivered: net.undelivered,
      byType: Object.fromEntries([...net.byType].sort(byCountDesc((c) => c.sent))),
    },
    clients: {
      requests: r.clients.requestsSent,
      replies: r.clients.repliesReceived,
      lateReplies: r.clients.lateReplies,
      byType: Object.fromEntries([...r.clients.countsByType].sort(byCountDesc((c) => c))),
    },
    serverMsgsPerOp: ops === 0 ? undefined : Math.round((net.sent / ops) * 100) / 100,
  };
}

export function resultsJson(r: RunOutcome, opts: RunnerOptions, startedAt: Date): unknown {
  return {
    valid: r.valid,
    failure: r.failure ?? null,
    workload: opts.workload,
    seed: r.seed,
    startedAt: startedAt.toISOString(),
    durationMs: r.durationMs,
    parameters: {
      bin: opts.bin,
      binArgs: opts.binArgs,
      nodeCount: opts.nodeCount,
      nodes: r.nodes,
      timeLimitSec: opts.timeLimitSec,
      rate: opts.rate,
      concurrency: opts.concurrency,
      latencyMs: opts.latencyMs,
      latencyDist: opts.latencyDist,
      nemesis: opts.nemesis,
      nemesisIntervalSec: opts.nemesisIntervalSec,
      partitionKinds: opts.partitionKinds,
      recoveryTimeSec: opts.recoveryTimeSec,
      clientTimeoutMs: r.clientTimeoutMs,
      initTimeoutSec: opts.initTimeoutSec,
      checkTimeoutSec: opts.checkTimeoutSec,
    },
    misbehaviours: r.misbehaviours,
    linearizability: {
      verdict: r.check.verdict,
      operationsChecked: r.check.operations,
      keys: r.check.partitions,
      elapsedMs: Math.round(r.check.elapsedMs * 1000) / 1000,
      unknownReason: r.check.unknownReason ?? null,
      violation: r.violationText ?? null,
    },
    availability: r.stats.availability ?? null,
    served: r.stats.served ?? null,
    latencyMs: r.stats.latencyMs ?? null,
    stats: r.stats,
    messages: messageSummary(r),
    nemesis: { partitions: r.partitions },
  };
}

export function formatMessages(m: MessageSummary): string {
  const lines: string[] = [];
  const s = m.servers;
  lines.push(
    `node-to-node messages: ${s.sent} sent, ${s.delivered} delivered, ${s.droppedByPartition} dropped by partitions, ${s.undelivered} in flight at shutdown`,
  );
  if (m.serverMsgsPerOp !== undefined)
    lines.push(`node-to-node messages per client operation: ${m.serverMsgsPerOp}`);
  lines.push("  by body type:            sent  delivered    dropped");
  for (const [type, c] of Object.entries(s.byType)) {
    lines.push(
      `    ${type.padEnd(20)} ${String(c.sent).padStart(9)} ${String(c.delivered).padStart(10)} ${String(c.dropped).padStart(10)}`,
    );
  }
  const c = m.clients;
  lines.push("");
  lines.push(
    `client messages: ${c.requests} requests, ${c.replies} replies (${c.lateReplies} after the client had timed out)`,
  );
  lines.push("  by body type:");
  for (const [type, n] of Object.entries(c.byType))
    lines.push(`    ${type.padEnd(20)} ${String(n).padStart(9)}`);
  return `${lines.join("\n")}\n`;
}

export function writeResults(r: RunOutcome, opts: RunnerOptions, startedAt: Date, title: string): void {
  const dir = r.resultsDir;
  writeFileSync(join(dir, "results.json"), `${JSON.stringify(resultsJson(r, opts, startedAt), null, 2)}\n`);
  writeFileSync(join(dir, "history.txt"), formatHistory(r.history, r.partitions));
  writeFileSync(join(dir, "messages.txt"), formatMessages(messageSummary(r)));
  if (r.violationText !== undefined) writeFileSync(join(dir, "violation.txt"), `${r.violationText}\n`);
  const durationMs = r.history.reduce((m, op) => Math.max(m, op.ret ?? op.call), r.workloadEndMs);
  writeFileSync(
    join(dir, "timeline.html"),
    renderTimeline({
      title,
      valid: r.valid,
      failure: r.failure,
      summary: summaryRows(r, opts),
      history: r.history,
      partitions: r.partitions,
      workers: Array.from({ length: opts.concurrency }, (_, i) => ({
        index: i,
        node: r.nodes[i % r.nodes.length],
      })),
      durationMs,
      violationText: r.violationText,
      misbehaviours: r.misbehaviours,
    }),
  );
}

function summaryRows(r: RunOutcome, opts: RunnerOptions): [string, string][] {
  const s = r.stats;
  const pct = (x: number | undefined) => (x === undefined ? "n/a" : `${(x * 100).toFixed(1)}%`);
  const lat = s.latencyMs;
  return [
    ["command", [opts.bin, ...opts.binArgs].join(" ")],
    [
      "parameters",
      `${opts.nodeCount} nodes, ${opts.concurrency} clients, rate ${opts.rate}/s, time limit ${opts.timeLimitSec} s, latency ${opts.latencyMs} ms ${opts.latencyDist}, nemesis ${opts.nemesis.join(",") || "none"}`,
    ],
    ["seed", String(r.seed)],
    [
      "linearizability",
      `${r.check.verdict} (${r.check.operations} operations over ${r.check.partitions} keys)`,
    ],
    [
      "operations",
      `${s.all.count}: ${s.all.ok} ok, ${s.all.fail} fail, ${s.all.info} info (read ${s.byType.read.ok}/${s.byType.read.count} ok, write ${s.byType.write.ok}/${s.byType.write.count}, cas ${s.byType.cas.ok}/${s.byType.cas.count})`,
    ],
    ["availability", `${pct(s.availability)} ok; ${pct(s.served)} served (ok or error 20/22)`],
    [
      "latency of ok ops",
      lat ? `p50 ${lat.p50} ms, p95 ${lat.p95} ms, p99 ${lat.p99} ms, max ${lat.max} ms` : "n/a",
    ],
    ["partitions", String(r.partitions.length)],
  ];
}

function byCountDesc<T>(count: (v: T) => number): (a: [string, T], b: [string, T]) => number {
  return (a, b) => count(b[1]) - count(a[1]) || (a[0] < b[0] ? -1 : 1);
}
