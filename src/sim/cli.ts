// `npm run sim`: run one seed verbosely, or a soak over many seeds.
//
//   npm run sim -- --seed 1234 [--nodes 5] [--trace]
//   npm run sim -- --seeds 10000 [--nodes 5] [--seed-start S] [--mutation NAME] [--machine mvcc|kv]
//                  [--disk wal|memory]
//
// By default the members are whole (--machine mvcc --disk wal): the runtime,
// WAL, bitcask, MVCC store and etcd server on a simulated disk. `--machine kv
// --disk memory` runs the Raft core and runtime alone over the simulator's kv
// map, about three times as many seeds a second.

import { parseArgs } from "node:util";
import { MUTATIONS, type Mutation } from "./mutations.ts";
import { failed, reproduceHint, runSeed } from "./run.ts";

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seed: { type: "string" },
      seeds: { type: "string" },
      "seed-start": { type: "string", default: "1" },
      nodes: { type: "string", default: "3" },
      mutation: { type: "string" },
      trace: { type: "boolean", default: false },
      "fault-ms": { type: "string", default: "3000" },
      machine: { type: "string", default: "mvcc" },
      disk: { type: "string", default: "wal" },
    },
  });
  const nodes = Number(values.nodes);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 9) {
    console.error(`--nodes must be an integer in [1, 9], got ${values.nodes}`);
    return 2;
  }
  let mutations: Mutation | undefined;
  if (values.mutation !== undefined) {
    mutations = MUTATIONS[values.mutation];
    if (!mutations) {
      console.error(`unknown --mutation ${values.mutation}; known: ${Object.keys(MUTATIONS).join(", ")}`);
      return 2;
    }
  }
  const faultPhaseMs = Number(values["fault-ms"]);
  // A mutation of the lease keeper or of watch streams needs the MVCC machine, whatever --machine says.
  const machine = mutations?.machine ?? values.machine;
  if (machine !== "kv" && machine !== "mvcc") {
    console.error(`--machine must be kv or mvcc, got ${machine}`);
    return 2;
  }
  const disk = mutations?.disk ?? values.disk;
  if (disk !== "memory" && disk !== "wal") {
    console.error(`--disk must be memory or wal, got ${disk}`);
    return 2;
  }
  const mut = `${values.mutation ? ` --mutation ${values.mutation}` : ""} --machine ${machine} --disk ${disk}`;
  if (values.seed !== undefined) {
    const seed = Number(values.seed);
    const o = await runSeed({
      seed,
      nodes,
      ...mutations,
      machine,
      disk,
      faultPhaseMs,
      trace: values.trace ? (line) => console.log(line) : undefined,
    });
    console.log(
      `seed=${seed} nodes=${nodes} ops=${o.ops} verdict=${o.verdict} recoveredAfterMs=${o.recoveredAfterMs}`,
    );
    console.log(`config ${o.config}`);
    console.log(`stats ${JSON.stringify(o.stats)}`);
    for (const v of o.violations) console.log(`violation: ${v}`);
    if (o.explanation) console.log(`explanation: ${o.explanation}`);
    if (failed(o)) console.log(reproduceHint(o, mut));
    return failed(o) ? 1 : 0;
  }
  const count = Number(values.seeds ?? "100");
  const start = Number(values["seed-start"]);
  let violations = 0;
  let nonlin = 0;
  let unknown = 0;
  let ops = 0;
  const t0 = performance.now();
  for (let seed = start; seed < start + count; seed++) {
    const o = await runSeed({ seed, nodes, ...mutations, machine, disk, faultPhaseMs });
    ops += o.ops;
    if (o.violations.length > 0) violations++;
    if (o.verdict === "not-linearizable") nonlin++;
    if (o.verdict === "unknown") unknown++;
    if (failed(o)) {
      console.log(`FAIL seed=${seed}: ${o.violations[0] ?? "history not linearizable"}`);
      console.log(`  ${reproduceHint(o, mut)}`);
    }
  }
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `seeds=${count} violations=${violations} nonlinearizable=${nonlin} unknown=${unknown} ops=${ops} nodes=${nodes} ` +
      `time=${secs.toFixed(1)}s seeds/s=${(count / secs).toFixed(1)}`,
  );
  return violations > 0 || nonlin > 0 ? 1 : 0;
}

process.exitCode = await main();
