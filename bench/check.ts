/**
 * `npm run bench:check [-- --reps N]`: times the linearizability checker
 * in-process on the Porcupine test vectors (parsing excluded) and prints a
 * markdown table: the first (cold) pass, then min / median / max over the
 * repetitions, next to Porcupine's reference figures. Every verdict is
 * verified while timing.
 */
import { readdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import { checkHistory, type ParsedHistory, parseHistory } from "../src/check/index.ts";

const DATA = new URL("../testdata/linearizability/", import.meta.url);
const repsFlag = process.argv.indexOf("--reps");
const REPS = repsFlag > 0 ? Number(process.argv[repsFlag + 1]) : 7;

interface Case {
  name: string;
  history: ParsedHistory;
  expected: string;
}

const read = (path: string) => readFileSync(new URL(path, DATA), "utf8");
const verdicts = new Map(
  read("jepsen-etcd/VERDICTS.txt")
    .trim()
    .split("\n")
    .map((l) => l.trim().split(/\s+/) as [string, string]),
);
const jepsenFiles = readdirSync(new URL("jepsen-etcd/", DATA))
  .filter((f) => f.endsWith(".log"))
  .sort();
const jepsenCases = (failedCas: "drop" | "mismatch"): Case[] =>
  jepsenFiles.map((f) => ({
    name: f,
    history: parseHistory(read(`jepsen-etcd/${f}`), f, { failedCas }),
    expected: verdicts.get(f)!,
  }));
const jepsen = jepsenCases("drop");
const jepsenMismatch = jepsenCases("mismatch");
const kv: Case[] = ["c01-ok", "c01-bad", "c10-ok", "c10-bad", "c50-ok", "c50-bad"].map((f) => ({
  name: `${f}.txt`,
  history: parseHistory(read(`kv/${f}.txt`), f),
  expected: f.endsWith("ok") ? "linearizable" : "not-linearizable",
}));

function time(c: Case): number {
  const start = performance.now();
  const r = checkHistory(c.history);
  const ms = performance.now() - start;
  if (r.verdict !== c.expected) throw new Error(`${c.name}: got ${r.verdict}, expected ${c.expected}`);
  return ms;
}

const first = new Map<string, number>();
const samples = new Map<string, number[]>();
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

// Rep -1 is the first, cold pass (V8 still optimising); it is reported apart.
for (let rep = -1; rep < REPS; rep++) {
  const record = (row: string, ms: number): void => {
    if (rep < 0) first.set(row, ms);
    else samples.set(row, [...(samples.get(row) ?? []), ms]);
  };
  const perFile = jepsen.map(time);
  const perFileMismatch = jepsenMismatch.map(time);
  const kvTimes = kv.map(time);
  record("jepsen-etcd: all 50 histories", sum(perFile));
  record("jepsen-etcd: slowest single history", Math.max(...perFile));
  record("jepsen-etcd: all 50, failed cas kept as mismatch", sum(perFileMismatch));
  record("jepsen-etcd: slowest, failed cas kept as mismatch", Math.max(...perFileMismatch));
  kv.forEach((c, i) => {
    record(`kv ${c.name}`, kvTimes[i]);
  });
}

const reference: Record<string, string> = {
  "jepsen-etcd: all 50 histories": "~550 ms for its 102",
  "jepsen-etcd: all 50, failed cas kept as mismatch": "~550 ms for its 102",
  "kv c50-ok.txt": "~200 ms",
  "kv c50-bad.txt": "~200 ms",
};
const fmt = (ms: number) => (ms < 10 ? ms.toFixed(2) : ms.toFixed(1));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const cpu = cpus()[0]?.model ?? "unknown CPU";
console.log(`node ${process.version}, ${cpu} x${cpus().length}, a cold pass then ${REPS} reps\n`);
console.log("| case | cold ms | min ms | median ms | max ms | Porcupine (Go) |");
console.log("|---|---:|---:|---:|---:|---|");
for (const [row, xs] of samples) {
  const cells = [first.get(row)!, Math.min(...xs), median(xs), Math.max(...xs)].map(fmt).join(" | ");
  console.log(`| ${row} | ${cells} | ${reference[row] ?? ""} |`);
}
