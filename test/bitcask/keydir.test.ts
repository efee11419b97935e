import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { HintWriter } from "../../src/bitcask/hint.ts";
import { Keydir, TOMBSTONE_SIZE } from "../../src/bitcask/keydir.ts";
import { BulkLoad } from "../../src/bitcask/keydir-bulk.ts";

const EMPTY = new Uint8Array(0);

/** A sorted array of [key, value] as the model of the keydir. */
class Model {
  keys: Buffer[] = [];
  vals: number[] = [];

  private find(k: Buffer): [number, boolean] {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (Buffer.compare(this.keys[mid], k) < 0) lo = mid + 1;
      else hi = mid;
    }
    return [lo, lo < this.keys.length && this.keys[lo].equals(k)];
  }

  set(k: Buffer, v: number): void {
    const [i, found] = this.find(k);
    if (found) this.vals[i] = v;
    else {
      this.keys.splice(i, 0, k);
      this.vals.splice(i, 0, v);
    }
  }

  delete(k: Buffer): boolean {
    const [i, found] = this.find(k);
    if (found) {
      this.keys.splice(i, 1);
      this.vals.splice(i, 1);
    }
    return found;
  }

  get(k: Buffer): number | undefined {
    const [i, found] = this.find(k);
    return found ? this.vals[i] : undefined;
  }

  range(start: Buffer, end: Buffer, reverse: boolean): [string, number][] {
    const out: [string, number][] = [];
    for (let i = 0; i < this.keys.length; i++) {
      const k = this.keys[i];
      if (Buffer.compare(k, start) < 0) continue;
      if (end.length > 0 && Buffer.compare(k, end) >= 0) continue;
      out.push([k.toString("hex"), this.vals[i]]);
    }
    return reverse ? out.reverse() : out;
  }
}

function rangeOf(kd: Keydir, start: Uint8Array, end: Uint8Array, reverse: boolean): [string, number][] {
  return [...kd.range(start, end, reverse)].map((e) => [e.key.toString("hex"), e.offset]);
}

/** Deterministic xorshift PRNG so a failure replays. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x1_0000_0000;
  };
}

test("keydir matches a sorted-array model under random sets, deletes, gets and ranges", () => {
  for (const seed of [1, 2, 3]) {
    const rand = rng(seed);
    const kd = new Keydir();
    const model = new Model();
    // Short keys over a small alphabet collide often (overwrites, deletes of present keys)
    // and share prefixes (the shorter-first ordering).
    const key = () =>
      Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 4) }, () => Math.floor(rand() * 6)));
    for (let step = 0; step < 30_000; step++) {
      const r = rand();
      const k = key();
      if (r < 0.55) {
        kd.set(k, 0, k.length, 1, step, 10, step + 1);
        model.set(k, step);
      } else if (r < 0.9) {
        assert.equal(kd.delete(k) !== undefined, model.delete(k), `seed ${seed} step ${step} delete`);
      } else {
        assert.equal(kd.get(k)?.offset, model.get(k), `seed ${seed} step ${step} get`);
      }
      if (step % 3000 === 0) kd.checkInvariants();
    }
    kd.checkInvariants();
    assert.equal(kd.size, model.keys.length);
    for (let q = 0; q < 200; q++) {
      const a = key();
      const b = rand() < 0.2 ? Buffer.alloc(0) : key();
      const reverse = rand() < 0.5;
      assert.deepEqual(rangeOf(kd, a, b, reverse), model.range(a, b, reverse), `seed ${seed} range ${q}`);
      assert.equal(kd.count(a, b), model.range(a, b, false).length);
    }
  }
});

test("keydir stays ordered and balanced through bulk inserts and deletes of 50,000 keys", () => {
  const kd = new Keydir();
  const keys: Buffer[] = [];
  const rand = rng(42);
  for (let i = 0; i < 50_000; i++) {
    const k = Buffer.alloc(16);
    for (let j = 0; j < 16; j++) k[j] = Math.floor(rand() * 256);
    keys.push(k);
    kd.set(k, 0, 16, 2, i, 100, i + 1);
  }
  kd.checkInvariants();
  const sorted = [...keys].sort(Buffer.compare);
  assert.deepEqual(
    [...kd.range(EMPTY, EMPTY)].map((e) => e.key.toString("hex")),
    sorted.map((k) => k.toString("hex")),
  );
  // Delete all but every 97th key: leaves merge and borrow, inner nodes shrink.
  for (let i = 0; i < sorted.length; i++) if (i % 97 !== 0) assert.ok(kd.delete(sorted[i]));
  kd.checkInvariants();
  assert.equal(kd.size, Math.ceil(sorted.length / 97));
  for (let i = 0; i < sorted.length; i += 97) assert.ok(kd.has(sorted[i]));
  for (const k of sorted) kd.delete(k);
  kd.checkInvariants();
  assert.equal(kd.size, 0);
  assert.deepEqual([...kd.range(EMPTY, EMPTY)], []);
});

test("keydir keeps seq, file and size exact up to 2^53 and honours onlyIfNewer", () => {
  const kd = new Keydir();
  const k = Buffer.from("key");
  kd.set(k, 0, 3, 7, 123, 456, 2 ** 53 - 1);
  assert.deepEqual(kd.get(k), { fileId: 7, offset: 123, valueSize: 456, seq: 2 ** 53 - 1 });
  assert.equal(kd.set(k, 0, 3, 8, 1, 1, 5, true), 2, "an older seq is ignored");
  assert.equal(kd.get(k)?.fileId, 7);
  assert.equal(kd.repoint(k, 0, 3, 2 ** 53 - 1, 9, 99), true);
  assert.deepEqual(kd.get(k), { fileId: 9, offset: 99, valueSize: 456, seq: 2 ** 53 - 1 });
  assert.equal(kd.repoint(k, 0, 3, 1, 10, 10), false, "repoint needs the seq it copied");
});

test("a keydir range walk survives inserts and deletes between its steps", () => {
  const kd = new Keydir();
  const key = (i: number) => Buffer.from(String(i).padStart(6, "0"));
  for (let i = 0; i < 5000; i += 2) kd.set(key(i), 0, 6, 1, i, 1, i + 1);
  const seen: number[] = [];
  for (const e of kd.range(EMPTY, EMPTY)) {
    const i = Number(e.key.toString());
    seen.push(i);
    // Delete the next key and insert odd keys behind and ahead of the cursor.
    kd.delete(key(i + 2));
    if (i < 5000) kd.set(key(i + 1), 0, 6, 1, 0, 1, 1);
    const behind = key(Math.max(1, i - 1));
    kd.set(behind, 0, 6, 1, 0, 1, 1);
  }
  for (let j = 1; j < seen.length; j++) assert.ok(seen[j] > seen[j - 1], "strictly increasing, no repeats");
  assert.equal(seen.at(-1), 5000, "the keys inserted ahead of the cursor were seen");
  kd.checkInvariants();
});

test("keydir property: any sequence of operations agrees with the model", () => {
  const keyArb = fc.uint8Array({ minLength: 1, maxLength: 5, max: 4 });
  const op = fc.oneof(
    fc.record({ t: fc.constant("set" as const), k: keyArb, v: fc.nat(1000) }),
    fc.record({ t: fc.constant("del" as const), k: keyArb }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 400 }), keyArb, keyArb, fc.boolean(), (ops, a, b, reverse) => {
      const kd = new Keydir();
      const model = new Model();
      for (const o of ops) {
        const k = Buffer.from(o.k);
        if (o.t === "set") {
          kd.set(k, 0, k.length, 1, o.v, 1, 1);
          model.set(k, o.v);
        } else {
          kd.delete(k);
          model.delete(k);
        }
      }
      kd.checkInvariants();
      assert.deepEqual(rangeOf(kd, a, b, reverse), model.range(Buffer.from(a), Buffer.from(b), reverse));
    }),
    { numRuns: 300, seed: 7 },
  );
});

test("keydir deletes in random order down to empty, rebalancing inner nodes, and stays valid", () => {
  const kd = new Keydir();
  const rand = rng(9);
  const keys: Buffer[] = [];
  for (let i = 0; i < 200_000; i++) {
    const k = Buffer.alloc(8);
    k.writeDoubleBE(rand());
    keys.push(k);
    kd.set(k, 0, 8, 1, i, 1, 1);
  }
  for (let i = keys.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [keys[i], keys[j]] = [keys[j], keys[i]];
  }
  for (let i = 0; i < keys.length; i++) {
    assert.ok(kd.delete(keys[i]));
    if (i % 25_000 === 0) kd.checkInvariants();
  }
  kd.checkInvariants();
  assert.equal(kd.size, 0);
});

test("a bulk load from several hints equals inserting every entry one at a time, newest seq winning", () => {
  for (const [seed, shape] of [
    [1, "random"],
    [2, "short"],
    [3, "shared-prefix"],
    [4, "long-prefix"],
  ] as const) {
    const rand = rng(seed);
    const key = (): Buffer => {
      if (shape === "random") return Buffer.from(Array.from({ length: 16 }, () => Math.floor(rand() * 256)));
      if (shape === "short")
        return Buffer.from(Array.from({ length: Math.floor(rand() * 4) + 1 }, () => Math.floor(rand() * 3)));
      const pad = shape === "shared-prefix" ? 8 : 80;
      const tail = Array.from({ length: Math.floor(rand() * 6) }, () => Math.floor(rand() * 4));
      return Buffer.concat([Buffer.alloc(pad, 7), Buffer.from(tail)]);
    };
    const one = new Keydir();
    const bulk = new BulkLoad(16);
    let seq = 0;
    const winners: string[] = [];
    for (let file = 1; file <= 4; file++) {
      const w = new HintWriter(file);
      for (let e = 0; e < 3000; e++) {
        const k = key();
        const tomb = rand() < 0.2;
        const s = ++seq;
        w.add(tomb ? 2 : 1, k, 0, k.length, tomb ? 0 : e, 32 + e, s);
        one.set(k, 0, k.length, file, 32 + e, tomb ? TOMBSTONE_SIZE : e, s, true);
      }
      const buf = w.finish(1 << 30);
      const src = bulk.addSource(buf, file);
      let at = 48;
      for (let e = 0; e < w.entries; e++) {
        const ks = buf.readUInt32LE(at + 1);
        bulk.add(src, at + 21);
        at += 21 + ks;
      }
    }
    const tree = bulk.build(TOMBSTONE_SIZE, (w) => winners.push(`${w.fileId}:${w.type}`));
    const kd = new Keydir();
    kd.adopt(tree);
    kd.checkInvariants();
    assert.equal(kd.size, one.size, shape);
    assert.equal(winners.length, one.size);
    const all = (d: Keydir) =>
      [...d.range(EMPTY, EMPTY)].map(
        (e) => `${e.key.toString("hex")}@${e.fileId}:${e.offset}:${e.valueSize}:${e.seq}`,
      );
    assert.deepEqual(all(kd), all(one), shape);
    // The built tree takes ordinary inserts and deletes afterwards.
    for (let i = 0; i < 2000; i++) {
      const k = key();
      if (rand() < 0.5) {
        kd.set(k, 0, k.length, 9, i, 1, ++seq);
        one.set(k, 0, k.length, 9, i, 1, seq);
      } else {
        kd.delete(k);
        one.delete(k);
      }
    }
    kd.checkInvariants();
    assert.deepEqual(all(kd), all(one), `${shape} after updates`);
  }
});
