// The cluster's member table: who the members are (id, name, peer and client
// URLs, learner or voter) and which ids were removed. It is state-machine
// state: it changes only when a configuration-change entry or a member
// attributes entry applies, it is stored as one MVCC meta record in the same
// batch as the applied index, and it travels in snapshots, so a member that
// joins from a snapshot learns everyone's URLs.

import type { ConfChange, ConfState } from "../raft/index.ts";
import { ConfChangeType } from "../raft/index.ts";

export interface MemberInfo {
  /** Raft id: the low 53 bits of the 64-bit id (see member.ts). */
  id: number;
  /** The 64-bit id clients see, in hex; absent for members recorded before 64-bit ids (then it is `id`). */
  xid?: string;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

/** What a configuration change carries for the member table (ConfChange.context). */
export interface ConfChangeContext {
  /** Matches the apply to the waiting request. */
  requestId: string;
  /** For adds: the new member. */
  member?: MemberInfo;
}

/** A member's 64-bit id, as clients see it. */
export function externalIdOf(m: Pick<MemberInfo, "id" | "xid">): bigint {
  return m.xid ? BigInt(`0x${m.xid}`) : BigInt(m.id);
}

interface TableImage {
  members: MemberInfo[];
  removed: number[];
}

export class MemberTable {
  private readonly members = new Map<number, MemberInfo>();
  private readonly removedIds = new Set<number>();

  static decode(bytes: Uint8Array | undefined): MemberTable {
    const t = new MemberTable();
    if (!bytes || bytes.length === 0) return t;
    const img = JSON.parse(Buffer.from(bytes).toString("utf8")) as TableImage;
    for (const m of img.members) t.members.set(m.id, { ...m });
    for (const id of img.removed) t.removedIds.add(id);
    return t;
  }

  encode(): Uint8Array {
    const img: TableImage = {
      members: this.list(),
      removed: [...this.removedIds].sort((a, b) => a - b),
    };
    return Buffer.from(JSON.stringify(img));
  }

  clone(): MemberTable {
    return MemberTable.decode(this.encode());
  }

  get size(): number {
    return this.members.size;
  }

  list(): MemberInfo[] {
    return [...this.members.values()].sort((a, b) => a.id - b.id).map((m) => ({ ...m }));
  }

  get(id: number): MemberInfo | undefined {
    const m = this.members.get(id);
    return m && { ...m };
  }

  /** The member with this 64-bit id (as a client names it), if any. */
  byExternalId(id64: bigint): MemberInfo | undefined {
    for (const m of this.members.values()) if (externalIdOf(m) === BigInt.asUintN(64, id64)) return { ...m };
    return undefined;
  }

  /** The 64-bit id of the member with this raft id; the raft id itself for an unknown member. */
  externalId(id: number): bigint {
    const m = this.members.get(id);
    return m ? externalIdOf(m) : BigInt(id);
  }

  isRemoved(id: number): boolean {
    return this.removedIds.has(id);
  }

  /** The member whose peer URLs overlap these, if any. */
  byPeerUrl(urls: readonly string[]): MemberInfo | undefined {
    for (const m of this.members.values()) if (m.peerUrls.some((u) => urls.includes(u))) return { ...m };
    return undefined;
  }

  set(m: MemberInfo): void {
    this.members.set(m.id, { ...m });
  }

  /** Applies a committed configuration change; `cs` is the configuration after it. */
  applyConfChange(cc: ConfChange, cs: ConfState, ctx: ConfChangeContext | undefined): void {
    for (const ch of cc.changes) {
      const have = this.members.get(ch.nodeId);
      if (ch.type === ConfChangeType.RemoveNode) {
        this.members.delete(ch.nodeId);
        this.removedIds.add(ch.nodeId);
        continue;
      }
      const isLearner = ch.type === ConfChangeType.AddLearner;
      if (have) have.isLearner = isLearner;
      else if (ctx?.member && ctx.member.id === ch.nodeId) this.set({ ...ctx.member, isLearner });
      else this.set({ id: ch.nodeId, name: "", peerUrls: [], clientUrls: [], isLearner });
    }
    // The configuration is the authority on who votes.
    const voters = new Set([...cs.voters, ...cs.votersOutgoing]);
    for (const m of this.members.values()) {
      if (voters.has(m.id)) m.isLearner = false;
      else if (cs.learners.includes(m.id) || cs.learnersNext.includes(m.id)) m.isLearner = true;
    }
  }

  /** Applies published or updated attributes; empty fields keep their value. */
  applyAttributes(a: { id: number; name: string; peerUrls: string[]; clientUrls: string[] }): boolean {
    const m = this.members.get(a.id);
    if (!m) return false;
    if (a.name) m.name = a.name;
    if (a.peerUrls.length > 0) m.peerUrls = [...a.peerUrls];
    if (a.clientUrls.length > 0) m.clientUrls = [...a.clientUrls];
    return true;
  }
}

export function decodeConfContext(context: string | undefined): ConfChangeContext | undefined {
  if (!context) return undefined;
  try {
    return JSON.parse(context) as ConfChangeContext;
  } catch {
    return undefined;
  }
}
