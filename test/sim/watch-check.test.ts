import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { etcdserverpb, mvccpb } from "../../src/api/index.ts";
import { WatchCheck } from "../../src/sim/watch-check.ts";

type Response = etcdserverpb.WatchResponse;
const enc = new TextEncoder();
const put = (rev: number, key: string, value: string): mvccpb.Event =>
  create(mvccpb.EventSchema, {
    type: mvccpb.Event_EventType.PUT,
    kv: {
      key: enc.encode(key),
      value: enc.encode(value),
      createRevision: BigInt(rev),
      modRevision: BigInt(rev),
      version: 1n,
    },
  });
const delivery = (revision: number, events: mvccpb.Event[]): Response =>
  create(etcdserverpb.WatchResponseSchema, { watchId: 1n, events, header: { revision: BigInt(revision) } });

function run(deliveries: Response[][], end?: number[]): string[] {
  const found: string[] = [];
  const check = new WatchCheck((w) => found.push(w));
  deliveries.forEach((ds, node) => {
    const s = check.stream(node + 1, 1);
    for (const d of ds) s.accept(d);
    if (end) s.complete(end[node]);
  });
  return found;
}

test("watch streams: complete, ordered, agreeing streams pass", () => {
  const a = [
    delivery(3, [put(2, "a", "1"), put(3, "b", "2"), put(3, "c", "3")]),
    delivery(4, [put(4, "a", "4")]),
  ];
  const b = [
    delivery(2, [put(2, "a", "1")]),
    delivery(4, [put(3, "b", "2"), put(3, "c", "3"), put(4, "a", "4")]),
  ];
  assert.deepEqual(run([a, b], [4, 4]), []);
});

test("watch streams: a gap, a duplicate, a split revision, disagreement and an incomplete end are each reported", () => {
  const gap = run([[delivery(2, [put(2, "a", "1")]), delivery(4, [put(4, "a", "2")])]]);
  assert.match(gap[0], /revision 4 follows 2: a gap/);
  const dup = run([[delivery(2, [put(2, "a", "1")]), delivery(2, [put(2, "a", "1")])]]);
  assert.match(dup[0], /revision 2 delivered again/);
  const split = run([[delivery(3, [put(2, "a", "1"), put(3, "b", "1")]), delivery(3, [put(3, "c", "1")])]]);
  assert.match(split[0], /revision 3 delivered again/);
  const differ = run([[delivery(2, [put(2, "a", "1")])], [delivery(2, [put(2, "a", "9")])]]);
  assert.match(differ[0], /revision 2 is 0:a=9 here but 0:a=1 elsewhere/);
  const short = run([[delivery(2, [put(2, "a", "1")])]], [5]);
  assert.match(short[0], /delivered through revision 2, the store is at 5/);
  const behind = run([[delivery(1, [put(2, "a", "1")])]]);
  assert.match(behind[0], /covers revision 1 but holds events of 2/);
  const compacted = run([
    [create(etcdserverpb.WatchResponseSchema, { watchId: 1n, canceled: true, compactRevision: 3n })],
  ]);
  assert.match(compacted[0], /cancelled as compacted at 3/);
});

test("watch streams: created and progress responses carry no events and are not deliveries", () => {
  const created = create(etcdserverpb.WatchResponseSchema, {
    watchId: 1n,
    created: true,
    header: { revision: 1n },
  });
  const progress = create(etcdserverpb.WatchResponseSchema, { watchId: -1n, header: { revision: 2n } });
  assert.deepEqual(run([[created, delivery(2, [put(2, "a", "1")]), progress]], [2]), []);
});
