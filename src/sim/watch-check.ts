// Watch streams under simulation. Every member running the MVCC machine
// keeps one watcher on the whole key space from the first revision, through
// the store's own watch hub, and its consumer sometimes refuses a delivery
// (a full client stream), which turns the watcher unsynced so the hub must
// replay from storage. Each stream must then be complete, ordered and free of
// duplicates: every revision after the first, exactly once, in order, a
// revision's events never split between deliveries; and a revision's events
// must be the same on every member and in every incarnation.

import type { WatchDelivery } from "../mvcc/index.ts";
import type { NodeId } from "../raft/index.ts";

const dec = new TextDecoder();

export class WatchCheck {
  /** revision -> its events, as the first stream to deliver them saw them */
  private readonly eventsAt = new Map<number, string>();
  /** Streams opened, deliveries taken, deliveries refused, streams checked complete at the end. */
  readonly stats = { streams: 0, deliveries: 0, refused: 0, completed: 0 };

  constructor(private readonly violation: (what: string) => void) {}

  /** A new stream from revision 1 (one per member incarnation and store). */
  stream(node: NodeId, incarnation: number): WatchStream {
    this.stats.streams++;
    return new WatchStream(`watch stream of ${node} (incarnation ${incarnation})`, this);
  }

  /** Records or compares the events of one revision. */
  agree(revision: number, events: string, who: string): void {
    const seen = this.eventsAt.get(revision);
    if (seen === undefined) this.eventsAt.set(revision, events);
    else if (seen !== events)
      this.violation(`${who}: revision ${revision} is ${events} here but ${seen} elsewhere`);
  }

  report(what: string): void {
    this.violation(what);
  }
}

export class WatchStream {
  /** The last revision whose events were delivered (the initial revision 1 has none). */
  lastRevision = 1;
  private failed = false;

  constructor(
    private readonly who: string,
    private readonly check: WatchCheck,
  ) {}

  /** The consumer refused a delivery (the hub replays it from storage). */
  refused(): void {
    this.check.stats.refused++;
  }

  private fail(what: string): void {
    if (this.failed) return;
    this.failed = true;
    this.check.report(`${this.who}: ${what}`);
  }

  accept(d: WatchDelivery): void {
    this.check.stats.deliveries++;
    if (d.compactRevision !== undefined) this.fail(`cancelled as compacted at ${d.compactRevision}`);
    let i = 0;
    while (i < d.events.length) {
      const rev = d.events[i].kv.modRevision;
      const parts: string[] = [];
      for (; i < d.events.length && d.events[i].kv.modRevision === rev; i++) {
        const e = d.events[i];
        parts.push(`${e.type}:${dec.decode(e.kv.key)}=${dec.decode(e.kv.value)}`);
      }
      if (rev <= this.lastRevision)
        this.fail(`revision ${rev} delivered again (or late) after ${this.lastRevision}`);
      else if (rev !== this.lastRevision + 1)
        this.fail(`revision ${rev} follows ${this.lastRevision}: a gap`);
      this.check.agree(rev, parts.join(","), this.who);
      this.lastRevision = Math.max(this.lastRevision, rev);
    }
    if (d.revision < this.lastRevision) {
      this.fail(`a delivery says it covers revision ${d.revision} but holds events of ${this.lastRevision}`);
    }
  }

  /** At the end: the stream has every revision the member's store holds. */
  complete(currentRevision: number): void {
    this.check.stats.completed++;
    if (this.lastRevision !== currentRevision) {
      this.fail(`delivered through revision ${this.lastRevision}, the store is at ${currentRevision}`);
    }
  }
}
