import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { test } from "node:test";
import * as v8 from "node:v8";
import * as vm from "node:vm";
import { crc32c } from "../../src/common/crc32c.ts";
import type { ConfState, SnapshotMetadata } from "../../src/raft/types.ts";
import {
  SnapshotStore,
  snapshotFileName,
  WalCorruptionError,
  WalError,
  WalStorage,
  type WalStorageOptions,
} from "../../src/wal/index.ts";
import { capture, ents, listDir, tempDir } from "./helpers.ts";

const conf: ConfState = {
  voters: [1, 2, 3],
  votersOutgoing: [4],
  learners: [5],
  learnersNext: [6],
  autoLeave: true,
};
const meta = (index: number, term = 2): SnapshotMetadata => ({ index, term, confState: conf });

async function readAll(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of chunks) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

test("a snapshot round-trips its metadata and image whatever the chunking of the stream", async (t) => {
  const dir = await tempDir(t);
  const store = await SnapshotStore.open(dir, { chunkBytes: 1000 });
  const image = Buffer.alloc(10_000);
  for (let i = 0; i < image.length; i++) image[i] = (i * 31) % 256;
  async function* pieces() {
    yield image.subarray(0, 10); // small ones are coalesced
    yield image.subarray(10, 3500); // big ones are split
    yield new Uint8Array(0);
    yield image.subarray(3500);
  }
  const info = await store.writeSnapshot(meta(42, 7), pieces());
  assert.equal(path.basename(info.file), "0000000000000007-0000000000000042.snap");
  assert.equal(snapshotFileName(7, 42), path.basename(info.file));
  const opened = await store.openSnapshot(42);
  assert.deepEqual(opened.metadata, meta(42, 7));
  const sizes: number[] = [];
  const parts: Buffer[] = [];
  for await (const c of opened.chunks) {
    sizes.push(c.length);
    parts.push(Buffer.from(c));
  }
  assert.ok(sizes.every((n) => n <= 1000));
  assert.deepEqual(Buffer.concat(parts), image);
  // An empty image is a valid snapshot too.
  await store.writeSnapshot(meta(50), []);
  assert.equal((await readAll((await store.openSnapshot()).chunks)).length, 0);
  assert.equal((await store.latestSnapshot())?.metadata.index, 50);
  await assert.rejects(
    store.openSnapshot(43),
    (e: unknown) => e instanceof WalError && e.code === "NotFound",
  );
});

test("retention keeps the newest snapshots (and any protected one); listing is by index", async (t) => {
  const dir = await tempDir(t);
  const store = await SnapshotStore.open(dir, { keepSnapshots: 2 });
  for (const i of [5, 30, 10, 20]) await store.writeSnapshot(meta(i), [Buffer.from(`s${i}`)]);
  assert.deepEqual(
    (await store.listSnapshots()).map((f) => f.index),
    [5, 10, 20, 30],
  );
  const deleted = await store.retainSnapshots(undefined, [5]);
  assert.deepEqual(
    deleted.map((f) => path.basename(f)),
    [snapshotFileName(2, 10)],
  );
  assert.deepEqual(
    (await store.listSnapshots()).map((f) => f.index),
    [5, 20, 30],
  );
});

test("a snapshot appears only complete: a failed stream leaves nothing, a leftover temp file is removed on open", async (t) => {
  const dir = await tempDir(t);
  const store = await SnapshotStore.open(dir);
  async function* failing() {
    yield Buffer.alloc(3 * 1024 * 1024, 1);
    throw new Error("state machine went away");
  }
  await assert.rejects(store.writeSnapshot(meta(9), failing()), /state machine went away/);
  assert.deepEqual(await listDir(dir), []);
  await fs.writeFile(path.join(dir, `${snapshotFileName(2, 11)}.tmp`), "partial");
  const log = capture();
  const reopened = await SnapshotStore.open(dir, { logger: log.logger });
  assert.deepEqual(await listDir(dir), []);
  assert.match(log.events[0].message, /temporary snapshot/);
  assert.deepEqual(await reopened.listSnapshots(), []);
});

test("damage in a snapshot fails the stream with WalCorruptionError naming file and offset", async (t) => {
  const dir = await tempDir(t);
  const store = await SnapshotStore.open(dir, { chunkBytes: 4096 });
  const info = await store.writeSnapshot(meta(3), [Buffer.alloc(20_000, 7)]);
  const good = await fs.readFile(info.file);
  const metaLen = 9 + good.readUInt32LE(0);
  const chunk2 = metaLen + 9 + 4096;
  const cases: [string, Buffer, RegExp, number][] = [
    ["flipped image byte", flip(good, chunk2 + 9 + 100), /checksum mismatch/, chunk2],
    ["cut short", good.subarray(0, chunk2 + 50), /runs past the end/, chunk2],
    ["cut at a frame boundary", good.subarray(0, chunk2), /without an end record/, chunk2],
    ["huge chunk length", withU32(good, chunk2, 0x7fffffff), /exceeds the limit/, chunk2],
    ["trailing garbage", Buffer.concat([good, Buffer.from("x")]), /bytes follow the end record/, good.length],
  ];
  for (const [name, bytes, pattern, offset] of cases) {
    await fs.writeFile(info.file, bytes);
    const opened = await store.openSnapshot(3);
    await assert.rejects(readAll(opened.chunks), (e: unknown) => {
      assert.ok(e instanceof WalCorruptionError, name);
      assert.equal(e.file, info.file, name);
      assert.equal(e.offset, offset, name);
      assert.match(e.message, pattern, name);
      return true;
    });
  }
  await fs.writeFile(info.file, flip(good, 12));
  await assert.rejects(
    store.openSnapshot(3),
    (e: unknown) => e instanceof WalCorruptionError && e.offset === 0,
  );
});

function flip(buf: Buffer, at: number): Buffer {
  const b = Buffer.from(buf);
  b[at] ^= 0x10;
  return b;
}

function withU32(buf: Buffer, at: number, v: number): Buffer {
  const b = Buffer.from(buf);
  b.writeUInt32LE(v, at);
  return b;
}

test("a 64 MiB image streams through write and read without being held in memory", async (t) => {
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc") as () => void;
  const dir = await tempDir(t);
  const store = await SnapshotStore.open(dir);
  const total = 64 * 1024 * 1024;
  const piece = Buffer.alloc(256 * 1024);
  gc();
  const base = process.memoryUsage().arrayBuffers;
  let peak = 0;
  let crc = 0;
  const sample = () => {
    gc();
    peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
  };
  async function* image() {
    for (let off = 0, k = 0; off < total; off += piece.length, k++) {
      piece.fill(k % 251);
      crc = crc32c(piece, crc);
      if (k % 16 === 0) sample();
      yield piece;
    }
  }
  const info = await store.writeSnapshot(meta(1000), image());
  assert.ok(info.sizeBytes > total);
  const writePeak = peak;
  peak = 0;
  let readCrc = 0;
  let read = 0;
  let k = 0;
  for await (const c of (await store.openSnapshot()).chunks) {
    readCrc = crc32c(c, readCrc);
    read += c.length;
    if (k++ % 4 === 0) sample();
  }
  assert.equal(read, total);
  assert.equal(readCrc, crc);
  const limit = 16 * 1024 * 1024;
  assert.ok(writePeak < limit, `writing held ${writePeak} bytes of buffers`);
  assert.ok(peak < limit, `reading held ${peak} bytes of buffers`);
});

test("a corrupt newest snapshot falls back to the previous one when the log still holds every entry after it", async (t) => {
  const dir = await tempDir(t);
  const opts: WalStorageOptions = { logger: () => {} };
  let st = await WalStorage.bootstrap(dir, [1], [], opts);
  await st.save({ entries: ents(2, 40, 1), hardState: { term: 1, vote: 1, commit: 40 } });
  await st.createSnapshot(20, st.confState(), [Buffer.from("at 20")], 100);
  const newest = await st.createSnapshot(30, st.confState(), [Buffer.from("at 30")], 100);
  await st.close();
  const file = path.join(dir, "snap", snapshotFileName(newest.term, newest.index));
  const bytes = await fs.readFile(file);
  bytes[bytes.length - 30] ^= 1;
  await fs.writeFile(file, bytes);
  const log = capture();
  st = await WalStorage.open(dir, { logger: log.logger });
  assert.equal(st.snapshot().metadata.index, 20);
  assert.equal(st.firstIndex(), 2);
  assert.match(log.events.map((e) => e.message).join("\n"), /unusable[\s\S]*falling back/);
  assert.ok((await listDir(path.join(dir, "snap"))).includes(`${path.basename(file)}.corrupt`));
  assert.equal((await readAll((await st.openSnapshot()).chunks)).toString(), "at 20");
  await st.close();
  // The fallback is durable: reopening needs no second repair.
  const again = capture();
  st = await WalStorage.open(dir, { logger: again.logger });
  assert.equal(st.snapshot().metadata.index, 20);
  assert.deepEqual(again.events, []);
  await st.close();
});

test("a corrupt newest snapshot stops the open when the log was compacted past every older one", async (t) => {
  const dir = await tempDir(t);
  const opts: WalStorageOptions = { logger: () => {} };
  const st = await WalStorage.bootstrap(dir, [1], [], opts);
  await st.save({ entries: ents(2, 40, 1), hardState: { term: 1, vote: 1, commit: 40 } });
  await st.createSnapshot(20, st.confState(), [Buffer.from("at 20")], 0);
  const newest = await st.createSnapshot(30, st.confState(), [Buffer.from("at 30")], 0);
  await st.close();
  const file = path.join(dir, "snap", snapshotFileName(newest.term, newest.index));
  const bytes = await fs.readFile(file);
  bytes[bytes.length - 30] ^= 1;
  await fs.writeFile(file, bytes);
  await assert.rejects(WalStorage.open(dir, opts), (e: unknown) => {
    assert.ok(e instanceof WalCorruptionError);
    assert.equal(e.file, file);
    assert.match(e.message, /no older snapshot can replace it.*compaction point 30/);
    return true;
  });
  await fs.rm(file);
  await assert.rejects(
    WalStorage.open(dir, opts),
    /snapshot file for index 30 term 1, which the log points at, is missing/,
  );
});
