import assert from "node:assert/strict";
import { test } from "node:test";
import {
  EntryType,
  MemoryStorage,
  MessageType,
  newMessage,
  ProgressState,
  Raft,
  RaftAssertionError,
  StateRole,
  seededRand,
} from "../../src/raft/index.ts";
import { Network } from "./harness.ts";

const ent = (index: number, term: number, text = "") => ({
  index,
  term,
  type: EntryType.Normal,
  data: new TextEncoder().encode(text),
});

test("the leader replicates proposals and every member applies them in the same order", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  for (let i = 0; i < 20; i++) assert.equal(net.propose(1 + (i % 3), `v${i}`), undefined);
  const want = Array.from({ length: 20 }, (_, i) => `v${i}`);
  for (const id of [1, 2, 3]) assert.deepEqual(net.appliedData(id), want);
});

test("a follower forwards proposals to the leader", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.propose(3, "from-follower");
  const props = net.sent(MessageType.Prop);
  assert.equal(props.length, 1);
  assert.equal(props[0].to, 1);
  assert.deepEqual(net.appliedData(2), ["from-follower"]);
});

test("a proposal with no known leader is dropped with an error naming the cause", () => {
  const net = new Network([1, 2, 3]);
  const err = net.get(2).rn.propose(new Uint8Array([1]));
  assert.equal(err?.code, "ProposalDropped");
  assert.match(err?.message ?? "", /no leader/);
});

test("the leader appends an empty entry of its term on election", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  const r = net.raft(1);
  const last = r.raftLog.lastIndex();
  assert.equal(r.raftLog.term(last), r.term);
  assert.equal(r.raftLog.committed, last);
});

test("follower rejects append with mismatched prev term and hints its conflict term", () => {
  const s = MemoryStorage.bootstrap([1, 2]);
  s.append([ent(1, 1), ent(2, 2), ent(3, 2), ent(4, 2)]);
  s.setHardState({ term: 2, vote: 0, commit: 1 });
  const r = new Raft({ id: 2, storage: s, rand: seededRand(1) });
  // Leader of term 5 believes index 4 has term 3.
  r.step(newMessage(MessageType.App, { from: 1, to: 2, term: 5, index: 4, logTerm: 3, commit: 1 }));
  const resp = r.msgs.pop();
  assert.equal(resp?.type, MessageType.AppResp);
  assert.equal(resp?.reject, true);
  assert.equal(resp?.index, 4);
  // The largest index with term <= 3 is 4 (term 2): the hint carries index 4, term 2.
  assert.equal(resp?.rejectHint, 4);
  assert.equal(resp?.logTerm, 2);
});

test("fast backtracking skips a whole conflicting term per round trip", () => {
  // Leader log: terms 1,1,1 then 4 x 20. Follower: 1,1,1 then 2 x 20 (never committed).
  const leaderStore = MemoryStorage.bootstrap([1, 2, 3]);
  const followerStore = MemoryStorage.bootstrap([1, 2, 3]);
  const base = [ent(1, 1), ent(2, 1), ent(3, 1)];
  leaderStore.append([...base, ...Array.from({ length: 20 }, (_, i) => ent(4 + i, 4))]);
  followerStore.append([...base, ...Array.from({ length: 20 }, (_, i) => ent(4 + i, 2))]);
  leaderStore.setHardState({ term: 4, vote: 1, commit: 3 });
  followerStore.setHardState({ term: 2, vote: 0, commit: 3 });
  const net = new Network([3]);
  net.members.clear();
  net.addMember(1, leaderStore);
  net.addMember(2, followerStore);
  net.addMember(3, MemoryStorage.bootstrap([1, 2, 3]));
  net.cut(1, 3);
  net.campaign(1);
  assert.equal(net.raft(1).role, StateRole.Leader);
  const rejects = net.delivered.filter((m) => m.type === MessageType.AppResp && m.from === 2 && m.reject);
  assert.ok(rejects.length <= 2, `expected at most 2 rejections, saw ${rejects.length}`);
  assert.equal(net.raft(2).raftLog.lastIndex(), net.raft(1).raftLog.lastIndex());
  assert.equal(net.raft(2).raftLog.term(10), 4);
});

test("a conflicting uncommitted suffix is truncated and replaced", () => {
  const s = MemoryStorage.bootstrap([1, 2]);
  s.append([ent(1, 1), ent(2, 1, "old"), ent(3, 1, "old")]);
  s.setHardState({ term: 1, vote: 0, commit: 1 });
  const r = new Raft({ id: 2, storage: s, rand: seededRand(1) });
  r.step(
    newMessage(MessageType.App, {
      from: 1,
      to: 2,
      term: 2,
      index: 1,
      logTerm: 1,
      entries: [ent(2, 2, "new")],
      commit: 1,
    }),
  );
  assert.equal(r.msgs.pop()?.reject, false);
  assert.equal(r.raftLog.lastIndex(), 2);
  assert.equal(r.raftLog.term(2), 2);
});

test("truncating a committed entry is an assertion failure", () => {
  const s = MemoryStorage.bootstrap([1, 2]);
  s.append([ent(1, 1), ent(2, 1), ent(3, 1)]);
  s.setHardState({ term: 1, vote: 0, commit: 3 });
  const r = new Raft({ id: 2, storage: s, rand: seededRand(1) });
  assert.throws(() => r.raftLog.append([ent(2, 2)]), RaftAssertionError);
});

test("the leader never commits an entry of a previous term by counting replicas (Figure 8)", () => {
  // Leader 1 of term 3 holds index 2 from term 2; follower 2 has it too, follower 3 does not.
  const mk = (ids: number[], entries: ReturnType<typeof ent>[], term: number) => {
    const s = MemoryStorage.bootstrap(ids);
    s.append(entries);
    s.setHardState({ term, vote: 0, commit: 1 });
    return s;
  };
  const net = new Network([3]);
  net.members.clear();
  net.addMember(1, mk([1, 2, 3], [ent(1, 1), ent(2, 2)], 2));
  net.addMember(2, mk([1, 2, 3], [ent(1, 1), ent(2, 2)], 2));
  net.addMember(3, mk([1, 2, 3], [ent(1, 1)], 2));
  // Only vote requests and responses get through: the leader cannot replicate its term-3 entry.
  net.filter = (m) =>
    m.type !== MessageType.Vote &&
    m.type !== MessageType.VoteResp &&
    m.type !== MessageType.PreVote &&
    m.type !== MessageType.PreVoteResp;
  net.campaign(1);
  const r = net.raft(1);
  assert.equal(r.role, StateRole.Leader);
  // Pretend follower 2 acknowledged index 2 (a majority with the leader) but not index 3.
  r.step(newMessage(MessageType.AppResp, { from: 2, to: 1, term: r.term, index: 2 }));
  assert.equal(r.raftLog.committed, 1, "index 2 is from term 2 and must not commit by counting");
  r.step(newMessage(MessageType.AppResp, { from: 2, to: 1, term: r.term, index: 3 }));
  assert.equal(r.raftLog.committed, 3, "committing the term-3 entry commits everything before it");
});

test("many proposals in one message are appended and sent as one batch", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.delivered = [];
  const entries = Array.from({ length: 50 }, (_, i) => ent(0, 0, `b${i}`));
  const err = net.raft(1).step(newMessage(MessageType.Prop, { from: 1, entries }));
  assert.equal(err, undefined);
  net.stabilize();
  const apps = net.sent(MessageType.App).filter((m) => m.to === 2 && m.entries.length > 0);
  assert.equal(apps.length, 1);
  assert.equal(apps[0].entries.length, 50);
  assert.equal(net.appliedData(3).length, 50);
});

test("maxSizePerMsgBytes bounds the bytes of entries in one append", () => {
  const net = new Network([1, 2], { maxSizePerMsgBytes: 300 });
  net.campaign(1);
  net.isolate(2);
  for (let i = 0; i < 20; i++) net.propose(1, "x".repeat(100));
  net.recover();
  net.delivered = [];
  net.tickAll(3);
  const apps = net.sent(MessageType.App).filter((m) => m.entries.length > 0);
  assert.ok(apps.length >= 5, `expected several bounded appends, saw ${apps.length}`);
  for (const a of apps) assert.ok(a.entries.length <= 3, `append carried ${a.entries.length} entries`);
  assert.equal(net.appliedData(2).length, 20);
});

test("flow control: no more than maxInflightMsgs unacknowledged appends to a follower", () => {
  const net = new Network([1, 2, 3], { maxInflightMsgs: 4 });
  net.campaign(1);
  // Follower 2 stops acknowledging; it is in Replicate state.
  net.filter = (m) => m.type === MessageType.AppResp && m.from === 2;
  net.delivered = [];
  for (let i = 0; i < 20; i++) net.propose(1, `p${i}`);
  const toTwo = net.sent(MessageType.App).filter((m) => m.to === 2 && m.entries.length > 0);
  assert.equal(toTwo.length, 4);
  const pr = net.raft(1).trk.progress.get(2);
  assert.equal(pr?.state, ProgressState.Replicate);
  assert.equal(pr?.isPaused(), true);
  // Commit still advances with follower 3.
  assert.equal(net.appliedData(1).length, 20);
});

test("a follower in probe state gets one append per heartbeat until it answers", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  const pr = net.raft(1).trk.progress.get(2);
  assert.ok(pr);
  pr.becomeProbe();
  net.isolate(2);
  net.delivered = [];
  for (let i = 0; i < 5; i++) net.get(1).rn.propose(new Uint8Array([i]));
  const queued = net.raft(1).msgs.filter((m) => m.type === MessageType.App && m.to === 2);
  assert.equal(queued.length, 1, "only the first probe is sent while paused");
});

test("the uncommitted-bytes cap drops proposals when quorum is lost", () => {
  const net = new Network([1, 2, 3], { maxUncommittedEntriesBytes: 1000 });
  net.campaign(1);
  net.isolate(1);
  let dropped = 0;
  for (let i = 0; i < 50; i++) {
    const err = net.get(1).rn.propose(new Uint8Array(100));
    if (err) {
      dropped++;
      assert.match(err.message, /uncommitted/);
    }
  }
  assert.ok(dropped >= 40, `dropped ${dropped}`);
  assert.ok(net.raft(1).uncommittedSize <= 1000);
});

test("commit index and applied index never decrease across a run with a leader change", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.propose(1, "a");
  const before = [1, 2, 3].map((id) => net.raft(id).raftLog.committed);
  net.isolate(1);
  net.tickAll(40);
  net.recover();
  net.tickAll(5);
  const after = [1, 2, 3].map((id) => net.raft(id).raftLog.committed);
  for (let i = 0; i < 3; i++) assert.ok(after[i] >= before[i]);
  assert.deepEqual(net.appliedData(1), ["a"]);
});

test("a leader may send its new entries while it writes them (thesis §10.2.1): the Ready says so, a follower's does not", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.get(1).rn.propose(new TextEncoder().encode("x"));
  const rd = net.get(1).rn.ready();
  assert.equal(rd.entries.length, 1);
  assert.ok(rd.messages.some((m) => m.type === MessageType.App && m.entries.length === 1));
  assert.equal(rd.sendBeforePersist, true);
  net.get(1).rn.advance(rd);
  // A follower's acknowledgement promises what it persisted: never before the write.
  for (const m of rd.messages) net.deliver(m);
  const frd = net.get(2).rn.ready();
  assert.ok(frd.messages.some((m) => m.type === MessageType.AppResp));
  assert.equal(frd.sendBeforePersist, false);
});

test("a candidate's vote requests wait for its term and vote to be durable", () => {
  const net = new Network([1, 2, 3]);
  net.get(1).rn.campaign();
  const rd = net.get(1).rn.ready();
  assert.ok(rd.messages.some((m) => m.type === MessageType.PreVote || m.type === MessageType.Vote));
  assert.equal(rd.sendBeforePersist, false);
});

test("a leader's own entry counts toward commit only once advance() reports it durable", () => {
  const net = new Network([1]);
  net.campaign(1);
  const rn = net.get(1).rn;
  const before = rn.committed;
  rn.propose(new TextEncoder().encode("solo"));
  // Nobody else has it and the leader's copy is not written: not committed.
  assert.equal(rn.committed, before);
  const rd = rn.ready();
  assert.equal(rd.committedEntries.length, 0);
  net.get(1).storage.append(rd.entries);
  rn.advance(rd);
  assert.equal(rn.committed, before + 1);
  assert.deepEqual(
    rn.ready().committedEntries.map((e) => new TextDecoder().decode(e.data)),
    ["solo"],
  );
});

test("a leader commits what a quorum of followers persisted even before its own write completes", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  const leader = net.get(1).rn;
  leader.propose(new TextEncoder().encode("quorum"));
  const rd = leader.ready();
  const index = rd.entries[0].index;
  // The appends leave first; both followers persist and answer while the leader is still writing.
  for (const m of rd.messages) net.deliver(m);
  for (const id of [2, 3]) net.process(id);
  for (const m of net.queue.splice(0)) if (m.to === 1) leader.step(m);
  assert.equal(leader.committed, index);
  // Its committed entries are handed out only in a Ready after this one's
  // entries were persisted (the caller persists before it applies).
  assert.equal(rd.committedEntries.length, 0);
  net.get(1).storage.append(rd.entries);
  leader.advance(rd);
  assert.deepEqual(
    leader.ready().committedEntries.map((e) => new TextDecoder().decode(e.data)),
    ["quorum"],
  );
});
