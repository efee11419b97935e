import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { Bitcask, type BitcaskOptions } from "../../src/bitcask/index.ts";
import { assertContents, copyStore, quietLogger, withDir } from "./helpers.ts";

// Keys share prefixes and include 0x00 / 0xff bytes, so ordering edge cases come up.
const KEYS = ["a", "ab", "abc", "b", "b\u0000", "b\u00ff", "\u00ff", "\u00ff\u00ff", "k1", "k2", "k10", "z"];
const keyArb = fc.constantFrom(...KEYS);
const valueArb = fc.uint8Array({ maxLength: 700 }).map((v) => Buffer.from(v).toString("latin1"));
const opArb = fc.oneof(
  fc.record({ t: fc.constant("put" as const), k: keyArb, v: valueArb }),
  fc.record({ t: fc.constant("del" as const), k: keyArb }),
);

const commandArb = fc.oneof(
  { weight: 10, arbitrary: opArb },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("batch" as const),
      ops: fc.array(opArb, { minLength: 1, maxLength: 6 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant("merge" as const), pick: fc.option(fc.nat(), { nil: undefined }) }),
  },
  { weight: 1, arbitrary: fc.constant({ t: "reopen" as const }) },
  { weight: 1, arbitrary: fc.constant({ t: "crash" as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("scan" as const),
      start: fc.option(keyArb, { nil: "" }),
      end: fc.option(keyArb, { nil: "" }),
      reverse: fc.boolean(),
      limit: fc.option(fc.nat(8), { nil: undefined }),
    }),
  },
);

type Command = typeof commandArb extends fc.Arbitrary<infer C> ? C : never;

const L = (s: string) => Buffer.from(s, "latin1");
const opts: BitcaskOptions = { maxFileBytes: 4096, sync: "none", ioChunkBytes: 4096, logger: quietLogger() };

function expectedScan(model: Map<string, string>, c: Extract<Command, { t: "scan" }>): string[] {
  let keys = [...model.keys()]
    .sort((x, y) => Buffer.compare(L(x), L(y)))
    .filter(
      (k) => Buffer.compare(L(k), L(c.start)) >= 0 && (c.end === "" || Buffer.compare(L(k), L(c.end)) < 0),
    );
  if (c.reverse) keys = keys.reverse();
  return c.limit === undefined ? keys : keys.slice(0, c.limit);
}

async function run(root: string, commands: Command[]): Promise<void> {
  let dir = path.join(root, "s0");
  let db = await Bitcask.open(dir, opts);
  const model = new Map<string, string>();
  let generation = 0;
  try {
    for (const c of commands) {
      switch (c.t) {
        case "put":
          await db.put(L(c.k), L(c.v));
          model.set(c.k, c.v);
          break;
        case "del":
          await db.delete(L(c.k));
          model.delete(c.k);
          break;
        case "batch":
          await db.writeBatch(
            c.ops.map((o) =>
              o.t === "put" ? { type: "put", key: L(o.k), value: L(o.v) } : { type: "delete", key: L(o.k) },
            ),
          );
          for (const o of c.ops) o.t === "put" ? model.set(o.k, o.v) : model.delete(o.k);
          break;
        case "merge": {
          const immutable = db
            .stats()
            .dataFiles.filter((f) => f.sealed)
            .map((f) => f.id);
          // A partial merge of one file, or all of them.
          const fileIds =
            c.pick === undefined || immutable.length === 0
              ? undefined
              : [immutable[c.pick % immutable.length]];
          await db.merge({ fileIds });
          break;
        }
        case "reopen":
          await db.close();
          db = await Bitcask.open(dir, opts);
          break;
        case "crash": {
          // A process crash: the files as they are now, without close().
          const next = path.join(root, `s${++generation}`);
          copyStore(dir, next);
          await db.close();
          dir = next;
          db = await Bitcask.open(dir, opts);
          break;
        }
        case "scan":
          assert.deepEqual(
            [...db.range(L(c.start), L(c.end), { reverse: c.reverse, limit: c.limit })].map((e) =>
              Buffer.from(e.key).toString("latin1"),
            ),
            expectedScan(model, c),
          );
          break;
      }
    }
    assertContents(db, model);
    await db.close();
    db = await Bitcask.open(dir, opts);
    assertContents(db, model, "after a final reopen");
  } finally {
    await db.close();
  }
}

test("any sequence of puts, deletes, batches, merges, reopens and crashes yields the model's contents", () =>
  withDir(async (root) => {
    let trial = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(commandArb, { minLength: 5, maxLength: 120, size: "max" }),
        async (commands) => {
          const dir = path.join(root, `t${trial++}`);
          fs.mkdirSync(dir);
          try {
            await run(dir, commands);
          } finally {
            fs.rmSync(dir, { recursive: true, force: true });
          }
        },
      ),
      { numRuns: 100, seed: 20240601 },
    );
  }));
