// Raft messages to and from their protobuf form (proto/floe/raftpb.proto).
// Snapshot images never travel inside a message: a snapshot message carries
// only the metadata and the image streams behind it (snapshot.ts).

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type PeerHello,
  PeerHelloSchema,
  type RaftMessage,
  RaftMessageSchema,
} from "../api/gen/floe/raftpb_pb.ts";
import { type ConfState, type Entry, type EntryType, type Message, MessageType } from "../raft/index.ts";
import { type DecodedRaftMessage, decodeRaftMessage, encodeRaftMessage, WireError } from "./wire.ts";

/** Wire numbers of message types: positions in this list; append only. */
const TYPES: readonly MessageType[] = [
  MessageType.Hup,
  MessageType.Beat,
  MessageType.Prop,
  MessageType.App,
  MessageType.AppResp,
  MessageType.Vote,
  MessageType.VoteResp,
  MessageType.PreVote,
  MessageType.PreVoteResp,
  MessageType.Snap,
  MessageType.Heartbeat,
  MessageType.HeartbeatResp,
  MessageType.Unreachable,
  MessageType.SnapStatus,
  MessageType.CheckQuorum,
  MessageType.TransferLeader,
  MessageType.TimeoutNow,
  MessageType.ReadIndex,
  MessageType.ReadIndexResp,
];
const TYPE_NUMBER = new Map(TYPES.map((t, i) => [t, i]));

const EMPTY = new Uint8Array(0);

export class CodecError extends Error {
  override name = "CodecError";
}

const big = (n: number): bigint => BigInt(n);
const small = (n: bigint, field: string): number => {
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new CodecError(`${field} ${n} exceeds 2^53`);
  return Number(n);
};

export function encodeMessage(m: Message): Uint8Array {
  const type = TYPE_NUMBER.get(m.type);
  if (type === undefined) throw new CodecError(`unknown message type ${m.type}`);
  return encodeRaftMessage(m, type);
}

/** The same bytes through protobuf-es: the reference the direct encoder is tested against. */
export function encodeMessageReference(m: Message): Uint8Array {
  const type = TYPE_NUMBER.get(m.type);
  if (type === undefined) throw new CodecError(`unknown message type ${m.type}`);
  const snap = m.snapshot?.metadata;
  const pb = create(RaftMessageSchema, {
    type,
    to: big(m.to),
    from: big(m.from),
    term: big(m.term),
    logTerm: big(m.logTerm),
    index: big(m.index),
    entries: m.entries.map((e) => ({ term: big(e.term), index: big(e.index), type: e.type, data: e.data })),
    commit: big(m.commit),
    snapshot: snap && {
      index: big(snap.index),
      term: big(snap.term),
      confState: {
        voters: snap.confState.voters.map(big),
        votersOutgoing: snap.confState.votersOutgoing.map(big),
        learners: snap.confState.learners.map(big),
        learnersNext: snap.confState.learnersNext.map(big),
        autoLeave: snap.confState.autoLeave,
      },
    },
    reject: m.reject,
    rejectHint: big(m.rejectHint),
    context: m.context,
  });
  return toBinary(RaftMessageSchema, pb);
}

/** Decodes a message; `image` is the snapshot's data when the caller streamed it separately. */
export function decodeMessage(bytes: Uint8Array, image: Uint8Array = EMPTY): Message {
  let d: DecodedRaftMessage;
  try {
    d = decodeRaftMessage(bytes);
  } catch (e) {
    if (e instanceof WireError) throw new CodecError(`undecodable Raft message: ${e.message}`);
    throw e;
  }
  const type = TYPES[d.type];
  if (type === undefined) throw new CodecError(`unknown message type number ${d.type}`);
  const f = d.message;
  const m: Message = {
    type,
    to: f.to,
    from: f.from,
    term: f.term,
    logTerm: f.logTerm,
    index: f.index,
    entries: f.entries,
    commit: f.commit,
    reject: f.reject,
    rejectHint: f.rejectHint,
    context: f.context,
  };
  if (d.snapshot) {
    const { index, term, confState } = d.snapshot;
    m.snapshot = { metadata: { index, term, confState }, data: image };
  }
  return m;
}

/** The same through protobuf-es: the reference the direct decoder is tested against. */
export function decodeMessageReference(bytes: Uint8Array, image: Uint8Array = EMPTY): Message {
  let pb: RaftMessage;
  try {
    pb = fromBinary(RaftMessageSchema, bytes);
  } catch (e) {
    throw new CodecError(`undecodable Raft message: ${(e as Error).message}`);
  }
  const type = TYPES[pb.type];
  if (type === undefined) throw new CodecError(`unknown message type number ${pb.type}`);
  const entries: Entry[] = pb.entries.map((e) => ({
    term: small(e.term, "entry term"),
    index: small(e.index, "entry index"),
    type: e.type as EntryType,
    data: e.data,
  }));
  const m: Message = {
    type,
    to: small(pb.to, "to"),
    from: small(pb.from, "from"),
    term: small(pb.term, "term"),
    logTerm: small(pb.logTerm, "logTerm"),
    index: small(pb.index, "index"),
    entries,
    commit: small(pb.commit, "commit"),
    reject: pb.reject,
    rejectHint: small(pb.rejectHint, "rejectHint"),
    context: pb.context,
  };
  const s = pb.snapshot;
  if (s) {
    const cs = s.confState;
    const ids = (l: readonly bigint[] | undefined) => (l ?? []).map((n) => small(n, "node id"));
    const confState: ConfState = {
      voters: ids(cs?.voters),
      votersOutgoing: ids(cs?.votersOutgoing),
      learners: ids(cs?.learners),
      learnersNext: ids(cs?.learnersNext),
      autoLeave: cs?.autoLeave ?? false,
    };
    m.snapshot = {
      metadata: { index: small(s.index, "snapshot index"), term: small(s.term, "snapshot term"), confState },
      data: image,
    };
  }
  return m;
}

export const PURPOSE_MESSAGES = 1;
export const PURPOSE_SNAPSHOT = 2;
/** A one-shot question from a member that is joining: which cluster is this, who is in it. */
export const PURPOSE_QUERY = 3;

export function encodeHello(h: { clusterId: number; from: number; to: number; purpose: number }): Uint8Array {
  return toBinary(
    PeerHelloSchema,
    create(PeerHelloSchema, {
      clusterId: big(h.clusterId),
      from: big(h.from),
      to: big(h.to),
      purpose: h.purpose,
      version: "floe/1",
    }),
  );
}

export function decodeHello(bytes: Uint8Array): {
  clusterId: number;
  from: number;
  to: number;
  purpose: number;
} {
  let pb: PeerHello;
  try {
    pb = fromBinary(PeerHelloSchema, bytes);
  } catch (e) {
    throw new CodecError(`undecodable hello: ${(e as Error).message}`);
  }
  return {
    clusterId: small(pb.clusterId, "cluster id"),
    from: small(pb.from, "from"),
    to: small(pb.to, "to"),
    purpose: pb.purpose,
  };
}
