// A direct protobuf encoder for RaftMessage (proto/floe/raftpb.proto), the
// hottest encoding in floe: every append to every follower. It writes the
// same bytes protobuf-es would (fields in number order, proto3 defaults
// omitted, repeated scalars packed; test/transport/wire.test.ts checks byte
// equality) at a fraction of the cost: no intermediate message objects, no
// BigInt per field.

import type { ConfState, Message } from "../raft/index.ts";

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
