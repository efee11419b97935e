import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DATA = "testdata/linearizability/";

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "src/check/cli.ts", ...args],
      { cwd: ROOT },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

test("the CLI exits 0 and prints one line per file when every history is linearizable", async () => {
  const r = await cli(`${DATA}jepsen-etcd/etcd_005.log`, `${DATA}kv/c10-ok.txt`);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.equal(lines.length, 2);
  assert.match(
    lines[0],
    /^testdata\/linearizability\/jepsen-etcd\/etcd_005\.log: \d+ ops, \d+ ms: linearizable$/,
  );
  assert.match(lines[1], /c10-ok\.txt: 337 ops, \d+ ms: linearizable$/);
});

test("the CLI gives verdicts for space-separated Jepsen logs and empty histories", async () => {
  const dir = mkdtempSync(join(tmpdir(), "floe-check-"));
  const { readFileSync } = await import("node:fs");
  const spaced = join(dir, "etcd_005-spaces.log");
  writeFileSync(
    spaced,
    readFileSync(join(ROOT, `${DATA}jepsen-etcd/etcd_005.log`), "utf8").replace(/\t/g, " "),
  );
  const empty = join(dir, "empty.log");
  writeFileSync(empty, "");
  const r = await cli(spaced, empty);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.match(lines[0], /etcd_005-spaces\.log: \d+ ops, \d+ ms: linearizable$/);
  assert.match(lines[1], /empty\.log: 0 ops, \d+ ms: linearizable$/);
  const tabs = await cli(`${DATA}jepsen-etcd/etcd_005.log`);
  assert.equal(
    /: (\d+) ops/.exec(tabs.stdout)?.[1],
    /: (\d+) ops/.exec(lines[0])?.[1],
    "the same operations",
  );
});

test("the CLI exits 1 when some history is not linearizable, and explains it with --explain", async () => {
  const plain = await cli(`${DATA}kv/c01-ok.txt`, `${DATA}kv/c01-bad.txt`);
  assert.equal(plain.code, 1);
  assert.match(
    plain.stdout,
    /c01-ok\.txt: .*: linearizable\n.*c01-bad\.txt: 38 ops, \d+ ms: not linearizable\n$/,
  );
  const explained = await cli("--explain", `${DATA}kv/c01-bad.txt`);
  assert.equal(explained.code, 1);
  assert.match(explained.stdout, /not linearizable in partition \d+ of 8/);
  assert.match(
    explained.stdout,
    /! \[client \d+ @\d+\.\.\d+\] get "\d+" -> ".*" \(returned at \d+: it cannot be put off any longer\)/,
  );
});

test("the CLI exits 2 naming the file and line of a parse error", async () => {
  const dir = mkdtempSync(join(tmpdir(), "floe-check-"));
  const bad = join(dir, "bad.log");
  writeFileSync(
    bad,
    "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:read\tseven\n",
  );
  const r = await cli(`${DATA}kv/c01-ok.txt`, bad);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:2: expected an integer, found "seven"`),
  );
});

test("the CLI exits 2 with usage for missing files, bad options or no arguments", async () => {
  const [none, missing, option] = await Promise.all([
    cli(),
    cli("no/such/file.log"),
    cli("--frobnicate", `${DATA}kv/c01-ok.txt`),
  ]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no history files given\nusage:/);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read no\/such\/file\.log/);
  assert.equal(option.code, 2);
  assert.match(option.stderr, /unknown option --frobnicate/);
});
