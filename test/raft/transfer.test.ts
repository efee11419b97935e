import assert from "node:assert/strict";
import { test } from "node:test";
import { MessageType, StateRole } from "../../src/raft/index.ts";
import { Network } from "./harness.ts";

test("leadership transfer to an up-to-date follower sends TimeoutNow and the target wins at once", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  const term = net.raft(1).term;
  net.get(1).rn.transferLeader(2);
  net.stabilize();
  assert.equal(net.sent(MessageType.TimeoutNow).length, 1);
  assert.equal(net.raft(2).role, StateRole.Leader);
  assert.equal(net.raft(2).term, term + 1);
  assert.equal(net.raft(1).role, StateRole.Follower);
});

test("leadership transfer to a lagging follower first brings it up to date", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < 10; i++) net.propose(1, `v${i}`);
  net.recover();
  net.get(1).rn.transferLeader(3);
  net.stabilize();
  assert.equal(net.raft(3).role, StateRole.Leader);
  assert.equal(net.appliedData(3).length, 10);
});

test("proposals are dropped while a transfer is in progress, and the transfer aborts after an election timeout", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.isolate(3);
  net.get(1).rn.transferLeader(3);
  net.stabilize();
  const err = net.get(1).rn.propose(new Uint8Array([1]));
  assert.match(err?.message ?? "", /transfer/);
  net.tick(1, 10);
  assert.equal(net.raft(1).leadTransferee, 0);
  assert.equal(net.get(1).rn.propose(new Uint8Array([1])), undefined);
});

test("a transfer requested on a follower is forwarded to the leader", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.get(2).rn.transferLeader(2);
  net.stabilize();
  assert.equal(net.raft(2).role, StateRole.Leader);
});

test("a transfer campaign bypasses the followers' leader lease", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.delivered = [];
  net.get(1).rn.transferLeader(3);
  net.stabilize();
  assert.equal(net.raft(3).role, StateRole.Leader);
  assert.ok(net.sent(MessageType.Vote).length > 0);
  assert.ok(net.sent(MessageType.Vote).every((m) => m.context === "CampaignTransfer"));
});
