/**
 * `npm run check -- [--explain] [--timeout MS] FILE...`: checks history files
 * (Jepsen etcd logs or EDN kv logs, detected by content) for linearizability.
 * Exit status: 0 all linearizable, 1 some not (or undecided), 2 usage or
 * input errors.
 */
import { readFileSync } from "node:fs";
import { formatViolation } from "./explain.ts";
import { checkHistory, ParseError, parseHistory } from "./parse.ts";

const USAGE = "usage: npm run check -- [--explain] [--timeout MS] FILE...";

interface Args {
  explain: boolean;
  timeoutMs: number | undefined;
  files: string[];
}

function parseArgs(argv: string[]): Args | string {
  const args: Args = { explain: false, timeoutMs: undefined, files: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      args.files.push(...argv.slice(i + 1));
      break;
    }
    if (a === "--explain") args.explain = true;
    else if (a === "--timeout" || a.startsWith("--timeout=")) {
      const v = a === "--timeout" ? argv[++i] : a.slice("--timeout=".length);
      const ms = Number(v);
      if (v === undefined || v === "" || !Number.isFinite(ms) || ms <= 0)
        return `--timeout needs a positive number of milliseconds, got ${v ?? "nothing"}`;
      args.timeoutMs = ms;
    } else if (a === "--help" || a === "-h") return "";
    else if (a.startsWith("-")) return `unknown option ${a}`;
    else args.files.push(a);
  }
  return args.files.length === 0 ? "no history files given" : args;
}

function main(argv: string[]): number {
  const args = parseArgs(argv);
  if (typeof args === "string") {
    if (args !== "") process.stderr.write(`check: ${args}\n`);
    process.stderr.write(`${USAGE}\n`);
    return args === "" ? 0 : 2;
  }
  let status = 0;
  for (const file of args.files) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      process.stderr.write(`check: cannot read ${file}: ${(e as Error).message}\n`);
      status = 2;
      continue;
    }
    let history: ReturnType<typeof parseHistory>;
    try {
      history = parseHistory(text, file);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      process.stderr.write(`check: ${e.message}\n`);
      status = 2;
      continue;
    }
    const r = checkHistory(history, { timeoutMs: args.timeoutMs });
    const verdict =
      r.verdict === "linearizable"
        ? "linearizable"
        : r.verdict === "not-linearizable"
          ? "not linearizable"
          : `unknown (${r.unknownReason === "timeout" ? "timed out" : "search too large"})`;
    process.stdout.write(`${file}: ${r.operations} ops, ${Math.round(r.elapsedMs)} ms: ${verdict}\n`);
    if (args.explain && r.violation) {
      process.stdout.write(`${indent(formatViolation<unknown, unknown>(r.violation))}\n`);
    }
    if (r.verdict !== "linearizable" && status === 0) status = 1;
  }
  return status;
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n");
}

process.exitCode = main(process.argv.slice(2));
