// ReadIndex bookkeeping on the leader (Raft thesis §6.4): a read request
// records the commit index when it arrives, and is answered once a quorum
// acknowledged a heartbeat carrying its context, proving the leader was still
// the leader at that moment.

import type { Message, NodeId } from "./types.ts";

export interface ReadIndexStatus {
  readonly req: Message;
  readonly index: number;
  readonly acks: Map<NodeId, boolean>;
}

export class ReadOnly {
  private readonly pending = new Map<string, ReadIndexStatus>();
  private queue: string[] = [];

  constructor(readonly maxPending: number) {}

  size(): number {
    return this.queue.length;
  }

  /** Returns false when the request is a duplicate or the queue is full. */
  addRequest(index: number, req: Message): boolean {
    if (this.pending.has(req.context) || this.queue.length >= this.maxPending) return false;
    this.pending.set(req.context, { req, index, acks: new Map() });
    this.queue.push(req.context);
    return true;
  }

  recvAck(id: NodeId, context: string): Map<NodeId, boolean> | undefined {
    const rs = this.pending.get(context);
    if (!rs) return undefined;
    rs.acks.set(id, true);
    return rs.acks;
  }

  /** Removes and returns every request queued up to and including `context`. */
  advance(context: string): ReadIndexStatus[] {
    const at = this.queue.indexOf(context);
    if (at < 0) return [];
    const done = this.queue.slice(0, at + 1);
    this.queue = this.queue.slice(at + 1);
    const out: ReadIndexStatus[] = [];
    for (const ctx of done) {
      const rs = this.pending.get(ctx);
      if (rs) out.push(rs);
      this.pending.delete(ctx);
    }
    return out;
  }

  lastPendingContext(): string | undefined {
    return this.queue.length > 0 ? this.queue[this.queue.length - 1] : undefined;
  }
}
