// The initial corruption check's comparison (etcd's --experimental-initial-corrupt-check).
import assert from "node:assert/strict";
import { test } from "node:test";
import { compareWithPeers } from "../../src/server/corrupt.ts";

test("initial corruption check: a peer at the same revision with another hash is a mismatch; others are skipped", () => {
  const own = { hash: 7, revision: 10, compactRevision: -1 };
  const ok = compareWithPeers(own, [
    { url: "a", hash: { hash: 7, revision: 10, compactRevision: -1 } },
    { url: "b", error: "connect ECONNREFUSED" },
    { url: "c", hash: { hash: 9, revision: 11, compactRevision: -1 } },
    { url: "d", hash: { hash: 9, revision: 10, compactRevision: 5 } },
  ]);
  assert.deepEqual(ok.matched, ["a"]);
  assert.equal(ok.skipped.length, 3);
  assert.equal(ok.mismatch, undefined);
  const bad = compareWithPeers(own, [
    { url: "a", hash: { hash: 7, revision: 10, compactRevision: -1 } },
    { url: "e", hash: { hash: 8, revision: 10, compactRevision: -1 } },
  ]);
  assert.match(
    bad.mismatch ?? "",
    /found data inconsistency with peers: e has hash 8 at revision 10, this member has 7/,
  );
});
