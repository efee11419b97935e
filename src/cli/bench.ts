// `floe bench put|range|txn-put|watch`: load generators after etcd's
// `benchmark` tool (same flags, same key layout, same summary), measuring
// latency in an HdrHistogram and printing percentiles, throughput and errors,
// as text or as one JSON object (--json). They speak the etcd v3 gRPC API
// through a lean HTTP/2 client, so they measure floe and etcd alike.

import { Command } from "commander";
import { type GrpcConn, PATHS } from "./bench-grpc.ts";
import { grpcFrame, putRequest, rangeRequest, txnPutRequest } from "./bench-proto.ts";
import { type BenchResult, formatResult } from "./bench-report.ts";
import {
  addCommonOptions,
  type CommonOptions,
  keyMaker,
  openConns,
  parseCommon,
  randomBytes,
  runClients,
} from "./bench-run.ts";
import { runWatchBench, type WatchOptions } from "./bench-watch.ts";

const enc = new TextEncoder();

function output(json: boolean, r: BenchResult | object, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(r)}\n` : `${text}\n`);
}

async function putBench(o: CommonOptions): Promise<void> {
  const c = parseCommon(o);
  const { conns, endpoints } = await openConns(c);
  const key = keyMaker(c);
  const value = randomBytes(c.valSize);
  const r = await runClients(
    "put",
    c,
    conns,
    endpoints,
    (conn: GrpcConn, i) => conn.unary(PATHS.put, grpcFrame(putRequest(key(i), value))),
    { keySize: c.keySize, valSize: c.valSize, keySpaceSize: c.keySpaceSize, rate: c.rate },
  );
  for (const cn of conns) cn.close();
  output(c.json, r, formatResult(r));
  if (r.count === 0) process.exitCode = 1;
}

interface TxnOptions extends CommonOptions {
  txnOps: string;
}

async function txnPutBench(o: TxnOptions): Promise<void> {
  const c = parseCommon(o);
  const ops = Number(o.txnOps);
  if (!Number.isInteger(ops) || ops < 1)
    throw new Error(`--txn-ops must be an integer >= 1, got ${o.txnOps}`);
  const { conns, endpoints } = await openConns(c);
  // as etcd's txn-put: keys (i * ops + j) mod key-space-size, distinct within a txn
  const key = keyMaker({ ...c, sequentialKeys: true });
  const value = randomBytes(c.valSize);
  const r = await runClients(
    "txn-put",
    c,
    conns,
    endpoints,
    (conn: GrpcConn, i) => {
      const puts = Array.from({ length: ops }, (_, j): [Uint8Array, Uint8Array] => [key(i * ops + j), value]);
      return conn.unary(PATHS.txn, grpcFrame(txnPutRequest(puts)));
    },
    { keySize: c.keySize, valSize: c.valSize, keySpaceSize: c.keySpaceSize, txnOps: ops, rate: c.rate },
  );
  for (const cn of conns) cn.close();
  output(c.json, r, formatResult(r));
  if (r.count === 0) process.exitCode = 1;
}

interface RangeCliOptions extends CommonOptions {
  consistency: string;
  limit: string;
  countOnly?: boolean;
  prefill?: boolean;
}

async function rangeBench(key: string, end: string | undefined, o: RangeCliOptions): Promise<void> {
  const c = parseCommon(o);
  if (o.consistency !== "l" && o.consistency !== "s") {
    throw new Error(`--consistency must be l (linearizable) or s (serializable), got ${o.consistency}`);
  }
  const k = enc.encode(key);
  const { conns, endpoints } = await openConns(c);
  if (o.prefill) {
    // one put of val-size bytes, so the range reads a value of a known size
    await conns[0].unary(PATHS.put, grpcFrame(putRequest(k, randomBytes(c.valSize))));
  }
  const frame = grpcFrame(
    rangeRequest(k, {
      rangeEnd: end === undefined ? undefined : enc.encode(end),
      limit: Number(o.limit),
      serializable: o.consistency === "s",
      countOnly: o.countOnly === true,
    }),
  );
  const r = await runClients(
    "range",
    c,
    conns,
    endpoints,
    (conn: GrpcConn) => conn.unary(PATHS.range, frame),
    {
      key,
      end: end ?? "",
      consistency: o.consistency,
      limit: Number(o.limit),
      rate: c.rate,
    },
  );
  for (const cn of conns) cn.close();
  output(c.json, r, formatResult(r));
  if (r.count === 0) process.exitCode = 1;
}

export async function runBench(argv: string[]): Promise<void> {
  const program = new Command("floe bench")
    .description("benchmark an etcd v3 endpoint (floe or etcd), after etcd's `benchmark` tool")
    .showHelpAfterError();

  addCommonOptions(program.command("put").description("write keys (PUT), as `benchmark put`")).action(
    (o: CommonOptions) => putBench(o),
  );

  addCommonOptions(
    program
      .command("txn-put")
      .description("write keys in transactions with no compares, as `benchmark txn-put`"),
  )
    .option("--txn-ops <n>", "puts per transaction", "1")
    .action((o: TxnOptions) => txnPutBench(o));

  addCommonOptions(
    program
      .command("range [key] [end]")
      .description("read a key or [key, end), as `benchmark range` (default key: foo)"),
  )
    .option("--consistency <l|s>", "l: linearizable (ReadIndex), s: serializable (local)", "l")
    .option("--limit <n>", "at most n keys per range (0: all)", "0")
    .option("--count-only", "count keys only")
    .option("--prefill", "first put the key once with a --val-size value")
    .action((key: string | undefined, end: string | undefined, o: RangeCliOptions) =>
      rangeBench(key ?? "foo", end, o),
    );

  addCommonOptions(
    program
      .command("watch")
      .description(
        "watchers on a key range and a writer putting into it; latency from put ack to event delivery",
      ),
  )
    .option("--streams <n>", "watch streams, spread over the connections", "10")
    .option("--watchers-per-stream <n>", "watchers on each stream, all on the same range", "10")
    .option(
      "--prefix <key>",
      "watched prefix; the writer's keys are prefix + key number",
      "floe-bench-watch/",
    )
    .option("--put-rate <n>", "puts per second by the writer (overrides --rate; 0: closed loop)", "100")
    .option("--drain-timeout <time>", "after the last put, wait this long for missing events", "10s")
    .action((o: WatchOptions) => runWatchBench(o));

  program
    .command("cpuprofile <files...>")
    .description("top self-time functions and modules of `node --cpu-prof` profiles (e.g. of a member)")
    .option("--top <n>", "functions to list", "25")
    .option("--skip-ms <n>", "leave out the first n ms of samples (start-up)", "0")
    .option("--json", "one JSON object per file")
    .action(async (files: string[], o: { top: string; skipMs: string; json?: boolean }) => {
      const { runCpuProfile } = await import("./bench-cpuprofile.ts");
      runCpuProfile(files, o);
    });

  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (e) {
    process.stderr.write(`floe bench: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
