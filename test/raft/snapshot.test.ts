import assert from "node:assert/strict";
import { test } from "node:test";
import {
  ConfChangeType,
  MemoryStorage,
  MessageType,
  newMessage,
  ProgressState,
} from "../../src/raft/index.ts";
import { Network } from "./harness.ts";

test("the leader sends a snapshot to a follower that fell behind its compacted log, which installs it and catches up", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < 30; i++) net.propose(1, `v${i}`);
  net.compact(1);
  const first = net.raft(1).raftLog.firstIndex();
  assert.ok(first > 30);
  net.recover();
  net.delivered = [];
  net.tickAll(5);
  const snaps = net.sent(MessageType.Snap).filter((m) => m.to === 3);
  assert.equal(snaps.length, 1);
  assert.equal(net.raft(3).raftLog.committed, net.raft(1).raftLog.committed);
  assert.deepEqual(net.appliedData(3), net.appliedData(1));
  assert.equal(net.get(3).storage.firstIndex(), first);
  // Back to normal replication afterwards.
  net.get(1).rn.reportSnapshot(3, true);
  net.propose(1, "after");
  net.tickAll(3);
  assert.equal(net.raft(1).trk.progress.get(3)?.state, ProgressState.Replicate);
  assert.equal(net.appliedData(3).at(-1), "after");
});

test("a follower whose log already contains the snapshot index fast-forwards its commit instead of restoring", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  for (let i = 0; i < 5; i++) net.propose(1, `v${i}`);
  const r2 = net.raft(2);
  const snap = net
    .get(1)
    .storage.createSnapshot(
      net.raft(1).raftLog.applied,
      net.raft(1).trk.confState(),
      new TextEncoder().encode("[]"),
    );
  r2.step(newMessage(MessageType.Snap, { from: 1, to: 2, term: r2.term, snapshot: snap }));
  assert.equal(r2.raftLog.hasPendingSnapshot(), false);
  assert.equal(r2.raftLog.committed, snap.metadata.index);
});

test("a member added after the latest snapshot installs it and learns its own membership from the log", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  for (let i = 0; i < 5; i++) net.propose(1, `v${i}`);
  net.compact(1); // the snapshot's configuration is {1,2,3}
  net.addMember(4, new MemoryStorage());
  net
    .get(1)
    .rn.proposeConfChange({ transition: "auto", changes: [{ type: ConfChangeType.AddLearner, nodeId: 4 }] });
  net.stabilize();
  net.tickAll(3);
  assert.deepEqual(net.appliedData(4), net.appliedData(1));
  assert.deepEqual(net.raft(4).trk.confState().learners, [4]);
  assert.equal(net.raft(4).isLearner, true);
});

test("a failed snapshot send returns the follower to probe state", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < 5; i++) net.propose(1, `v${i}`);
  net.compact(1);
  net.recover();
  net.filter = (m) => m.type === MessageType.Snap;
  net.tickAll(2);
  const pr = net.raft(1).trk.progress.get(3);
  assert.equal(pr?.state, ProgressState.Snapshot);
  net.get(1).rn.reportSnapshot(3, false);
  assert.equal(pr?.state, ProgressState.Probe);
  net.recover();
  net.tickAll(5);
  assert.deepEqual(net.appliedData(3), net.appliedData(1));
});
