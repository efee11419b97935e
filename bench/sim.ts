// Simulator throughput: seeds per second for 3- and 5-member clusters.
//   npm run bench:sim [-- --seeds 2000]

import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { failed, runSeed } from "../src/sim/index.ts";

const { values } = parseArgs({ options: { seeds: { type: "string", default: "2000" } } });
const seeds = Number(values.seeds);

console.log(`node ${process.version}, ${cpus().length} cpus, ${cpus()[0]?.model ?? "unknown cpu"}`);
console.log("| nodes | seeds | failures | ops | virtual s | wall s | seeds/s | virtual s per wall s |");
console.log("|---|---|---|---|---|---|---|---|");
for (const nodes of [3, 5]) {
  let bad = 0;
  let ops = 0;
  let virtualMs = 0;
  const t0 = performance.now();
  for (let seed = 1; seed <= seeds; seed++) {
    const o = await runSeed({ seed, nodes });
    if (failed(o)) bad++;
    ops += o.ops;
    virtualMs += o.stats.virtualMs ?? 0;
  }
  const wall = (performance.now() - t0) / 1000;
  console.log(
    `| ${nodes} | ${seeds} | ${bad} | ${ops} | ${(virtualMs / 1000).toFixed(0)} | ${wall.toFixed(1)} | ${(seeds / wall).toFixed(0)} | ${(virtualMs / 1000 / wall).toFixed(0)} |`,
  );
}
