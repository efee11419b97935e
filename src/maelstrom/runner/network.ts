/**
 * The simulated network between nodes, as Maelstrom's: every node-to-node
 * message is held for a latency drawn from the configured distribution, and
 * dropped if, when it is due, the current partition makes its destination
 * ignore its source. Messages are unordered only as far as latencies differ.
 */
import { drops, type Grudge } from "./nemesis.ts";
import type { Message } from "./types.ts";

export interface NetworkOptions {
  sampleLatencyMs(): number;
  /** Writes the message to the destination node's stdin. */
  deliver(message: Message): void;
  onSend?(message: Message): void;
  onDeliver?(message: Message): void;
}

export interface TypeCounts {
  sent: number;
  delivered: number;
  dropped: number;
}

export class Network {
  private grudge: Grudge | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  readonly byType = new Map<string, TypeCounts>();
  sent = 0;
  delivered = 0;
  /** Dropped because a partition separated source and destination when the message was due. */
  droppedByPartition = 0;
  /** Still in flight when the network shut down. */
  undelivered = 0;

  constructor(private readonly opts: NetworkOptions) {}

  setPartition(grudge: Grudge | undefined): void {
    this.grudge = grudge;
  }

  send(message: Message): void {
    if (this.closed) return;
    this.sent++;
    this.counts(message.body.type).sent++;
    this.opts.onSend?.(message);
    const latency = this.opts.sampleLatencyMs();
    if (latency <= 0) {
      this.arrive(message);
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.arrive(message);
    }, latency);
    this.timers.add(timer);
  }

  /** Stops delivering; messages in flight are counted as undelivered. */
  close(): void {
    this.closed = true;
    this.undelivered += this.timers.size;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private arrive(message: Message): void {
    const counts = this.counts(message.body.type);
    if (drops(this.grudge, message.src, message.dest)) {
      this.droppedByPartition++;
      counts.dropped++;
      return;
    }
    this.delivered++;
    counts.delivered++;
    this.opts.onDeliver?.(message);
    this.opts.deliver(message);
  }

  private counts(type: string): TypeCounts {
    let c = this.byType.get(type);
    if (c === undefined) this.byType.set(type, (c = { sent: 0, delivered: 0, dropped: 0 }));
    return c;
  }
}
