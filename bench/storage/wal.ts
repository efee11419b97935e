// WAL benchmark: entries per second with group commit at several batch sizes
// (1 KiB entries, one save = one write + one fdatasync), against what the same
// disk does raw through the same Node file API: the fdatasync rate for 1 KiB
// appends, and sequential write bandwidth for 100 KiB and 1 MiB appends each
// followed by fdatasync.
//
//   npm run bench:wal [-- --seconds 2 --reps 3 --dir /path/on/the/disk]
//
// Prints a Markdown table (the median of the repetitions) for bench/RESULTS.md.

import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import type { Entry } from "../../src/raft/types.ts";
import { Wal } from "../../src/wal/index.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "2" },
    reps: { type: "string", default: "3" },
    dir: { type: "string", default: os.tmpdir() },
  },
});
const seconds = Number(values.seconds);
const reps = Number(values.reps);
const KiB = 1024;
const MiB = 1024 * KiB;

interface Rate {
  /** Operations (saves or raw write+sync) per second. */
  opsPerSec: number;
  /** Payload bytes per second. */
  bytesPerSec: number;
}

/** Raw appends of `blockBytes` each followed by fdatasync, for `seconds`. */
async function raw(dir: string, blockBytes: number): Promise<Rate> {
  const file = path.join(dir, `raw-${blockBytes}.bin`);
  const fh = await fs.open(file, "w");
  const block = Buffer.alloc(blockBytes, 0xab);
  let pos = 0;
  let ops = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  try {
    while (performance.now() < deadline) {
      await fh.write(block, 0, block.length, pos);
      await fh.datasync();
      pos += block.length;
      ops++;
    }
  } finally {
    await fh.close();
    await fs.rm(file, { force: true });
  }
  const s = (performance.now() - start) / 1000;
  return { opsPerSec: ops / s, bytesPerSec: (ops * blockBytes) / s };
}

/** WAL saves of `batch` 1 KiB entries each, for `seconds`. */
async function wal(dir: string, batch: number): Promise<Rate & { entriesPerSec: number }> {
  const d = path.join(dir, `wal-${batch}`);
  const w = await Wal.open(d, { logger: () => {} });
  const data = Buffer.alloc(KiB, 0xcd);
  let next = 1;
  let saves = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  try {
    while (performance.now() < deadline) {
      const entries: Entry[] = [];
      for (let i = 0; i < batch; i++) entries.push({ index: next + i, term: 1, type: 0, data });
      await w.save({ entries, hardState: { term: 1, vote: 1, commit: next - 1 } });
      next += batch;
      saves++;
    }
  } finally {
    await w.close();
    await fs.rm(d, { recursive: true, force: true });
  }
  const s = (performance.now() - start) / 1000;
  const n = saves * batch;
  return { opsPerSec: saves / s, entriesPerSec: n / s, bytesPerSec: (n * KiB) / s };
}

function median<T>(xs: T[], key: (x: T) => number): T {
  return [...xs].sort((a, b) => key(a) - key(b))[Math.floor(xs.length / 2)];
}

interface Row {
  readonly label: string;
  readonly batch?: number;
  readonly run: () => Promise<Rate & { entriesPerSec?: number }>;
}

async function main(): Promise<void> {
  const dir = await fs.mkdtemp(path.join(values.dir, "floe-bench-wal-"));
  const fmt = (n: number, digits = 0) =>
    n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
  const mbs = (b: number) => fmt(b / MiB, 1);
  const rows: Row[] = [
    { label: "raw: 1 KiB append + fdatasync", run: () => raw(dir, KiB) },
    { label: "raw: 100 KiB append + fdatasync", run: () => raw(dir, 100 * KiB) },
    { label: "raw: 1 MiB append + fdatasync", run: () => raw(dir, MiB) },
    ...[1, 10, 100, 1000].map((batch) => ({
      label: `WAL: batch ${batch} × 1 KiB entries`,
      batch,
      run: () => wal(dir, batch),
    })),
  ];
  // Repetitions are interleaved (every row once per round) so that load from
  // other processes on a shared machine drifts over all rows alike.
  const results: (Rate & { entriesPerSec?: number })[][] = rows.map(() => []);
  try {
    for (let r = 0; r < reps; r++) {
      for (const [i, row] of rows.entries()) results[i].push(await row.run());
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  console.log(
    `Machine: ${os.cpus().length} cores, ${cpu}, Node ${process.version}, ${os.platform()} ${os.release()}`,
  );
  console.log(
    `Directory: ${values.dir}; ${seconds} s per measurement, median of ${reps} interleaved rounds\n`,
  );
  console.log(
    "| what | saves (or syncs) / s | entries / s | MiB / s (median) | MiB / s (min – max) | vs raw 100 KiB |",
  );
  console.log("|---|---:|---:|---:|---:|---:|");
  const raw100 = median(results[1], (x) => x.bytesPerSec).bytesPerSec;
  for (const [i, row] of rows.entries()) {
    const m = median(results[i], (x) => x.bytesPerSec);
    const all = results[i].map((x) => x.bytesPerSec);
    const entries = m.entriesPerSec === undefined ? "" : fmt(m.entriesPerSec);
    const vs = row.batch === 100 ? `${fmt(m.bytesPerSec / raw100, 2)}×` : "";
    console.log(
      `| ${row.label} | ${fmt(m.opsPerSec)} | ${entries} | ${mbs(m.bytesPerSec)} | ${mbs(Math.min(...all))} – ${mbs(Math.max(...all))} | ${vs} |`,
    );
  }
}

await main();
