import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfChangeType, MemoryStorage, MessageType, StateRole } from "../../src/raft/index.ts";
import { Network } from "./harness.ts";

const add = (nodeId: number) => ({ type: ConfChangeType.AddNode, nodeId });
const learner = (nodeId: number) => ({ type: ConfChangeType.AddLearner, nodeId });
const remove = (nodeId: number) => ({ type: ConfChangeType.RemoveNode, nodeId });

function joinEmpty(net: Network, id: number): void {
  net.addMember(id, new MemoryStorage());
}

test("a learner receives the log but neither votes nor counts toward commit", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  joinEmpty(net, 4);
  assert.equal(net.get(1).rn.proposeConfChange({ transition: "auto", changes: [learner(4)] }), undefined);
  net.stabilize();
  net.tickAll(3);
  net.propose(1, "x");
  assert.deepEqual(net.appliedData(4), ["x"]);
  assert.deepEqual(net.raft(1).trk.confState().learners, [4]);
  // With two voters down, the learner cannot help commit.
  net.isolate(2);
  net.isolate(3);
  net.propose(1, "y");
  assert.equal(net.appliedData(1).includes("y"), false);
  // A learner never campaigns.
  net.isolate(1);
  net.tick(4, 100);
  assert.equal(net.raft(4).role, StateRole.Follower);
  assert.equal(
    net.delivered.filter(
      (m) => m.from === 4 && (m.type === MessageType.Vote || m.type === MessageType.PreVote),
    ).length,
    0,
  );
});

test("a learner is promoted to voter and then counts toward quorum", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  joinEmpty(net, 4);
  net.get(1).rn.proposeConfChange({ transition: "auto", changes: [learner(4)] });
  net.stabilize();
  net.get(1).rn.proposeConfChange({ transition: "auto", changes: [add(4)] });
  net.stabilize();
  assert.deepEqual(net.raft(1).trk.confState().voters, [1, 2, 3, 4]);
  net.isolate(3);
  net.propose(1, "with-4");
  assert.deepEqual(net.appliedData(1), ["with-4"]);
});

test("replacing two voters uses joint consensus and leaves it automatically", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  joinEmpty(net, 4);
  joinEmpty(net, 5);
  const err = net
    .get(1)
    .rn.proposeConfChange({ transition: "auto", changes: [add(4), add(5), remove(2), remove(3)] });
  assert.equal(err, undefined);
  net.stabilize();
  net.tickAll(3);
  const cs = net.raft(1).trk.confState();
  assert.deepEqual(cs.voters, [1, 4, 5]);
  assert.deepEqual(cs.votersOutgoing, [], "left the joint configuration");
  assert.equal(net.raft(4).trk.confState().votersOutgoing.length, 0);
});

test("in a joint configuration a commit needs a majority of both halves", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  joinEmpty(net, 4);
  joinEmpty(net, 5);
  net
    .get(1)
    .rn.proposeConfChange({ transition: "explicit", changes: [add(4), add(5), remove(2), remove(3)] });
  net.stabilize();
  assert.deepEqual(net.raft(1).trk.confState().votersOutgoing, [1, 2, 3]);
  // New half {1,4,5} fully up, old half {1,2,3} down to only the leader: no commit.
  net.isolate(2);
  net.isolate(3);
  net.cut(1, 4);
  net.cut(1, 5);
  net.recover();
  net.isolate(2);
  net.isolate(3);
  net.propose(1, "needs-both");
  assert.equal(net.appliedData(1).includes("needs-both"), false);
  net.recover();
  net.tickAll(3);
  assert.equal(net.appliedData(1).includes("needs-both"), true);
  // Explicit joint configurations are left by an empty change.
  assert.equal(net.get(1).rn.proposeConfChange({ transition: "explicit", changes: [] }), undefined);
  net.stabilize();
  assert.deepEqual(net.raft(1).trk.confState().votersOutgoing, []);
});

test("a second configuration change while one is unapplied is refused with a clear error", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.isolate(2);
  net.isolate(3);
  assert.equal(net.get(1).rn.proposeConfChange({ transition: "auto", changes: [learner(4)] }), undefined);
  const err = net.get(1).rn.proposeConfChange({ transition: "auto", changes: [learner(5)] });
  assert.equal(err?.code, "ConfChangeRefused");
  assert.match(err?.message ?? "", /not applied yet/);
});

test("changing two voters without joint consensus is refused", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  const err = net.get(1).rn.proposeConfChange({ transition: "auto", changes: [remove(2)] });
  assert.equal(err, undefined);
  net.stabilize();
  const err2 = net.get(1).rn.proposeConfChange({ transition: "implicit", changes: [remove(1), remove(3)] });
  assert.match(err2?.message ?? "", /removes all voters/);
});

test("a removed leader steps down and the rest elect a new leader", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.get(1).rn.proposeConfChange({ transition: "auto", changes: [remove(1)] });
  net.stabilize();
  assert.notEqual(net.raft(1).role, StateRole.Leader);
  net.tickAll(30);
  const leaders = net.leaders();
  assert.equal(leaders.length, 1);
  assert.notEqual(leaders[0], 1);
  net.propose(leaders[0], "after-removal");
  assert.deepEqual(net.appliedData(2).at(-1), "after-removal");
});
