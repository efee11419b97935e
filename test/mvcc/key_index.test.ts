import assert from "node:assert/strict";
import { test } from "node:test";
import { KeyIndex } from "../../src/mvcc/key_index.ts";

const K = "foo";
const key = new TextEncoder().encode(K);

/** etcd's key_index.go example: put(1.0); put(2.0); tombstone(3.0); put(4.0); tombstone(5.0). */
function example(): KeyIndex {
  const index = new KeyIndex();
  index.put(K, key, { main: 1, sub: 0 }, 0n);
  index.put(K, key, { main: 2, sub: 0 }, 0n);
  index.tombstone(index.entry(K)!, { main: 3, sub: 0 });
  index.put(K, key, { main: 4, sub: 0 }, 0n);
  index.tombstone(index.entry(K)!, { main: 5, sub: 0 });
  return index;
}

function shape(index: KeyIndex): string[] {
  const e = index.entry(K);
  if (e === undefined) return [];
  return e.gens.map((g) => g.revs.map((r) => `${r.main}.${r.sub}`).join(",") + (g.closed ? "(t)" : ""));
}

test("compaction keeps etcd's key_index.go shapes, including the tombstone at the compact revision", () => {
  const cases: [number, string[], string[]][] = [
    [2, ["2.0,3.0(t)", "4.0,5.0(t)"], ["1.0"]],
    [4, ["4.0,5.0(t)"], ["1.0", "2.0", "3.0"]],
    [5, ["5.0(t)"], ["1.0", "2.0", "3.0", "4.0"]],
    [6, [], ["1.0", "2.0", "3.0", "4.0", "5.0"]],
  ];
  for (const [at, gens, garbage] of cases) {
    const index = example();
    const dropped = index.compact(at).map((r) => `${r.main}.${r.sub}`);
    assert.deepEqual(shape(index), gens, `compact(${at})`);
    assert.deepEqual(dropped.sort(), garbage, `garbage of compact(${at})`);
    assert.equal(index.size, gens.length === 0 ? 0 : 1);
  }
});

test("a version is visible from its revision until the next one; a tombstone ends visibility", () => {
  const e = example().entry(K)!;
  const at = (rev: number) => KeyIndex.at(e, rev)?.main;
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map(at), [undefined, 1, 2, undefined, 4, undefined, undefined]);
});

test("versions count within a generation and restart at 1 after a delete", () => {
  const index = new KeyIndex();
  const v = (main: number) => index.put(K, key, { main, sub: 0 }, 0n).version;
  assert.deepEqual([v(1), v(2), v(3)], [1, 2, 3]);
  index.tombstone(index.entry(K)!, { main: 4, sub: 0 });
  const again = index.put(K, key, { main: 5, sub: 0 }, 0n);
  assert.deepEqual([again.version, again.created], [1, 5]);
});

test("only the first retained revision below the compact revision counts as retained", () => {
  const index = example();
  index.compact(2);
  assert.equal(index.isRetained(K, { main: 2, sub: 0 }), true);
  assert.equal(index.isRetained(K, { main: 1, sub: 0 }), false);
  assert.equal(index.isRetained("other", { main: 2, sub: 0 }), false);
  assert.throws(() => index.put(K, key, { main: 5, sub: 0 }, 0n), /not after/);
});
