// Read views and the write transaction. A read view answers "which version of
// which key is visible at revision r" (the key index) and "what is in that
// version" (the revision record in storage). A write transaction is a read
// view that also sees its own uncommitted records: it adds revisions
// (beginRev + 1, sub 0, 1, 2, ...) to the index as it goes and collects the
// records in a batch that the store commits together with the applied index.

import { EMPTY_BYTES, type KeySpan, toLatin1 } from "./bytes.ts";
import { decodeRecord, encodePut, encodeTombstone, type Revision, revKey } from "./codec.ts";
import { assert, MvccError } from "./errors.ts";
import { type KeyEntry, KeyIndex } from "./key_index.ts";
import type { LeaseTable } from "./lease.ts";
import type { MvccStorage, WriteBatch } from "./storage.ts";
import { type Event, EventType, type KeyValue } from "./types.ts";

export interface ReadView {
  /** The revision a read without an explicit revision sees. */
  readonly rev: number;
  /** Reads below it fail as compacted (etcd's FirstRev; -1 before any compaction). */
  readonly compactRev: number;
  readonly index: KeyIndex;
  readKv(rev: Revision): KeyValue;
  leaseExists(id: bigint): boolean;
}

export interface StoreParts {
  readonly storage: MvccStorage;
  readonly index: KeyIndex;
  readonly leases: LeaseTable;
}

export function readRecord(storage: MvccStorage, rev: Revision): KeyValue {
  const b = storage.get(revKey(rev.main, rev.sub));
  if (b === undefined) {
    throw new MvccError(
      "Corrupt",
      `the key index names revision ${rev.main}.${rev.sub}, which storage lacks`,
    );
  }
  return decodeRecord(rev, b).kv;
}

export class StoreView implements ReadView {
  constructor(
    private readonly parts: StoreParts,
    readonly rev: number,
    readonly compactRev: number,
  ) {}

  get index(): KeyIndex {
    return this.parts.index;
  }

  readKv(rev: Revision): KeyValue {
    return readRecord(this.parts.storage, rev);
  }

  leaseExists(id: bigint): boolean {
    return this.parts.leases.has(id);
  }
}

export class WriteTxn implements ReadView {
  /** One event per write, in sub-revision order. */
  readonly events: Event[] = [];
  readonly batch: WriteBatch = { puts: [], deletes: [] };
  /** This transaction's records by latin1 key, for reads that must see them before commit. */
  private readonly written = new Map<string, KeyValue>();

  constructor(
    private readonly parts: StoreParts,
    readonly beginRev: number,
    readonly compactRev: number,
  ) {}

  /** etcd reads inside a write txn at beginRev + 1 once it has changed anything. */
  get rev(): number {
    return this.events.length > 0 ? this.beginRev + 1 : this.beginRev;
  }

  get index(): KeyIndex {
    return this.parts.index;
  }

  readKv(rev: Revision): KeyValue {
    if (rev.main > this.beginRev) {
      const kv = this.written.get(toLatin1(revKey(rev.main, rev.sub)));
      assert(kv !== undefined, () => `revision ${rev.main}.${rev.sub} is neither committed nor in this txn`);
      return kv;
    }
    return readRecord(this.parts.storage, rev);
  }

  leaseExists(id: bigint): boolean {
    return this.parts.leases.has(id);
  }

  /** Writes a new version of key; the caller has checked that a non-zero lease exists. */
  put(key: Uint8Array, value: Uint8Array, lease: bigint): number {
    const rev = this.nextRevision();
    const k = toLatin1(key);
    const { entry, created, version, prevLease } = this.parts.index.put(k, key, rev, lease);
    const { bytes, valueOffset } = encodePut(entry.key, value, created, version, lease);
    const kv: KeyValue = {
      key: entry.key,
      value: bytes.subarray(valueOffset),
      createRevision: created,
      modRevision: rev.main,
      version,
      lease,
    };
    this.record(rev, bytes, kv);
    this.events.push({ type: EventType.PUT, kv });
    if (prevLease !== lease) {
      if (prevLease !== 0n) this.parts.leases.detach(prevLease, k);
      if (lease !== 0n) this.parts.leases.attach(lease, k);
    }
    return rev.main;
  }

  /** Deletes the keys live in the span; returns how many. */
  deleteRange(span: KeySpan): number {
    const entries = this.parts.index.liveEntries(span);
    for (const e of entries) this.deleteEntry(e);
    return entries.length;
  }

  deleteEntry(e: KeyEntry): void {
    assert(KeyIndex.live(e) !== undefined, "delete of a key that is not live");
    const rev = this.nextRevision();
    if (e.lease !== 0n) this.parts.leases.detach(e.lease, toLatin1(e.key));
    this.parts.index.tombstone(e, rev);
    const kv: KeyValue = {
      key: e.key,
      value: EMPTY_BYTES,
      createRevision: 0,
      modRevision: rev.main,
      version: 0,
      lease: 0n,
    };
    this.record(rev, encodeTombstone(e.key), kv);
    this.events.push({ type: EventType.DELETE, kv });
  }

  private nextRevision(): Revision {
    return { main: this.beginRev + 1, sub: this.events.length };
  }

  private record(rev: Revision, bytes: Uint8Array, kv: KeyValue): void {
    const key = revKey(rev.main, rev.sub);
    this.batch.puts.push([key, bytes]);
    this.written.set(toLatin1(key), kv);
  }
}
