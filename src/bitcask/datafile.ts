// One data file NNNNNN.data: its descriptor, size, seal state and the byte
// accounting that stats() and merge decisions use, reading one record back
// for get(), sealing, and writing its hint once sealed.

import path from "node:path";
import { crc32cRange } from "./crc.ts";
import { BitcaskCorruptionError } from "./errors.ts";
import { HintWriter } from "./hint.ts";
import {
  dataName,
  fdatasyncSync,
  fsyncDirSync,
  hintName,
  type Io,
  MERGE_SUFFIX,
  readFullySync,
  TMP_SUFFIX,
  writeFileAtomic,
  writeFileAtomicSync,
  writeFullySync,
} from "./io.ts";
import {
  decodeFileHeader,
  decodeRecordHeader,
  encodeFileHeader,
  encodeRecord,
  FILE_HEADER_BYTES,
  FileKind,
  FLAG_BATCH_END,
  newRecordHeader,
  RECORD_HEADER_BYTES,
  RecordType,
  readU32,
} from "./record.ts";
import { type RecordVisitor, scanForRecovery, scanSealed, yieldToEventLoop } from "./scan.ts";

const EMPTY = new Uint8Array(0);

/** Whether the record in `buf` holds `key` (a loop: cheaper than a native call for short keys). */
function sameKey(buf: Buffer, key: Uint8Array): boolean {
  const klen = key.length;
  if (klen > 64) return buf.compare(key, 0, klen, RECORD_HEADER_BYTES, RECORD_HEADER_BYTES + klen) === 0;
  for (let i = 0; i < klen; i++) if (buf[RECORD_HEADER_BYTES + i] !== key[i]) return false;
  return true;
}

const scratchHeader = newRecordHeader();

export class DataFile {
  /** Bytes of records the keydir points to. */
  liveBytes = 0;
  /** Ends with a seal record: immutable from now on. */
  sealed = false;
  /** A valid hint file exists for it. */
  hasHint = false;
  /** Smallest and largest seq of a put or tombstone in it (Infinity and 0 while empty). */
  minSeq = Number.POSITIVE_INFINITY;
  maxSeq = 0;
  /** Puts and tombstones in it. */
  records = 0;

  constructor(
    readonly io: Io,
    readonly dir: string,
    readonly id: number,
    readonly kind: number,
    public fd: number,
    /** Bytes in the file, header included. */
    public size: number,
    /** The next seq when the file was created. */
    readonly baseSeq: number,
  ) {}

  get path(): string {
    return path.join(this.dir, dataName(this.id));
  }

  get empty(): boolean {
    return this.records === 0;
  }

  noteRecord(seq: number): void {
    this.records++;
    if (seq < this.minSeq) this.minSeq = seq;
    if (seq > this.maxSeq) this.maxSeq = seq;
  }

  /**
   * The value of the put at `offset` for `key`. With `verify`, the record must
   * be a put of this key and sizes (what the keydir expects) and the body
   * checksum over key and value must match; damage raises
   * BitcaskCorruptionError. (The header checksum is left to scans and merges:
   * the fields that decide what is returned are checked here directly.)
   */
  readValue(offset: number, key: Uint8Array, valueSize: number, verify: boolean): Buffer {
    const total = RECORD_HEADER_BYTES + key.length + valueSize;
    return this.valueIn(this.readSpan(offset, total), offset, key, valueSize, verify);
  }

  /** `length` bytes at `offset`; fewer is corruption (the keydir points past the end). */
  readSpan(offset: number, length: number): Buffer {
    const buf = Buffer.allocUnsafe(length);
    let n = this.io.fs.readSync(this.fd, buf, 0, length, offset);
    if (n < length && n > 0) n += readFullySync(this.io.fs, this.fd, buf, n, length - n, offset + n);
    if (n < length) {
      throw new BitcaskCorruptionError(this.path, offset, `record cut short: read ${n} of ${length} bytes`);
    }
    return buf;
  }

  /** The value of the put record that starts `buf` (read from file offset `offset`), checked when `verify`. */
  valueIn(buf: Buffer, offset: number, key: Uint8Array, valueSize: number, verify: boolean): Buffer {
    const klen = key.length;
    const body = RECORD_HEADER_BYTES + klen;
    const total = body + valueSize;
    if (verify) {
      let bad: string | undefined;
      if (buf[8] !== RecordType.Put || readU32(buf, 12) !== klen || readU32(buf, 16) !== valueSize) {
        bad =
          decodeRecordHeader(buf, 0, scratchHeader) ??
          `expected a put of key ${klen} and value ${valueSize} bytes, found type ${buf[8]} ` +
            `with key ${readU32(buf, 12)} and value ${readU32(buf, 16)} bytes`;
      } else {
        const crc = crc32cRange(buf, RECORD_HEADER_BYTES, total);
        if (crc !== readU32(buf, 4))
          bad = `record body checksum mismatch (stored ${readU32(buf, 4)}, computed ${crc})`;
        else if (!sameKey(buf, key)) bad = "the record holds another key";
      }
      if (bad !== undefined) throw new BitcaskCorruptionError(this.path, offset, bad);
    }
    return buf.subarray(body);
  }

  /** Append a seal record (synchronously) and fdatasync: the file is immutable after this. */
  sealSync(): void {
    const seal = Buffer.allocUnsafe(RECORD_HEADER_BYTES);
    const seq = this.empty ? Math.max(0, this.baseSeq - 1) : this.maxSeq;
    encodeRecord(seal, 0, RecordType.Seal, FLAG_BATCH_END, 0, seq, 0, EMPTY, undefined);
    writeFullySync(this.io.fs, this.fd, seal, this.size);
    this.size += seal.length;
    fdatasyncSync(this.fd, "data", this.path, this.io);
    this.sealed = true;
  }

  /** Build this sealed file's hint by reading it, and write it atomically (at close). */
  writeHintSync(chunkBytes: number): void {
    const hint = new HintWriter(this.id);
    scanForRecovery(this, false, chunkBytes, (h, buf, at, offset) =>
      hint.add(h.type, buf, at + RECORD_HEADER_BYTES, h.keySize, h.valueSize, offset, h.seq),
    );
    writeFileAtomicSync(this.dir, hintName(this.id), hint.finish(this.size), "hint", this.io);
    this.hasHint = true;
  }

  /** writeHintSync in chunks, yielding to the event loop between them (after a rollover). */
  async writeHint(chunkBytes: number): Promise<void> {
    const hint = new HintWriter(this.id);
    const visit: RecordVisitor = (h, buf, at, offset) =>
      hint.add(h.type, buf, at + RECORD_HEADER_BYTES, h.keySize, h.valueSize, offset, h.seq);
    await scanSealed(this, chunkBytes, visit, async () => {
      await yieldToEventLoop();
      return true;
    });
    await writeFileAtomic(this.dir, hintName(this.id), hint.finish(this.size), "hint", this.io);
    this.hasHint = true;
  }

  close(): void {
    if (this.fd >= 0) this.io.fs.closeSync(this.fd);
    this.fd = -1;
  }
}

/**
 * Create the writer's next active file: header written to a temp name,
 * fsync'd, renamed, directory fsync'd, so the file exists whole or not at all.
 */
export function createActiveFile(io: Io, dir: string, id: number, baseSeq: number): DataFile {
  const final = path.join(dir, dataName(id));
  const tmp = final + TMP_SUFFIX;
  const fd = io.fs.openSync(tmp, "w+");
  try {
    writeFullySync(io.fs, fd, encodeFileHeader({ kind: FileKind.Write, fileId: id, baseSeq }), 0);
    fdatasyncSync(fd, "data", tmp, io);
    io.fs.renameSync(tmp, final);
    fsyncDirSync(dir, io);
  } catch (err) {
    io.fs.closeSync(fd);
    throw err;
  }
  return new DataFile(io, dir, id, FileKind.Write, fd, FILE_HEADER_BYTES, baseSeq);
}

/** Create a merge output under its temporary name; the merge fsyncs it before it commits. */
export function createMergeOutput(io: Io, dir: string, id: number): DataFile {
  const fd = io.fs.openSync(path.join(dir, dataName(id) + MERGE_SUFFIX), "w+");
  writeFullySync(io.fs, fd, encodeFileHeader({ kind: FileKind.Merge, fileId: id, baseSeq: 0 }), 0);
  return new DataFile(io, dir, id, FileKind.Merge, fd, FILE_HEADER_BYTES, 0);
}

/** Open an existing data file and check its header. */
export function openDataFile(io: Io, dir: string, id: number, writable: boolean): DataFile {
  const file = path.join(dir, dataName(id));
  const fd = io.fs.openSync(file, writable ? "r+" : "r");
  try {
    const size = io.fs.fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(size, FILE_HEADER_BYTES));
    io.fs.readSync(fd, head, 0, head.length, 0);
    const h = decodeFileHeader(head, id);
    if (typeof h === "string") throw new BitcaskCorruptionError(file, 0, h);
    return new DataFile(io, dir, id, h.kind, fd, size, h.baseSeq);
  } catch (err) {
    io.fs.closeSync(fd);
    throw err;
  }
}
