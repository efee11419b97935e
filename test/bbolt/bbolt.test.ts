import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { fnv64a } from "../../src/bbolt/format.ts";
import { type BoltBucket, BoltError, looksLikeBolt, readBolt, writeBolt } from "../../src/bbolt/index.ts";
import { assertSameBuckets, randomBytes, rng, sequentialEntries, sortEntries, text } from "./helpers.ts";

const file = (buckets: readonly BoltBucket[], options?: { pageSize?: number; txid?: number }): Buffer =>
  Buffer.concat(writeBolt(buckets, options));

function roundTrip(buckets: readonly BoltBucket[], options?: { pageSize?: number; txid?: number }): Buffer {
  const f = file(buckets, options);
  assert.equal(f.length % (options?.pageSize ?? 4096), 0, "whole pages");
  assertSameBuckets(readBolt(f), buckets);
  return f;
}

/** Recompute the checksum of meta page `page` after patching it. */
function resum(f: Buffer, page: number, pageSize = 4096): void {
  const m = page * pageSize + 16;
  f.writeBigUInt64LE(fnv64a(f, m, m + 56), m + 56);
}

/** The root page of the first bucket listed in the root bucket's (single) leaf page. */
function firstBucketRoot(f: Buffer, pageSize = 4096): number {
  const e = Number(f.readBigUInt64LE(pageSize + 32)) * pageSize + 16;
  return Number(f.readBigUInt64LE(e + f.readUInt32LE(e + 4) + f.readUInt32LE(e + 8)));
}

/** Page flags of page `pgid` and of its first child when it is a branch, and so on down to a leaf. */
function levels(f: Buffer, pgid: number, pageSize = 4096): number[] {
  const flags = f.readUInt16LE(pgid * pageSize + 8);
  if (flags !== 0x01) return [flags];
  return [flags, ...levels(f, Number(f.readBigUInt64LE(pgid * pageSize + 16 + 8)), pageSize)];
}

function assertBoltError(f: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => readBolt(f),
    (e: unknown) => {
      assert.ok(e instanceof BoltError, `a BoltError, not ${String(e)}`);
      assert.match(e.message, pattern);
      return true;
    },
  );
}

test("fnv64a is Go's hash/fnv New64a", () => {
  assert.equal(fnv64a(Buffer.alloc(0), 0, 0), 0xcbf29ce484222325n);
  assert.equal(fnv64a(text("a"), 0, 1), 0xaf63dc4c8601ec8cn);
  assert.equal(fnv64a(text("foobar"), 0, 6), 0x85944171f73967e8n);
});

test("an empty database: two metas, an empty freelist, an empty root leaf", () => {
  const f = roundTrip([]);
  assert.equal(f.length, 4 * 4096);
  assert.equal(readBolt(f).size, 0);
  for (const page of [0, 1]) {
    const p = page * 4096;
    assert.equal(f.readBigUInt64LE(p), BigInt(page), "page id");
    assert.equal(f.readUInt16LE(p + 8), 0x04, "meta flag");
    assert.equal(f.readUInt32LE(p + 16), 0xed0cdaed, "magic");
    assert.equal(f.readUInt32LE(p + 20), 2, "version");
    assert.equal(f.readUInt32LE(p + 24), 4096, "page size");
    assert.equal(f.readBigUInt64LE(p + 32), 3n, "root bucket page");
    assert.equal(f.readBigUInt64LE(p + 48), 2n, "freelist page");
    assert.equal(f.readBigUInt64LE(p + 56), 4n, "high water mark");
    assert.equal(f.readBigUInt64LE(p + 64), BigInt(page), "txid: page 1 has txid 1, page 0 txid 0");
  }
  assert.equal(f.readUInt16LE(2 * 4096 + 8), 0x10, "freelist page");
  assert.equal(f.readUInt16LE(3 * 4096 + 8), 0x02, "root leaf page");
});

test("the meta with txid t is page t % 2, the other one has t-1", () => {
  for (const txid of [1, 2, 7, 1000, 2 ** 40 + 1]) {
    const f = roundTrip([{ name: text("b"), entries: [[text("k"), text("v")]] }], { txid });
    assert.equal(f.readBigUInt64LE((txid % 2) * 4096 + 64), BigInt(txid));
    assert.equal(f.readBigUInt64LE(((txid + 1) % 2) * 4096 + 64), BigInt(txid - 1));
  }
});

test("empty buckets and one small bucket (inline)", () => {
  roundTrip([{ name: text("empty"), entries: [] }]);
  roundTrip([
    { name: text("key"), entries: [] },
    { name: text("lease"), entries: [] },
    { name: text("meta"), entries: [[text("consistent_index"), Buffer.from([0, 0, 0, 0, 0, 0, 0, 42])]] },
  ]);
  const f = roundTrip([{ name: text("one"), entries: [[text("a"), text("1")]] }]);
  assert.equal(f.length, 4 * 4096, "an inline bucket takes no page of its own");
});

test("one bucket with its own leaf pages, and buckets given out of order come back sorted", () => {
  roundTrip([{ name: text("b"), entries: sequentialEntries(300) }]);
  const buckets = [
    { name: text("zz"), entries: sequentialEntries(3) },
    { name: text("a"), entries: sequentialEntries(500) },
    { name: text("m"), entries: [] },
  ];
  const read = readBolt(file(buckets));
  assert.deepEqual([...read.keys()], ["a", "m", "zz"]);
  assertSameBuckets(read, buckets);
});

test("many buckets: the root bucket itself needs branch pages", () => {
  const buckets: BoltBucket[] = [];
  for (let i = 0; i < 2000; i++) {
    buckets.push({ name: text(`bucket-${i}`), entries: i % 7 === 0 ? sequentialEntries(i % 300) : [] });
  }
  const f = roundTrip(buckets);
  const rootPage = Number(f.readBigUInt64LE(4096 + 32));
  assert.equal(f.readUInt16LE(rootPage * 4096 + 8), 0x01, "the root bucket's root is a branch page");
  roundTrip(buckets, { pageSize: 1024 });
});

test("100k keys: several branch levels, written and read quickly", () => {
  const entries = sequentialEntries(100_000);
  const bucket = { name: text("key"), entries };
  const start = performance.now();
  const f = file([bucket]);
  const read = readBolt(f);
  const ms = performance.now() - start;
  assertSameBuckets(read, [bucket]);
  assert.ok(ms < 4000, `100k keys took ${ms.toFixed(0)} ms`);
  assert.deepEqual(levels(f, firstBucketRoot(f)), [0x01, 0x01, 0x02], "two branch levels above the leaves");
  const small = roundTrip([bucket], { pageSize: 1024 });
  assert.deepEqual(levels(small, firstBucketRoot(small, 1024), 1024), [0x01, 0x01, 0x01, 0x02]);
});

test("values larger than a page go into overflow pages", () => {
  const next = rng(1);
  for (const pageSize of [1024, 4096, 16384]) {
    const entries: Array<[Uint8Array, Uint8Array]> = [];
    for (const size of [
      0,
      1,
      pageSize - 48,
      pageSize - 32,
      pageSize - 31,
      pageSize,
      3 * pageSize + 5,
      200_000,
    ]) {
      entries.push([text(`v${String(size).padStart(8, "0")}`), randomBytes(next, size)]);
    }
    entries.push([text("w-small"), text("x")]);
    roundTrip([{ name: text("big"), entries }], { pageSize });
  }
  // one value of a few megabytes
  const huge = randomBytes(next, 3 << 20);
  const f = roundTrip([{ name: text("huge"), entries: [[text("k"), huge]] }]);
  assert.ok(f.length > huge.length);
});

test("large keys: branch pages with overflow", () => {
  const next = rng(2);
  const entries = sortEntries(
    Array.from({ length: 40 }, (_, i) => [randomBytes(next, 1000 + i * 700), text(`${i}`)] as const),
  );
  assert.ok(entries.some(([k]) => k.length > 8192));
  roundTrip([{ name: text("wide"), entries }]);
  roundTrip([{ name: text("wide"), entries }], { pageSize: 1024 });
  roundTrip([{ name: randomBytes(next, 20_000), entries: entries.slice(0, 5) }]);
});

test("binary keys and bucket names: every byte value, prefixes of each other", () => {
  const next = rng(3);
  const pairs: Array<readonly [Uint8Array, Uint8Array]> = [];
  for (let i = 0; i < 256; i++) pairs.push([Buffer.from([i]), Buffer.from([255 - i])]);
  for (let i = 0; i < 3000; i++)
    pairs.push([randomBytes(next, 1 + Math.floor(next() * 40)), randomBytes(next, 30)]);
  pairs.push([Buffer.from([0, 0]), Buffer.alloc(0)], [Buffer.from([255, 255, 255]), Buffer.alloc(0)]);
  const entries = sortEntries(pairs);
  const buckets = [
    { name: Buffer.from([0]), entries },
    { name: Buffer.from([0xff, 0x00, 0x80]), entries: entries.slice(0, 10) },
    { name: Buffer.from([0xe9]), entries: [] },
  ];
  const read = readBolt(file(buckets));
  assert.ok(read.has("\u00e9"), "names are latin1");
  assertSameBuckets(read, buckets);
});

test("random bucket sets round trip (property)", () => {
  const bytes = fc.uint8Array({ minLength: 1, maxLength: 64 });
  fc.assert(
    fc.property(
      fc.uniqueArray(
        fc.record({
          name: bytes,
          pairs: fc.array(fc.tuple(bytes, fc.uint8Array({ maxLength: 3000 })), { maxLength: 200 }),
        }),
        { selector: (b) => Buffer.from(b.name).toString("hex"), maxLength: 6 },
      ),
      fc.constantFrom(1024, 4096),
      (spec, pageSize) => {
        const buckets = spec.map((b) => ({ name: b.name, entries: sortEntries(b.pairs) }));
        assertSameBuckets(readBolt(file(buckets, { pageSize })), buckets);
      },
    ),
    { numRuns: 60 },
  );
});

test("writeBolt refuses input bbolt could not hold", () => {
  const bad = (buckets: BoltBucket[], pattern: RegExp, options?: { pageSize?: number; txid?: number }) =>
    assert.throws(
      () => writeBolt(buckets, options),
      (e: unknown) => e instanceof BoltError && pattern.test(e.message),
    );
  bad(
    [
      {
        name: text("b"),
        entries: [
          [text("b"), text("")],
          [text("a"), text("")],
        ],
      },
    ],
    /not above the key before/,
  );
  bad(
    [
      {
        name: text("b"),
        entries: [
          [text("a"), text("")],
          [text("a"), text("")],
        ],
      },
    ],
    /not above the key before/,
  );
  bad([{ name: text("b"), entries: [[Buffer.alloc(0), text("")]] }], /empty key/);
  bad([{ name: text("b"), entries: [[Buffer.alloc(40_000), text("")]] }], /longer than 32768/);
  bad([{ name: Buffer.alloc(0), entries: [] }], /empty name/);
  bad(
    [
      { name: text("b"), entries: [] },
      { name: text("b"), entries: [] },
    ],
    /twice/,
  );
  bad([], /page size/, { pageSize: 3000 });
  bad([], /page size/, { pageSize: 512 });
  bad([], /txid/, { txid: 0 });
});

const sample = (): Buffer =>
  file([
    { name: text("big"), entries: sequentialEntries(5000) },
    { name: text("inline"), entries: [[text("a"), text("b")]] },
  ]);

test("not a bbolt file: empty, short, zeros, bad magic or checksum on both metas", () => {
  assertBoltError(Buffer.alloc(0), /not a valid bbolt file/);
  assertBoltError(Buffer.alloc(100), /not a valid bbolt file/);
  assertBoltError(Buffer.alloc(4 * 4096), /bad magic/);
  assertBoltError(text("x".repeat(20_000)), /bad magic/);
  const f = sample();
  f[16] ^= 1;
  f[4096 + 16] ^= 1;
  assertBoltError(f, /meta page 0: bad magic.*meta page 1: bad magic/);
  const g = sample();
  g[16 + 40] ^= 1;
  g[4096 + 16 + 40] ^= 1;
  assertBoltError(g, /meta page 0: checksum mismatch; meta page 1: checksum mismatch/);
  const v = sample();
  v.writeUInt32LE(1, 20);
  v.writeUInt32LE(1, 4096 + 20);
  assertBoltError(v, /version 1/);
});

test("one bad meta: the other one is used", () => {
  const want = readBolt(sample());
  for (const page of [0, 1]) {
    const f = sample();
    f[page * 4096 + 16 + 40] ^= 0x80; // the high water mark, caught by the checksum
    assert.deepEqual(readBolt(f), want);
  }
  // meta 0 unreadable and a page size other than 4096: meta 1 is still found
  const f = file([{ name: text("b"), entries: sequentialEntries(100) }], { pageSize: 8192 });
  const w = readBolt(f);
  f.fill(0, 0, 8192);
  assert.deepEqual(readBolt(f), w);
});

test("the newer valid meta wins, the older one is the fallback", () => {
  // txid 5 (page 1) and txid 4 (page 0) start out with the same tree; give txid 5 a new root bucket page
  // at the end of the file, a copy of the old one with another value.
  const f = file([{ name: text("b"), entries: [[text("k"), text("old")]] }], { txid: 5 });
  const oldRoot = Number(f.readBigUInt64LE(4096 + 32));
  const hwm = f.length / 4096;
  const copy = Buffer.from(f.subarray(oldRoot * 4096, (oldRoot + 1) * 4096));
  copy.writeBigUInt64LE(BigInt(hwm), 0);
  copy.write("new", copy.indexOf("old"), "latin1");
  const g = Buffer.concat([f, copy]);
  g.writeBigUInt64LE(BigInt(hwm), 4096 + 32);
  g.writeBigUInt64LE(BigInt(hwm + 1), 4096 + 56);
  resum(g, 1);
  const value = (h: Buffer) => Buffer.from(readBolt(h).get("b")![0][1]).toString();
  assert.equal(value(g), "new");
  assert.equal(value(f), "old");
  const broken = Buffer.from(g);
  broken[4096 + 16 + 8] ^= 1; // txid 5's page size: its checksum no longer matches
  assert.equal(value(broken), "old");
  const newerZero = Buffer.from(g);
  newerZero.writeBigUInt64LE(6n, 64); // page 0 now has txid 6 and the old tree
  resum(newerZero, 0);
  assert.equal(value(newerZero), "old");
});

test("truncated files", () => {
  const f = sample();
  assertBoltError(f.subarray(0, f.length - 4096), /truncated/);
  assertBoltError(f.subarray(0, f.length - 1), /truncated/);
  assertBoltError(f.subarray(0, 3 * 4096), /truncated/);
  assertBoltError(f.subarray(0, 4096 + 50), /truncated|meta page 1/);
});

test("pages out of range, of the wrong type, referenced twice; elements past their page; keys out of order", () => {
  const metaPatch = (off: number, value: bigint, pattern: RegExp) => {
    const f = sample();
    for (const page of [0, 1]) {
      f.writeBigUInt64LE(value, page * 4096 + 16 + off);
      resum(f, page);
    }
    assertBoltError(f, pattern);
  };
  metaPatch(16, 1000n, /root bucket page 1000 is out of range/);
  metaPatch(16, 1n, /root bucket page 1 is out of range/);
  metaPatch(16, 2n, /page 2 \(root bucket\) is referenced twice/);
  metaPatch(32, 3n, /freelist.*unexpected page type/);
  metaPatch(32, 0xfff_ffffn, /freelist page \d+ is out of range/);
  metaPatch(40, 1n << 60n, /truncated/);

  const f = sample();
  const root = Number(f.readBigUInt64LE(4096 + 32));
  // the "big" bucket is the first element of the root leaf; its root page is a branch
  const bigRoot = firstBucketRoot(f);
  assert.equal(f.readUInt16LE(bigRoot * 4096 + 8), 0x01);
  const b = bigRoot * 4096 + 16;

  const g = Buffer.from(f);
  g.writeBigUInt64LE(BigInt(bigRoot), b + 8); // first child = the branch itself
  assertBoltError(g, new RegExp(`page ${bigRoot} .*referenced twice`));
  const h = Buffer.from(f);
  h.writeBigUInt64LE(5000n, b + 8);
  assertBoltError(h, /page 5000 .* out of range/);
  const i = Buffer.from(f);
  i.writeBigUInt64LE(BigInt(root), b + 8); // a branch pointing at the root bucket's leaf
  assertBoltError(i, /referenced twice/);
  const firstLeaf = Number(f.readBigUInt64LE(b + 8));
  const j = Buffer.from(f);
  j.writeUInt16LE(0x10, firstLeaf * 4096 + 8);
  assertBoltError(j, new RegExp(`page ${firstLeaf} .*unexpected page type`));
  const k = Buffer.from(f);
  k.writeUInt32LE(5000, firstLeaf * 4096 + 16 + 8); // ksize of the first element
  assertBoltError(k, /leaf element 0 runs past the end of the page/);
  const l = Buffer.from(f);
  l.writeUInt16LE(1000, firstLeaf * 4096 + 10); // count
  assertBoltError(l, /1000 leaf elements do not fit/);
  const m = Buffer.from(f);
  m.writeBigUInt64LE(7n, firstLeaf * 4096); // page id in the header
  assertBoltError(m, /the header says it is page 7/);
  const n = Buffer.from(f);
  const secondChild = Number(f.readBigUInt64LE(b + 16 + 8));
  n.writeBigUInt64LE(BigInt(secondChild), b + 8);
  n.writeBigUInt64LE(BigInt(firstLeaf), b + 16 + 8);
  assertBoltError(n, /keys are out of order/);
});

test("nested buckets and plain keys in the root bucket are reported", () => {
  const f = file([{ name: text("inline"), entries: [[text("a"), text("b")]] }]);
  const root = Number(f.readBigUInt64LE(4096 + 32));
  const e = root * 4096 + 16;
  const g = Buffer.from(f);
  g.writeUInt32LE(0, e); // the bucket's flags
  assertBoltError(g, /root bucket holds a plain key/);
  // the inline page's only element: mark it as a bucket
  const h = Buffer.from(f);
  const inlinePage = e + h.readUInt32LE(e + 4) + h.readUInt32LE(e + 8) + 16;
  h.writeUInt32LE(1, inlinePage + 16);
  assertBoltError(h, /nested bucket 61 is not supported/);
});

test("random corruption: readBolt returns or throws BoltError, never anything else", () => {
  const base = file([
    { name: text("big"), entries: sequentialEntries(2000) },
    { name: text("inline"), entries: [[text("a"), text("b")]] },
    { name: text("over"), entries: [[text("x"), Buffer.alloc(10_000, 1)]] },
  ]);
  const next = rng(4);
  for (let round = 0; round < 400; round++) {
    const f = Buffer.from(base);
    const flips = 1 + Math.floor(next() * 8);
    for (let i = 0; i < flips; i++) {
      // favour headers, element tables and metas, where a flip changes the structure
      const page = Math.floor(next() * (f.length / 4096));
      const off = page * 4096 + Math.floor(next() ** 3 * 4096);
      f[off] ^= 1 << Math.floor(next() * 8);
    }
    if (round % 2 === 0) {
      for (const page of [0, 1]) resum(f, page);
    }
    try {
      readBolt(f);
    } catch (e) {
      if (!(e instanceof BoltError)) throw e;
    }
  }
});

test("looksLikeBolt tells a bbolt file from a floe image or junk by page 0's magic", () => {
  const file = Buffer.concat(writeBolt([{ name: text("b"), entries: [[text("k"), text("v")]] }]));
  assert.equal(looksLikeBolt(file), true);
  assert.equal(looksLikeBolt(file.subarray(0, 19)), false, "too short to hold the magic");
  assert.equal(looksLikeBolt(Buffer.from("FLOEMVC1".padEnd(64, "\0"))), false);
  assert.equal(looksLikeBolt(new Uint8Array(4096)), false);
});
