import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import {
  Bitcask,
  BitcaskCorruptionError,
  type BitcaskOptions,
  MERGE_FAILPOINTS,
} from "../../src/bitcask/index.ts";
import { assertContents, b, copyStore, quietLogger, rng, withDir } from "./helpers.ts";

const small: BitcaskOptions = { maxFileBytes: 4096, sync: "none", ioChunkBytes: 4096 };

/** Many overwrites and deletes over a few files; returns the open store and its model. */
async function churn(dir: string, opts: BitcaskOptions = {}, rounds = 600) {
  const db = await Bitcask.open(dir, { ...small, logger: quietLogger(), ...opts });
  const model = new Map<string, string>();
  const rand = rng(5);
  for (let i = 0; i < rounds; i++) {
    const k = `key-${Math.floor(rand() * 60)}`;
    if (rand() < 0.2) {
      await db.delete(b(k));
      model.delete(k);
    } else {
      const v = `v${i}-${"x".repeat(Math.floor(rand() * 40))}`;
      await db.put(b(k), b(v));
      model.set(k, v);
    }
  }
  return { db, model };
}

function leftovers(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((n) => n.endsWith(".merge") || n.endsWith(".tmp") || n.startsWith("MERGE"));
}

test("merge reclaims overwritten and deleted values and keeps every live one, also after reopen", () =>
  withDir(async (dir) => {
    const { db, model } = await churn(dir);
    const before = db.stats();
    const r = await db.merge();
    const after = db.stats();
    assert.ok(r.inputFiles.length >= 5);
    assert.ok(after.totalBytes < before.totalBytes / 2, `${before.totalBytes} -> ${after.totalBytes}`);
    assert.equal(after.liveBytes, before.liveBytes, "live bytes move, none are lost");
    for (const f of after.dataFiles) {
      if (f.kind === "merge") assert.ok(f.sealed && f.hasHint);
    }
    assert.equal(r.tombstonesKept, 0, "nothing older remains outside the merge, so no tombstone is needed");
    assertContents(db, model);
    await db.close();
    assert.deepEqual(leftovers(dir), []);
    const again = await Bitcask.open(dir);
    assert.equal(again.stats().filesScanned, 0, "merge outputs open from their hints");
    assertContents(again, model);
    await again.close();
  }));

test("a partial merge keeps a tombstone that hides an older value outside it; a full merge drops it", () =>
  withDir(async (dir) => {
    const db = await Bitcask.open(dir, { ...small, logger: quietLogger() });
    const pad = Buffer.alloc(2000);
    await db.put(b("victim"), b("old"));
    await db.put(b("p1"), pad);
    await db.put(b("p2"), pad); // rolls over: "victim" stays behind in file 1
    await db.delete(b("victim"));
    await db.put(b("p3"), pad);
    await db.put(b("p4"), pad); // files: 1 victim p1, 2 p2 tombstone, 3 p3, 4 p4 (active)
    const s = db.stats();
    assert.deepEqual(
      s.dataFiles.map((f) => f.id),
      [1, 2, 3, 4],
    );
    const tombFile = 2;
    const partial = await db.merge({ fileIds: [tombFile] });
    assert.equal(partial.tombstonesKept, 1);
    await db.close();
    let again = await Bitcask.open(dir, small);
    assert.equal(again.get(b("victim")), undefined, "the old value stays hidden");
    const full = await again.merge();
    assert.equal(full.tombstonesKept, 0);
    await again.close();
    again = await Bitcask.open(dir, small);
    assert.equal(again.get(b("victim")), undefined);
    assertContents(
      again,
      new Map([
        ["p1", pad.toString("latin1")],
        ["p2", pad.toString("latin1")],
        ["p3", pad.toString("latin1")],
        ["p4", pad.toString("latin1")],
      ]),
    );
    await again.close();
  }));

test("reads and writes go on while a merge runs, and the result holds every write", () =>
  withDir(async (dir) => {
    const { db, model } = await churn(dir, {}, 1500);
    let mergeDone = false;
    const merging = db.merge().then((r) => {
      mergeDone = true;
      return r;
    });
    let writesDuringMerge = 0;
    const rand = rng(77);
    for (let i = 0; !mergeDone && i < 100_000; i++) {
      const k = `key-${Math.floor(rand() * 80)}`;
      if (rand() < 0.2) {
        await db.delete(b(k));
        model.delete(k);
      } else {
        await db.put(b(k), b(`during-${i}`));
        model.set(k, `during-${i}`);
      }
      const probe = `key-${Math.floor(rand() * 80)}`;
      assert.equal(
        db.get(b(probe)) === undefined ? undefined : Buffer.from(db.get(b(probe))!).toString(),
        model.get(probe),
      );
      writesDuringMerge++;
    }
    await merging;
    assert.ok(writesDuringMerge > 10, `only ${writesDuringMerge} writes interleaved with the merge`);
    assertContents(db, model);
    await db.close();
    const again = await Bitcask.open(dir);
    assertContents(again, model);
    await again.close();
  }));

for (const point of MERGE_FAILPOINTS) {
  test(`a crash at ${point} leaves a store with exactly the same contents`, () =>
    withDir(async (dir) => {
      const crashDir = path.join(dir, "crash");
      const store = path.join(dir, "store");
      const { db, model } = await churn(store, {
        hooks: {
          failpoint: (name) => {
            if (name !== point) return;
            copyStore(store, crashDir);
            throw new Error(`injected crash at ${name}`);
          },
        },
      });
      await assert.rejects(db.merge(), /injected crash/);
      const committed = MERGE_FAILPOINTS.indexOf(point) >= MERGE_FAILPOINTS.indexOf("merge:committed");
      if (committed) {
        await assert.rejects(db.put(b("x"), b("y")), { code: "Failed" });
      } else {
        assertContents(db, model, "the running store is untouched by a failed merge");
        await db.put(b("after"), b("1"));
        model.set("after", "1");
      }
      await db.close();
      if (committed) assert.ok(leftovers(store).includes("MERGE"), "the manifest stays for open to finish");
      else assert.deepEqual(leftovers(store), [], "a failed merge cleans up after itself");

      const log = quietLogger();
      const fromCrash = await Bitcask.open(crashDir, { logger: log });
      const crashModel = new Map(model);
      if (!committed) crashModel.delete("after");
      assertContents(fromCrash, crashModel, `reopened after a crash at ${point}`);
      assert.equal(
        log.lines.some((l) => /finished a merge/.test(l.msg)),
        committed,
        "a committed merge is rolled forward, an uncommitted one discarded",
      );
      assert.deepEqual(leftovers(crashDir), []);
      await fromCrash.close();

      const original = await Bitcask.open(store, { logger: quietLogger() });
      assertContents(original, model);
      await original.close();
    }));
}

test("close() during a merge cancels it; nothing changes on disk", () =>
  withDir(async (dir) => {
    const { db, model } = await churn(dir, { ioChunkBytes: 4096 }, 1500);
    const files = fs.readdirSync(dir).filter((n) => n.endsWith(".data")).length;
    const merging = db.merge();
    await new Promise((r) => setImmediate(r));
    await db.close();
    await assert.rejects(merging, { code: "MergeAborted" });
    assert.deepEqual(leftovers(dir), []);
    const again = await Bitcask.open(dir);
    assert.equal(again.stats().files, files, "the same files");
    assertContents(again, model);
    await again.close();
  }));

test("merge refuses a second merge, and inputs that are not immutable files", () =>
  withDir(async (dir) => {
    const { db } = await churn(dir);
    const first = db.merge();
    await assert.rejects(db.merge(), { code: "MergeInProgress" });
    await first;
    await assert.rejects(db.merge({ fileIds: [db.stats().activeFileId!] }), { code: "InvalidOption" });
    await assert.rejects(db.merge({ fileIds: [999] }), /merge input 999 is not an immutable data file/);
    await db.close();
  }));

test("merging files whose records are all dead leaves no output and deletes them", () =>
  withDir(async (dir) => {
    const db = await Bitcask.open(dir, small);
    for (let i = 0; i < 100; i++) await db.put(b(`k${i}`), Buffer.alloc(50));
    for (let i = 0; i < 100; i++) await db.delete(b(`k${i}`));
    await db.close();
    const again = await Bitcask.open(dir, small);
    const r = await again.merge();
    assert.deepEqual(r.outputFiles, []);
    assert.equal(again.stats().files, 0, "nothing is left");
    await again.close();
    const third = await Bitcask.open(dir, small);
    assert.equal(third.stats().keys, 0);
    await third.close();
  }));

test("a committed merge whose output is missing fails open with a corruption error", () =>
  withDir(async (dir) => {
    const crashDir = path.join(dir, "crash");
    const store = path.join(dir, "store");
    const { db } = await churn(store, {
      hooks: {
        failpoint: (name) => {
          if (name === "merge:committed") copyStore(store, crashDir);
        },
      },
    });
    await db.merge();
    await db.close();
    const outputs = fs.readdirSync(crashDir).filter((n) => n.endsWith(".data.merge"));
    assert.ok(outputs.length > 0);
    fs.unlinkSync(path.join(crashDir, outputs[0]));
    await assert.rejects(Bitcask.open(crashDir), (err: unknown) => {
      assert.ok(err instanceof BitcaskCorruptionError);
      assert.match(err.message, /committed merge output should be \d+ bytes, found no file/);
      return true;
    });
  }));

test("a merge finishes while a writer keeps writing synced batches (fsyncs always in flight)", () =>
  withDir(async (dir) => {
    const { db, model } = await churn(dir, { sync: "always" }, 800);
    let done = false;
    const merging = db.merge().finally(() => {
      done = true;
    });
    let i = 0;
    for (; !done && i < 20_000; i++) {
      await db.writeBatch([{ type: "put", key: b(`hot-${i % 10}`), value: b(`${i}`) }]);
      model.set(`hot-${i % 10}`, `${i}`);
    }
    assert.ok(done, `the merge did not finish during ${i} synced writes`);
    await merging;
    assertContents(db, model);
    await db.close();
  }));
