// Coalescing the messages of one Ready before they go out.
//
// The core emits a message per event: a leader sends a MsgApp to every
// follower for each proposal it appends (its own batch, and each MsgProp a
// follower forwards) and an empty one for each commit advance; a follower
// answers each MsgApp and forwards each local batch. Under load that was about
// two MsgApps and two MsgAppResps per entry per follower (measured under
// `etcdctl check perf --load=l`: ~6,500 MsgApps a second to each follower for
// ~3,000 entries). Messages of one Ready leave together, so consecutive ones
// to the same peer that say nothing more than one would are merged here:
//
// - MsgApp b continuing MsgApp a (b's previous entry is a's last, same term):
//   one MsgApp with both entry lists and the later commit. A follower that
//   steps it ends exactly as after stepping a then b: the same appends, and
//   commit min(b.commit, last) since the leader's commit never decreases.
// - accepting MsgAppResps: the one with the highest index (a resp says "I
//   have everything up to index"; the leader's progress takes the maximum).
// - MsgProps to the leader: one MsgProp with the entries in order.
//
// Only messages with no other message to that peer between them merge, the
// merged entries stay within maxBytes, and everything else passes unchanged,
// in order.

import { assert } from "./errors.ts";
import { type Entry, type Message, MessageType, type NodeId, payloadSize } from "./types.ts";

function entryBytes(m: Message): number {
  let n = 0;
  for (const e of m.entries) n += payloadSize(e);
  return n;
}

/**
 * `a` and `b` as one message, or undefined. `owned` says that `a` was made
 * here (its entry list is ours to extend in place: a Ready of many merged
 * messages costs linear, not quadratic, copying).
 */
function merge(a: Message, b: Message, maxBytes: number, owned: boolean): Message | undefined {
  if (a.type !== b.type || a.term !== b.term || a.from !== b.from) return undefined;
  switch (a.type) {
    case MessageType.App: {
      if (a.snapshot || b.snapshot || a.context !== b.context) return undefined;
      const last = a.entries[a.entries.length - 1];
      const lastIndex = a.index + a.entries.length;
      const lastTerm = last === undefined ? a.logTerm : last.term;
      if (b.index !== lastIndex || b.logTerm !== lastTerm) return undefined;
      if (b.entries.length > 0 && entryBytes(a) + entryBytes(b) > maxBytes) return undefined;
      assert(b.commit >= a.commit, "a leader's commit index went backwards within one Ready");
      return { ...a, entries: joined(a, b, owned), commit: b.commit };
    }
    case MessageType.AppResp:
      if (a.reject || b.reject || a.context !== b.context) return undefined;
      return a.index > b.index ? { ...b, index: a.index } : b;
    case MessageType.Prop:
      if (entryBytes(a) + entryBytes(b) > maxBytes) return undefined;
      return { ...a, entries: joined(a, b, owned) };
    default:
      return undefined;
  }
}

function joined(a: Message, b: Message, owned: boolean): Message["entries"] {
  if (!owned) return a.entries.concat(b.entries); // a fresh array, ours from now on
  const out = a.entries as Entry[];
  for (const e of b.entries) out.push(e);
  return out;
}

/** The messages of one Ready with mergeable neighbours (per peer) merged; order per peer is kept. */
export function coalesceMessages(msgs: readonly Message[], maxBytes: number): readonly Message[] {
  if (msgs.length < 2) return msgs;
  const out: Message[] = [];
  /** Position in `out` of the latest message to each peer. */
  const latest = new Map<NodeId, number>();
  /** Positions in `out` holding messages made here by a merge (entry lists not shared with the core). */
  const owned = new Set<number>();
  for (const m of msgs) {
    const at = latest.get(m.to);
    if (at !== undefined) {
      const merged = merge(out[at] as Message, m, maxBytes, owned.has(at));
      if (merged) {
        out[at] = merged;
        owned.add(at);
        continue;
      }
    }
    latest.set(m.to, out.length);
    out.push(m);
  }
  return out;
}
