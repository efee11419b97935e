import assert from "node:assert/strict";
import { test } from "node:test";
import {
  EntryType,
  MemoryStorage,
  MessageType,
  newMessage,
  Raft,
  StateRole,
  seededRand,
} from "../../src/raft/index.ts";
import { Network } from "./harness.ts";

const ent = (index: number, term: number) => ({
  index,
  term,
  type: EntryType.Normal,
  data: new Uint8Array(),
});

test("a single-member cluster elects itself and commits an empty entry of its term", () => {
  const net = new Network([1]);
  net.tickAll(25);
  const r = net.raft(1);
  assert.equal(r.role, StateRole.Leader);
  assert.equal(r.raftLog.committed, 2, "index 1 is the bootstrap snapshot; 2 is the leader's empty entry");
  assert.equal(r.raftLog.term(2), r.term);
});

test("three members elect exactly one leader within two election timeouts", () => {
  for (let seed = 1; seed <= 20; seed++) {
    const net = new Network([1, 2, 3], {}, seed);
    net.tickAll(21);
    assert.equal(net.leaders().length, 1, `seed ${seed}`);
    const lead = net.leaders()[0];
    for (const id of [1, 2, 3]) assert.equal(net.raft(id).lead, lead);
  }
});

test("election timeouts are randomized in [electionTicks, 2*electionTicks)", () => {
  const seen = new Set<number>();
  for (let seed = 1; seed <= 50; seed++) {
    const s = MemoryStorage.bootstrap([1, 2, 3]);
    const r = new Raft({ id: 1, storage: s, rand: seededRand(seed), preVote: false });
    let t = 0;
    while (r.role === StateRole.Follower && t < 100) {
      r.tick();
      t++;
    }
    assert.ok(t >= 10 && t < 20, `timeout ${t}`);
    seen.add(t);
  }
  assert.ok(seen.size > 3, "timeouts should vary with the seed");
});

test("a vote is refused to a candidate whose last term is older even if its log is longer (§5.4.1)", () => {
  const s = MemoryStorage.bootstrap([1, 2, 3]);
  s.append([ent(2, 1), ent(3, 3)]);
  s.setHardState({ term: 3, vote: 0, commit: 1 });
  const r = new Raft({ id: 1, storage: s, rand: seededRand(1), checkQuorum: false, preVote: false });
  // Candidate 2: longer log but last term 2.
  r.step(newMessage(MessageType.Vote, { from: 2, to: 1, term: 4, index: 6, logTerm: 2 }));
  const resp = r.msgs.pop();
  assert.equal(resp?.type, MessageType.VoteResp);
  assert.equal(resp?.reject, true);
  // Candidate 3: shorter log but newer last term.
  r.step(newMessage(MessageType.Vote, { from: 3, to: 1, term: 4, index: 2, logTerm: 4 }));
  const resp2 = r.msgs.pop();
  assert.equal(resp2?.reject, false);
  assert.equal(r.vote, 3);
});

test("a node never votes for two candidates in one term", () => {
  const s = MemoryStorage.bootstrap([1, 2, 3]);
  const r = new Raft({ id: 1, storage: s, rand: seededRand(1), checkQuorum: false, preVote: false });
  r.step(newMessage(MessageType.Vote, { from: 2, to: 1, term: 2, index: 1, logTerm: 1 }));
  assert.equal(r.msgs.pop()?.reject, false);
  r.step(newMessage(MessageType.Vote, { from: 3, to: 1, term: 2, index: 1, logTerm: 1 }));
  assert.equal(r.msgs.pop()?.reject, true);
  assert.equal(r.vote, 2);
});

test("pre-vote: a partitioned member rejoining does not raise the term or disrupt the leader", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  const term = net.raft(1).term;
  net.isolate(3);
  net.tickAll(100);
  assert.equal(net.raft(3).term, term, "isolated node must not inflate its term");
  assert.equal(net.raft(3).role, StateRole.PreCandidate);
  net.recover();
  net.tickAll(30);
  assert.equal(net.raft(1).role, StateRole.Leader);
  assert.equal(net.raft(1).term, term);
});

test("without pre-vote a rejoining member disrupts the leader (the failure pre-vote prevents)", () => {
  const net = new Network([1, 2, 3], { preVote: false, checkQuorum: false });
  net.campaign(1);
  const term = net.raft(1).term;
  net.isolate(3);
  net.tickAll(100);
  assert.ok(net.raft(3).term > term + 3);
  net.recover();
  net.tickAll(30);
  assert.ok(net.raft(1).term > term + 3, "the cluster was forced into the isolated node's higher term");
});

test("check-quorum: a leader cut off from the majority steps down within an election timeout", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.isolate(1);
  net.tickAll(21);
  assert.notEqual(net.raft(1).role, StateRole.Leader);
  // The majority side elects a new leader.
  net.tickAll(30);
  const leaders = net.leaders();
  assert.equal(leaders.length, 1);
  assert.notEqual(leaders[0], 1);
});

test("check-quorum: a follower that heard from its leader recently ignores vote requests", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  const f = net.raft(2);
  const term = f.term;
  f.step(newMessage(MessageType.Vote, { from: 3, to: 2, term: term + 1, index: 100, logTerm: term }));
  assert.equal(f.term, term, "vote request inside the lease is ignored");
  assert.equal(f.msgs.length, 0);
});

test("a leader steps down when it sees a higher term", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  const r = net.raft(1);
  r.step(newMessage(MessageType.AppResp, { from: 2, to: 1, term: r.term + 5, index: 0 }));
  assert.equal(r.role, StateRole.Follower);
  assert.equal(r.lead, 0);
});

test("a candidate that loses the vote returns to follower", () => {
  const net = new Network([1, 2, 3], { preVote: false });
  const r = net.raft(1);
  net.get(1).rn.campaign();
  assert.equal(r.role, StateRole.Candidate);
  r.step(newMessage(MessageType.VoteResp, { from: 2, to: 1, term: r.term, reject: true }));
  r.step(newMessage(MessageType.VoteResp, { from: 3, to: 1, term: r.term, reject: true }));
  assert.equal(r.role, StateRole.Follower);
});

test("a stale leader receiving a heartbeat of a lower term answers so it learns the new term", () => {
  const s = MemoryStorage.bootstrap([1, 2, 3]);
  s.setHardState({ term: 5, vote: 0, commit: 1 });
  const r2 = new Raft({ id: 2, storage: s, rand: seededRand(1) });
  r2.step(newMessage(MessageType.Heartbeat, { from: 3, to: 2, term: 4 }));
  const resp = r2.msgs.pop();
  assert.equal(resp?.type, MessageType.AppResp);
  assert.equal(resp?.term, 5);
});

test("a follower that saw its leader go away elects a new one at once, without waiting out the election timeout", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  const term = net.raft(1).term;
  net.isolate(1); // the leader's process died: its connections closed
  // Both followers forget it; 2 campaigns first. No tick has passed, so
  // neither would grant a vote if it still counted on the old leader.
  assert.equal(net.get(2).rn.forgetLeader(), true);
  assert.equal(net.get(3).rn.forgetLeader(), true);
  net.campaign(2);
  assert.equal(net.raft(2).role, StateRole.Leader);
  assert.equal(net.raft(2).term, term + 1);
});

test("a follower that did not see its leader go away still ignores an early campaign (pre-vote keeps a live leader)", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  const term = net.raft(1).term;
  net.cut(1, 2); // only 2 lost its connection to the leader
  assert.equal(net.get(2).rn.forgetLeader(), true);
  net.campaign(2);
  assert.equal(net.raft(2).role, StateRole.PreCandidate);
  assert.equal(net.raft(1).role, StateRole.Leader);
  assert.equal(net.raft(1).term, term);
  assert.equal(net.raft(3).term, term);
});

test("forgetting the leader is refused under lease-based reads and by a node that is not a follower", () => {
  const net = new Network([1, 2, 3], { readOnlyOption: "lease-based" });
  net.campaign(1);
  assert.equal(net.get(2).rn.forgetLeader(), false);
  assert.equal(net.raft(2).lead, 1);
  const safe = new Network([1, 2, 3]);
  safe.campaign(1);
  assert.equal(safe.get(1).rn.forgetLeader(), false);
  assert.equal(safe.raft(1).role, StateRole.Leader);
});
