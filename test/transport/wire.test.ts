import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { type Message, MessageType, newMessage } from "../../src/raft/index.ts";
import { encodeMessageReference } from "../../src/transport/codec.ts";
import { decodeMessage, encodeMessage } from "../../src/transport/index.ts";

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
