// The simulated file system (src/sim/fs.ts): its durability rules, and the
// WAL on it under power loss at any asynchronous step and under injected
// ENOSPC and EIO. The WAL must come back with exactly the operations it
// acknowledged (or also the one in flight), never with less, never with
// anything it was not given.

import assert from "node:assert/strict";
import { test } from "node:test";
import { type BatchOp, Bitcask, type BitcaskOptions } from "../../src/bitcask/index.ts";
import { seededRand } from "../../src/raft/rand.ts";
import { SimFs, type SimFsOp } from "../../src/sim/fs.ts";
import { Wal, type WalOptions } from "../../src/wal/index.ts";
import { digest, walView } from "../wal/helpers.ts";
import { applyToWal, Workload } from "../wal/workload.ts";

const never = () => 0;
const quiet = { warn: () => {}, error: () => {} };

async function writeFile(fs: SimFs, file: string, text: string, sync: boolean): Promise<void> {
  const fh = await fs.promises.open(file, "w");
  await fh.write(Buffer.from(text), 0, text.length, 0);
  if (sync) await fh.datasync();
  await fh.close();
}

const read = (fs: SimFs, file: string) => fs.readFileSync(file).toString();

test("sim fs: bytes are durable at fsync, directory entries at the directory's fsync", async () => {
  const fs = new SimFs({ rand: never });
  await fs.promises.mkdir("/m/wal", { recursive: true });
  await writeFile(fs, "/m/wal/a", "synced", true);
  const dir = await fs.promises.open("/m/wal", "r");
  await dir.sync();
  await dir.close();
  await writeFile(fs, "/m/wal/b", "file synced, directory not", true);
  const fh = await fs.promises.open("/m/wal/a", "r+");
  await fh.write(Buffer.from("!!"), 0, 2, 6);
  assert.equal(read(fs, "/m/wal/a"), "synced!!");
  fs.crash("/m");
  assert.equal(read(fs, "/m/wal/a"), "synced", "the unsynced append is gone (rand 0 keeps no change)");
  assert.deepEqual(fs.readdirSync("/m/wal"), ["a"], "a file whose directory was not synced is gone");
  assert.throws(
    () => fs.readSync(fh.fd, Buffer.alloc(1), 0, 1, 0),
    /EBADF/,
    "the crash closed every descriptor",
  );
});

test("sim fs: a crash may keep some of the unsynced writes, in order, the next one torn", async () => {
  const seen = new Set<string>();
  for (let seed = 1; seed <= 200; seed++) {
    const rand = seededRand(seed);
    const fs = new SimFs({ rand: () => rand.float() });
    await fs.promises.mkdir("/d", { recursive: true });
    await writeFile(fs, "/d/f", "", true);
    const dir = await fs.promises.open("/d", "r");
    await dir.sync();
    const fh = await fs.promises.open("/d/f", "r+");
    const parts = ["aaaa", "bbbb", "cccc"];
    for (let i = 0; i < parts.length; i++) await fh.write(Buffer.from(parts[i]), 0, 4, 4 * i);
    fs.crash("/d");
    const got = read(fs, "/d/f");
    assert.ok("aaaabbbbcccc".startsWith(got), `seed ${seed}: ${got} is not a prefix of what was written`);
    seen.add(got);
  }
  assert.ok(seen.has(""), "sometimes nothing survives");
  assert.ok(seen.has("aaaabbbbcccc"), "sometimes everything does");
  assert.ok(
    [...seen].some((s) => s.length % 4 !== 0),
    "sometimes a write is torn",
  );
});

test("sim fs: writes past the capacity fail with ENOSPC and injected faults with their code", async () => {
  let fail: string | undefined;
  const fs = new SimFs({
    rand: never,
    capacityBytes: 10,
    fault: (op) => (op === "datasync" ? fail : undefined),
  });
  await fs.promises.mkdir("/d", { recursive: true });
  const fh = await fs.promises.open("/d/f", "w");
  await fh.write(Buffer.from("0123456789"), 0, 10, 0);
  await assert.rejects(fh.write(Buffer.from("x"), 0, 1, 10), { code: "ENOSPC" });
  await fh.write(Buffer.from("x"), 0, 1, 0);
  fail = "EIO";
  await assert.rejects(fh.datasync(), { code: "EIO" });
});

// ---- the WAL under power loss ----------------------------------------------------

const OPS = 40;
const OPTS: WalOptions = {
  segmentSizeBytes: 2000,
  cacheSizeBytes: 512,
  preallocateBytes: 256,
  logger: () => {},
};
const FAULTS: SimFsOp[] = ["write", "datasync", "sync", "rename", "open"];

/**
 * A sim fs whose asynchronous calls complete only when `run` lets them, one
 * at a time, and that fails one kind of call with EIO or ENOSPC in a third
 * of the seeds. `run(work, steps, dir)` starts `work` (a process using the
 * fs), completes calls until it ends or `steps` calls have completed, lets
 * it go on to its next call, then cuts the power under `dir`: calls in
 * flight never complete (the process is gone). Returns `work`'s error, if any.
 */
function powerRig(seed: number, faultWithin: number) {
  const rand = seededRand(seed);
  const pending: (() => void)[] = [];
  let live = true;
  let fault: { op: SimFsOp; code: string; after: number } | undefined;
  if (rand.int(3) === 0) {
    const op = FAULTS[rand.int(FAULTS.length)];
    fault = { op, code: rand.int(2) === 0 ? "EIO" : "ENOSPC", after: rand.int(faultWithin) };
  }
  let calls = 0;
  const fs = new SimFs({
    rand: () => rand.float(),
    later: (_op, done) => (live ? pending.push(done) : queueMicrotask(done)),
    fault: (op) => {
      if (!live || fault === undefined || op !== fault.op || calls++ < fault.after) return undefined;
      return fault.code;
    },
  });
  const run = async (work: () => Promise<void>, steps: number, dir: string): Promise<string | undefined> => {
    let failed: string | undefined;
    let done = false;
    void work().then(
      () => {
        done = true;
      },
      (e: Error) => {
        failed = e.message;
        done = true;
      },
    );
    for (let n = 0; !done && n < steps; ) {
      await new Promise((r) => setImmediate(r));
      const next = pending.shift();
      if (next === undefined) continue;
      next();
      n++;
    }
    await new Promise((r) => setImmediate(r));
    live = false;
    pending.length = 0;
    fs.crash(dir);
    return failed;
  };
  return { rand, fs, run };
}

/**
 * One seeded run: a workload against a WAL on the sim fs, each asynchronous
 * file-system call completing only when the driver says so; at a random
 * step (or at an injected fault) the power goes out. Returns what the
 * reopened WAL holds and what it may hold.
 */
async function powerLoss(
  seed: number,
): Promise<{ got: string; allowed: string[]; acked: number; fault?: string }> {
  const { rand, fs, run } = powerRig(seed, 40);
  const opts: WalOptions = { ...OPTS, fs };
  const work = new Workload(seededRand(seed * 31 + 7));
  const digests = [digest(work.model)];
  let acked = 0;
  // The member: opens the log, then runs the workload until an operation fails.
  const failed = await run(
    async () => {
      const wal = await Wal.open("/m/wal", opts);
      for (let k = 0; k < OPS; k++) {
        // The state this operation leads to is recorded before it starts: a
        // crash during it may leave either that or the one before.
        const op = work.next();
        work.apply(op);
        digests.push(digest(work.model));
        await applyToWal(wal, op);
        acked++;
      }
    },
    rand.int(600),
    "/m",
  );
  const wal = await Wal.open("/m/wal", { ...OPTS, fs });
  const got = digest(walView(wal));
  await wal.close();
  return { got, allowed: digests.slice(acked, acked + 2), acked, fault: failed };
}

test("the WAL on the sim fs: power loss at any step, ENOSPC or EIO anywhere, loses nothing it acknowledged", async () => {
  const seeds = 150 * Math.max(1, Number(process.env.FLOE_CRASH_SCALE ?? 1));
  let faults = 0;
  let midway = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const r = await powerLoss(seed);
    assert.ok(
      r.allowed.includes(r.got),
      `seed ${seed}: after ${r.acked} acknowledged operations${r.fault ? ` and a failure (${r.fault})` : ""} the reopened log is neither that state nor the next`,
    );
    if (r.fault) faults++;
    if (r.acked > 0 && r.acked < OPS) midway++;
  }
  assert.ok(faults > seeds / 10, `injected faults failed an operation in ${faults} runs`);
  assert.ok(midway > seeds / 3, `power went out mid-workload in ${midway} runs`);
});

// ---- bitcask under power loss ------------------------------------------------------

const KEYS = 12;

/**
 * One seeded run of bitcask (sync "always", small files so rollovers, hints
 * and merges happen) on the sim fs, power lost at a random step: returns
 * the store's contents after reopening, and the contents it may have.
 */
async function bitcaskPowerLoss(seed: number): Promise<{ got: string; allowed: string[]; acked: number }> {
  const { rand, fs, run } = powerRig(seed, 60);
  const opts: BitcaskOptions = { fs, sync: "always", maxFileBytes: 4096, logger: quiet };
  const model = new Map<string, string>();
  const show = () => JSON.stringify([...model].sort());
  const states = [show()];
  let acked = 0;
  const work = seededRand(seed * 17 + 3);
  await run(
    async () => {
      const db = await Bitcask.open("/b", opts);
      for (let k = 0; k < 60; k++) {
        if (work.int(8) === 0) {
          await db.merge();
          continue;
        }
        const ops: BatchOp[] = [];
        for (let n = 1 + work.int(4); n > 0; n--) {
          const key = `k${work.int(KEYS)}`;
          if (work.int(4) === 0) {
            ops.push({ type: "delete", key: Buffer.from(key) });
            model.delete(key);
          } else {
            const value = `${key}-${k}-${"x".repeat(work.int(200))}`;
            ops.push({ type: "put", key: Buffer.from(key), value: Buffer.from(value) });
            model.set(key, value);
          }
        }
        states.push(show());
        await db.writeBatch(ops);
        acked = states.length - 1;
      }
    },
    rand.int(400),
    "/b",
  );
  const db = await Bitcask.open("/b", { ...opts, fs: fs.reboot() });
  const after = new Map<string, string>();
  for (let i = 0; i < KEYS; i++) {
    const v = db.get(Buffer.from(`k${i}`));
    if (v !== undefined) after.set(`k${i}`, Buffer.from(v).toString());
  }
  await db.close();
  return { got: JSON.stringify([...after].sort()), allowed: states.slice(acked, acked + 2), acked };
}

test("bitcask on the sim fs: power loss at any step (merges and rollovers included) keeps every acknowledged batch, each whole or not at all", async () => {
  const seeds = 150 * Math.max(1, Number(process.env.FLOE_CRASH_SCALE ?? 1));
  let midway = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const r = await bitcaskPowerLoss(seed);
    assert.ok(
      r.allowed.includes(r.got),
      `seed ${seed}: after ${r.acked} acknowledged batches the reopened store holds ${r.got}, expected ${r.allowed.join(" or ")}`,
    );
    if (r.acked > 0) midway++;
  }
  assert.ok(midway > seeds / 3, `power went out after some batches in ${midway} runs`);
});
