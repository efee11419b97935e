import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { checkHistory, parseHistory } from "../../src/check/index.ts";

const ROOT = new URL("../../testdata/linearizability/", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, ROOT), "utf8");

const verdicts = read("jepsen-etcd/VERDICTS.txt")
  .trim()
  .split("\n")
  .map((line) => line.trim().split(/\s+/) as [string, string]);

test("VERDICTS.txt lists the 50 Jepsen etcd histories", () => {
  assert.equal(verdicts.length, 50);
});

for (const [file, expected] of verdicts) {
  test(`jepsen-etcd/${file} is ${expected} (failed cas dropped, as the README reads :fail)`, () => {
    const h = parseHistory(read(`jepsen-etcd/${file}`), file);
    assert.equal(h.format, "jepsen-etcd");
    assert.equal(checkHistory(h).verdict, expected);
  });
}

test("every Jepsen etcd verdict also holds when a failed cas is read as a compare mismatch (Porcupine's reading)", () => {
  for (const [file, expected] of verdicts) {
    const h = parseHistory(read(`jepsen-etcd/${file}`), file, { failedCas: "mismatch" });
    assert.equal(checkHistory(h).verdict, expected, file);
  }
});

for (const clients of ["01", "10", "50"]) {
  for (const kind of ["ok", "bad"]) {
    const expected = kind === "ok" ? "linearizable" : "not-linearizable";
    test(`kv/c${clients}-${kind}.txt is ${expected} when checked per key`, () => {
      const h = parseHistory(read(`kv/c${clients}-${kind}.txt`), `c${clients}-${kind}.txt`);
      assert.equal(h.format, "kv-edn");
      const r = checkHistory(h);
      assert.equal(r.verdict, expected);
      if (h.format === "kv-edn") assert.equal(r.partitions, new Set(h.ops.map((o) => o.input.key)).size);
    });
  }
}
