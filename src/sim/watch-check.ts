// Watch streams under simulation. Every member running the MVCC machine
// keeps one client watch stream (the server's Watch call) on the whole key
// space from the first revision, through its incarnation and any snapshot it
// installs. Its consumer is slow now and then, so the stream's small buffer
// fills, the hub finds the stream full and must replay from storage. Each
// stream must be complete, ordered and free of duplicates: every revision
// after the first, exactly once, in order, a revision's events never split
// between responses; and a revision's events must be the same on every member
// and in every incarnation.

import type { etcdserverpb } from "../api/index.ts";
import type { NodeId } from "../raft/index.ts";

const dec = new TextDecoder();

export class WatchCheck {
  /** revision -> its events, as the first stream to deliver them saw them */
  private readonly eventsAt = new Map<number, string>();
  /** Streams opened, responses with events taken, deliveries the hub found refused, streams checked complete. */
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

  /** Deliveries the stream refused (it was full; the hub replays them from storage). */
  refused(n: number): void {
    this.check.stats.refused += n;
  }

  private fail(what: string): void {
    if (this.failed) return;
    this.failed = true;
    this.check.report(`${this.who}: ${what}`);
  }

  /** One response of the stream. */
  accept(r: etcdserverpb.WatchResponse): void {
    if (r.canceled) {
      this.fail(
        r.compactRevision > 0n
          ? `cancelled as compacted at ${r.compactRevision}`
          : `cancelled: ${r.cancelReason}`,
      );
      return;
    }
    if (r.events.length === 0) return; // created, or progress
    this.check.stats.deliveries++;
    const events = r.events;
    let i = 0;
    while (i < events.length) {
      const rev = Number(events[i].kv?.modRevision ?? 0n);
      const parts: string[] = [];
      for (; i < events.length && Number(events[i].kv?.modRevision ?? 0n) === rev; i++) {
        const e = events[i];
        parts.push(`${e.type}:${dec.decode(e.kv?.key)}=${dec.decode(e.kv?.value)}`);
      }
      if (rev <= this.lastRevision)
        this.fail(`revision ${rev} delivered again (or late) after ${this.lastRevision}`);
      else if (rev !== this.lastRevision + 1)
        this.fail(`revision ${rev} follows ${this.lastRevision}: a gap`);
      this.check.agree(rev, parts.join(","), this.who);
      this.lastRevision = Math.max(this.lastRevision, rev);
    }
    const revision = Number(r.header?.revision ?? 0n);
    if (revision < this.lastRevision) {
      this.fail(`a response says it covers revision ${revision} but holds events of ${this.lastRevision}`);
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
