/**
 * Parsers for the history files in testdata/linearizability/: Jepsen etcd
 * logs (one register) and EDN kv logs (get / put / append on many keys).
 * Line numbers serve as timestamps; every error names the file and line.
 */
import { checkOperations } from "./check.ts";
import { type KvInput, type KvOutput, kvModel } from "./models/kv.ts";
import { type RegisterInput, type RegisterOutput, registerModel } from "./models/register.ts";
import type { CheckOptions, CheckResult, Operation } from "./types.ts";

export class ParseError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
    this.name = "ParseError";
  }
}

export type ParsedHistory =
  | { format: "jepsen-etcd"; ops: Operation<RegisterInput, RegisterOutput>[] }
  | { format: "kv-edn"; ops: Operation<KvInput, KvOutput>[] };

/** Parses either format, chosen by content. */
export function parseHistory(text: string, file = "<input>", opts: JepsenOptions = {}): ParsedHistory {
  if (text.includes("jepsen.util")) return { format: "jepsen-etcd", ops: parseJepsenLog(text, file, opts) };
  const lines = text.split("\n");
  const first = lines.findIndex((l) => l.trim() !== "");
  // an empty history is trivially linearizable: a verdict, not an input error
  if (first < 0) return { format: "kv-edn", ops: [] };
  if (lines[first].trimStart().startsWith("{")) {
    return { format: "kv-edn", ops: parseKvEdn(text, file) };
  }
  throw new ParseError(
    file,
    first + 1,
    "unrecognised history format (expected Jepsen `jepsen.util` lines or EDN `{:process ...}` maps)",
  );
}

/** Checks a parsed history with the model its format implies. */
export function checkHistory(
  h: ParsedHistory,
  opts?: CheckOptions,
): CheckResult<RegisterInput, RegisterOutput> | CheckResult<KvInput, KvOutput> {
  return h.format === "jepsen-etcd"
    ? checkOperations(registerModel, h.ops, opts)
    : checkOperations(kvModel, h.ops, opts);
}

type Pending<I, O> = { op: Operation<I, O>; line: number; f: string };

/**
 * Collects invoke / complete pairs per process. `:fail` drops the operation
 * unless the caller records a definite output for it; `:info` and operations
 * still open at the end of the file become unknown-outcome operations.
 */
class Pairing<I, O> {
  readonly ops: Operation<I, O>[] = [];
  private readonly pending = new Map<number, Pending<I, O>>();
  private readonly dropped = new Set<Operation<I, O>>();

  constructor(private readonly file: string) {}

  invoke(process: number, f: string, input: I, line: number): void {
    const open = this.pending.get(process);
    if (open) {
      throw new ParseError(
        this.file,
        line,
        `process ${process} invokes again while its operation from line ${open.line} is open`,
      );
    }
    const op: Operation<I, O> = {
      clientId: process,
      input,
      call: line,
      output: undefined,
      ret: Number.POSITIVE_INFINITY,
    };
    this.pending.set(process, { op, line, f });
    this.ops.push(op);
  }

  complete(process: number, type: string, f: string, line: number): Operation<I, O> {
    const open = this.pending.get(process);
    if (!open)
      throw new ParseError(this.file, line, `process ${process} completes an operation it never invoked`);
    if (open.f !== f) {
      throw new ParseError(
        this.file,
        line,
        `process ${process} completes ${f} but invoked ${open.f} on line ${open.line}`,
      );
    }
    this.pending.delete(process);
    if (type === "info") return open.op;
    open.op.ret = line;
    return open.op;
  }

  drop(op: Operation<I, O>): void {
    this.dropped.add(op);
  }

  finish(): Operation<I, O>[] {
    return this.dropped.size === 0 ? this.ops : this.ops.filter((op) => !this.dropped.has(op));
  }
}

const TYPES = new Set(["invoke", "ok", "fail", "info"]);

export interface JepsenOptions {
  /**
   * What a cas ending in `:fail` means. "drop" (default, the README's
   * reading): it certainly did not take effect, so it is left out.
   * "mismatch" (Porcupine's reading): etcd evaluated the compare and it did
   * not match, so it is kept as an observation that the register held
   * something else. Both reproduce every verdict in the test data; "drop"
   * assumes less, so it can never turn a non-match into a false violation.
   */
  failedCas?: "drop" | "mismatch";
}

/**
 * Jepsen etcd register log. `:fail` on a read or write drops it; on a cas
 * see `JepsenOptions.failedCas`.
 */
export function parseJepsenLog(
  text: string,
  file = "<input>",
  opts: JepsenOptions = {},
): Operation<RegisterInput, RegisterOutput>[] {
  const pairs = new Pairing<RegisterInput, RegisterOutput>(file);
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const at = lines[i].indexOf("jepsen.util");
    if (at < 0) continue;
    const lineNo = i + 1;
    const fail: (why: string) => never = (why) => {
      throw new ParseError(file, lineNo, why);
    };
    const dash = lines[i].indexOf(" - ", at);
    if (dash < 0) fail("expected `jepsen.util - PROCESS\\tTYPE\\tF\\tVALUE`");
    // Jepsen writes tabs; logs that went through other tools may have spaces
    // (Porcupine accepts any whitespace). The value may hold spaces ([1 2]).
    const m = /^(\S+)\s+(\S+)\s+(\S+)\s+(\S.*)$/.exec(lines[i].slice(dash + 3).trim());
    if (m === null) fail('expected 4 whitespace-separated fields after "- ": PROCESS TYPE F VALUE');
    const [, procText, typeText, fText, valueText] = m;
    const process = parseInteger(procText) ?? fail(`bad process number ${JSON.stringify(procText)}`);
    const type =
      typeText.startsWith(":") && TYPES.has(typeText.slice(1))
        ? typeText.slice(1)
        : fail(`bad type ${typeText}`);
    const f =
      fText === ":read" || fText === ":write" || fText === ":cas"
        ? fText.slice(1)
        : fail(`bad function ${fText}`);
    const value = (): number =>
      parseInteger(valueText) ?? fail(`expected an integer, found ${JSON.stringify(valueText)}`);
    const pair = (): [number, number] => {
      const m =
        /^\[(-?\d+) (-?\d+)\]$/.exec(valueText) ??
        fail(`expected [FROM TO], found ${JSON.stringify(valueText)}`);
      return [Number(m[1]), Number(m[2])];
    };
    if (type === "invoke") {
      let input: RegisterInput;
      if (f === "read") input = { f: "read" };
      else if (f === "write") input = { f: "write", value: value() };
      else {
        const [from, to] = pair();
        input = { f: "cas", from, to };
      }
      pairs.invoke(process, f, input, lineNo);
      continue;
    }
    const op = pairs.complete(process, type, f, lineNo);
    if (type === "info") continue;
    if (type === "fail") {
      if (f === "cas" && opts.failedCas === "mismatch") op.output = { ok: false };
      else pairs.drop(op);
    } else if (f === "read") {
      op.output = { value: valueText === "nil" ? null : value() };
    } else {
      op.output = { ok: true };
    }
  }
  return pairs.finish();
}

type Edn = string | number | boolean | null | { keyword: string };

/** EDN kv log: one `{:process P, :type T, :f F, :key "K", :value V}` map per line. */
export function parseKvEdn(text: string, file = "<input>"): Operation<KvInput, KvOutput>[] {
  const pairs = new Pairing<KvInput, KvOutput>(file);
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === "") continue;
    const lineNo = i + 1;
    const fail: (why: string) => never = (why) => {
      throw new ParseError(file, lineNo, why);
    };
    const map = parseEdnMap(lines[i], fail);
    const keyword = (name: string): string => {
      const v = map.get(name);
      return v !== null && typeof v === "object" ? v.keyword : fail(`:${name} must be a keyword`);
    };
    const process = map.get("process");
    if (typeof process !== "number" || !Number.isInteger(process)) fail(":process must be an integer");
    const type = keyword("type");
    if (!TYPES.has(type)) fail(`bad :type :${type}`);
    const f = keyword("f");
    if (f !== "get" && f !== "put" && f !== "append") fail(`bad :f :${f}`);
    const key = map.get("key");
    if (typeof key !== "string") fail(":key must be a string");
    const value = map.get("value");
    if (value !== null && value !== undefined && typeof value !== "string")
      fail(":value must be a string or nil");
    const str = (value ?? null) as string | null;
    if (type === "invoke") {
      if (f !== "get" && str === null) fail(`:${f} needs a string :value`);
      const input: KvInput = f === "get" ? { f, key } : { f, key, value: str! };
      pairs.invoke(process, f, input, lineNo);
      continue;
    }
    const op = pairs.complete(process, type, f, lineNo);
    if (type === "fail") pairs.drop(op);
    else if (type === "ok") op.output = f === "get" ? { value: str ?? "" } : { ok: true };
  }
  return pairs.finish();
}

/** The tiny flat subset of EDN these logs use: keywords, strings, integers, nil, booleans. */
function parseEdnMap(line: string, fail: (why: string) => never): Map<string, Edn> {
  let pos = 0;
  const skip = () => {
    while (
      pos < line.length &&
      (line[pos] === " " || line[pos] === "," || line[pos] === "\t" || line[pos] === "\r")
    )
      pos++;
  };
  const atom = (): Edn => {
    skip();
    if (line[pos] === '"') {
      let out = "";
      for (pos++; pos < line.length && line[pos] !== '"'; pos++) {
        if (line[pos] !== "\\") {
          out += line[pos];
          continue;
        }
        const c = line[++pos];
        out += c === "n" ? "\n" : c === "t" ? "\t" : c === "r" ? "\r" : c;
      }
      if (line[pos] !== '"') fail("unterminated string");
      pos++;
      return out;
    }
    const m =
      /^[^\s,{}"]+/.exec(line.slice(pos)) ??
      fail(`unexpected ${JSON.stringify(line[pos] ?? "end of line")} at column ${pos + 1}`);
    pos += m[0].length;
    const t = m[0];
    if (t === "nil") return null;
    if (t === "true" || t === "false") return t === "true";
    if (t.startsWith(":") && t.length > 1) return { keyword: t.slice(1) };
    return parseInteger(t) ?? fail(`unsupported EDN value ${t}`);
  };
  skip();
  if (line[pos] !== "{") fail("expected an EDN map `{...}`");
  pos++;
  const map = new Map<string, Edn>();
  for (;;) {
    skip();
    if (line[pos] === "}") break;
    if (pos >= line.length) fail("unterminated map");
    const k = atom();
    if (k === null || typeof k !== "object") fail("map keys must be keywords");
    map.set(k.keyword, atom());
  }
  pos++;
  skip();
  if (pos < line.length && line.slice(pos).trim() !== "") fail("trailing text after the map");
  return map;
}

function parseInteger(s: string): number | undefined {
  return /^-?\d+$/.test(s) && Number.isSafeInteger(Number(s)) ? Number(s) : undefined;
}
