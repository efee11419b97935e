import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { type Message, MessageType, newMessage } from "../../src/raft/index.ts";
import { decodeMessageReference, encodeMessageReference } from "../../src/transport/codec.ts";
import { CodecError, decodeMessage, encodeMessage } from "../../src/transport/index.ts";

/** Entry data compares by bytes (decoding yields Buffer views, the input may be plain Uint8Array). */
const norm = (m: Message) => ({
  ...m,
  entries: m.entries.map((e) => ({ ...e, data: Buffer.from(e.data) })),
  snapshot: m.snapshot && { ...m.snapshot, data: Buffer.from(m.snapshot.data) },
});

const big = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 1, max: 300 }),
  fc.integer({ min: 0, max: 2 ** 32 + 5 }),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
);
const ids = fc.array(big, { maxLength: 4 });
const types = Object.values(MessageType);

const message: fc.Arbitrary<Message> = fc
  .record({
    type: fc.constantFrom(...types),
    to: big,
    from: big,
    term: big,
    logTerm: big,
    index: big,
    commit: big,
    reject: fc.boolean(),
    rejectHint: big,
    context: fc.string({ maxLength: 20 }),
    entries: fc.array(
      fc.record({
        term: big,
        index: big,
        type: fc.constantFrom(0, 1),
        data: fc.uint8Array({ maxLength: 300 }),
      }),
      { maxLength: 5 },
    ),
    snap: fc.option(
      fc.record({
        index: big,
        term: big,
        voters: ids,
        votersOutgoing: ids,
        learners: ids,
        learnersNext: ids,
        autoLeave: fc.boolean(),
      }),
      { nil: undefined },
    ),
  })
  .map(({ snap, ...f }) => {
    const m = newMessage(f.type, f);
    if (snap) {
      const { index, term, ...confState } = snap;
      m.snapshot = { metadata: { index, term, confState }, data: new Uint8Array(0) };
    }
    return m;
  });

test("the direct RaftMessage encoder writes exactly protobuf-es's bytes, and they decode back to the message", () => {
  fc.assert(
    fc.property(message, (m) => {
      const fast = encodeMessage(m);
      const ref = encodeMessageReference(m);
      assert.deepEqual(Buffer.from(fast), Buffer.from(ref));
      assert.deepEqual(norm(decodeMessage(fast)), norm(m));
    }),
    { numRuns: 2000 },
  );
});

test("a large append round-trips", () => {
  const entries = Array.from({ length: 300 }, (_, i) => ({
    term: 7,
    index: 2 ** 40 + i,
    type: 0,
    data: new Uint8Array(2000).fill(i % 256),
  }));
  const m = newMessage(MessageType.App, { from: 1, to: 2, term: 7, index: 2 ** 40 - 1, entries });
  assert.deepEqual(norm(decodeMessage(encodeMessage(m))), norm(m));
});

// Bytes another proto3 writer could send for the same message: fields in any
// order, repeated ids unpacked, unknown fields of every wire type, a scalar
// repeated (the last one wins) and the snapshot split in two (merged).
function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
const key = (no: number, wt: number) => varint(no * 8 + wt);
const lenField = (no: number, body: number[]) => [...key(no, 2), ...varint(body.length), ...body];
const unknownFields = fc.array(
  fc.oneof(
    fc
      .tuple(fc.integer({ min: 13, max: 5000 }), fc.constant(0), fc.integer({ min: 0, max: 2 ** 40 }))
      .map(([no, , v]) => [...key(no, 0), ...varint(v)]),
    fc
      .tuple(fc.integer({ min: 13, max: 5000 }), fc.uint8Array({ maxLength: 8 }))
      .map(([no, b]) => lenField(no, [...b])),
    fc.integer({ min: 13, max: 5000 }).map((no) => [...key(no, 5), 1, 2, 3, 4]),
    fc.integer({ min: 13, max: 5000 }).map((no) => [...key(no, 1), 1, 2, 3, 4, 5, 6, 7, 8]),
  ),
  { maxLength: 4 },
);

test("the direct RaftMessage decoder reads what protobuf-es reads, however a proto3 writer laid it out", () => {
  fc.assert(
    fc.property(message, unknownFields, fc.nat(), (m, unknown, seed) => {
      const parts: number[][] = [];
      const scalar = (no: number, v: number) => v !== 0 && parts.push([...key(no, 0), ...varint(v)]);
      scalar(2, m.to);
      scalar(3, m.from);
      scalar(4, m.term);
      scalar(5, m.logTerm);
      scalar(6, m.index);
      scalar(8, m.commit);
      if (m.reject) parts.push([...key(10, 0), 1]);
      scalar(11, m.rejectHint);
      if (m.context !== "") parts.push(lenField(12, [...Buffer.from(m.context)]));
      for (const e of m.entries) {
        const body = [
          ...key(1, 0),
          ...varint(e.term),
          ...key(2, 0),
          ...varint(e.index),
          ...key(3, 0),
          ...varint(e.type),
        ];
        body.push(...lenField(4, [...e.data]));
        parts.push(lenField(7, body));
      }
      const meta = m.snapshot?.metadata;
      if (meta) {
        const cs = meta.confState;
        const csBody: number[] = [];
        [cs.voters, cs.votersOutgoing, cs.learners, cs.learnersNext].forEach((l, k) => {
          for (const id of l) csBody.push(...key(k + 1, 0), ...varint(id));
        });
        if (cs.autoLeave) csBody.push(...key(5, 0), 1);
        parts.push(lenField(9, [...key(1, 0), ...varint(meta.index), ...lenField(3, csBody)]));
        parts.push(lenField(9, [...key(2, 0), ...varint(meta.term)]));
      }
      parts.push(...unknown);
      // Shuffle everything but the entries (their order is the message's) and the snapshot halves.
      let x = seed;
      const movable = parts.filter((p) => p[0] !== key(7, 2)[0] && p[0] !== key(9, 2)[0]);
      const fixed = parts.filter((p) => !movable.includes(p));
      for (let i = movable.length - 1; i > 0; i--) {
        x = (x * 1103515245 + 12345) % 2 ** 31;
        const j = x % (i + 1);
        [movable[i], movable[j]] = [movable[j], movable[i]];
      }
      // A stale type first: the last value wins.
      const typeNo = encodeMessage(m)[0] === 8 ? encodeMessage(m)[1] : 0;
      const bytes = Uint8Array.from([
        ...key(1, 0),
        17,
        ...movable.flat(),
        ...fixed.flat(),
        ...key(1, 0),
        ...varint(typeNo),
      ]);
      assert.deepEqual(norm(decodeMessage(bytes)), norm(decodeMessageReference(bytes)));
      assert.deepEqual(norm(decodeMessage(bytes)), norm(m));
    }),
    { numRuns: 1000 },
  );
});

test("malformed RaftMessage bytes are a CodecError naming what was wrong", () => {
  const ok = encodeMessage(
    newMessage(MessageType.App, {
      from: 1,
      to: 2,
      term: 3,
      entries: [{ term: 3, index: 4, type: 0, data: Buffer.from("x") }],
    }),
  );
  const cases: [string, Uint8Array, RegExp][] = [
    ["cut in a varint", Uint8Array.from([0x10, 0x80]), /varint runs past the end/],
    ["cut inside an entry", ok.subarray(0, ok.length - 1), /runs past the end/],
    ["an eleven-byte varint", Uint8Array.from([0x10, ...Array(10).fill(0xff), 1]), /longer than 10 bytes/],
    ["a term above 2^53", Uint8Array.from([0x20, ...varint(2 ** 53 + 2)]), /term exceeds 2\^53/],
    ["a group (wire type 3)", Uint8Array.from([0x6b]), /wire type 3/],
    ["an unknown type number", Uint8Array.from([0x08, 99]), /unknown message type number 99/],
    ["a context that is not UTF-8", Uint8Array.from([0x62, 1, 0xff]), /UTF-8/],
  ];
  for (const [name, bytes, pattern] of cases) {
    assert.throws(
      () => decodeMessage(bytes),
      (e: unknown) => e instanceof CodecError && pattern.test(e.message),
      name,
    );
  }
});
