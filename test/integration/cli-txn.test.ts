// `floe txn` against a real floe process: etcdctl's stdin syntax, etcdctl's output.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { ROOT, startFloe } from "./floe-process.ts";

test("floe txn reads compares, success and failure ops from stdin and prints SUCCESS or FAILURE with each result", async (t) => {
  const floe = await startFloe();
  t.after(() => floe.stop());
  const floeCli = (args: string[], input = ""): { code: number | null; out: string; err: string } => {
    const r = spawnSync(process.execPath, ["bin/floe.js", ...args, "--endpoints", `127.0.0.1:${floe.port}`], {
      cwd: ROOT,
      input,
      encoding: "utf8",
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  assert.equal(floeCli(["put", "t/a", "1"]).out, "OK\n");

  const hit = floeCli(["txn"], 'value("t/a") = "1"\n\nput t/a "two words"\nget t/a\n\nput t/a never\n\n');
  assert.equal(hit.code, 0, hit.err);
  assert.equal(hit.out, "SUCCESS\n\nOK\n\nt/a\ntwo words\n");

  const miss = floeCli(
    ["txn", "-i"],
    'mod("t/a") < "1"\nver("t/a") = "2"\n\nput t/a no\n\ndel t/a --prev-kv\nget t/ --prefix\n',
  );
  assert.equal(miss.code, 0, miss.err);
  assert.equal(
    miss.out,
    "compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\n" +
      "FAILURE\n\n1\nt/a\ntwo words\n\n",
  );
  assert.equal(floeCli(["get", "t/a"]).out, "");

  const bad = floeCli(["txn"], 'size("t/a") = "1"\n\n\n');
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /malformed comparison: size\("t\/a"\) = "1" \(unknown target size\)/);
});
