import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { test } from "node:test";
import {
  type ConfState,
  type Entry,
  EntryType,
  RawNode,
  type Ready,
  StateRole,
  seededRand,
} from "../../src/raft/index.ts";
import { MemoryStorage } from "../../src/raft/storage.ts";
import { SimFs } from "../../src/sim/fs.ts";
import { WalError, WalStorage, type WalStorageOptions } from "../../src/wal/index.ts";
import { dump, ent, ents, tempDir } from "./helpers.ts";

const norm = (list: readonly Entry[]) =>
  list.map((e) => [e.index, e.term, e.type, Buffer.from(e.data).toString("hex")]);
const quiet: WalStorageOptions = { logger: () => {}, segmentSizeBytes: 2048, cacheSizeBytes: 600 };

type Op =
  | { kind: "save"; rd: Pick<Ready, "hardState" | "entries" | "snapshot"> }
  | { kind: "snap"; index: number; keep: number }
  | { kind: "compact"; index: number }
  | { kind: "reopen" };

const conf = (voters: number[]): ConfState => ({
  voters,
  votersOutgoing: [],
  learners: [],
  learnersNext: [],
  autoLeave: false,
});

const script: Op[] = [
  { kind: "save", rd: { entries: ents(2, 20, 1, 40), hardState: { term: 1, vote: 1, commit: 10 } } },
  { kind: "save", rd: { entries: ents(15, 25, 2, 40), hardState: { term: 2, vote: 0, commit: 12 } } },
  { kind: "reopen" },
  { kind: "save", rd: { entries: ents(26, 60, 2, 30) } },
  { kind: "snap", index: 30, keep: 5 },
  { kind: "reopen" },
  { kind: "save", rd: { entries: ents(50, 52, 3), hardState: { term: 3, vote: 2, commit: 40 } } },
  { kind: "compact", index: 30 },
  { kind: "snap", index: 45, keep: 0 },
  { kind: "reopen" },
  { kind: "save", rd: { entries: [ent(46, 3), ent(47, 3)] } },
  {
    kind: "save",
    rd: {
      snapshot: { metadata: { index: 80, term: 5, confState: conf([1, 2, 4]) }, data: Buffer.from("img") },
      entries: ents(79, 82, 5),
      hardState: { term: 5, vote: 0, commit: 80 },
    },
  },
  { kind: "reopen" },
  {
    kind: "save",
    rd: {
      snapshot: { metadata: { index: 70, term: 4, confState: conf([9]) }, data: Buffer.from("old") },
      entries: ents(83, 90, 5),
    },
  },
  { kind: "snap", index: 88, keep: 3 },
  { kind: "reopen" },
];

test("WalStorage behaves as MemoryStorage on the same sequence of saves, truncations, snapshots, compactions and reopens", async (t) => {
  const dir = await tempDir(t);
  const model = MemoryStorage.bootstrap([1, 2, 3]);
  let st = await WalStorage.bootstrap(dir, [1, 2, 3], [], quiet);
  assert.deepEqual(dump(st), dump(model));
  for (const [step, op] of script.entries()) {
    switch (op.kind) {
      case "save":
        if (op.rd.snapshot) model.applySnapshot(op.rd.snapshot);
        model.append(op.rd.entries);
        if (op.rd.hardState) model.setHardState(op.rd.hardState);
        await st.save(op.rd);
        break;
      case "snap": {
        const c = model.confState();
        model.createSnapshot(op.index, c, new Uint8Array(), op.keep);
        await st.createSnapshot(op.index, c, [Buffer.from(`image@${op.index}`)], op.keep);
        break;
      }
      case "compact":
        model.compact(op.index);
        await st.compact(op.index);
        break;
      case "reopen":
        await st.close();
        st = await WalStorage.open(dir, quiet);
        break;
    }
    assert.deepEqual(dump(st), dump(model), `after step ${step} (${op.kind})`);
    for (let i = model.firstIndex() - 2; i <= model.lastIndex() + 2; i++)
      assert.equal(st.term(i), model.term(i), `term(${i})`);
    const lo = model.firstIndex();
    const hi = model.lastIndex() + 1;
    for (const max of [0, 100, 500]) {
      if (lo < hi)
        assert.deepEqual(
          norm(st.entries(lo, hi, max)),
          norm(model.entries(lo, hi, max)),
          `entries max ${max}`,
        );
    }
  }
  assert.throws(() => st.entries(st.firstIndex() - 1, st.lastIndex(), 10), /out of/);
  const snaps = await st.listSnapshots();
  assert.deepEqual(
    snaps.map((s) => s.index),
    [45, 80, 88],
    "the newest three snapshots are kept",
  );
  const img = await st.openSnapshot();
  const chunks: Buffer[] = [];
  for await (const c of img.chunks) chunks.push(Buffer.from(c));
  assert.equal(Buffer.concat(chunks).toString(), "image@88");
  await st.close();
});

test("bootstrap refuses a data directory that already holds a log", async (t) => {
  const dir = await tempDir(t);
  const st = await WalStorage.bootstrap(dir, [1], [], quiet);
  await st.close();
  await assert.rejects(
    WalStorage.bootstrap(dir, [1], [], quiet),
    (e: unknown) => e instanceof WalError && e.code === "AlreadyExists",
  );
  assert.deepEqual((await fs.readdir(dir)).sort(), ["snap", "wal"]);
  assert.deepEqual(await fs.readdir(path.join(dir, "snap")), ["0000000000000001-0000000000000001.snap"]);
});

/** The Ready loop as a server runs it: persist, (send), apply, advance. */
async function drive(rn: RawNode, st: WalStorage, applied: string[]): Promise<void> {
  for (let guard = 0; rn.hasReady() && guard < 1000; guard++) {
    const rd = rn.ready();
    await st.save(rd);
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.Normal && e.data.length > 0) applied.push(Buffer.from(e.data).toString());
    }
    rn.advance(rd);
  }
}

test("a Raft member runs on WalStorage and, after a restart from disk, replays exactly what it committed", async (t) => {
  const dir = await tempDir(t);
  let st = await WalStorage.bootstrap(dir, [1], [], quiet);
  let rn = new RawNode({ id: 1, storage: st, rand: seededRand(7) });
  const applied: string[] = [];
  rn.campaign();
  await drive(rn, st, applied);
  assert.equal(rn.status().softState.role, StateRole.Leader);
  const proposals: string[] = [];
  for (let i = 0; i < 60; i++) {
    proposals.push(`cmd-${i}`);
    rn.propose(Buffer.from(`cmd-${i}`));
    if (i % 7 === 0) await drive(rn, st, applied);
  }
  await drive(rn, st, applied);
  assert.deepEqual(applied, proposals);
  const snapIndex = rn.status().applied - 10;
  const image = JSON.stringify(applied.slice(0, applied.length - 10));
  await st.createSnapshot(snapIndex, st.confState(), [Buffer.from(image)], 3);
  await st.close();

  st = await WalStorage.open(dir, quiet);
  const opened = await st.openSnapshot();
  let restored = "";
  for await (const c of opened.chunks) restored += Buffer.from(c).toString();
  const replayed: string[] = JSON.parse(restored);
  rn = new RawNode({ id: 1, storage: st, rand: seededRand(8), applied: opened.metadata.index });
  await drive(rn, st, replayed);
  assert.deepEqual(replayed, proposals);
  await st.close();
});

test("what the log reads at open survives a power loss: units a stopped process wrote without a completed fdatasync are synced at open", async () => {
  let failSync = false;
  const sim = new SimFs({
    rand: () => 0, // a power loss keeps nothing that was not synced
    fault: (op) => (failSync && op === "datasync" ? "EIO" : undefined),
  });
  const opts = (fs: SimFs): WalStorageOptions => ({ ...quiet, fs });
  const first = await WalStorage.open("/m/wal", opts(sim));
  await first.save({ entries: ents(1, 3, 1), hardState: { term: 1, vote: 1, commit: 0 } });
  failSync = true;
  await assert.rejects(
    first.save({ entries: [ent(4, 1)], hardState: { term: 2, vote: 2, commit: 0 } }),
    /EIO/,
  );
  failSync = false;
  // The process stops on the error; the page cache keeps what it wrote.
  const again = sim.reboot();
  const second = await WalStorage.open("/m/wal", opts(again));
  const read = { last: second.lastIndex(), term: second.hardState().term };
  assert.deepEqual(read, { last: 4, term: 2 });
  // The restarted member may act on entry 4 and term 2 (acknowledge, vote): they must outlive a power loss.
  again.crash("/m");
  const third = await WalStorage.open("/m/wal", opts(again.reboot()));
  assert.deepEqual({ last: third.lastIndex(), term: third.hardState().term }, read);
});
