// Where the newest record of each live entry sits (segment, offset, size) and
// its term. This is all the WAL keeps per entry in memory, so memory grows with
// the number of entries between compactions, never with their payloads.

/** A contiguous run of entry indexes [firstIndex, lastIndex] with parallel columns. */
export class EntryLocations {
  private first: number;
  /** Position of firstIndex in the columns; the prefix before it is dead and reclaimed lazily. */
  private head = 0;
  private terms: number[] = [];
  private seqs: number[] = [];
  private offsets: number[] = [];
  private sizes: number[] = [];

  constructor(firstIndex: number) {
    this.first = firstIndex;
  }

  get firstIndex(): number {
    return this.first;
  }
  get length(): number {
    return this.terms.length - this.head;
  }
  /** firstIndex - 1 when empty. */
  get lastIndex(): number {
    return this.first + this.length - 1;
  }
  has(index: number): boolean {
    return index >= this.first && index <= this.lastIndex;
  }

  private pos(index: number): number {
    if (!this.has(index)) throw new RangeError(`entry ${index} outside [${this.first}, ${this.lastIndex}]`);
    return this.head + index - this.first;
  }
  term(index: number): number {
    return this.terms[this.pos(index)];
  }
  seq(index: number): number {
    return this.seqs[this.pos(index)];
  }
  offset(index: number): number {
    return this.offsets[this.pos(index)];
  }
  /** Size of the whole frame (header + payload). */
  recordBytes(index: number): number {
    return this.sizes[this.pos(index)];
  }

  /** Appends the location of entry lastIndex + 1. */
  push(term: number, seq: number, offset: number, recordBytes: number): void {
    this.terms.push(term);
    this.seqs.push(seq);
    this.offsets.push(offset);
    this.sizes.push(recordBytes);
  }

  /** Forgets entries with index >= `index`. */
  truncateFrom(index: number): void {
    if (index > this.lastIndex) return;
    const keep = Math.max(0, index - this.first) + this.head;
    for (const col of [this.terms, this.seqs, this.offsets, this.sizes]) col.length = keep;
  }

  /** Forgets entries with index < `index`; an index past the end leaves the run empty at `index`. */
  dropBefore(index: number): void {
    if (index <= this.first) return;
    if (index > this.lastIndex) {
      this.reset(index);
      return;
    }
    this.head += index - this.first;
    this.first = index;
    // Reclaim the dead prefix once it dominates, so compaction keeps memory bounded.
    if (this.head > 1024 && this.head * 2 > this.terms.length) {
      for (const col of [this.terms, this.seqs, this.offsets, this.sizes]) col.splice(0, this.head);
      this.head = 0;
    }
  }

  reset(firstIndex: number): void {
    this.first = firstIndex;
    this.head = 0;
    this.terms = [];
    this.seqs = [];
    this.offsets = [];
    this.sizes = [];
  }

  /** Lowest segment sequence holding a live entry at or after `index` (live records only move forward). */
  seqAt(index: number): number | undefined {
    return this.has(index) ? this.seq(index) : undefined;
  }
}
