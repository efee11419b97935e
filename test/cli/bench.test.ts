// `floe bench put` against one real floe member: the JSON report counts every
// request and its latency summary is ordered and within the run's wall time.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { promisify } from "node:util";
import type { BenchResult } from "../../src/cli/bench-report.ts";
import { ROOT, startFloe } from "../integration/floe-process.ts";

const run = promisify(execFile);

test("floe bench put --total 200 --json reports 200 successful puts with ordered percentiles", async (t) => {
  const floe = await startFloe();
  t.after(() => floe.stop());
  const { stdout } = await run(
    process.execPath,
    [
      "bin/floe.js",
      "bench",
      "put",
      "--endpoints",
      `127.0.0.1:${floe.port}`,
      "--total",
      "200",
      "--clients",
      "4",
      "--val-size",
      "64",
      "--key-space-size",
      "50",
      "--json",
    ],
    { cwd: ROOT, timeout: 60_000 },
  );
  const r = JSON.parse(stdout) as BenchResult;
  assert.equal(r.op, "put");
  assert.equal(r.count, 200);
  assert.equal(r.errors, 0, JSON.stringify(r.errorMessages));
  assert.equal(r.clients, 4);
  assert.equal(r.latency.count, 200);
  assert.ok(r.elapsedSec > 0, `elapsedSec ${r.elapsedSec}`);
  assert.ok(r.throughput > 0, `throughput ${r.throughput}`);
  const l = r.latency;
  const order = [l.minMs, l.p50Ms, l.p90Ms, l.p99Ms, l.p999Ms, l.maxMs];
  assert.ok(l.minMs > 0, `minMs ${l.minMs}`);
  for (let i = 1; i < order.length; i++)
    assert.ok(order[i - 1] <= order[i], `not ordered: ${order.join(", ")}`);
  assert.ok(l.minMs <= l.meanMs && l.meanMs <= l.maxMs, `mean ${l.meanMs} outside [${l.minMs}, ${l.maxMs}]`);
  assert.ok(l.maxMs <= r.elapsedSec * 1000, `max ${l.maxMs} ms exceeds the run's ${r.elapsedSec} s`);
  assert.ok(r.clientCpuSec > 0 && r.clientCpuSec < 60, `clientCpuSec ${r.clientCpuSec}`);
  assert.equal(r.params.valSize, 64);
});
