// `floe txn`: etcdctl's txn syntax, read from stdin in three blank-line
// separated sections (compares, success ops, failure ops), and etcdctl's
// simple output. Compares look like `mod("key") > "5"` or `value("k") = "v"`
// (targets ver|version, c|create, m|mod, val|value, lease; operators = != < >);
// ops are `put k v [--lease=<hex>] [--prev-kv]`, `get k [end] [--prefix]
// [--limit=n] [--rev=n] [--keys-only]`, `del k [end] [--prefix] [--prev-kv]`.

import { create } from "@bufbuild/protobuf";
import * as pb from "../api/gen/etcdserverpb/rpc_pb.ts";
import { prefixEnd } from "../mvcc/index.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

export class TxnSyntaxError extends Error {
  override name = "TxnSyntaxError";
}

const RESULTS: Record<string, pb.Compare_CompareResult> = {
  "=": pb.Compare_CompareResult.EQUAL,
  "!=": pb.Compare_CompareResult.NOT_EQUAL,
  "<": pb.Compare_CompareResult.LESS,
  ">": pb.Compare_CompareResult.GREATER,
};

/** A double-quoted string with Go/JSON escapes, as etcdctl's %q reads it. */
const QUOTED = String.raw`"(?:[^"\\]|\\.)*"`;
const COMPARE = new RegExp(String.raw`^(\w+)\(\s*(${QUOTED})\s*\)\s*(!=|=|<|>)\s*(${QUOTED})$`);

function unquote(q: string, line: string): string {
  try {
    return JSON.parse(q) as string;
  } catch {
    throw new TxnSyntaxError(`malformed comparison: ${line} (bad quoted string ${q})`);
  }
}

function integer(v: string, line: string): bigint {
  if (!/^-?\d+$/.test(v)) throw new TxnSyntaxError(`invalid txn compare request: ${line}`);
  return BigInt(v);
}

export function parseCompare(line: string): pb.Compare {
  const m = COMPARE.exec(line.trim());
  if (!m) throw new TxnSyntaxError(`malformed comparison: ${line}`);
  const [, target, keyQ, op, valQ] = m;
  const key = enc.encode(unquote(keyQ, line));
  const val = unquote(valQ, line);
  const result = RESULTS[op];
  const of = (t: pb.Compare_CompareTarget, targetUnion: pb.Compare["targetUnion"]): pb.Compare =>
    create(pb.CompareSchema, { key, result, target: t, targetUnion });
  switch (target) {
    case "ver":
    case "version":
      return of(pb.Compare_CompareTarget.VERSION, { case: "version", value: integer(val, line) });
    case "c":
    case "create":
      return of(pb.Compare_CompareTarget.CREATE, { case: "createRevision", value: integer(val, line) });
    case "m":
    case "mod":
      return of(pb.Compare_CompareTarget.MOD, { case: "modRevision", value: integer(val, line) });
    case "val":
    case "value":
      return of(pb.Compare_CompareTarget.VALUE, { case: "value", value: enc.encode(val) });
    case "lease":
      return of(pb.Compare_CompareTarget.LEASE, { case: "lease", value: integer(val, line) });
    default:
      throw new TxnSyntaxError(`malformed comparison: ${line} (unknown target ${target})`);
  }
}

/** Splits an op line into words; double-quoted words may hold spaces and escapes. */
export function argify(line: string): string[] {
  const out: string[] = [];
  const word = new RegExp(String.raw`\s*(${QUOTED}|[^\s"]+)`, "y");
  let at = 0;
  const rest = line.trimEnd();
  while (at < rest.length) {
    word.lastIndex = at;
    const m = word.exec(rest);
    if (!m) throw new TxnSyntaxError(`invalid txn request: ${line} (unbalanced quote)`);
    out.push(m[1].startsWith('"') ? unquote(m[1], line) : m[1]);
    at = word.lastIndex;
  }
  return out;
}

function splitFlags(words: string[], line: string): { args: string[]; flags: Map<string, string> } {
  const args: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (!w.startsWith("--")) {
      args.push(w);
      continue;
    }
    const eq = w.indexOf("=");
    if (eq > 0) flags.set(w.slice(2, eq), w.slice(eq + 1));
    else if (["prefix", "prev-kv", "keys-only"].includes(w.slice(2))) flags.set(w.slice(2), "true");
    else if (i + 1 < words.length) flags.set(w.slice(2), words[++i]);
    else throw new TxnSyntaxError(`invalid txn request: ${line} (flag ${w} needs a value)`);
  }
  return { args, flags };
}

function checkFlags(flags: Map<string, string>, allowed: string[], line: string): void {
  for (const f of flags.keys()) {
    if (!allowed.includes(f)) throw new TxnSyntaxError(`invalid txn request: ${line} (unknown flag --${f})`);
  }
}

function rangeEnd(key: Uint8Array, args: string[], flags: Map<string, string>): Uint8Array {
  if (flags.has("prefix")) return prefixEnd(key);
  return args.length > 2 ? enc.encode(args[2]) : new Uint8Array();
}

function num(flags: Map<string, string>, name: string, line: string): bigint {
  const v = flags.get(name) ?? "0";
  if (!/^\d+$/.test(v)) throw new TxnSyntaxError(`invalid txn request: ${line} (--${name}=${v})`);
  return BigInt(v);
}

export function parseOp(line: string): pb.RequestOp {
  const words = argify(line);
  if (words.length < 2) throw new TxnSyntaxError(`invalid txn compare request: ${line}`);
  const { args, flags } = splitFlags(words, line);
  const key = enc.encode(args[1] ?? "");
  switch (args[0]) {
    case "put": {
      checkFlags(flags, ["lease", "prev-kv"], line);
      if (args.length !== 3)
        throw new TxnSyntaxError(`invalid txn request: ${line} (put takes a key and a value)`);
      const lease = flags.get("lease");
      if (lease !== undefined && !/^[0-9a-fA-F]+$/.test(lease))
        throw new TxnSyntaxError(`invalid txn request: ${line} (bad lease id ${lease})`);
      const value = create(pb.PutRequestSchema, {
        key,
        value: enc.encode(args[2]),
        lease: lease === undefined ? 0n : BigInt(`0x${lease}`),
        prevKv: flags.has("prev-kv"),
      });
      return create(pb.RequestOpSchema, { request: { case: "requestPut", value } });
    }
    case "get": {
      checkFlags(flags, ["prefix", "limit", "rev", "keys-only"], line);
      if (args.length > 3)
        throw new TxnSyntaxError(`invalid txn request: ${line} (get takes a key and an optional end)`);
      const value = create(pb.RangeRequestSchema, {
        key,
        rangeEnd: rangeEnd(key, args, flags),
        limit: num(flags, "limit", line),
        revision: num(flags, "rev", line),
        keysOnly: flags.has("keys-only"),
      });
      return create(pb.RequestOpSchema, { request: { case: "requestRange", value } });
    }
    case "del":
    case "delete": {
      checkFlags(flags, ["prefix", "prev-kv"], line);
      if (args.length > 3)
        throw new TxnSyntaxError(`invalid txn request: ${line} (del takes a key and an optional end)`);
      const value = create(pb.DeleteRangeRequestSchema, {
        key,
        rangeEnd: rangeEnd(key, args, flags),
        prevKv: flags.has("prev-kv"),
      });
      return create(pb.RequestOpSchema, { request: { case: "requestDeleteRange", value } });
    }
    default:
      throw new TxnSyntaxError(`invalid txn request: ${line}`);
  }
}

/** etcdctl's simple printer for a txn: SUCCESS or FAILURE, then each op's result after a blank line. */
export function formatTxn(r: pb.TxnResponse): string {
  const lines = [r.succeeded ? "SUCCESS" : "FAILURE"];
  for (const op of r.responses) {
    lines.push("");
    const res = op.response;
    switch (res.case) {
      case "responsePut":
        lines.push("OK");
        if (res.value.prevKv)
          lines.push(dec.decode(res.value.prevKv.key), dec.decode(res.value.prevKv.value));
        break;
      case "responseDeleteRange":
        lines.push(String(res.value.deleted));
        for (const kv of res.value.prevKvs) lines.push(dec.decode(kv.key), dec.decode(kv.value));
        break;
      case "responseRange":
        for (const kv of res.value.kvs) lines.push(dec.decode(kv.key), dec.decode(kv.value));
        break;
      case "responseTxn":
        lines.push(formatTxn(res.value).trimEnd());
        break;
      default:
        lines.push(`unexpected response ${String(res.case)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Reads the three sections from `nextLine` (undefined at end of input, which
 * also ends the current section) and builds the request. `prompt` is called
 * before each section, as etcdctl's interactive mode prints them.
 */
export async function readTxn(
  nextLine: () => Promise<string | undefined>,
  prompt: (s: string) => void,
): Promise<pb.TxnRequest> {
  const section = async <T>(title: string, parse: (line: string) => T): Promise<T[]> => {
    prompt(title);
    const out: T[] = [];
    for (;;) {
      const line = (await nextLine())?.trim();
      if (line === undefined || line === "") return out;
      out.push(parse(line));
    }
  };
  const compare = await section("compares:", parseCompare);
  const success = await section("success requests (get, put, del):", parseOp);
  const failure = await section("failure requests (get, put, del):", parseOp);
  return create(pb.TxnRequestSchema, { compare, success, failure });
}
