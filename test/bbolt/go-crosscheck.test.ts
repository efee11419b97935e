// Cross-check with Go's go.etcd.io/bbolt (test/bbolt/go/main.go): files writeBolt writes pass bbolt's
// tx.Check() and dump as written, Go can keep writing to them, and files Go writes read back identically.
// Needs `go` and go.etcd.io/bbolt in GOPATH=/usr/share/gocode (Debian's golang-github-coreos-bbolt-dev,
// which golang-etcd-server-dev pulls in); skipped with a message when `go` is not installed, unless
// FLOE_REQUIRE_GO=1 (as .ci/run sets once its etcd-e2e tier has installed Go): then it fails.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type BoltBucket, readBolt, writeBolt } from "../../src/bbolt/index.ts";
import {
  assertSameBuckets,
  bucketsToHex,
  type HexBucket,
  randomBytes,
  readToHex,
  rng,
  sequentialEntries,
  sortEntries,
  text,
} from "./helpers.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const goSource = path.join(here, "go");
const GOPATH = process.env.FLOE_BOLT_GOPATH ?? "/usr/share/gocode";

const goVersion = spawnSync("go", ["version"], { encoding: "utf8" });
const skip =
  goVersion.error && process.env.FLOE_REQUIRE_GO !== "1"
    ? `go is not installed (${goVersion.error.message}); install golang-go and golang-github-coreos-bbolt-dev`
    : false;

interface Dump {
  errors: string[];
  buckets: Array<HexBucket & { nested?: string[] }>;
  stats: {
    pageSize: number;
    txid: number;
    size: number;
    freePages: number;
    pendingPages: number;
    branchPages: number;
    leafPages: number;
    overflowPages: number;
    inlineBuckets: number;
    maxDepth: number;
  };
}

type Op =
  | ["put", string, string, string]
  | ["del", string, string]
  | ["mkbucket", string]
  | ["delbucket", string];

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

describe("bbolt cross-check with Go's go.etcd.io/bbolt", { skip }, () => {
  let dir = "";
  let boltcheck = "";

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "floe-bbolt-"));
    boltcheck = path.join(dir, "boltcheck");
    const build = spawnSync("go", ["build", "-o", boltcheck, "."], {
      cwd: goSource,
      encoding: "utf8",
      env: { ...process.env, GOPATH, GO111MODULE: "off", GOFLAGS: "" },
    });
    assert.equal(build.status, 0, `go build failed:\n${build.stdout}${build.stderr}`);
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  let fileNo = 0;
  const tmp = (name: string) => path.join(dir, `${fileNo++}-${name}`);

  function run(args: string[]): string {
    const r = spawnSync(boltcheck, args, { encoding: "utf8", maxBuffer: 1 << 30 });
    assert.equal(r.status, 0, `boltcheck ${args.join(" ")} failed:\n${r.stderr}`);
    return r.stdout;
  }

  const dump = (file: string): Dump => JSON.parse(run(["dump", file])) as Dump;

  function apply(file: string, txs: Op[][], pageSize?: number): void {
    const spec = tmp("spec.json");
    fs.writeFileSync(spec, JSON.stringify({ pageSize: pageSize ?? 0, txs }));
    run(["apply", file, spec]);
  }

  /** Write `buckets` with writeBolt, check the file with Go, and return Go's dump. */
  function ours(
    buckets: BoltBucket[],
    options?: { pageSize?: number; txid?: number },
  ): { file: string; d: Dump } {
    const file = tmp("ours.db");
    fs.writeFileSync(file, Buffer.concat(writeBolt(buckets, options)));
    const d = dump(file);
    assert.deepEqual(d.errors, [], "tx.Check() finds nothing");
    assert.deepEqual(d.buckets, bucketsToHex(buckets), "Go reads what we wrote");
    assert.equal(d.stats.pageSize, options?.pageSize ?? 4096);
    assert.equal(d.stats.txid, options?.txid ?? 1);
    assert.equal(d.stats.freePages, 0);
    return { file, d };
  }

  /** Go's dump of `file` is clean and readBolt reads the same buckets. */
  function theirs(file: string): Dump {
    const d = dump(file);
    assert.deepEqual(d.errors, [], "tx.Check() finds nothing");
    assert.deepEqual(readToHex(readBolt(fs.readFileSync(file))), d.buckets, "we read what Go wrote");
    return d;
  }

  test("our files pass tx.Check() and dump identically: empty, inline, paged, overflow, binary", () => {
    ours([]);
    ours([{ name: text("empty"), entries: [] }]);
    ours([
      { name: text("key"), entries: [] },
      { name: text("meta"), entries: [[text("consistent_index"), Buffer.from([0, 0, 0, 0, 0, 0, 0, 9])]] },
      { name: text("members"), entries: sequentialEntries(40, "m") },
    ]);
    const next = rng(7);
    const binary = sortEntries(
      Array.from(
        { length: 2000 },
        () => [randomBytes(next, 1 + Math.floor(next() * 30)), randomBytes(next, 20)] as const,
      ),
    );
    const overflow = sortEntries(
      [4000, 4080, 4096, 20_000, 100_000].map((n) => [text(`big-${n}`), randomBytes(next, n)]),
    );
    const { d } = ours([
      { name: Buffer.from([0xff, 0]), entries: binary },
      { name: Buffer.from([0]), entries: overflow },
      { name: text("x"), entries: [[text("k"), text("v")]] },
    ]);
    assert.ok(d.stats.overflowPages > 0, "overflow pages");
    assert.ok(d.stats.branchPages > 0, "branch pages");
    assert.equal(d.stats.inlineBuckets, 1);
  });

  test("our 100k-key file: multi-level branches, Go checks and dumps it", () => {
    const { d } = ours([{ name: text("key"), entries: sequentialEntries(100_000) }], { txid: 12345 });
    assert.equal(d.stats.maxDepth, 3, "root branch, branch level, leaves");
    assert.ok(d.stats.branchPages > 1);
  });

  test("our files with other page sizes, many buckets and wide keys", () => {
    const next = rng(8);
    const wide = sortEntries(
      Array.from({ length: 30 }, (_, i) => [randomBytes(next, 500 + i * 400), text(`${i}`)] as const),
    );
    const buckets: BoltBucket[] = [{ name: text("wide"), entries: wide }];
    for (let i = 0; i < 600; i++) buckets.push({ name: text(`b${i}`), entries: sequentialEntries(i % 13) });
    for (const pageSize of [1024, 4096, 16384]) {
      const { d } = ours(buckets, { pageSize, txid: 2 });
      assert.ok(d.stats.branchPages > 0);
    }
  });

  test("Go keeps writing to our file: puts, deletes, a new and a dropped bucket; then we read it back", () => {
    const model = new Map<string, Map<string, string>>();
    const buckets: BoltBucket[] = [
      { name: text("a"), entries: sequentialEntries(20_000) },
      { name: text("b"), entries: sequentialEntries(10) },
      { name: text("c"), entries: [] },
    ];
    for (const b of buckets) model.set(hex(b.name), new Map(b.entries.map(([k, v]) => [hex(k), hex(v)])));
    const { file } = ours(buckets);
    const txs: Op[][] = [];
    const ops: Op[] = [];
    for (let i = 0; i < 20_000; i += 3) {
      const k = hex(text(`key${String(i).padStart(8, "0")}`));
      ops.push(["del", hex(text("a")), k]);
      model.get(hex(text("a")))!.delete(k);
    }
    txs.push(ops);
    const more: Op[] = [];
    for (let i = 0; i < 500; i++) {
      const b = hex(text(i % 2 ? "b" : "d"));
      const k = hex(text(`new${i}`));
      const v = hex(Buffer.alloc(i * 20, i));
      more.push(["put", b, k, v]);
      if (!model.has(b)) model.set(b, new Map());
      model.get(b)!.set(k, v);
    }
    more.push(["delbucket", hex(text("c"))]);
    model.delete(hex(text("c")));
    txs.push(more);
    apply(file, txs);
    const d = theirs(file);
    const want = [...model]
      .sort(([a], [b]) => Buffer.compare(Buffer.from(a, "hex"), Buffer.from(b, "hex")))
      .map(([name, m]) => ({
        name,
        entries: [...m].sort(([a], [b]) => Buffer.compare(Buffer.from(a, "hex"), Buffer.from(b, "hex"))),
      }));
    assert.deepEqual(d.buckets, want);
    assert.ok(d.stats.freePages > 0, "Go freed the pages it rewrote");
  });

  test("files Go writes read identically: branch pages, overflow, binary keys, free pages", () => {
    const file = tmp("go.db");
    const next = rng(9);
    const txs: Op[][] = [];
    // many keys in several transactions (branch pages), some big values (overflow), binary keys
    for (let t = 0; t < 5; t++) {
      const ops: Op[] = [];
      for (let i = 0; i < 6000; i++) {
        ops.push([
          "put",
          hex(text("key")),
          hex(text(`k${t}-${String(i).padStart(6, "0")}`)),
          hex(randomBytes(next, 40)),
        ]);
      }
      for (let i = 0; i < 50; i++) {
        ops.push([
          "put",
          hex(Buffer.from([0, 0xff])),
          hex(randomBytes(next, 1 + (i % 16))),
          hex(randomBytes(next, i)),
        ]);
      }
      ops.push(["put", hex(text("big")), hex(text(`v${t}`)), hex(randomBytes(next, 5000 + t * 9000))]);
      ops.push(["mkbucket", hex(text(`empty${t}`))]);
      txs.push(ops);
    }
    // a deleted-keys history: free pages in the freelist
    const dels: Op[] = [];
    for (let i = 0; i < 6000; i += 2)
      dels.push(["del", hex(text("key")), hex(text(`k1-${String(i).padStart(6, "0")}`))]);
    for (let i = 0; i < 6000; i++)
      dels.push(["del", hex(text("key")), hex(text(`k3-${String(i).padStart(6, "0")}`))]);
    dels.push(["del", hex(text("big")), hex(text("v4"))], ["delbucket", hex(text("empty2"))]);
    txs.push(dels, [["put", hex(text("meta")), hex(text("last")), hex(text("tx"))]]);
    apply(file, txs);
    const d = theirs(file);
    assert.ok(d.stats.branchPages > 0, "branch pages");
    assert.ok(d.stats.overflowPages > 0, "overflow pages");
    assert.ok(d.stats.freePages > 0, "free pages");
    assert.ok(d.stats.inlineBuckets > 0, "inline buckets");
    const key = d.buckets.find((b) => b.name === hex(text("key")))!;
    assert.equal(key.entries.length, 5 * 6000 - 3000 - 6000);
    assert.ok(!d.buckets.some((b) => b.name === hex(text("empty2"))));
  });

  test("files Go writes with other page sizes, and a single empty database", () => {
    const empty = tmp("empty.db");
    apply(empty, []);
    const d = theirs(empty);
    assert.deepEqual(d.buckets, []);
    for (const pageSize of [1024, 8192]) {
      const file = tmp(`go-${pageSize}.db`);
      const ops: Op[] = [];
      for (let i = 0; i < 3000; i++)
        ops.push(["put", hex(text("b")), hex(text(`${i}`)), hex(text(`value ${i}`))]);
      apply(
        file,
        [ops, [["put", hex(text("c")), hex(text("x")), hex(Buffer.alloc(3 * pageSize, 5))]]],
        pageSize,
      );
      const dd = theirs(file);
      assert.equal(dd.stats.pageSize, pageSize);
      assert.ok(dd.stats.branchPages > 0);
    }
  });

  test("our reading and Go's agree on a file we wrote after Go rewrote it again (round trip through both)", () => {
    const file = tmp("go-first.db");
    const ops: Op[] = [];
    for (let i = 0; i < 4000; i++)
      ops.push(["put", hex(text("k")), hex(text(`${i}`)), hex(text(`${i * i}`))]);
    apply(file, [ops]);
    const read = readBolt(fs.readFileSync(file));
    const buckets = [...read].map(([name, entries]) => ({ name: Buffer.from(name, "latin1"), entries }));
    const { file: again } = ours(buckets, { txid: 3 });
    assertSameBuckets(readBolt(fs.readFileSync(again)), buckets);
  });
});
