// For each of the simulator's mutations: the first seed (from 1) whose run
// fails, and the failure, as a markdown table for bench/RESULTS.md.
//   node --import tsx bench/sim-mutations.ts [--max-seeds 3000] [--nodes 3] [--machine kv|mvcc] [--disk memory|wal]
// (--disk defaults to wal with --machine mvcc, whole members as `npm run sim` runs them, and to memory with kv)

import { parseArgs } from "node:util";
import { failed, MUTATIONS, runSeed } from "../src/sim/index.ts";

const { values } = parseArgs({
  options: {
    "max-seeds": { type: "string", default: "3000" },
    nodes: { type: "string", default: "3" },
    machine: { type: "string", default: "kv" },
    disk: { type: "string" },
  },
});
const maxSeeds = Number(values["max-seeds"]);
const nodes = Number(values.nodes);
const machine = values.machine === "mvcc" ? "mvcc" : "kv";
const disk = (values.disk ?? (machine === "mvcc" ? "wal" : "memory")) === "wal" ? "wal" : "memory";

console.log(
  `| mutation | first failing seed (of ${maxSeeds}, ${nodes} members, ${machine}, ${disk} disk) | seconds | what failed |`,
);
console.log("|---|---:|---:|---|");
for (const [name, mutation] of Object.entries(MUTATIONS)) {
  const t0 = performance.now();
  let found: { seed: number; what: string } | undefined;
  for (let seed = 1; seed <= maxSeeds && !found; seed++) {
    const o = await runSeed({ seed, nodes, disk, machine, ...mutation });
    if (failed(o))
      found = { seed, what: (o.violations[0] ?? `history ${o.verdict}`).replace(/\s*\[t=.*\]$/, "") };
  }
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(
    `| \`${name}\` | ${found ? found.seed : "not caught"} | ${secs} | ${found ? found.what.replaceAll("|", "/") : ""} |`,
  );
}
