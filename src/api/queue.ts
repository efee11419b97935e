// A bounded single-consumer queue that is also an AsyncIterable: producers
// await push() when it is full, so a slow client slows its producer instead
// of growing memory. Used to merge the halves of bidirectional streams; a
// backend may use it to feed a watch stream.

export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private readonly blockedProducers: Array<() => void> = [];
  private waitingConsumer: (() => void) | undefined;
  private ended = false;
  private failure: { error: unknown } | undefined;
  private stopped = false;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`AsyncQueue capacity must be a positive integer, got ${capacity}`);
    }
  }

  /** Items buffered and not yet taken. */
  get length(): number {
    return this.items.length;
  }

  /** True once the consumer stopped or the queue ended/failed: further pushes are dropped. */
  get closed(): boolean {
    return this.stopped || this.ended || this.failure !== undefined;
  }

  /**
   * Adds an item; resolves once it fits within capacity. Items pushed after
   * the queue closed are dropped (the consumer is gone, nobody would read them).
   */
  async push(item: T): Promise<void> {
    while (!this.closed && this.items.length >= this.capacity) {
      await new Promise<void>((resolve) => this.blockedProducers.push(resolve));
    }
    if (this.closed) return;
    this.items.push(item);
    this.wakeConsumer();
  }

  /** No more items: the consumer finishes after draining what is buffered. */
  end(): void {
    if (this.closed) return;
    this.ended = true;
    this.wakeAll();
  }

  /** The consumer throws `error` after draining what is buffered. */
  fail(error: unknown): void {
    if (this.closed) return;
    this.failure = { error };
    this.wakeAll();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    try {
      for (;;) {
        if (this.items.length > 0) {
          const item = this.items.shift() as T;
          this.blockedProducers.shift()?.();
          yield item;
          continue;
        }
        if (this.failure !== undefined) throw this.failure.error;
        if (this.ended || this.stopped) return;
        await new Promise<void>((resolve) => {
          this.waitingConsumer = resolve;
        });
      }
    } finally {
      this.stopped = true;
      this.items.length = 0;
      this.wakeAll();
    }
  }

  private wakeConsumer(): void {
    const wake = this.waitingConsumer;
    this.waitingConsumer = undefined;
    wake?.();
  }

  private wakeAll(): void {
    this.wakeConsumer();
    for (const wake of this.blockedProducers.splice(0)) wake();
  }
}

/** A writable side that says when it can take more ("drain") or is gone ("close"). */
export interface Drainable {
  once(event: "close" | "drain", listener: () => void): unknown;
  removeListener(event: "close" | "drain", listener: () => void): unknown;
  readonly destroyed?: boolean;
}

/** Resolves once `w` can take more data, or is gone. */
export function drained(w: Drainable): Promise<void> {
  return new Promise((resolve) => {
    if (w.destroyed) return resolve();
    const done = () => {
      w.removeListener("drain", done);
      w.removeListener("close", done);
      resolve();
    };
    w.once("drain", done);
    w.once("close", done);
  });
}
