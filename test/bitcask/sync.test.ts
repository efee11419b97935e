import assert from "node:assert/strict";
import fs from "node:fs";
import { test } from "node:test";
import { Bitcask, type BitcaskOptions } from "../../src/bitcask/index.ts";
import { assertContents, b, quietLogger, withDir } from "./helpers.ts";

/**
 * Open a store that counts fsyncs of the active data file, after a first write
 * (which creates the file; the header's fsync is not counted).
 */
async function counted(dir: string, opts: BitcaskOptions) {
  const syncs = { data: 0 };
  const db = await Bitcask.open(dir, {
    ...opts,
    hooks: {
      onSync: (target, file) => {
        if (target === "data" && !file.endsWith(".tmp")) syncs.data++;
      },
    },
  });
  await db.put(b("first"), b("write"));
  await db.sync();
  syncs.data = 0;
  return { db, syncs };
}

/** Count fs.writeSync calls made while `fn` runs. */
async function countWrites(fn: () => Promise<void>): Promise<number> {
  const orig = fs.writeSync;
  let n = 0;
  (fs as { writeSync: unknown }).writeSync = (...args: Parameters<typeof fs.writeSync>) => {
    n++;
    return (orig as (...a: unknown[]) => number)(...args);
  };
  try {
    await fn();
  } finally {
    (fs as { writeSync: unknown }).writeSync = orig;
  }
  return n;
}

const batch = (i: number, n: number) =>
  Array.from({ length: n }, (_, j) => ({
    type: "put" as const,
    key: b(`k${i}-${j}`),
    value: b(`v${i}-${j}`),
  }));

test('sync "always": a batch of 100 puts is one write and one fdatasync', () =>
  withDir(async (dir) => {
    const { db, syncs } = await counted(dir, { sync: "always" });
    const writes = await countWrites(() => db.writeBatch(batch(0, 100)));
    assert.equal(writes, 1);
    assert.equal(syncs.data, 1);
    for (let i = 1; i <= 20; i++) await db.writeBatch(batch(i, 3));
    assert.equal(syncs.data, 21, "one fdatasync per awaited batch");
    await db.close();
  }));

test('sync "always": concurrent batches share fdatasyncs (group commit) and all resolve durable', () =>
  withDir(async (dir) => {
    const { db, syncs } = await counted(dir, { sync: "always" });
    let writes = 0;
    writes = await countWrites(async () => {
      await Promise.all(Array.from({ length: 50 }, (_, i) => db.writeBatch(batch(i, 2))));
    });
    assert.equal(writes, 50, "one write per batch");
    assert.ok(syncs.data >= 1 && syncs.data <= 3, `50 concurrent batches took ${syncs.data} fdatasyncs`);
    assert.equal(db.stats().keys, 101);
    await db.close();
  }));

test('sync "interval": batches resolve without an fsync; one follows within the interval', () =>
  withDir(async (dir) => {
    const { db, syncs } = await counted(dir, { sync: "interval", syncIntervalMs: 20 });
    for (let i = 0; i < 10; i++) await db.writeBatch(batch(i, 2));
    assert.equal(syncs.data, 0);
    const deadline = Date.now() + 5000;
    while (syncs.data === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(syncs.data, 1, "the interval timer synced the dirty file once");
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(syncs.data, 1, "nothing new written: no more fsyncs");
    await db.close();
  }));

test('sync "none": no fsync until sync(), a seal or close', () =>
  withDir(async (dir) => {
    const { db, syncs } = await counted(dir, { sync: "none" });
    for (let i = 0; i < 10; i++) await db.writeBatch(batch(i, 2));
    assert.equal(syncs.data, 0);
    await db.sync();
    assert.equal(syncs.data, 1);
    await db.sync();
    assert.equal(syncs.data, 1, "sync() with nothing new written does nothing");
    await db.close();
    assert.equal(syncs.data, 2, "close seals the active file with one fdatasync");
  }));

test("a failed fdatasync fails every waiting batch and stops writes until reopen", () =>
  withDir(async (dir) => {
    let failNext = false;
    const log = quietLogger();
    const db = await Bitcask.open(dir, {
      sync: "always",
      logger: log,
      hooks: {
        onSync: (target) => {
          if (target === "data" && failNext) throw new Error("EIO: injected fsync failure");
        },
      },
    });
    await db.put(b("a"), b("1"));
    failNext = true;
    await assert.rejects(db.put(b("b"), b("2")), (err: Error & { code?: string }) => {
      assert.equal(err.code, "Failed");
      assert.match(err.message, /fdatasync .* failed .*injected/);
      return true;
    });
    await assert.rejects(db.put(b("c"), b("3")), { code: "Failed" });
    assert.equal(Buffer.from(db.get(b("a"))!).toString(), "1", "reads still work");
    await db.close();
    const again = await Bitcask.open(dir);
    assert.equal(Buffer.from(again.get(b("a"))!).toString(), "1");
    await again.put(b("c"), b("3"));
    await again.close();
  }));

test("a write that fails is rolled back: nothing of the batch remains and the store goes on", () =>
  withDir(async (dir) => {
    const db = await Bitcask.open(dir, { sync: "always" });
    await db.put(b("a"), b("1"));
    const orig = fs.writeSync;
    (fs as { writeSync: unknown }).writeSync = (
      fd: number,
      buf: Uint8Array,
      off: number,
      _len: number,
      pos: number,
    ) => {
      // Write part of the batch, then fail, like a disk filling up.
      orig(fd, buf, off, 10, pos);
      throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
    };
    try {
      await assert.rejects(db.writeBatch(batch(1, 5)), (err: Error & { code?: string }) => {
        assert.equal(err.code, "WriteFailed");
        assert.match(err.message, /ENOSPC/);
        return true;
      });
    } finally {
      (fs as { writeSync: unknown }).writeSync = orig;
    }
    await db.put(b("z"), b("26"));
    await db.close();
    const again = await Bitcask.open(dir);
    assertContents(
      again,
      new Map([
        ["a", "1"],
        ["z", "26"],
      ]),
    );
    await again.close();
  }));
