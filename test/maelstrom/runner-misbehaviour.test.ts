import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { fixtureBin, ROOT, readResults, runRunner } from "./fixtures/runner-helpers.ts";

// Each broken node misbehaves after a few requests; the run must stop early
// (well before the 10 s time limit), fail, and name the node and the line.
const args = (flags: string) => [
  "--bin",
  fixtureBin(flags),
  "--node-count",
  "1",
  "--time-limit",
  "10",
  "--rate",
  "50",
];

test("a node that prints a non-JSON line on stdout fails the test, naming the node and the line", async () => {
  const r = await runRunner(args("--garbage-after 5"));
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.ok(r.elapsedMs < 8000, `stopped early, after ${r.elapsedMs} ms`);
  assert.match(
    r.stdout,
    /protocol violation by n0 at [\d.]+ s: n0 printed a line on stdout that is not JSON/,
  );
  assert.match(r.stdout, /offending line from n0: hello from a node that forgot stdout is for messages/);
  assert.match(r.stdout, /Analysis invalid!.*node n0 broke the protocol/);
  const res = readResults(r.dir);
  assert.equal(res.valid, false);
  assert.equal(res.misbehaviours[0].node, "n0");
  assert.equal(res.misbehaviours[0].line, "hello from a node that forgot stdout is for messages");
  assert.ok(res.stats.all.count >= 5, "the history up to the failure is kept");
});

test("a node that crashes fails the test with its exit status and last stderr lines", async () => {
  const r = await runRunner(args("--crash-after 5"));
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.ok(r.elapsedMs < 8000, `stopped early, after ${r.elapsedMs} ms`);
  assert.match(
    r.stdout,
    /n0 exited with code 3 while the test was running; last stderr lines:\n\s+fixture n0 initialised/,
  );
  const res = readResults(r.dir);
  assert.match(res.misbehaviours[0].problem, /exited with code 3/);
  // The sixth request died with the node: its outcome is unknown, or it was a read (no effect).
  const unanswered = res.stats.all.info + res.stats.all.fail;
  assert.ok(unanswered >= 1, JSON.stringify(res.stats.all));
});

test("a reply whose in_reply_to matches no request fails the test", async () => {
  const r = await runRunner(args("--bogus-reply-after 5"));
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.ok(r.elapsedMs < 8000, `stopped early, after ${r.elapsedMs} ms`);
  assert.match(
    r.stdout,
    /n0 replied to client c\d+ with in_reply_to 10\d\d, which matches no request it sent/,
  );
  assert.match(
    r.stdout,
    /offending line from n0: \{"src":"n0","dest":"c\d+","body":\{"type":"write_ok","in_reply_to":10\d\d/,
  );
});

test("a node that never answers init fails clearly once the init timeout passes", async () => {
  const r = await runRunner([...args("--ignore-init"), "--node-count", "2", "--init-timeout", "1"]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /n0 did not answer init within 1 s/);
  assert.match(r.stdout, /n1 did not answer init within 1 s/);
  assert.equal(readResults(r.dir).stats.all.count, 0);
});

test("a --bin that cannot be started is reported as such", async () => {
  const r = await runRunner(["--bin", "/nonexistent/floe-node", "--node-count", "1", "--time-limit", "5"]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(
    r.stdout,
    /n0 could not be started with "\/nonexistent\/floe-node": spawn \/nonexistent\/floe-node ENOENT/,
  );
});

test("an unknown workload or flag is a usage error with exit status 254", async () => {
  const cli = (...argv: string[]) =>
    new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ["--import", "tsx", "src/maelstrom/runner/cli.ts", ...argv],
        { cwd: ROOT },
        (err, _o, stderr) => resolve({ code: err ? Number(err.code) : 0, stderr }),
      );
    });
  const workload = await cli("test", "-w", "broadcast", "--bin", "x");
  assert.equal(workload.code, 254);
  assert.match(workload.stderr, /error: unknown workload "broadcast"; supported: lin-kv/);
  assert.match(workload.stderr, /Usage: npm run maelstrom -- test -w lin-kv --bin/);
  const flag = await cli("test", "--bin", "x", "--nodes", "n1,n2");
  assert.equal(flag.code, 254);
  assert.match(flag.stderr, /Unknown option '--nodes'/);
});
