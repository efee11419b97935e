// A hand-advanced clock for driving runtimes in tests: nothing happens until
// advance() is called; timers then fire in time order, and the promise
// continuations each one starts run to completion before the next fires.

import type { ClockTimer, RuntimeClock } from "../server/index.ts";

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  /** Set for an interval timer. */
  every?: number;
  cancelled: boolean;
}

/** Resolves once every microtask queued so far, and every one those queue, has run. */
export const drainMicrotasks = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve));

export class ManualClock implements RuntimeClock {
  private t = 0;
  private seq = 0;
  private timers: Timer[] = [];

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): ClockTimer {
    return this.add({ at: this.t + ms, seq: this.seq++, fn, cancelled: false });
  }

  setInterval(fn: () => void, ms: number): ClockTimer {
    return this.add({ at: this.t + ms, seq: this.seq++, fn, every: ms, cancelled: false });
  }

  clear(timer: ClockTimer | undefined): void {
    if (timer) (timer as Timer).cancelled = true;
  }

  private add(t: Timer): Timer {
    this.timers.push(t);
    return t;
  }

  /** Moves time forward by `ms`, firing every timer due on the way. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      this.timers = this.timers.filter((x) => !x.cancelled);
      let next: Timer | undefined;
      for (const x of this.timers)
        if (x.at <= end && (!next || x.at < next.at || (x.at === next.at && x.seq < next.seq))) next = x;
      if (!next) break;
      this.t = next.at;
      if (next.every !== undefined) {
        next.at += next.every;
        next.seq = this.seq++;
      } else next.cancelled = true;
      next.fn();
      await drainMicrotasks();
    }
    this.t = end;
  }
}
