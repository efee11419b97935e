// coalesceMessages: which messages of one Ready merge, and that a cluster
// whose Readies go through it ends in exactly the state it would without.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  coalesceMessages,
  type Entry,
  EntryType,
  type Message,
  MessageType,
  newMessage,
} from "../../src/raft/index.ts";
import { Network } from "./harness.ts";

const entry = (index: number, term: number, bytes = 1): Entry => ({
  index,
  term,
  type: EntryType.Normal,
  data: new Uint8Array(bytes),
});
const app = (to: number, index: number, logTerm: number, entries: Entry[], commit: number): Message =>
  newMessage(MessageType.App, { from: 1, to, term: 2, index, logTerm, entries, commit });

test("consecutive MsgApps to one peer that continue each other become one; others pass in order", () => {
  const msgs = [
    app(2, 10, 2, [entry(11, 2)], 10),
    app(3, 10, 2, [entry(11, 2)], 10),
    app(2, 11, 2, [entry(12, 2), entry(13, 2)], 11),
    newMessage(MessageType.Heartbeat, { from: 1, to: 3, term: 2, commit: 11 }),
    app(3, 11, 2, [entry(12, 2)], 11), // after a heartbeat to 3: stays separate
    app(2, 13, 2, [], 13), // an empty commit update continuing 2's entries
    app(2, 20, 2, [entry(21, 2)], 13), // not contiguous: separate
  ];
  const out = coalesceMessages(msgs, 1 << 20);
  assert.deepEqual(
    out.map((m) => [m.to, m.type, m.index, m.entries.map((e) => e.index), m.commit]),
    [
      [2, MessageType.App, 10, [11, 12, 13], 13],
      [3, MessageType.App, 10, [11], 10],
      [3, MessageType.Heartbeat, 0, [], 11],
      [3, MessageType.App, 11, [12], 11],
      [2, MessageType.App, 20, [21], 13],
    ],
  );
  // a different previous term does not continue
  const forked = coalesceMessages(
    [app(2, 10, 2, [entry(11, 2)], 10), app(2, 11, 1, [entry(12, 2)], 10)],
    1 << 20,
  );
  assert.equal(forked.length, 2);
});

test("merged entries stay within maxBytes", () => {
  const msgs = [app(2, 0, 0, [entry(1, 2, 600)], 0), app(2, 1, 2, [entry(2, 2, 600)], 0)];
  assert.equal(coalesceMessages(msgs, 1000).length, 2);
  assert.equal(coalesceMessages(msgs, 1200).length, 1);
});

test("accepting MsgAppResps keep the highest index; a rejection is never merged; proposals concatenate", () => {
  const resp = (index: number, reject = false) =>
    newMessage(MessageType.AppResp, { from: 2, to: 1, term: 2, index, reject, rejectHint: reject ? 3 : 0 });
  assert.deepEqual(
    coalesceMessages([resp(5), resp(9), resp(7)], 1 << 20).map((m) => m.index),
    [9],
  );
  assert.deepEqual(
    coalesceMessages([resp(5), resp(6, true), resp(9)], 1 << 20).map((m) => [m.index, m.reject]),
    [
      [5, false],
      [6, true],
      [9, false],
    ],
  );
  const prop = (d: number) => newMessage(MessageType.Prop, { from: 2, to: 1, entries: [entry(0, 0, d)] });
  const props = coalesceMessages([prop(1), prop(2), prop(3)], 1 << 20);
  assert.deepEqual(
    props.map((m) => m.entries.map((e) => e.data.length)),
    [[1, 2, 3]],
  );
});

test("a cluster whose messages are coalesced applies exactly what it would without, with fewer messages", () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ at: fc.integer({ min: 1, max: 3 }), n: fc.integer({ min: 1, max: 8 }) }), {
        minLength: 1,
        maxLength: 12,
      }),
      fc.integer({ min: 1, max: 1000 }),
      (bursts, seed) => {
        const run = (coalesce: boolean) => {
          const net = new Network([1, 2, 3], { maxSizePerMsgBytes: 64 }, seed);
          net.coalesce = coalesce;
          net.campaign(1);
          let k = 0;
          for (const b of bursts) {
            // a burst: several proposals at one member before anything is delivered
            for (let i = 0; i < b.n; i++)
              net.get(b.at).rn.propose(new TextEncoder().encode(`v${k++}-${"x".repeat(k % 40)}`));
            net.stabilize();
          }
          return {
            applied: [1, 2, 3].map((id) => net.appliedData(id)),
            apps: net.sent(MessageType.App).length,
          };
        };
        const plain = run(false);
        const merged = run(true);
        assert.deepEqual(merged.applied, plain.applied);
        assert.deepEqual(merged.applied[0], merged.applied[1]);
        assert.deepEqual(merged.applied[0], merged.applied[2]);
        assert.ok(merged.apps <= plain.apps, `${merged.apps} MsgApps coalesced vs ${plain.apps}`);
        if (bursts.some((b) => b.n > 1)) assert.ok(merged.apps < plain.apps);
      },
    ),
    { numRuns: 60 },
  );
});
