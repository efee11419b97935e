// The storage engine as MVCC sees it: an ordered byte-key map with atomic
// batches. The bitcask adapter (src/bitcask) implements it for real and owns
// durability; MemoryMvccStorage is the sorted in-memory implementation for
// tests and the simulator.

import { copyBytes, toLatin1 } from "./bytes.ts";
import { assert } from "./errors.ts";
import { OrderedMap } from "./ordered.ts";

export interface WriteBatch {
  puts: [key: Uint8Array, value: Uint8Array][];
  deletes: Uint8Array[];
}

export interface MvccStorage {
  get(key: Uint8Array): Uint8Array | undefined;
  /**
   * Records with start <= key < end, ascending by key bytes. MVCC consumes a
   * scan synchronously and never writes while one is open, so an
   * implementation may iterate its live structures lazily.
   */
  scan(start: Uint8Array, end: Uint8Array): Iterable<[key: Uint8Array, value: Uint8Array]>;
  /**
   * Applies every put and delete or none of them, and must not return before
   * the batch is as durable as the server's sync policy promises (the applied
   * index travels in the same batch). A key appears at most once per batch.
   * Throwing is fatal for the store: its memory may be ahead of storage.
   */
  write(batch: WriteBatch): void;
  /** The key index checkpoint last saved (checkpoint.ts), for engines that keep one. */
  readCheckpoint?(): Uint8Array | undefined;
  /**
   * Makes every write so far durable, then keeps `stream` in place of the
   * previous checkpoint, unless `stillValid()` says no right before it would
   * take effect (a restore began meanwhile). Resolves whether it was kept.
   */
  saveCheckpoint?(stream: Uint8Array, stillValid: () => boolean): Promise<boolean>;
  /** Forgets the checkpoint durably, before the records it describes are replaced. */
  dropCheckpoint?(): void;
}

export class MemoryMvccStorage implements MvccStorage {
  private readonly records = new OrderedMap<[Uint8Array, Uint8Array]>();
  /** Counters for tests and benchmarks. */
  readonly stats = { writes: 0, puts: 0, deletes: 0 };

  get size(): number {
    return this.records.size;
  }

  get(key: Uint8Array): Uint8Array | undefined {
    return this.records.get(toLatin1(key))?.[1];
  }

  *scan(start: Uint8Array, end: Uint8Array): Generator<[Uint8Array, Uint8Array]> {
    for (const [, kv] of this.records.range(toLatin1(start), toLatin1(end))) yield [kv[0], kv[1]];
  }

  write(batch: WriteBatch): void {
    const seen = new Set<string>();
    const once = (k: string) => {
      assert(!seen.has(k), () => `a write batch names key ${JSON.stringify(k)} twice`);
      seen.add(k);
    };
    for (const k of batch.deletes) once(toLatin1(k));
    for (const [k] of batch.puts) once(toLatin1(k));
    for (const k of batch.deletes) this.records.delete(toLatin1(k));
    for (const [k, v] of batch.puts) this.records.set(toLatin1(k), [copyBytes(k), copyBytes(v)]);
    this.stats.writes++;
    this.stats.puts += batch.puts.length;
    this.stats.deletes += batch.deletes.length;
  }

  private checkpoint: Uint8Array | undefined;

  readCheckpoint(): Uint8Array | undefined {
    return this.checkpoint;
  }

  async saveCheckpoint(stream: Uint8Array, stillValid: () => boolean): Promise<boolean> {
    await Promise.resolve();
    if (!stillValid()) return false;
    this.checkpoint = copyBytes(stream);
    return true;
  }

  dropCheckpoint(): void {
    this.checkpoint = undefined;
  }

  /** Every record, for tests comparing two stores byte for byte. */
  *entries(): Generator<[Uint8Array, Uint8Array]> {
    for (const kv of this.records.values()) yield [kv[0], kv[1]];
  }
}
