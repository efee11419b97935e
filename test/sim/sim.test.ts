import assert from "node:assert/strict";
import { test } from "node:test";
import type { RaftMutations } from "../../src/raft/index.ts";
import { failed, runSeed, Simulation } from "../../src/sim/index.ts";

// A soak of a few hundred seeds; `npm run sim -- --seeds 10000` runs the long one.
const SOAK_3 = 2000;
const SOAK_5 = 1000;

test(`simulator: ${SOAK_3} seeds of a 3-member cluster under faults keep every invariant and stay linearizable`, async () => {
  const bad: string[] = [];
  let ops = 0;
  for (let seed = 1; seed <= SOAK_3; seed++) {
    const o = await runSeed({ seed, nodes: 3 });
    ops += o.ops;
    if (failed(o)) bad.push(`seed=${seed}: ${o.violations[0] ?? "not linearizable"}`);
  }
  assert.deepEqual(bad, []);
  assert.ok(ops > SOAK_3 * 20, `clients made progress (${ops} operations)`);
});

test(`simulator: ${SOAK_5} seeds of a 5-member cluster under faults keep every invariant and stay linearizable`, async () => {
  const bad: string[] = [];
  for (let seed = 10_001; seed < 10_001 + SOAK_5; seed++) {
    const o = await runSeed({ seed, nodes: 5 });
    if (failed(o)) bad.push(`seed=${seed}: ${o.violations[0] ?? "not linearizable"}`);
  }
  assert.deepEqual(bad, []);
});

test("simulator: a seed replays exactly (same history, same statistics)", async () => {
  const a = await new Simulation({ seed: 4242, nodes: 5 }).run();
  const b = await new Simulation({ seed: 4242, nodes: 5 }).run();
  assert.deepEqual(a.stats, b.stats);
  assert.deepEqual(a.history, b.history);
  const c = await new Simulation({ seed: 4243, nodes: 5 }).run();
  assert.notDeepEqual(a.history, c.history);
});

test("simulator: runs exercise crashes, partitions, membership changes, transfers and snapshots", async () => {
  const total: Record<string, number> = {};
  for (let seed = 1; seed <= 40; seed++) {
    const r = await new Simulation({ seed, nodes: 3 }).run();
    for (const [k, v] of Object.entries(r.stats)) total[k] = (total[k] ?? 0) + v;
  }
  for (const k of ["crashes", "partitions", "confChanges", "transfers", "snapshotsSent"]) {
    assert.ok((total[k] ?? 0) > 0, `${k} never happened: ${JSON.stringify(total)}`);
  }
});

/** Runs seeds until the simulator reports a failure; returns the first failing seed. */
async function firstCaught(
  mutations: RaftMutations,
  maxSeeds: number,
  nodes = 3,
): Promise<number | undefined> {
  for (let seed = 1; seed <= maxSeeds; seed++) {
    if (failed(await runSeed({ seed, nodes, mutations }))) return seed;
  }
  return undefined;
}

const broken: [string, RaftMutations, number][] = [
  ["committing an entry of a previous term by counting replicas", { commitPreviousTermByCount: true }, 3000],
  ["granting a vote without the up-to-date log check", { voteWithoutLogCheck: true }, 300],
  ["a leader not stepping down on a higher term", { leaderIgnoresHigherTerm: true }, 300],
  ["applying an entry before it is committed", { applyBeforeCommit: true }, 300],
  [
    "a leader counting its own entries toward commit before they are durable",
    { countUnpersistedOwnEntries: true },
    300,
  ],
];

for (const [name, mutations, budget] of broken) {
  test(`simulator catches a broken core: ${name}`, async () => {
    const seed = await firstCaught(mutations, budget);
    assert.ok(seed !== undefined, `not caught within ${budget} seeds`);
  });
}
