// Storage engines side by side, same machine, same data, one run: floe's
// bitcask vs LevelDB (classic-level) vs LMDB (lmdb-js). Each engine runs in
// its own child process (bitcask-worker.ts) so resident memory is its own.
//   npm run bench:storage [-- --keys 1000000] [-- --engines bitcask,leveldb,lmdb]
//
// Per engine: N puts of 16-byte keys and 100-byte values in batches of 100,
// each batch synced before the next (bitcask sync "always", LevelDB
// sync: true, LMDB awaiting `flushed`); close. Then in a fresh process: open
// (timed; bitcask loads hints), N random gets, a range scan of 100,000 keys
// (N/10 if fewer), resident memory after each.
// Bitcask also overwrites a quarter of the keys and merges while a writer
// keeps writing synced batches, timing each batch.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    keys: { type: "string", default: "1000000" },
    engines: { type: "string", default: "bitcask,leveldb,lmdb" },
  },
});
const keys = Number(values.keys);
if (!Number.isSafeInteger(keys) || keys < 1000)
  throw new Error(`--keys must be an integer >= 1000, got ${values.keys}`);

const worker = path.join(path.dirname(fileURLToPath(import.meta.url)), "bitcask-worker.ts");
type Result = Record<string, number | string | Record<string, number>>;

function spawnWorker(engine: string, dir: string, extra: string[]): Result {
  const child = spawnSync(
    process.execPath,
    [
      "--expose-gc",
      "--import",
      "tsx",
      worker,
      "--engine",
      engine,
      "--keys",
      String(keys),
      "--dir",
      dir,
      ...extra,
    ],
    { encoding: "utf8", maxBuffer: 1 << 24 },
  );
  if (child.status !== 0) throw new Error(`${engine} worker failed (${child.status}):\n${child.stderr}`);
  return JSON.parse(child.stdout.trim().split("\n").at(-1)!) as Result;
}

/** Run the phases in separate processes on one directory, then remove it. */
function run(engine: string, phases: string[][]): Result {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-${engine}-`));
  try {
    return Object.assign({}, ...phases.map((extra) => spawnWorker(engine, dir, extra)));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const cpu = os.cpus();
console.log(`node ${process.version}, ${cpu.length} cpus, ${cpu[0]?.model ?? "unknown cpu"}, ${keys} keys`);
const engines = values.engines.split(",");
if (engines[0] !== "bitcask" || engines.some((e) => !["bitcask", "leveldb", "lmdb"].includes(e))) {
  throw new Error(
    `--engines must start with bitcask and name only bitcask, leveldb, lmdb; got ${values.engines}`,
  );
}
const results: Result[] = [];
for (const e of engines) {
  process.stderr.write(`running ${e}...\n`);
  results.push(
    run(e, [
      ["--phase", "write"],
      ["--phase", "read"],
    ]),
  );
}
process.stderr.write("measuring keydir memory...\n");
const kd = ["random", "sorted", "bulk"].map((order) => run("keydir", [["--order", order]]));

const row = (label: string, f: (r: Result) => string) => `| ${label} | ${results.map(f).join(" | ")} |`;
const scanned = results[0].scanned;
console.log("");
const title: Record<string, string> = {
  bitcask: "bitcask (floe)",
  leveldb: "LevelDB (classic-level)",
  lmdb: "LMDB (lmdb-js)",
};
console.log(`| | ${engines.map((e) => title[e]).join(" | ")} |`);
console.log(`|---|${engines.map(() => "---:").join("|")}|`);
console.log(row(`${keys} puts, batches of 100, 1 sync/batch: s`, (r) => Number(r.putSeconds).toFixed(2)));
console.log(row("puts/s", (r) => String(r.putOpsPerSec)));
console.log(row(`${keys} random gets: µs/get`, (r) => String(r.getUsPerOp)));
console.log(row(`range scan of ${scanned} keys: ms`, (r) => String(r.scanMs)));
console.log(row(`open the ${keys}-key store: ms`, (r) => String(r.openMs)));
console.log(row("RSS of a fresh process before open: MB", (r) => String(r.rssBeforeMb)));
console.log(row("RSS after open: MB", (r) => String(r.rssAfterOpenMb)));
console.log(row("RSS after gets and scan: MB", (r) => String(r.rssAfterGetsMb)));
console.log(row("on disk after puts: MB", (r) => String(r.diskMb)));
const m = results[0].merge as Record<string, number>;
console.log("");
console.log("Bitcask merge while writing (a quarter of the keys overwritten first):");
console.log("");
console.log(
  "| merge ms | files in → out | merged MB in → out | records copied / dropped | store MB before → after | synced batches written during it |",
);
console.log("|---:|---|---|---|---|---:|");
console.log(
  `| ${m.ms} | ${m.inputFiles} → ${m.outputFiles} | ${m.inputMb} → ${m.outputMb} | ${m.recordsCopied} / ${m.recordsDropped} | ` +
    `${m.storeMbBefore} → ${m.storeMbAfter} | ${m.batchesDuringMerge} |`,
);
console.log("");
console.log("| write latency per batch of 100 (sync) | p50 ms | p99 ms | max ms |");
console.log("|---|---:|---:|---:|");
console.log(`| without merge | ${m.baselineP50Ms} | ${m.baselineP99Ms} | ${m.baselineMaxMs} |`);
console.log(`| during merge | ${m.writeP50Ms} | ${m.writeP99Ms} | ${m.writeMaxMs} |`);
console.log(`\nmax event-loop delay during merge: ${m.eventLoopDelayMaxMs} ms`);
console.log("");
console.log(`Keydir alone, ${keys} 16-byte keys (V8 heap + array buffers after gc, one process per row):`);
console.log("");
console.log("| built by | bytes/key | build µs/key | get µs/key |");
console.log("|---|---:|---:|---:|");
const how: Record<string, string> = {
  random: "inserts in random order",
  sorted: "inserts in key order",
  bulk: "bulk load from a hint (what open does)",
};
for (const r of kd)
  console.log(`| ${how[String(r.order)]} | ${r.bytesPerKey} | ${r.insertUs} | ${r.getUs} |`);
