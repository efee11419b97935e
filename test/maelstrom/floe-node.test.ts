// The real floe Maelstrom node under the Maelstrom-compatible runner: a short
// lin-kv test with partitions must be valid, and the deliberately unsafe
// variant (reads served locally from followers) must be caught.
import assert from "node:assert/strict";
import { test } from "node:test";
import { readResults, runRunner } from "./fixtures/runner-helpers.ts";

const floeBin = (flags = ""): string => `"${process.execPath}" bin/floe.js maelstrom ${flags}`.trim();
const common = [
  "-w",
  "lin-kv",
  "--node-count",
  "3",
  "--rate",
  "50",
  "--time-limit",
  "10",
  "--nemesis",
  "partition",
];

test("floe maelstrom: 3 nodes, partitions, 10 s of lin-kv traffic is linearizable", async () => {
  const r = await runRunner([...common, "--nemesis-interval", "3", "--bin", floeBin()]);
  assert.equal(r.code, 0, `runner failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
  const res = readResults(r.dir);
  assert.equal(res.valid, true);
  assert.ok(res.stats.all.ok > 50, `too few successful operations: ${JSON.stringify(res.stats.all)}`);
  assert.ok(res.nemesis.partitions.length >= 1, "the nemesis partitioned the cluster at least once");
});

test("floe maelstrom: the unsafe local-reads variant is found not linearizable", async () => {
  const r = await runRunner([...common, "--nemesis-interval", "2", "--bin", floeBin("--unsafe-local-reads")]);
  assert.equal(r.code, 1, `expected an invalid analysis:\n${r.stdout.slice(-3000)}`);
  assert.match(r.stdout, /not linearizable/);
});
