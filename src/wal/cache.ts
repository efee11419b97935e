// A bounded cache of the newest entries. Raft mostly reads the tail of its log
// (to replicate what it just appended), so the tail is served from memory and
// anything older is read back from the segment files.

import { type Entry, entrySize } from "../raft/index.ts";

/** Invariant: the cached entries are a suffix of the log; when empty, `firstIndex` is lastIndex + 1. */
export class EntryCache {
  private ents: Entry[] = [];
  private head = 0;
  private first: number;
  private bytes = 0;

  constructor(
    private readonly maxBytes: number,
    firstIndex = 1,
  ) {
    this.first = firstIndex;
  }

  get firstIndex(): number {
    return this.first;
  }
  get length(): number {
    return this.ents.length - this.head;
  }
  get sizeBytes(): number {
    return this.bytes;
  }

  at(index: number): Entry {
    return this.ents[this.head + index - this.first];
  }

  /** Adds entries that were just made durable, superseding any cached entries at or after the first. */
  append(ents: readonly Entry[]): void {
    if (ents.length === 0) return;
    const start = ents[0].index;
    const last = this.first + this.length - 1;
    if (start < this.first || start > last + 1) {
      this.reset(start);
    } else {
      const keep = this.head + start - this.first;
      for (let k = keep; k < this.ents.length; k++) this.bytes -= entrySize(this.ents[k]);
      this.ents.length = keep;
    }
    for (const e of ents) {
      this.ents.push(e);
      this.bytes += entrySize(e);
    }
    while (this.bytes > this.maxBytes && this.length > 0) this.dropFirst();
    this.reclaim();
  }

  /** Forgets entries below `index` (compaction). */
  dropBefore(index: number): void {
    while (this.first < index && this.length > 0) this.dropFirst();
    if (this.length === 0 && this.first < index) this.first = index;
    this.reclaim();
  }

  reset(firstIndex: number): void {
    this.ents = [];
    this.head = 0;
    this.bytes = 0;
    this.first = firstIndex;
  }

  private dropFirst(): void {
    this.bytes -= entrySize(this.ents[this.head]);
    this.head++;
    this.first++;
  }

  private reclaim(): void {
    if (this.head > 1024 && this.head * 2 > this.ents.length) {
      this.ents = this.ents.slice(this.head);
      this.head = 0;
    }
  }
}
