// For each of the simulator's mutations: the first seed (from 1) whose run
// fails, and the failure, as a markdown table for bench/RESULTS.md.
//   node --import tsx bench/sim-mutations.ts [--max-seeds 3000] [--nodes 3] [--machine kv|mvcc]

import { parseArgs } from "node:util";
import { failed, MUTATIONS, runSeed } from "../src/sim/index.ts";

const { values } = parseArgs({
  options: {
    "max-seeds": { type: "string", default: "3000" },
    nodes: { type: "string", default: "3" },
    machine: { type: "string", default: "kv" },
  },
});
const maxSeeds = Number(values["max-seeds"]);
const nodes = Number(values.nodes);
const machine = values.machine === "mvcc" ? "mvcc" : "kv";

console.log(
  `| mutation | first failing seed (of ${maxSeeds}, ${nodes} members, ${machine}) | seconds | what failed |`,
);
console.log("|---|---:|---:|---|");
for (const [name, mutation] of Object.entries(MUTATIONS)) {
  const t0 = performance.now();
  let found: { seed: number; what: string } | undefined;
  for (let seed = 1; seed <= maxSeeds && !found; seed++) {
    const o = await runSeed({ seed, nodes, ...mutation, machine: mutation.machine ?? machine });
    if (failed(o))
      found = { seed, what: (o.violations[0] ?? `history ${o.verdict}`).replace(/\s*\[t=.*\]$/, "") };
  }
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(
    `| \`${name}\` | ${found ? found.seed : "not caught"} | ${secs} | ${found ? found.what.replaceAll("|", "/") : ""} |`,
  );
}
