import assert from "node:assert/strict";
import { test } from "node:test";
import { Bitcask } from "../../src/bitcask/index.ts";
import { BitcaskMvccStorage } from "../../src/server/kvstore.ts";
import { SimFs } from "../../src/sim/fs.ts";

const b = (s: string) => Buffer.from(s);

test("mvcc over bitcask: a write that fails fails the store at once, and no later batch reaches the disk", async () => {
  let full = false;
  const fs = new SimFs({ rand: () => 0.5, fault: (op) => (full && op === "write" ? "ENOSPC" : undefined) });
  const db = await Bitcask.open("/kv", { fs, sync: "none" });
  const storage = new BitcaskMvccStorage(db);
  storage.write({ puts: [[b("a"), b("1")]], deletes: [] });
  full = true;
  // The batch is lost: the caller must hear it before it applies anything else.
  assert.throws(() => storage.write({ puts: [[b("b"), b("2")]], deletes: [] }), /ENOSPC/);
  full = false;
  // Space is back, but the store's state in memory held what was lost: it takes nothing more.
  assert.throws(() => storage.write({ puts: [[b("c"), b("3")]], deletes: [] }), /failed earlier/);
  assert.deepEqual(db.get(b("a")), b("1"));
  assert.equal(db.get(b("b")), undefined);
  assert.equal(db.get(b("c")), undefined);
  await db.close();
});
