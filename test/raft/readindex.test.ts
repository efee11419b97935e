import assert from "node:assert/strict";
import { test } from "node:test";
import { MessageType } from "../../src/raft/index.ts";
import { Network } from "./harness.ts";

test("ReadIndex on the leader answers with the commit index only after a heartbeat quorum", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.propose(1, "a");
  net.delivered = [];
  net.get(1).rn.readIndex("req-1");
  assert.equal(net.get(1).readStates.length, 0);
  net.stabilize();
  assert.ok(net.sent(MessageType.Heartbeat).some((m) => m.context === "req-1"));
  assert.deepEqual(net.get(1).readStates, [{ index: net.raft(1).raftLog.committed, context: "req-1" }]);
});

test("ReadIndex on a follower is forwarded to the leader and answered to the follower", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.propose(1, "a");
  net.get(3).rn.readIndex("f-1");
  net.stabilize();
  assert.deepEqual(net.get(3).readStates, [{ index: net.raft(1).raftLog.committed, context: "f-1" }]);
});

test("a leader cut off from the majority never answers a ReadIndex", () => {
  const net = new Network([1, 2, 3], { checkQuorum: false });
  net.campaign(1);
  net.isolate(1);
  net.get(1).rn.readIndex("stale?");
  net.tickAll(10);
  assert.equal(net.get(1).readStates.length, 0);
});

test("a new leader defers ReadIndex until an entry of its term commits", () => {
  const net = new Network([1, 2, 3], { checkQuorum: false, preVote: false });
  net.campaign(1);
  net.filter = (m) => m.type === MessageType.AppResp; // its empty entry cannot commit
  net.campaign(2);
  assert.equal(net.leaders().includes(2), true);
  net.get(2).rn.readIndex("early");
  net.tickAll(1);
  assert.equal(net.get(2).readStates.length, 0);
  net.recover();
  net.tickAll(2);
  assert.equal(net.get(2).readStates.length, 1);
  assert.equal(net.raft(2).raftLog.term(net.get(2).readStates[0].index), net.raft(2).term);
});

test("lease-based reads answer without a heartbeat round while the lease holds", () => {
  const net = new Network([1, 2, 3], { readOnlyOption: "lease-based" });
  net.campaign(1);
  net.tickAll(2); // heartbeats establish the lease
  net.delivered = [];
  net.get(1).rn.readIndex("lease-1");
  net.process(1);
  assert.equal(net.get(1).readStates.length, 1, "answered in the same step");
  assert.equal(net.sent(MessageType.Heartbeat).length, 0);
});

test("lease-based reads fall back to a heartbeat round once the lease has expired", () => {
  const net = new Network([1, 2, 3], { readOnlyOption: "lease-based" });
  net.campaign(1);
  net.tickAll(2);
  net.isolate(1);
  for (let i = 0; i < 9; i++) net.tick(1);
  net.get(1).rn.readIndex("lease-2");
  net.stabilize();
  assert.equal(net.get(1).readStates.length, 0, "an expired lease must not serve reads");
});

test("duplicate read contexts and requests beyond the pending limit are refused", () => {
  const net = new Network([1, 2, 3], { maxPendingReadIndex: 2 });
  net.campaign(1);
  net.isolate(1);
  assert.equal(net.get(1).rn.readIndex("a"), undefined);
  assert.equal(net.get(1).rn.readIndex("a")?.code, "ProposalDropped");
  assert.equal(net.get(1).rn.readIndex("b"), undefined);
  assert.match(net.get(1).rn.readIndex("c")?.message ?? "", /pending/);
});
