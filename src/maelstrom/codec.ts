// Raft messages as JSON bodies for Maelstrom's network (which only carries
// JSON): binary payloads travel as base64.

import type { ConfState, Entry, EntryType, Message, MessageType, Snapshot } from "../raft/index.ts";

interface WireEntry {
  t: number;
  i: number;
  y: number;
  d: string;
}

export interface WireMessage {
  type: string;
  to: number;
  from: number;
  term: number;
  logTerm: number;
  index: number;
  entries: WireEntry[];
  commit: number;
  reject: boolean;
  rejectHint: number;
  context: string;
  snapshot?: { index: number; term: number; confState: ConfState; data: string };
}

const b64 = (d: Uint8Array): string => Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString("base64");
const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "base64"));

export function encodeMessage(m: Message): WireMessage {
  const w: WireMessage = {
    type: m.type,
    to: m.to,
    from: m.from,
    term: m.term,
    logTerm: m.logTerm,
    index: m.index,
    entries: m.entries.map((e) => ({ t: e.term, i: e.index, y: e.type, d: b64(e.data) })),
    commit: m.commit,
    reject: m.reject,
    rejectHint: m.rejectHint,
    context: m.context,
  };
  if (m.snapshot) {
    const { index, term, confState } = m.snapshot.metadata;
    w.snapshot = { index, term, confState, data: b64(m.snapshot.data) };
  }
  return w;
}

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** Decodes a peer's message; returns an error text for anything malformed instead of throwing. */
export function decodeMessage(v: unknown): Message | string {
  if (typeof v !== "object" || v === null) return "raft message is not an object";
  const w = v as Partial<WireMessage>;
  if (typeof w.type !== "string") return "raft message without a type";
  for (const k of ["to", "from", "term", "logTerm", "index", "commit", "rejectHint"] as const) {
    if (!isNum(w[k])) return `raft message field ${k} is not a number: ${JSON.stringify(w[k])}`;
  }
  if (!Array.isArray(w.entries)) return "raft message entries is not an array";
  const entries: Entry[] = [];
  for (const e of w.entries) {
    if (!e || !isNum(e.t) || !isNum(e.i) || !isNum(e.y) || typeof e.d !== "string")
      return "malformed raft entry";
    entries.push({ term: e.t, index: e.i, type: e.y as EntryType, data: unb64(e.d) });
  }
  let snapshot: Snapshot | undefined;
  if (w.snapshot) {
    const s = w.snapshot;
    if (!isNum(s.index) || !isNum(s.term) || typeof s.data !== "string" || !s.confState)
      return "malformed snapshot";
    snapshot = { metadata: { index: s.index, term: s.term, confState: s.confState }, data: unb64(s.data) };
  }
  return {
    type: w.type as MessageType,
    to: w.to as number,
    from: w.from as number,
    term: w.term as number,
    logTerm: w.logTerm as number,
    index: w.index as number,
    entries,
    commit: w.commit as number,
    reject: w.reject === true,
    rejectHint: w.rejectHint as number,
    context: typeof w.context === "string" ? w.context : "",
    snapshot,
  };
}
