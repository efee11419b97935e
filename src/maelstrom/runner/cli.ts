/**
 * `npm run maelstrom -- test -w lin-kv --bin "<command>" [options]`: a
 * Maelstrom-compatible runner for the lin-kv workload. It owns the whole
 * test loop: spawning node processes, routing their messages through a
 * simulated network with latency and partitions, driving lin-kv clients,
 * detecting protocol violations, checking linearizability with floe's
 * checker, and writing a results directory per run. See options.ts for the
 * flags and run.ts for one run.
 */
import { rmSync, symlinkSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { killAllNodeProcesses } from "./node-process.ts";
import { parseCommandLine, type RunnerOptions, USAGE, UsageError } from "./options.ts";
import { messageSummary, writeResults } from "./results.ts";
import { type RunOutcome, runTest } from "./run.ts";

export const EXIT_VALID = 0;
export const EXIT_INVALID = 1;
export const EXIT_USAGE = 254;
export const EXIT_INTERNAL = 255;

/** Runs the CLI and returns its exit status. */
export async function main(argv: string[], log: (line: string) => void = console.log): Promise<number> {
  let command: ReturnType<typeof parseCommandLine>;
  try {
    command = parseCommandLine(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`error: ${e.message}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (command.command === "help") {
    log(USAGE);
    return EXIT_VALID;
  }
  const opts = command.options;
  log(`seed ${opts.seed} (pass --seed ${opts.seed} to reproduce the schedule)`);
  for (let i = 0; i < opts.testCount; i++) {
    const seed = opts.seed + i;
    const resultsDir = resultsDirFor(opts, i);
    const startedAt = new Date();
    if (opts.testCount > 1) log(`\n=== run ${i + 1} of ${opts.testCount} (seed ${seed}) ===`);
    const outcome = await runTest(opts, { seed, resultsDir, log });
    writeResults(
      outcome,
      opts,
      startedAt,
      `floe Maelstrom runner: ${opts.workload}, run ${i + 1} of ${opts.testCount}`,
    );
    if (opts.resultsDir === undefined) linkLatest(resultsDir);
    printSummary(outcome, log);
    if (!outcome.valid) {
      if (i + 1 < opts.testCount) log(`stopping after run ${i + 1} of ${opts.testCount}: it was not valid`);
      return EXIT_INVALID;
    }
  }
  return EXIT_VALID;
}

function resultsDirFor(opts: RunnerOptions, run: number): string {
  if (opts.resultsDir !== undefined) {
    return opts.testCount > 1 ? join(opts.resultsDir, `run-${run + 1}`) : opts.resultsDir;
  }
  // Jepsen's store layout: store/<test name>/<timestamp>/.
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace("Z", "");
  return join("store", opts.workload, stamp);
}

/** store/<workload>/latest points at the newest run, as Jepsen's does. */
function linkLatest(resultsDir: string): void {
  const latest = join(dirname(resultsDir), "latest");
  try {
    rmSync(latest, { force: true });
    symlinkSync(basename(resultsDir), latest);
  } catch {
    // A convenience only.
  }
}

function printSummary(r: RunOutcome, log: (line: string) => void): void {
  const s = r.stats;
  const pct = (x: number | undefined) => (x === undefined ? "n/a" : `${(x * 100).toFixed(1)}%`);
  const m = messageSummary(r);
  const lat = s.latencyMs;
  log("");
  log(`results: ${r.resultsDir}/ (timeline.html, results.json, history.txt, messages.txt)`);
  log(
    `operations: ${s.all.count} (${s.all.ok} ok, ${s.all.fail} fail, ${s.all.info} info); ` +
      `read ${s.byType.read.ok}/${s.byType.read.count} ok, write ${s.byType.write.ok}/${s.byType.write.count}, cas ${s.byType.cas.ok}/${s.byType.cas.count}`,
  );
  log(
    `availability: ${pct(s.availability)} ok, ${pct(s.served)} served (ok, or error 20/22 reporting the key's state)`,
  );
  log(
    lat
      ? `latency of ok ops: p50 ${lat.p50} ms, p95 ${lat.p95} ms, p99 ${lat.p99} ms, max ${lat.max} ms`
      : "latency: n/a",
  );
  log(
    `messages: ${m.servers.sent} node-to-node (${m.serverMsgsPerOp ?? "n/a"} per op, ${m.servers.droppedByPartition} dropped by ${r.partitions.length} partition(s)), ${m.clients.requests + m.clients.replies} client`,
  );
  log(
    `linearizability: ${r.check.verdict} (${r.check.operations} operations over ${r.check.partitions} keys, ${r.check.elapsedMs.toFixed(1)} ms)`,
  );
  if (r.violationText !== undefined) log(`\n${r.violationText}`);
  if (r.misbehaviours.length > 0) log("");
  for (const mb of r.misbehaviours.slice(0, 5)) {
    log(`protocol violation by ${mb.node} at ${(mb.time / 1000).toFixed(3)} s: ${mb.problem}`);
    if (mb.line !== undefined) log(`  offending line from ${mb.node}: ${mb.line}`);
  }
  if (r.misbehaviours.length > 5) log(`... and ${r.misbehaviours.length - 5} more in results.json`);
  log("");
  if (r.valid) log("Everything looks good! ヽ(‘ー`)ノ");
  else if (r.misbehaviours.length === 0 && r.check.verdict === "unknown") {
    log(`Errors occurred during analysis, but no anomalies found. ಠ~ಠ (${r.failure})`);
  } else log(`Analysis invalid! (ﾉಥ益ಥ）ﾉ ┻━┻ ${r.failure}`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  process.on("exit", killAllNodeProcesses);
  // Output piped into e.g. `head` that has gone away: stop like a shell tool would (128 + SIGPIPE).
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") throw err;
    killAllNodeProcesses();
    process.exit(141);
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      killAllNodeProcesses();
      process.exit(130);
    });
  }
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error("internal error in the Maelstrom runner:", err);
      killAllNodeProcesses();
      process.exitCode = EXIT_INTERNAL;
    },
  );
}
