import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { Bitcask, BitcaskCorruptionError, type BitcaskOptions } from "../../src/bitcask/index.ts";
import { SimFs } from "../../src/sim/fs.ts";
import { assertContents, b, copyStore, dataFiles, quietLogger, withDir } from "./helpers.ts";

/** Write `n` batches of two puts each; returns the model and the store (still open). */
async function fill(dir: string, n: number, opts: BitcaskOptions = {}) {
  const db = await Bitcask.open(dir, { maxFileBytes: 4096, logger: quietLogger(), ...opts });
  const model = new Map<string, string>();
  for (let i = 0; i < n; i++) {
    const k1 = `k${i % 40}`;
    const k2 = `j${i}`;
    await db.writeBatch([
      { type: "put", key: b(k1), value: b(`v${i}`) },
      { type: "put", key: b(k2), value: b(`w${i}`) },
    ]);
    model.set(k1, `v${i}`).set(k2, `w${i}`);
  }
  return { db, model };
}

function expectCorruption(file: RegExp, offset?: number) {
  return (err: unknown) => {
    assert.ok(err instanceof BitcaskCorruptionError, `expected BitcaskCorruptionError, got ${String(err)}`);
    assert.match(err.file, file);
    if (offset !== undefined) assert.equal(err.offset, offset);
    assert.match(err.message, /at offset \d+/);
    return true;
  };
}

test("open loads sealed files from their hints and never reads their data", () =>
  withDir(async (dir) => {
    const { db, model } = await fill(dir, 200);
    await db.close();
    const files = dataFiles(dir);
    assert.ok(files.length >= 4);
    const loads: string[] = [];
    let again = await Bitcask.open(dir, { hooks: { onLoad: (id, src) => loads.push(`${id}:${src}`) } });
    assert.deepEqual(
      loads,
      files.map((f) => `${Number(f.slice(0, 6))}:hint`),
    );
    assert.equal(again.stats().filesScanned, 0);
    assertContents(again, model);
    await again.close();
    // Proof by destruction: zero every record byte (sizes unchanged, so hints still match).
    // Open still finds every key, so it read only hints; reading a value now hits the damage.
    for (const f of dataFiles(dir)) {
      const p = path.join(dir, f);
      const size = fs.statSync(p).size;
      const fd = fs.openSync(p, "r+");
      fs.writeSync(fd, Buffer.alloc(size - 32), 0, size - 32, 32);
      fs.closeSync(fd);
    }
    again = await Bitcask.open(dir);
    assert.equal(again.stats().keys, model.size);
    assert.throws(() => again.get(b("k1")), expectCorruption(/\.data$/));
    await again.close();
  }));

test("a damaged or missing hint is ignored with a warning; the data file is scanned and the hint rewritten", () =>
  withDir(async (dir) => {
    const { db, model } = await fill(dir, 100);
    await db.close();
    const hints = fs
      .readdirSync(dir)
      .filter((n) => n.endsWith(".hint"))
      .sort();
    const damaged = path.join(dir, hints[0]);
    const bytes = fs.readFileSync(damaged);
    bytes[bytes.length - 3] ^= 0x20;
    fs.writeFileSync(damaged, bytes);
    fs.copyFileSync(path.join(dir, hints[2]), path.join(dir, hints[1])); // another file's hint: wrong id
    fs.unlinkSync(path.join(dir, hints[2]));
    const log = quietLogger();
    const loads: string[] = [];
    const again = await Bitcask.open(dir, {
      logger: log,
      hooks: { onLoad: (id, src) => loads.push(`${id}:${src}`) },
    });
    assert.equal(loads.filter((l) => l.endsWith(":scan")).length, 3);
    assert.ok(
      log.lines.some((l) => /ignoring unusable hint/.test(l.msg) && /checksum/.test(String(l.fields.reason))),
    );
    assert.ok(log.lines.some((l) => /describes data file/.test(String(l.fields.reason))));
    assertContents(again, model);
    await again.close();
    const loads2: string[] = [];
    const third = await Bitcask.open(dir, { hooks: { onLoad: (id, src) => loads2.push(`${id}:${src}`) } });
    assert.ok(
      loads2.every((l) => l.endsWith(":hint")),
      "the scan rewrote the hints",
    );
    await third.close();
  }));

test("a torn last batch of the newest file is cut away with a warning; every complete batch survives", () =>
  withDir(async (dir) => {
    const { db, model } = await fill(dir, 30, { maxFileBytes: 1 << 20 });
    const last = dataFiles(dir).at(-1)!;
    const crash = `${dir}/crash`;
    copyStore(dir, crash);
    await db.close();
    const file = path.join(crash, last);
    const full = fs.statSync(file).size;
    // The last batch is two records of ~49 bytes each: cut inside its second record.
    fs.truncateSync(file, full - 10);
    const log = quietLogger();
    const again = await Bitcask.open(crash, { logger: log });
    const warn = log.lines.find((l) => /torn write/.test(l.msg));
    assert.ok(warn, "a warning names the torn write");
    assert.equal(warn.fields.file, file);
    assert.equal(typeof warn.fields.offset, "number");
    // The last batch, i = 29, wrote k29 and j29 for the first time: both are gone.
    model.delete("j29");
    model.delete("k29");
    assertContents(again, model);
    await again.close();
  }));

test("a damaged record followed by later batches in the newest file fails open, naming file and offset", () =>
  withDir(async (dir) => {
    const { db } = await fill(dir, 20, { maxFileBytes: 1 << 20 });
    const crash = `${dir}/crash`;
    copyStore(dir, crash);
    await db.close();
    const file = path.join(crash, dataFiles(crash).at(-1)!);
    const bytes = fs.readFileSync(file);
    // First record starts right after the 32-byte file header; damage its value.
    bytes[32 + 40 + 3] ^= 0xff;
    fs.writeFileSync(file, bytes);
    await assert.rejects(Bitcask.open(crash, { logger: quietLogger() }), expectCorruption(/\.data$/, 32));
  }));

test("a damaged record in an older file without a hint fails open; with a hint, the read fails", () =>
  withDir(async (dir) => {
    const { db } = await fill(dir, 100);
    await db.close();
    const first = path.join(dir, dataFiles(dir)[0]);
    const bytes = fs.readFileSync(first);
    // The second record (key "j0", never overwritten) follows the 44-byte record k0=v0.
    const at = 32 + 44;
    assert.equal(bytes.toString("latin1", at + 40, at + 42), "j0");
    bytes[at + 41] ^= 0x01;
    fs.writeFileSync(first, bytes);
    const withHint = await Bitcask.open(dir);
    assert.throws(() => [...withHint.range(new Uint8Array(0))], expectCorruption(/000001\.data$/, at));
    await withHint.close();
    fs.unlinkSync(first.replace(".data", ".hint"));
    await assert.rejects(Bitcask.open(dir), expectCorruption(/000001\.data$/, at));
  }));

test("an older file cut at a record boundary fails open: its seal is missing", () =>
  withDir(async (dir) => {
    const { db } = await fill(dir, 100);
    await db.close();
    const first = path.join(dir, dataFiles(dir)[0]);
    fs.truncateSync(first, fs.statSync(first).size - 40); // exactly the seal record
    await assert.rejects(
      Bitcask.open(dir, { logger: quietLogger() }),
      (err: unknown) =>
        expectCorruption(/000001\.data$/)(err) && /without a seal/.test((err as Error).message),
    );
  }));

test("bytes after the seal of a file fail open", () =>
  withDir(async (dir) => {
    const { db } = await fill(dir, 10);
    await db.close();
    const last = path.join(dir, dataFiles(dir).at(-1)!);
    const size = fs.statSync(last).size;
    fs.appendFileSync(last, Buffer.alloc(7));
    fs.unlinkSync(last.replace(".data", ".hint"));
    await assert.rejects(Bitcask.open(dir), expectCorruption(/\.data$/, size));
  }));

test("after a crash, open cuts a zeroed tail, seals the old active file and writes to a new one", () =>
  withDir(async (dir) => {
    const { db, model } = await fill(dir, 10, { maxFileBytes: 1 << 20 });
    const crash = `${dir}/crash`;
    copyStore(dir, crash);
    const seq = db.stats().nextSeq;
    await db.close();
    const active = path.join(crash, dataFiles(crash).at(-1)!);
    fs.appendFileSync(active, Buffer.alloc(4096)); // preallocated, never-written blocks
    const log = quietLogger();
    const again = await Bitcask.open(crash, { logger: log });
    assert.ok(log.lines.some((l) => /torn write/.test(l.msg)));
    let s = again.stats();
    assert.equal(s.files, 1);
    assert.ok(s.dataFiles[0].sealed && s.dataFiles[0].hasHint);
    assert.equal(s.activeFileId, undefined, "no file is created until the first write");
    assert.equal(s.nextSeq, seq);
    await again.put(b("new"), b("1"));
    model.set("new", "1");
    s = again.stats();
    assert.equal(s.files, 2);
    assert.equal(s.activeFileId, s.dataFiles[1].id);
    assertContents(again, model);
    await again.close();
  }));

test("temp files and uncommitted merge outputs left by a crash are deleted at open", () =>
  withDir(async (dir) => {
    const { db, model } = await fill(dir, 20);
    await db.close();
    for (const name of [
      "000099.data.tmp",
      "000098.data.merge",
      "000098.hint.merge",
      "000005.hint.tmp",
      "MERGE.tmp",
    ]) {
      fs.writeFileSync(path.join(dir, name), "junk");
    }
    const again = await Bitcask.open(dir);
    assertContents(again, model);
    await again.close();
    assert.deepEqual(
      fs.readdirSync(dir).filter((n) => n.endsWith(".tmp") || n.endsWith(".merge") || n.startsWith("MERGE")),
      [],
    );
  }));

test("a corrupt data file header fails open naming the file and offset 0", () =>
  withDir(async (dir) => {
    const { db } = await fill(dir, 5);
    await db.close();
    const f = path.join(dir, dataFiles(dir)[0]);
    const bytes = fs.readFileSync(f);
    bytes[6] ^= 1;
    fs.writeFileSync(f, bytes);
    await assert.rejects(Bitcask.open(dir), expectCorruption(/000001\.data$/, 0));
  }));

test("damage in the first record of the last batch, with the batch's later records intact, is a torn write", () =>
  withDir(async (dir) => {
    const db = await Bitcask.open(dir, { logger: quietLogger() });
    await db.put(b("keep"), b("1"));
    await db.writeBatch([
      { type: "put", key: b("a"), value: b("x") },
      { type: "put", key: b("bb"), value: b("y") },
      { type: "delete", key: b("keep") },
    ]);
    const crash = `${dir}/crash`;
    copyStore(dir, crash);
    await db.close();
    const file = path.join(crash, dataFiles(crash).at(-1)!);
    const bytes = fs.readFileSync(file);
    const lastBatch = 32 + 40 + 4 + 1;
    assert.equal(bytes.toString("latin1", lastBatch + 40, lastBatch + 41), "a");
    bytes[lastBatch + 2] ^= 0x40; // inside the header checksum of the batch's first record
    fs.writeFileSync(file, bytes);
    const log = quietLogger();
    const again = await Bitcask.open(crash, { logger: log });
    assert.ok(log.lines.some((l) => /torn write/.test(l.msg) && l.fields.offset === lastBatch));
    assertContents(again, new Map([["keep", "1"]]));
    await again.close();
  }));

test("a data file sealed by a process whose fdatasync failed is made durable at the next open, before anything is written after it", async () => {
  let failSync = false;
  const sim = new SimFs({
    rand: () => 0, // a power loss keeps nothing that was not synced
    fault: (op) => (failSync && op === "datasync" ? "EIO" : undefined),
  });
  const opts = (fs: SimFs) => ({ fs, sync: "always" as const, rolloverBytes: 4096, logger: quietLogger() });
  const first = await Bitcask.open("/kv", opts(sim));
  await first.put(Buffer.from("a"), Buffer.alloc(1800, 1));
  await first.put(Buffer.from("b"), Buffer.alloc(1800, 2));
  failSync = true;
  // The next put rolls the file over; the seal's fdatasync fails and the process stops.
  await assert.rejects(first.put(Buffer.from("c"), Buffer.alloc(1800, 3)));
  failSync = false;
  const again = sim.reboot();
  const second = await Bitcask.open("/kv", opts(again));
  await second.put(Buffer.from("d"), Buffer.alloc(1800, 4));
  again.crash("/kv");
  const third = await Bitcask.open("/kv", opts(again.reboot()));
  assert.deepEqual(third.get(Buffer.from("a")), Buffer.alloc(1800, 1));
  assert.deepEqual(third.get(Buffer.from("d")), Buffer.alloc(1800, 4));
  await third.close();
});
