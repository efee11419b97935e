// One engine's run for bench/storage/bitcask.ts, in its own process so its
// resident memory is its own. Prints one JSON line of results.
//   node --expose-gc --import tsx bench/storage/bitcask-worker.ts --engine bitcask|leveldb|lmdb --phase write|read --keys N --dir D
//   node --expose-gc --import tsx bench/storage/bitcask-worker.ts --engine keydir --order random|sorted|bulk --keys N

import fs from "node:fs";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { HINT_HEADER_BYTES, HintWriter } from "../../src/bitcask/hint.ts";
import { Bitcask } from "../../src/bitcask/index.ts";
import { Keydir, TOMBSTONE_SIZE } from "../../src/bitcask/keydir.ts";
import { BulkLoad } from "../../src/bitcask/keydir-bulk.ts";
import { RecordType } from "../../src/bitcask/record.ts";

const { values: args } = parseArgs({
  options: {
    engine: { type: "string" },
    keys: { type: "string", default: "1000000" },
    dir: { type: "string" },
    order: { type: "string", default: "random" },
    phase: { type: "string", default: "write" },
  },
});
const N = Number(args.keys);
const BATCH = 100;
const VALUE_BYTES = 100;
const SCAN = Math.min(100_000, Math.floor(N / 10));
const gcOnce = (globalThis as { gc?: () => void }).gc ?? (() => {});
/** Two full collections: array buffer backing stores are released by the second. */
const gc = () => {
  gcOnce();
  gcOnce();
};

/** xorshift32: the same keys and values for every engine. */
function fill(buf: Buffer, seed: number): Buffer {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < buf.length; i += 4) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    buf.writeUInt32LE(s >>> 0, i);
  }
  return buf;
}

const keyBytes = fill(Buffer.alloc(N * 16), 12345);
const key = (i: number): Buffer => keyBytes.subarray(i * 16, i * 16 + 16);
const pool = fill(Buffer.alloc(1 << 20), 777);
const value = (i: number): Buffer => {
  const at = (i * 101) % (pool.length - VALUE_BYTES);
  return pool.subarray(at, at + VALUE_BYTES);
};
const getOrder = new Uint32Array(fill(Buffer.alloc(N * 4), 999).buffer).map((x) => x % N);
// Scan from the first key >= 0x40..., about three quarters of the keyspace follows.
const scanStart = Buffer.alloc(16, 0);
scanStart[0] = 0x40;

const mb = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;
function rssMb(): number {
  gc();
  return mb(process.memoryUsage().rss);
}
function dirBytes(dir: string): number {
  let n = 0;
  for (const f of fs.readdirSync(dir)) {
    const st = fs.statSync(path.join(dir, f));
    n += st.isFile() ? st.size : 0;
  }
  return n;
}

interface Engine {
  open(): Promise<void>;
  putBatch(from: number, to: number): Promise<void>;
  get(k: Buffer): Uint8Array | undefined;
  scan(start: Buffer, limit: number): Promise<number>;
  close(): Promise<void>;
}

async function bitcaskEngine(dir: string): Promise<Engine & { db: () => Bitcask }> {
  let db: Bitcask | undefined;
  return {
    db: () => db!,
    open: async () => {
      db = await Bitcask.open(dir, { sync: "always" });
    },
    putBatch: (from, to) => {
      const ops = [];
      for (let i = from; i < to; i++) ops.push({ type: "put" as const, key: key(i), value: value(i) });
      return db!.writeBatch(ops);
    },
    get: (k) => db!.get(k),
    scan: async (start, limit) => {
      let n = 0;
      for (const e of db!.range(start, new Uint8Array(0), { limit })) n += e.value.length > 0 ? 1 : 0;
      return n;
    },
    close: () => db!.close(),
  };
}

async function levelEngine(dir: string): Promise<Engine> {
  const { ClassicLevel } = await import("classic-level");
  let db: InstanceType<typeof ClassicLevel<Buffer, Buffer>> | undefined;
  return {
    open: async () => {
      db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: "buffer", valueEncoding: "buffer" });
      await db.open();
    },
    putBatch: (from, to) => {
      const ops = [];
      for (let i = from; i < to; i++) ops.push({ type: "put" as const, key: key(i), value: value(i) });
      return db!.batch(ops, { sync: true });
    },
    get: (k) => db!.getSync(k),
    scan: async (start, limit) => {
      let n = 0;
      for await (const [, v] of db!.iterator({ gte: start, limit })) n += v.length > 0 ? 1 : 0;
      return n;
    },
    close: () => db!.close(),
  };
}

async function lmdbEngine(dir: string): Promise<Engine> {
  const { open } = await import("lmdb");
  let db: ReturnType<typeof open<Buffer, Buffer>> | undefined;
  return {
    open: async () => {
      db = open<Buffer, Buffer>({ path: dir, keyEncoding: "binary", encoding: "binary" });
    },
    putBatch: async (from, to) => {
      await db!.transaction(() => {
        for (let i = from; i < to; i++) db!.put(key(i), value(i));
      });
      await db!.flushed; // durable, like sync: true
    },
    get: (k) => db!.get(k),
    scan: async (start, limit) => {
      let n = 0;
      for (const { value: v } of db!.getRange({ start, limit })) n += v.length > 0 ? 1 : 0;
      return n;
    },
    close: () => db!.close(),
  };
}

/** Phase "write": the puts, then close. Phase "read" (a fresh process): open, gets, scan (and bitcask's merge). */
async function runEngine(name: string, dir: string, phase: string): Promise<Record<string, unknown>> {
  const e =
    name === "bitcask"
      ? await bitcaskEngine(dir)
      : name === "leveldb"
        ? await levelEngine(dir)
        : await lmdbEngine(dir);
  const out: Record<string, unknown> = { engine: name, keys: N, phase, rssBeforeMb: rssMb() };
  if (phase === "write") {
    await e.open();
    const t = performance.now();
    for (let i = 0; i < N; i += BATCH) await e.putBatch(i, Math.min(N, i + BATCH));
    out.putSeconds = (performance.now() - t) / 1000;
    out.putOpsPerSec = Math.round(N / (out.putSeconds as number));
    await e.close();
    out.diskMb = mb(dirBytes(dir));
    return out;
  }
  let t = performance.now();
  await e.open();
  out.openMs = Math.round(performance.now() - t);
  out.rssAfterOpenMb = rssMb();
  t = performance.now();
  let found = 0;
  for (let i = 0; i < N; i++) {
    const v = e.get(key(getOrder[i]));
    if (v !== undefined && v.length === VALUE_BYTES) found++;
  }
  out.getUsPerOp = Math.round(((performance.now() - t) * 1000 * 100) / N) / 100;
  if (found !== N) throw new Error(`${name}: found ${found} of ${N} keys`);
  t = performance.now();
  out.scanned = await e.scan(scanStart, SCAN);
  out.scanMs = Math.round((performance.now() - t) * 10) / 10;
  out.rssAfterGetsMb = rssMb();
  if (name === "bitcask")
    Object.assign(out, await mergeUnderLoad((e as Awaited<ReturnType<typeof bitcaskEngine>>).db()));
  await e.close();
  return out;
}

/**
 * Overwrite a quarter of the keys, then merge while a writer keeps writing
 * synced batches (to a hot 1% of the keys) and time each batch.
 */
async function mergeUnderLoad(db: Bitcask): Promise<Record<string, unknown>> {
  const ops = (from: number) =>
    Array.from({ length: BATCH }, (_, j) => ({
      type: "put" as const,
      key: key((from + j) % N),
      value: value(from + j + 1),
    }));
  for (let i = 0; i < N / 4; i += BATCH) await db.writeBatch(ops(i));
  const hot = Math.max(BATCH, Math.floor(N / 100));
  const timeBatches = async (count: number, until?: () => boolean) => {
    const lat: number[] = [];
    for (let i = 0; i < count && !(until?.() ?? false); i++) {
      const t = performance.now();
      await db.writeBatch(ops((i * BATCH) % hot));
      lat.push(performance.now() - t);
    }
    return lat.sort((a, b) => a - b);
  };
  const pct = (l: number[], p: number) =>
    Math.round(l[Math.min(l.length - 1, Math.floor(l.length * p))] * 100) / 100;
  const baseline = await timeBatches(500);
  const before = db.stats();
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  let done = false;
  const t = performance.now();
  const merging = db.merge().finally(() => {
    done = true;
  });
  const during = await timeBatches(Number.POSITIVE_INFINITY, () => done);
  const r = await merging;
  const mergeMs = performance.now() - t;
  loop.disable();
  const after = db.stats();
  return {
    merge: {
      ms: Math.round(mergeMs),
      inputFiles: r.inputFiles.length,
      outputFiles: r.outputFiles.length,
      inputMb: mb(r.bytesBefore),
      outputMb: mb(r.bytesAfter),
      recordsCopied: r.recordsCopied,
      recordsDropped: r.recordsDropped,
      storeMbBefore: mb(before.totalBytes),
      storeMbAfter: mb(after.totalBytes),
      batchesDuringMerge: during.length,
      writeP50Ms: pct(during, 0.5),
      writeP99Ms: pct(during, 0.99),
      writeMaxMs: pct(during, 1),
      baselineP50Ms: pct(baseline, 0.5),
      baselineP99Ms: pct(baseline, 0.99),
      baselineMaxMs: pct(baseline, 1),
      eventLoopDelayMaxMs: Math.round(loop.max / 1e4) / 100,
    },
  };
}

/** Build `kd` from a hint as open does; in a function of its own so the sort's arrays die with it. */
function bulkBuild(kd: Keydir, hint: Buffer): void {
  const bulk = new BulkLoad(N);
  const src = bulk.addSource(hint, 1);
  let at = HINT_HEADER_BYTES;
  for (let i = 0; i < N; i++, at += 21 + 16) bulk.add(src, at + 21);
  kd.adopt(bulk.build(TOMBSTONE_SIZE, () => {}));
}

/**
 * Bytes of the keydir per key: keys inserted one at a time in random or in
 * sorted order, or bulk-built from a hint as open does. One order per process,
 * so nothing of another run is counted.
 */
function keydirMemory(order: string): Record<string, unknown> {
  let hint: Buffer | undefined;
  if (order === "bulk") {
    const w = new HintWriter(1);
    for (let i = 0; i < N; i++) w.add(RecordType.Put, key(i), 0, 16, VALUE_BYTES, 32 + i * 156, i + 1);
    hint = w.finish(2 ** 40);
  }
  const idx = Array.from({ length: N }, (_, i) => i);
  if (order === "sorted") idx.sort((a, b) => Buffer.compare(key(a), key(b)));
  gc();
  const m0 = process.memoryUsage();
  let kd = new Keydir();
  const t = performance.now();
  if (hint !== undefined) {
    bulkBuild(kd, hint);
  } else {
    for (const i of idx) kd.set(key(i), 0, 16, 1, i * 156, VALUE_BYTES, i + 1);
  }
  const insertUs = ((performance.now() - t) * 1000) / N;
  gc(); // the hint stays referenced until after this, so only the keydir is counted
  const m1 = process.memoryUsage();
  const bytes = m1.heapUsed + m1.arrayBuffers - (m0.heapUsed + m0.arrayBuffers);
  const t2 = performance.now();
  for (let i = 0; i < N; i++) kd.get(key(getOrder[i]));
  const getUs = ((performance.now() - t2) * 1000) / N;
  const size = kd.size;
  const hintBytes = hint?.length ?? 0; // read after m1: the hint was alive at both measurements
  kd = new Keydir();
  return {
    engine: "keydir",
    order,
    keys: N,
    size,
    bytesPerKey: Math.round((bytes / N) * 10) / 10,
    insertUs: Math.round(insertUs * 100) / 100,
    getUs: Math.round(getUs * 100) / 100,
    hintMb: mb(hintBytes),
  };
}

const result =
  args.engine === "keydir"
    ? keydirMemory(args.order!)
    : await runEngine(args.engine!, args.dir!, args.phase!);
process.stdout.write(`${JSON.stringify(result)}\n`);
