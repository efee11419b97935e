import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { Bitcask, BitcaskError, prefixEnd } from "../../src/bitcask/index.ts";
import { assertContents, b, dataFiles, quietLogger, rng, withDir } from "./helpers.ts";

const EMPTY = new Uint8Array(0);

async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test("put then get returns the value; a delete hides it, also after reopen", () =>
  withDir(async (dir) => {
    let db = await Bitcask.open(dir);
    await db.put(b("a"), b("1"));
    await db.put(b("b"), b("2"));
    await db.put(b("a"), b("3"));
    await db.delete(b("b"));
    await db.delete(b("never-there"));
    assert.equal(Buffer.from(db.get(b("a"))!).toString(), "3");
    assert.equal(db.get(b("b")), undefined);
    assert.equal(db.has(b("a")), true);
    await db.close();
    db = await Bitcask.open(dir);
    assertContents(db, new Map([["a", "3"]]));
    await db.close();
  }));

test("a batch applies in order and is visible as soon as writeBatch returns its promise", () =>
  withDir(async (dir) => {
    const db = await Bitcask.open(dir);
    const p = db.writeBatch([
      { type: "put", key: b("k"), value: b("first") },
      { type: "put", key: b("j"), value: b("x") },
      { type: "delete", key: b("j") },
      { type: "put", key: b("k"), value: b("second") },
      { type: "put", key: b("empty"), value: EMPTY },
    ]);
    assert.equal(Buffer.from(db.get(b("k"))!).toString(), "second", "visible before the fsync");
    await p;
    assertContents(
      db,
      new Map([
        ["empty", ""],
        ["k", "second"],
      ]),
    );
    await db.writeBatch([]);
    await db.close();
  }));

test("rolloverBytes seals files sooner, and a batch larger than it still goes whole into a fresh file", () =>
  withDir(async (dir) => {
    const db = await Bitcask.open(dir, { maxFileBytes: 64 * 1024, rolloverBytes: 4096, sync: "none" });
    const model = new Map<string, string>();
    for (let i = 0; i < 200; i++) {
      const k = `key-${i % 90}`;
      const v = `value-${i}-${"x".repeat(i % 40)}`;
      await db.put(b(k), b(v));
      model.set(k, v);
    }
    const big = Array.from({ length: 40 }, (_, i) => ({
      type: "put" as const,
      key: b(`big-${i}`),
      value: b("y".repeat(300)),
    }));
    await db.writeBatch(big);
    for (const op of big) model.set(Buffer.from(op.key).toString(), "y".repeat(300));
    const s = db.stats();
    assert.ok(s.files >= 5, `expected several files, got ${s.files}`);
    const sizes = s.dataFiles.map((f) => f.bytes);
    // Every file but the one holding the big batch stays within rolloverBytes; that one is larger, and whole.
    assert.equal(sizes.filter((n) => n > 4096).length, 1, `file sizes ${sizes}`);
    assert.ok(s.dataFiles.every((f) => f.bytes <= 64 * 1024));
    assertContents(db, model);
    await db.close();
    const again = await Bitcask.open(dir, { maxFileBytes: 64 * 1024, rolloverBytes: 4096, sync: "none" });
    assertContents(again, model);
    await again.close();
  }));

test("the active file rolls over before it would pass maxFileBytes; sealed files get hints", () =>
  withDir(async (dir) => {
    const db = await Bitcask.open(dir, { maxFileBytes: 4096, sync: "none" });
    const model = new Map<string, string>();
    for (let i = 0; i < 300; i++) {
      const k = `key-${i % 120}`;
      const v = `value-${i}-${"x".repeat(i % 50)}`;
      await db.put(b(k), b(v));
      model.set(k, v);
    }
    const s = db.stats();
    assert.ok(s.files >= 5, `expected several files, got ${s.files}`);
    for (const f of s.dataFiles) assert.ok(f.bytes <= 4096, `file ${f.id} has ${f.bytes} bytes`);
    for (const f of s.dataFiles) assert.equal(f.sealed, f.id !== s.activeFileId);
    await until(() => db.stats().dataFiles.every((f) => f.hasHint || f.id === s.activeFileId), "hints");
    assertContents(db, model);
    await db.close();
    for (const name of dataFiles(dir))
      assert.ok(fs.existsSync(path.join(dir, name.replace(".data", ".hint"))));
  }));

test("range walks [start, end) in order, reverse and limit apply, an empty end is unbounded", () =>
  withDir(async (dir) => {
    const db = await Bitcask.open(dir, { sync: "none", maxFileBytes: 8192 });
    const rand = rng(3);
    const model = new Map<string, string>();
    for (let i = 0; i < 400; i++) {
      const k = Buffer.from([
        Math.floor(rand() * 8),
        Math.floor(rand() * 8),
        Math.floor(rand() * 8),
      ]).subarray(0, 1 + Math.floor(rand() * 3));
      const key = k.toString("latin1");
      if (rand() < 0.25) {
        await db.delete(k);
        model.delete(key);
      } else {
        await db.put(k, b(`v${i}`));
        model.set(key, `v${i}`);
      }
    }
    const sorted = [...model.keys()].sort((x, y) =>
      Buffer.compare(Buffer.from(x, "latin1"), Buffer.from(y, "latin1")),
    );
    for (let q = 0; q < 100; q++) {
      const start = Buffer.from([Math.floor(rand() * 8), Math.floor(rand() * 8)]);
      const end = rand() < 0.3 ? Buffer.alloc(0) : Buffer.from([Math.floor(rand() * 8)]);
      const reverse = rand() < 0.5;
      const limit = rand() < 0.5 ? undefined : Math.floor(rand() * 10);
      let want = sorted.filter(
        (k) =>
          Buffer.compare(Buffer.from(k, "latin1"), start) >= 0 &&
          (end.length === 0 || Buffer.compare(Buffer.from(k, "latin1"), end) < 0),
      );
      assert.equal(db.count(start, end), want.length);
      if (reverse) want = want.reverse();
      if (limit !== undefined) want = want.slice(0, limit);
      const got = [...db.range(start, end, { reverse, limit })];
      assert.deepEqual(
        got.map((e) => Buffer.from(e.key).toString("latin1")),
        want,
        `range ${start.toString("hex")}..${end.toString("hex")} reverse=${reverse} limit=${limit}`,
      );
      for (const e of got)
        assert.equal(Buffer.from(e.value).toString(), model.get(Buffer.from(e.key).toString("latin1")));
      // Reading ahead (values in file order, neighbours in one read) changes nothing the caller sees.
      const readAhead = 2 + Math.floor(rand() * 40);
      const ahead = [...db.range(start, end, { reverse, limit, readAhead })];
      assert.deepEqual(
        ahead.map((e) => [Buffer.from(e.key).toString("latin1"), Buffer.from(e.value).toString()]),
        got.map((e) => [Buffer.from(e.key).toString("latin1"), Buffer.from(e.value).toString()]),
        `readAhead ${readAhead}`,
      );
    }
    const keysOnly = [...db.range(EMPTY, EMPTY, { keysOnly: true })];
    assert.equal(keysOnly.length, model.size);
    assert.ok(keysOnly.every((e) => e.value.length === 0));
    await db.close();
  }));

test("a range that reads ahead still checks every record and names the damaged file and offset", () =>
  withDir(async (dir) => {
    const db = await Bitcask.open(dir, { sync: "none" });
    for (let i = 0; i < 50; i++) await db.put(b(`k${String(i).padStart(2, "0")}`), b(`value-${i}`));
    await db.close();
    const [file] = dataFiles(dir);
    const bytes = fs.readFileSync(path.join(dir, file));
    const at = bytes.indexOf(Buffer.from("value-37"));
    bytes[at + 6] ^= 0xff;
    fs.writeFileSync(path.join(dir, file), bytes);
    const again = await Bitcask.open(dir, { sync: "none", logger: quietLogger() });
    try {
      assert.throws(
        () => [...again.range(EMPTY, EMPTY, { readAhead: 16 })],
        (e: unknown) => (e as Error).message.includes(file) && /checksum/.test((e as Error).message),
      );
    } finally {
      await again.close();
    }
  }));

test("prefix scans cover exactly the keys with the prefix, 0xff bytes included", () =>
  withDir(async (dir) => {
    const db = await Bitcask.open(dir, { sync: "none" });
    const keys = [
      [0x61],
      [0x61, 0x00],
      [0x61, 0xff],
      [0x61, 0xff, 0xff],
      [0x62],
      [0xff],
      [0xff, 0xff, 0x01],
      [0x60, 0xff],
    ];
    for (const k of keys) await db.put(Buffer.from(k), b("v"));
    const scan = (p: number[], reverse = false) =>
      [...db.prefix(Buffer.from(p), { reverse })].map((e) => Buffer.from(e.key).toString("hex"));
    assert.deepEqual(scan([0x61]), ["61", "6100", "61ff", "61ffff"]);
    assert.deepEqual(scan([0x61, 0xff], true), ["61ffff", "61ff"]);
    assert.deepEqual(scan([0xff]), ["ff", "ffff01"]);
    assert.equal(scan([]).length, keys.length);
    assert.deepEqual([...prefixEnd(Buffer.from([0x61, 0xff]))], [0x62]);
    assert.deepEqual([...prefixEnd(Buffer.from([0xff, 0xff]))], []);
    await db.close();
  }));

test("limits are enforced with a coded error naming the value, and nothing is written", () =>
  withDir(async (dir) => {
    const db = await Bitcask.open(dir, {
      maxKeyBytes: 8,
      maxValueBytes: 16,
      maxBatchOps: 3,
      maxBatchBytes: 150,
    });
    const reject = async (p: Promise<unknown>, code: string, re: RegExp) => {
      await assert.rejects(p, (err: unknown) => {
        assert.ok(err instanceof BitcaskError);
        assert.equal(err.code, code);
        assert.match(err.message, re);
        return true;
      });
    };
    await reject(db.put(EMPTY, b("v")), "KeyEmpty", /empty key/);
    await reject(db.put(b("123456789"), b("v")), "KeyTooLarge", /key of 9 bytes exceeds maxKeyBytes 8/);
    await reject(
      db.put(b("k"), Buffer.alloc(17)),
      "ValueTooLarge",
      /value of 17 bytes exceeds maxValueBytes 16/,
    );
    const four = [1, 2, 3, 4].map((i) => ({ type: "delete" as const, key: b(`k${i}`) }));
    await reject(db.writeBatch(four), "BatchTooLarge", /batch of 4 operations exceeds maxBatchOps 3/);
    const big = [1, 2, 3].map((i) => ({ type: "put" as const, key: b(`key${i}`), value: Buffer.alloc(16) }));
    await reject(db.writeBatch(big), "BatchTooLarge", /batch of 180 bytes exceeds maxBatchBytes 150/);
    await reject(
      db.writeBatch([
        { type: "put", key: b("ok"), value: b("v") },
        { type: "put", key: b("toolongkey"), value: b("v") },
      ]),
      "KeyTooLarge",
      /operation 1/,
    );
    assert.equal(db.stats().keys, 0, "a rejected batch writes nothing, not even its valid part");
    await db.close();
  }));

test("options out of range are refused naming the option and the value", async () => {
  await assert.rejects(
    Bitcask.open("/nonexistent-never-created", { maxFileBytes: 100 }),
    /maxFileBytes .* got 100/,
  );
  await assert.rejects(
    Bitcask.open("/nonexistent-never-created", { maxKeyBytes: 0 }),
    /maxKeyBytes .* got 0/,
  );
  await assert.rejects(
    Bitcask.open("/nonexistent-never-created", { sync: "sometimes" as never }),
    /sync must be always\|interval\|none, got sometimes/,
  );
});

test("stats count live and dead bytes: overwrites and deletes turn live bytes dead", () =>
  withDir(async (dir) => {
    const db = await Bitcask.open(dir, { sync: "none" });
    const rec = (k: number, v: number) => 40 + k + v;
    await db.put(b("aa"), Buffer.alloc(10));
    let s = db.stats();
    assert.equal(s.liveBytes, rec(2, 10));
    assert.equal(s.deadBytes, 32, "only the file header");
    await db.put(b("aa"), Buffer.alloc(20));
    s = db.stats();
    assert.equal(s.liveBytes, rec(2, 20));
    assert.equal(s.deadBytes, 32 + rec(2, 10));
    await db.delete(b("aa"));
    s = db.stats();
    assert.equal(s.liveBytes, 0);
    assert.equal(s.deadBytes, 32 + rec(2, 10) + rec(2, 20) + rec(2, 0));
    assert.equal(s.keys, 0);
    await db.close();
    const again = await Bitcask.open(dir, { sync: "none" });
    assert.equal(again.stats().liveBytes, 0, "the same accounting after reopen");
    await again.close();
  }));

test("a closed store refuses reads and writes with code Closed; close is idempotent", () =>
  withDir(async (dir) => {
    const db = await Bitcask.open(dir);
    await db.put(b("k"), b("v"));
    await db.close();
    await db.close();
    assert.throws(() => db.get(b("k")), { code: "Closed" });
    assert.throws(() => [...db.range(EMPTY)], { code: "Closed" });
    await assert.rejects(db.put(b("k"), b("v")), { code: "Closed" });
    await assert.rejects(db.merge(), { code: "Closed" });
  }));

test("a directory open in this process cannot be opened again until closed", () =>
  withDir(async (dir) => {
    const db = await Bitcask.open(dir);
    await assert.rejects(Bitcask.open(dir), { code: "Locked" });
    await db.close();
    const again = await Bitcask.open(dir);
    await again.close();
  }));

test("a lock held by another live process is respected; a dead one's is taken over", () =>
  withDir(async (dir) => {
    fs.writeFileSync(path.join(dir, "LOCK"), `${process.ppid}\n`);
    await assert.rejects(Bitcask.open(dir), (err: unknown) => {
      assert.ok(err instanceof BitcaskError && err.code === "Locked");
      assert.match(err.message, new RegExp(`process ${process.ppid}`));
      return true;
    });
    fs.writeFileSync(path.join(dir, "LOCK"), "999999999\n");
    const db = await Bitcask.open(dir, { logger: quietLogger() });
    await db.close();
    assert.equal(fs.existsSync(path.join(dir, "LOCK")), false);
  }));

test("timestamps come from the injected clock and seqs keep increasing across reopen", () =>
  withDir(async (dir) => {
    let db = await Bitcask.open(dir, { now: () => 1234 });
    await db.writeBatch([
      { type: "put", key: b("a"), value: b("1") },
      { type: "put", key: b("b"), value: b("2") },
    ]);
    const seq = db.stats().nextSeq;
    await db.close();
    const file = path.join(dir, dataFiles(dir)[0]);
    const bytes = fs.readFileSync(file);
    assert.equal(bytes.readUInt32LE(32 + 32), 1234, "the first record's timestamp");
    db = await Bitcask.open(dir);
    assert.equal(db.stats().nextSeq, seq);
    await db.put(b("c"), b("3"));
    assert.equal(db.stats().nextSeq, seq + 1);
    await db.close();
  }));
