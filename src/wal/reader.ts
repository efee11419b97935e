// Reads entries back from segment files by location (the Raft Storage API is
// synchronous, so these reads are too). Neighbouring records are fetched with
// one read; every record is checked again (frame checksum, index and term),
// because bytes can rot on disk long after recovery verified them.

import type { Vfs } from "../common/index.ts";
import type { Entry, EntryType } from "../raft/index.ts";
import { WalCorruptionError } from "./errors.ts";
import { readExactSync } from "./fsutil.ts";
import type { EntryLocations } from "./locations.ts";
import { decodeFrame, decodeRecord, RecordType } from "./record.ts";
import type { SegmentInfo } from "./replay.ts";

/** Entries further apart than this in a file are read separately rather than with the bytes between them. */
const MAX_READ_GAP = 64 * 1024;
const MAX_READ_SPAN = 4 * 1024 * 1024;

export class SegmentReader {
  /** Open read descriptors by segment sequence; Map order doubles as recency. */
  private readonly fds = new Map<number, number>();

  constructor(
    private readonly fs: Vfs,
    private readonly maxOpenFiles: number,
    private readonly maxRecordBytes: number,
  ) {}

  /** Entries [lo, hi), all of which `locs` places in segment files. */
  read(locs: EntryLocations, lo: number, hi: number, segment: (seq: number) => SegmentInfo): Entry[] {
    const out: Entry[] = [];
    let i = lo;
    while (i < hi) {
      const seq = locs.seq(i);
      const start = locs.offset(i);
      let end = start + locs.recordBytes(i);
      let j = i + 1;
      while (j < hi && locs.seq(j) === seq) {
        const off = locs.offset(j);
        const recEnd = off + locs.recordBytes(j);
        if (off < end || off - end > MAX_READ_GAP || recEnd - start > MAX_READ_SPAN) break;
        end = recEnd;
        j++;
      }
      const seg = segment(seq);
      const span = readExactSync(this.fs, this.fd(seg), end - start, start, seg.path);
      for (let k = i; k < j; k++)
        out.push(this.decode(span, locs.offset(k) - start, seg, k, locs.term(k), start));
      i = j;
    }
    return out;
  }

  private decode(
    span: Buffer,
    at: number,
    seg: SegmentInfo,
    index: number,
    term: number,
    base: number,
  ): Entry {
    const f = decodeFrame(span, at, this.maxRecordBytes);
    const rec = f.ok ? decodeRecord(f.type, f.payload) : f.reason;
    if (
      typeof rec === "string" ||
      rec.type !== RecordType.Entry ||
      rec.entry.index !== index ||
      rec.entry.term !== term
    ) {
      const why =
        typeof rec === "string" ? rec : `expected entry ${index} term ${term}, found another record`;
      throw new WalCorruptionError(seg.path, base + at, `reading back: ${why}`);
    }
    const e = rec.entry;
    return { index: e.index, term: e.term, type: e.type as EntryType, data: new Uint8Array(e.data) };
  }

  private fd(seg: SegmentInfo): number {
    let fd = this.fds.get(seg.seq);
    if (fd !== undefined) {
      this.fds.delete(seg.seq);
    } else {
      fd = this.fs.openSync(seg.path, "r");
      if (this.fds.size >= this.maxOpenFiles) {
        const [oldSeq, oldFd] = this.fds.entries().next().value as [number, number];
        this.fds.delete(oldSeq);
        this.fs.closeSync(oldFd);
      }
    }
    this.fds.set(seg.seq, fd);
    return fd;
  }

  /** Closes the descriptor of a segment about to be deleted. */
  forget(seq: number): void {
    const fd = this.fds.get(seq);
    if (fd === undefined) return;
    this.fds.delete(seq);
    this.fs.closeSync(fd);
  }

  close(): void {
    for (const fd of this.fds.values()) this.fs.closeSync(fd);
    this.fds.clear();
  }
}
