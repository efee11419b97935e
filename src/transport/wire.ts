// A direct protobuf encoder and decoder for RaftMessage
// (proto/floe/raftpb.proto), the hottest encoding in floe: every append to
// every follower and every answer back. The encoder writes the same bytes
// protobuf-es would (fields in number order, proto3 defaults omitted,
// repeated scalars packed); the decoder reads whatever a proto3 writer may
// send (any field order, repeated scalars packed or not, unknown fields
// skipped, the last value of a scalar winning, a repeated message field
// merged) into the core's Message without an intermediate message object or a
// BigInt per field. test/transport/wire.test.ts holds both to protobuf-es.

import type { ConfState, Entry, EntryType, Message } from "../raft/index.ts";

const TWO_32 = 4294967296;

function varintSize(n: number): number {
  if (n < 0x80) return 1;
  if (n < 0x4000) return 2;
  if (n < 0x200000) return 3;
  if (n < 0x10000000) return 4;
  let size = 4;
  let v = Math.floor(n / 0x10000000);
  while (v > 0) {
    size++;
    v = Math.floor(v / 128);
  }
  return size;
}

class Writer {
  at = 0;
  constructor(readonly buf: Uint8Array) {}

  varint(n: number): void {
    const b = this.buf;
    while (n >= 0x80) {
      b[this.at++] = (n % 128) | 0x80;
      n = n >= TWO_32 ? Math.floor(n / 128) : n >>> 7;
    }
    b[this.at++] = n;
  }

  /** A varint field, omitted when zero (proto3). */
  field(no: number, n: number): void {
    if (n === 0) return;
    this.buf[this.at++] = no << 3;
    this.varint(n);
  }

  bytesField(no: number, data: Uint8Array): void {
    if (data.length === 0) return;
    this.buf[this.at++] = (no << 3) | 2;
    this.varint(data.length);
    this.buf.set(data, this.at);
    this.at += data.length;
  }

  head(no: number, len: number): void {
    this.buf[this.at++] = (no << 3) | 2;
    this.varint(len);
  }
}

const fieldSize = (n: number): number => (n === 0 ? 0 : 1 + varintSize(n));
const lenFieldSize = (len: number): number => 1 + varintSize(len) + len;

function entrySize(e: Message["entries"][number]): number {
  return (
    fieldSize(e.term) +
    fieldSize(e.index) +
    fieldSize(e.type) +
    (e.data.length === 0 ? 0 : lenFieldSize(e.data.length))
  );
}

function packedSize(ids: readonly number[]): number {
  let n = 0;
  for (const id of ids) n += varintSize(id);
  return n;
}

function confStateSize(cs: ConfState): number {
  let n = 0;
  for (const l of [cs.voters, cs.votersOutgoing, cs.learners, cs.learnersNext]) {
    if (l.length > 0) n += lenFieldSize(packedSize(l));
  }
  return n + (cs.autoLeave ? 2 : 0);
}

/** RaftMessage bytes for `m`; `type` is the message type's wire number. */
export function encodeRaftMessage(m: Message, type: number): Uint8Array {
  const entrySizes = m.entries.map(entrySize);
  const meta = m.snapshot?.metadata;
  const csSize = meta ? confStateSize(meta.confState) : 0;
  const metaSize = meta ? fieldSize(meta.index) + fieldSize(meta.term) + lenFieldSize(csSize) : 0;
  const context = m.context === "" ? undefined : Buffer.from(m.context, "utf8");
  let size =
    fieldSize(type) +
    fieldSize(m.to) +
    fieldSize(m.from) +
    fieldSize(m.term) +
    fieldSize(m.logTerm) +
    fieldSize(m.index) +
    fieldSize(m.commit) +
    (meta ? lenFieldSize(metaSize) : 0) +
    (m.reject ? 2 : 0) +
    fieldSize(m.rejectHint) +
    (context ? lenFieldSize(context.length) : 0);
  for (const s of entrySizes) size += lenFieldSize(s);
  const w = new Writer(Buffer.allocUnsafe(size));
  w.field(1, type);
  w.field(2, m.to);
  w.field(3, m.from);
  w.field(4, m.term);
  w.field(5, m.logTerm);
  w.field(6, m.index);
  for (let i = 0; i < m.entries.length; i++) {
    const e = m.entries[i];
    w.head(7, entrySizes[i]);
    w.field(1, e.term);
    w.field(2, e.index);
    w.field(3, e.type);
    w.bytesField(4, e.data);
  }
  w.field(8, m.commit);
  if (meta) {
    w.head(9, metaSize);
    w.field(1, meta.index);
    w.field(2, meta.term);
    w.head(3, csSize);
    const cs = meta.confState;
    [cs.voters, cs.votersOutgoing, cs.learners, cs.learnersNext].forEach((ids, k) => {
      if (ids.length === 0) return;
      w.head(k + 1, packedSize(ids));
      for (const id of ids) w.varint(id);
    });
    if (cs.autoLeave) w.field(5, 1);
  }
  if (m.reject) w.field(10, 1);
  w.field(11, m.rejectHint);
  if (context) w.bytesField(12, context);
  if (w.at !== size) throw new Error(`RaftMessage encoder wrote ${w.at} bytes, sized ${size}`);
  return w.buf;
}

/** Why bytes are not a RaftMessage; the caller adds what it was reading. */
export class WireError extends Error {
  override name = "WireError";
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

class Reader {
  at: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.at = start;
  }

  /** A varint as a number; 64-bit values above 2^53 are refused (floe's ids, terms and indices stay below). */
  varint(field: string): number {
    const b = this.buf;
    let n = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.at >= this.end) throw new WireError(`${field}: varint runs past the end`);
      const x = b[this.at++];
      n += (x & 0x7f) * mul;
      if (x < 0x80) {
        if (n > MAX_SAFE) throw new WireError(`${field} exceeds 2^53`);
        return n;
      }
      mul *= 128;
    }
    throw new WireError(`${field}: varint longer than 10 bytes`);
  }

  /** A length-delimited field's [start, end). */
  span(field: string): [number, number] {
    const len = this.varint(field);
    const start = this.at;
    if (len > this.end - start) throw new WireError(`${field}: length ${len} runs past the end`);
    this.at = start + len;
    return [start, this.at];
  }

  skip(wireType: number, no: number): void {
    const field = `field ${no}`;
    switch (wireType) {
      case 0:
        this.varint64(field);
        return;
      case 1:
      case 5: {
        const n = wireType === 1 ? 8 : 4;
        if (this.end - this.at < n) throw new WireError(`${field}: fixed value runs past the end`);
        this.at += n;
        return;
      }
      case 2:
        this.span(field);
        return;
      default:
        throw new WireError(`${field} has wire type ${wireType}, which proto3 does not use`);
    }
  }

  /** Skips a varint of any size (an unknown field's). */
  private varint64(field: string): void {
    for (let i = 0; i < 10; i++) {
      if (this.at >= this.end) throw new WireError(`${field}: varint runs past the end`);
      if (this.buf[this.at++] < 0x80) return;
    }
    throw new WireError(`${field}: varint longer than 10 bytes`);
  }
}

const EMPTY_BYTES = new Uint8Array(0);

function readEntry(r: Reader): Entry {
  const [start, end] = r.span("entry");
  const e = new Reader(r.buf, start, end);
  let term = 0;
  let index = 0;
  let type = 0;
  let data: Uint8Array = EMPTY_BYTES;
  while (e.at < end) {
    const key = e.varint("entry key");
    const no = Math.floor(key / 8);
    const wt = key & 7;
    if (no === 1 && wt === 0) term = e.varint("entry term");
    else if (no === 2 && wt === 0) index = e.varint("entry index");
    else if (no === 3 && wt === 0) type = e.varint("entry type") % TWO_32;
    else if (no === 4 && wt === 2) {
      const [a, b] = e.span("entry data");
      data = e.buf.subarray(a, b);
    } else e.skip(wt, no);
  }
  return { term, index, type: type as EntryType, data };
}

/** Appends a repeated uint64 field's values, packed (wire type 2) or one at a time (0). */
function readIds(r: Reader, wt: number, into: number[], field: string): void {
  if (wt === 0) {
    into.push(r.varint(field));
    return;
  }
  if (wt !== 2) throw new WireError(`${field} has wire type ${wt}`);
  const [start, end] = r.span(field);
  const p = new Reader(r.buf, start, end);
  while (p.at < end) into.push(p.varint(field));
}

interface ConfStateDraft {
  voters: number[];
  votersOutgoing: number[];
  learners: number[];
  learnersNext: number[];
  autoLeave: boolean;
}

function readConfState(r: Reader, cs: ConfStateDraft): void {
  const [start, end] = r.span("conf state");
  const c = new Reader(r.buf, start, end);
  const lists = [cs.voters, cs.votersOutgoing, cs.learners, cs.learnersNext];
  const names = ["voters", "votersOutgoing", "learners", "learnersNext"];
  while (c.at < end) {
    const key = c.varint("conf state key");
    const no = Math.floor(key / 8);
    const wt = key & 7;
    if (no >= 1 && no <= 4) readIds(c, wt, lists[no - 1], names[no - 1]);
    else if (no === 5 && wt === 0) cs.autoLeave = c.varint("autoLeave") !== 0;
    else c.skip(wt, no);
  }
}

interface SnapshotMeta {
  index: number;
  term: number;
  confState: ConfStateDraft;
}

function readSnapshotMeta(r: Reader, meta: SnapshotMeta): void {
  const [start, end] = r.span("snapshot");
  const s = new Reader(r.buf, start, end);
  while (s.at < end) {
    const key = s.varint("snapshot key");
    const no = Math.floor(key / 8);
    const wt = key & 7;
    if (no === 1 && wt === 0) meta.index = s.varint("snapshot index");
    else if (no === 2 && wt === 0) meta.term = s.varint("snapshot term");
    else if (no === 3 && wt === 2) readConfState(s, meta.confState);
    else s.skip(wt, no);
  }
}

/** A decoded RaftMessage: the core's fields, the message type still as its wire number. */
export interface DecodedRaftMessage {
  readonly type: number;
  readonly message: Omit<Message, "type" | "snapshot">;
  readonly snapshot?: SnapshotMeta;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Reads RaftMessage bytes; throws WireError on anything a proto3 writer could not have sent. */
export function decodeRaftMessage(buf: Uint8Array): DecodedRaftMessage {
  const r = new Reader(buf, 0, buf.length);
  let type = 0;
  let to = 0;
  let from = 0;
  let term = 0;
  let logTerm = 0;
  let index = 0;
  const entries: Entry[] = [];
  let commit = 0;
  let snapshot: SnapshotMeta | undefined;
  let reject = false;
  let rejectHint = 0;
  let context = "";
  while (r.at < buf.length) {
    const key = r.varint("key");
    const no = Math.floor(key / 8);
    const wt = key & 7;
    if (wt === 0 && no >= 1 && no <= 11 && no !== 7 && no !== 9) {
      const v = r.varint(FIELD_NAMES[no]);
      if (no === 1) type = v % TWO_32;
      else if (no === 2) to = v;
      else if (no === 3) from = v;
      else if (no === 4) term = v;
      else if (no === 5) logTerm = v;
      else if (no === 6) index = v;
      else if (no === 8) commit = v;
      else if (no === 10) reject = v !== 0;
      else if (no === 11) rejectHint = v;
    } else if (wt === 2 && no === 7) entries.push(readEntry(r));
    else if (wt === 2 && no === 9) {
      snapshot ??= {
        index: 0,
        term: 0,
        confState: { voters: [], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false },
      };
      readSnapshotMeta(r, snapshot);
    } else if (wt === 2 && no === 12) {
      const [a, b] = r.span("context");
      try {
        context = utf8.decode(buf.subarray(a, b));
      } catch {
        throw new WireError("context is not valid UTF-8");
      }
    } else r.skip(wt, no);
  }
  return {
    type,
    message: { to, from, term, logTerm, index, entries, commit, reject, rejectHint, context },
    snapshot,
  };
}

const FIELD_NAMES = [
  "",
  "type",
  "to",
  "from",
  "term",
  "logTerm",
  "index",
  "entries",
  "commit",
  "snapshot",
  "reject",
  "rejectHint",
];
