/**
 * Command-line options of the runner, with Maelstrom's names, meanings and
 * (where they make sense for lin-kv) defaults. Parsing never exits the
 * process: bad input throws a `UsageError` that the CLI prints with the usage.
 */
import { randomInt } from "node:crypto";
import { parseArgs } from "node:util";
import { LATENCY_DISTS, type LatencyDistName } from "./latency.ts";
import { PARTITION_KINDS, type PartitionKind } from "./nemesis.ts";

export const WORKLOADS = ["lin-kv"] as const;
export type WorkloadName = (typeof WORKLOADS)[number];
export const NEMESES = ["partition"] as const;
export type NemesisName = (typeof NEMESES)[number];

export interface RunnerOptions {
  workload: WorkloadName;
  /** The node command as given to --bin, and extra arguments (positionals after the flags). */
  bin: string;
  binArgs: string[];
  nodeCount: number;
  timeLimitSec: number;
  /** Client operations per second, over all clients together. */
  rate: number;
  /** The number of client workers, after expanding e.g. `2n`. */
  concurrency: number;
  latencyMs: number;
  latencyDist: LatencyDistName;
  nemesis: NemesisName[];
  nemesisIntervalSec: number;
  /** The partition shapes the partition nemesis chooses from. */
  partitionKinds: PartitionKind[];
  /** Quiet period between healing the network and the final reads. */
  recoveryTimeSec: number;
  testCount: number;
  logStderr: boolean;
  logNetSend: boolean;
  logNetRecv: boolean;
  /** Undefined: `store/<workload>/<timestamp>/` per run. */
  resultsDir: string | undefined;
  seed: number;
  initTimeoutSec: number;
  /** Give up on the linearizability search after this long (the verdict is then "unknown"). */
  checkTimeoutSec: number;
}

export class UsageError extends Error {
  override name = "UsageError";
}

export const USAGE = `Usage: npm run maelstrom -- test -w lin-kv --bin "<command>" [options] [-- extra args for the node]

Runs N copies of <command> as Maelstrom nodes (JSON lines on stdin/stdout,
logs on stderr), drives them with lin-kv clients, routes node-to-node
messages with latency and partitions, and checks the history for
linearizability with floe's checker. Exit status: 0 every run valid,
1 some run invalid (not linearizable, unknown, or a node broke the
protocol), 254 bad arguments, 255 internal error.

Options (Maelstrom's names and meanings):
  -w, --workload NAME          workload to run; only lin-kv (default lin-kv)
      --bin COMMAND            node command; split like a shell would, or run
                               with sh -c when it uses shell syntax (required)
      --node-count N           number of nodes n0..n{N-1} (default 5)
      --time-limit SECONDS     how long clients issue operations (default 60)
      --rate R                 client operations per second, all clients
                               together (default 5; 0 runs no clients)
      --concurrency N|Kn       number of clients; Kn means K x node-count
                               (default 2n: lin-kv runs 2n clients per key)
      --latency MS             mean node-to-node latency (default 0)
      --latency-dist D         constant | uniform | exponential (default constant)
      --nemesis FAULTS         comma-separated faults; only partition (default none)
      --nemesis-interval SECS  seconds between nemesis actions (default 10)
      --partition-kinds K      comma-separated partition shapes to choose from:
                               one, majority, majorities-ring, random (default all)
      --test-count N           run the whole test N times; all must be valid (default 1)
      --log-stderr             forward the nodes' stderr, prefixed with the node id
      --log-net-send           print node messages as they are sent
      --log-net-recv           print node messages as they are delivered
floe additions:
      --results-dir DIR        where results go (default store/lin-kv/<timestamp>/;
                               with --test-count > 1, DIR/run-<i>/)
      --seed N                 seed for every random choice (default random, printed)
      --recovery-time SECS     quiet period after healing, before the final reads
                               (default 5 with a nemesis, 0 without)
      --init-timeout SECS      how long a node may take to answer init (default 10)
      --check-timeout SECS     linearizability search budget (default 300)
  -h, --help                   print this message

Results directory:
  results.json    verdict, op counts (ok/fail/info per type), availability,
                  latency quantiles, message counts, partitions, parameters
  history.txt     one operation per line, with nemesis events
  messages.txt    node-to-node and client messages, per body type
  timeline.html   self-contained page: per-client operation bars, partitions,
                  latency quantiles and op rate over time
  n0.log ...      each node's stderr
  violation.txt   the checker's explanation, when not linearizable

Example:
  npm run maelstrom -- test -w lin-kv --bin "node bin/floe.js maelstrom" \\
    --node-count 3 --time-limit 20 --rate 50 --latency 5 --nemesis partition`;

export type Command = { command: "help" } | { command: "test"; options: RunnerOptions };

/** Parses `argv` (without node and script). Throws `UsageError` on anything it does not understand. */
export function parseCommandLine(argv: string[]): Command {
  const [command, ...rest] = argv;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    return { command: "help" };
  }
  if (command !== "test") {
    throw new UsageError(`unknown command ${JSON.stringify(command)}; the only command is "test"`);
  }
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(rest);
  } catch (e) {
    // node:util reports unknown flags and missing values as TypeErrors with an ERR_PARSE_ARGS_* code.
    if (e instanceof TypeError && "code" in e && String(e.code).startsWith("ERR_PARSE_ARGS")) {
      throw new UsageError(e.message);
    }
    throw e;
  }
  if (parsed.values.help) return { command: "help" };
  return { command: "test", options: toOptions(parsed.values, parsed.positionals) };
}

function parseFlags(args: string[]) {
  return parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      help: { type: "boolean", short: "h" },
      workload: { type: "string", short: "w" },
      bin: { type: "string" },
      "node-count": { type: "string" },
      "time-limit": { type: "string" },
      rate: { type: "string" },
      concurrency: { type: "string" },
      latency: { type: "string" },
      "latency-dist": { type: "string" },
      nemesis: { type: "string" },
      "nemesis-interval": { type: "string" },
      "partition-kinds": { type: "string" },
      "recovery-time": { type: "string" },
      "test-count": { type: "string" },
      "log-stderr": { type: "boolean" },
      "log-net-send": { type: "boolean" },
      "log-net-recv": { type: "boolean" },
      "results-dir": { type: "string" },
      seed: { type: "string" },
      "init-timeout": { type: "string" },
      "check-timeout": { type: "string" },
    },
  });
}

type FlagValues = ReturnType<typeof parseFlags>["values"];

function toOptions(v: FlagValues, positionals: string[]): RunnerOptions {
  const workload = v.workload ?? "lin-kv";
  if (!(WORKLOADS as readonly string[]).includes(workload)) {
    throw new UsageError(`unknown workload ${JSON.stringify(workload)}; supported: ${WORKLOADS.join(", ")}`);
  }
  if (v.bin === undefined || v.bin.trim() === "") {
    throw new UsageError('expected --bin "<command>": the node program to test');
  }
  const nodeCount = parseNumber("--node-count", v["node-count"], 5, { integer: true, min: 1 });
  if (nodeCount > 64) throw new UsageError(`--node-count must be at most 64, got ${nodeCount}`);
  const latencyDist = v["latency-dist"] ?? "constant";
  if (!(LATENCY_DISTS as readonly string[]).includes(latencyDist)) {
    throw new UsageError(
      `--latency-dist must be one of ${LATENCY_DISTS.join(", ")}, got ${JSON.stringify(latencyDist)}`,
    );
  }
  const nemesis = parseNemesis(v.nemesis);
  const nemesisIntervalSec = parseNumber("--nemesis-interval", v["nemesis-interval"], 10, { positive: true });
  return {
    workload: workload as WorkloadName,
    bin: v.bin,
    binArgs: positionals,
    nodeCount,
    timeLimitSec: parseNumber("--time-limit", v["time-limit"], 60, { positive: true }),
    rate: parseNumber("--rate", v.rate, 5, { min: 0 }),
    concurrency: parseConcurrency(v.concurrency ?? "2n", nodeCount),
    latencyMs: parseNumber("--latency", v.latency, 0, { min: 0 }),
    latencyDist: latencyDist as LatencyDistName,
    nemesis,
    nemesisIntervalSec,
    partitionKinds: parsePartitionKinds(v["partition-kinds"]),
    recoveryTimeSec: parseNumber("--recovery-time", v["recovery-time"], nemesis.length > 0 ? 5 : 0, {
      min: 0,
    }),
    testCount: parseNumber("--test-count", v["test-count"], 1, { integer: true, min: 1 }),
    logStderr: v["log-stderr"] ?? false,
    logNetSend: v["log-net-send"] ?? false,
    logNetRecv: v["log-net-recv"] ?? false,
    resultsDir: v["results-dir"],
    seed: parseNumber("--seed", v.seed, randomInt(2 ** 31), { integer: true, min: 0 }),
    initTimeoutSec: parseNumber("--init-timeout", v["init-timeout"], 10, { positive: true }),
    checkTimeoutSec: parseNumber("--check-timeout", v["check-timeout"], 300, { positive: true }),
  };
}

/**
 * Jepsen's `--concurrency`: an integer, optionally followed by `n` to
 * multiply it by the number of nodes (`4n` with 3 nodes is 12).
 */
export function parseConcurrency(spec: string, nodeCount: number): number {
  const m = /^(\d+)(n?)$/.exec(spec.trim());
  if (!m) {
    throw new UsageError(
      `--concurrency must be an integer, optionally followed by n (e.g. 10 or 2n), got ${JSON.stringify(spec)}`,
    );
  }
  const value = Number(m[1]) * (m[2] === "n" ? nodeCount : 1);
  if (value < 1) throw new UsageError(`--concurrency must be at least 1, got ${JSON.stringify(spec)}`);
  if (value > 1000) throw new UsageError(`--concurrency must be at most 1000, got ${value}`);
  return value;
}

function parsePartitionKinds(spec: string | undefined): PartitionKind[] {
  if (spec === undefined || spec.trim() === "") return [...PARTITION_KINDS];
  const kinds = [...new Set(spec.split(/\s*,\s*/).filter((k) => k !== ""))];
  for (const k of kinds) {
    if (!(PARTITION_KINDS as readonly string[]).includes(k)) {
      throw new UsageError(
        `unknown --partition-kinds shape ${JSON.stringify(k)}; supported: ${PARTITION_KINDS.join(", ")}`,
      );
    }
  }
  return kinds as PartitionKind[];
}

function parseNemesis(spec: string | undefined): NemesisName[] {
  if (spec === undefined || spec.trim() === "") return [];
  const faults = [...new Set(spec.split(/\s*,\s*/).filter((f) => f !== ""))];
  for (const f of faults) {
    if (!(NEMESES as readonly string[]).includes(f)) {
      throw new UsageError(`unknown --nemesis fault ${JSON.stringify(f)}; supported: ${NEMESES.join(", ")}`);
    }
  }
  return faults as NemesisName[];
}

interface NumberRule {
  integer?: boolean;
  min?: number;
  positive?: boolean;
}

function parseNumber(flag: string, raw: string | undefined, fallback: number, rule: NumberRule): number {
  if (raw === undefined) return fallback;
  const value = raw.trim() === "" ? Number.NaN : Number(raw);
  const kind = rule.integer ? "an integer" : "a number";
  if (!Number.isFinite(value) || (rule.integer && !Number.isInteger(value))) {
    throw new UsageError(`${flag} must be ${kind}, got ${JSON.stringify(raw)}`);
  }
  if (rule.positive && value <= 0) throw new UsageError(`${flag} must be positive, got ${raw}`);
  if (rule.min !== undefined && value < rule.min) {
    throw new UsageError(`${flag} must be at least ${rule.min}, got ${raw}`);
  }
  return value;
}
