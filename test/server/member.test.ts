import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { clusterId, IdentityError, loadOrCreateIdentity, memberId } from "../../src/server/member.ts";

test("member ids are deterministic, order-insensitive in URLs, token-dependent and exact 53-bit numbers", () => {
  const a = memberId(["http://a:2380", "http://b:2380"], "t");
  assert.equal(a, memberId(["http://b:2380", "http://a:2380"], "t"));
  assert.notEqual(a, memberId(["http://a:2380", "http://b:2380"], "u"));
  assert.ok(Number.isSafeInteger(a) && a > 0);
  const c = clusterId([3, 1, 2]);
  assert.equal(c, clusterId([1, 2, 3]));
});

test("a data dir keeps its identity and refuses a different cluster or member", async () => {
  const dir = mkdtempSync(join(tmpdir(), "floe-member-"));
  const rec = {
    name: "a",
    memberId: 5,
    clusterId: 7,
    peerUrls: ["http://a:2380"],
    clientUrls: ["http://a:2379"],
  };
  assert.deepEqual(await loadOrCreateIdentity(dir, rec), rec);
  assert.deepEqual(await loadOrCreateIdentity(dir, rec), rec);
  await assert.rejects(loadOrCreateIdentity(dir, { ...rec, clusterId: 8 }), IdentityError);
  await assert.rejects(loadOrCreateIdentity(dir, { ...rec, memberId: 6 }), /belongs to member 5/);
});
