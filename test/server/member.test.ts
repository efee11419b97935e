import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  clusterId,
  clusterId64,
  externalIds,
  hexId,
  IdentityError,
  loadOrCreateIdentity,
  memberId64,
  raftIdOf,
} from "../../src/server/member.ts";

test("member ids are deterministic, order-insensitive in URLs, token-dependent and exact 53-bit numbers", () => {
  const memberId = (urls: string[], token: string) => raftIdOf(memberId64(urls, token));
  const a = memberId(["http://a:2380", "http://b:2380"], "t");
  assert.equal(a, memberId(["http://b:2380", "http://a:2380"], "t"));
  assert.notEqual(a, memberId(["http://a:2380", "http://b:2380"], "u"));
  assert.ok(Number.isSafeInteger(a) && a > 0);
  const c = clusterId([3, 1, 2]);
  assert.equal(c, clusterId([1, 2, 3]));
});

test("64-bit member and cluster ids are etcd's for the same flags", () => {
  // etcd 3.4.23 started with --initial-cluster e1=http://127.0.0.1:8380,e2=...:8480,e3=...:8580
  // and the default token printed these (etcdctl endpoint status -w json, member list)
  const ids = [8380, 8480, 8580].map((p) => memberId64([`http://127.0.0.1:${p}`], "etcd-cluster"));
  assert.deepEqual(ids.map(hexId), ["1b7b2c74587de815", "f63bb7fa59c44ccd", "9bb24f9cf11c3871"]);
  assert.equal(clusterId64(ids), 2710232836141546305n);
  // the raft id is the low 53 bits, the id data directories from before 64-bit ids recorded
  assert.deepEqual(ids.map(raftIdOf), [7648702583662613, 7802110246931661, 5154085059442801]);
  assert.equal(raftIdOf(1n << 53n), 1, "a raft id is never 0");
  // a member added at run time mixes in the Unix seconds
  const t = 1796282062;
  assert.notEqual(memberId64(["http://x:2380"], "c", t), memberId64(["http://x:2380"], "c", t + 1));
  assert.notEqual(memberId64(["http://x:2380"], "c", t), memberId64(["http://x:2380"], "c"));
  // a record from before 64-bit ids: its raft ids stand for the 64-bit ones
  const old = { name: "a", memberId: 5, clusterId: 7, peerUrls: [], clientUrls: [] };
  assert.deepEqual(externalIds(old), { memberId64: 5n, clusterId64: 7n });
  assert.deepEqual(
    externalIds({ ...old, memberIdHex: "f63bb7fa59c44ccd", clusterIdHex: "259cae67b0d0fb41" }),
    {
      memberId64: 17742977442831944909n,
      clusterId64: 2710232836141546305n,
    },
  );
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
