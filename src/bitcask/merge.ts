// Merge: rewrite the records still needed from a set of immutable files into
// new files (with hints), then swap them in. It reads and writes in chunks,
// yielding to the event loop between them, so gets and writes go on.
//
// Protocol, and why a crash at any step leaves a correct store:
//  1. Copy. Scan each input; copy a put only if the keydir still points at it,
//     a tombstone only if it may still hide an older put (no newer put of its
//     key exists, and some file outside the merge holds records older than
//     it). Outputs are NNNNNN.data.merge / .hint.merge: open ignores and
//     deletes such names, so a crash here changes nothing.
//  2. Seal and fdatasync every output and its hint; fsync the directory.
//  3. fsync the active file. Every record that made a copied record dead was
//     written before that point, so from here on it is durable too: dropping
//     the dead record can never bring back an older value after a crash.
//  4. Commit: write MERGE.tmp, fdatasync, rename to MERGE, fsync the
//     directory. Before the rename, open deletes MERGE.tmp and the outputs;
//     after it, open finishes steps 5 and 7 from the manifest.
//  5. Rename the outputs to their final names; fsync the directory.
//  6. Point keydir entries at the copies, in chunks (an entry overwritten
//     since the copy keeps its newer location; both old and new files stay
//     readable meanwhile).
//  7. Close and delete the inputs and their hints; fsync the directory;
//     delete MERGE; fsync the directory.
// Inputs are never modified, only deleted after the commit is durable.

import path from "node:path";
import { crc32cRange } from "./crc.ts";
import { createMergeOutput, type DataFile } from "./datafile.ts";
import { assert, BitcaskError } from "./errors.ts";
import { checkHintHeader, HintWriter, newHintCursor, visitHintChunk } from "./hint.ts";
import {
  dataName,
  fdatasyncAsync,
  fsyncDir,
  hintName,
  type Io,
  MANIFEST_NAME,
  MERGE_SUFFIX,
  TMP_SUFFIX,
  unlinkIfExists,
  unlinkIfExistsAsync,
  writeFully,
} from "./io.ts";
import type { Keydir } from "./keydir.ts";
import { encodeManifest } from "./manifest.ts";
import type { ResolvedOptions } from "./options.ts";
import {
  encodeRecord,
  FILE_HEADER_BYTES,
  FLAG_BATCH_END,
  RECORD_HEADER_BYTES,
  type RecordHeader,
  RecordType,
  recordBytes,
} from "./record.ts";
import { scanSealed, yieldToEventLoop } from "./scan.ts";

/** Steps at which the failpoint hook is called, in order. */
export const MERGE_FAILPOINTS = [
  "merge:outputs-written",
  "merge:manifest-written",
  "merge:committed",
  "merge:outputs-renamed",
  "merge:keydir-updated",
  "merge:inputs-deleted",
] as const;

/** Keydir entries repointed between yields. */
const REPOINT_CHUNK = 2048;
/** A merge output is fdatasync'd each time this much more of it is written. */
const SYNC_EVERY_BYTES = 4 * 1024 * 1024;

/** What a merge needs from the store. */
export interface MergeHost {
  readonly dir: string;
  readonly opts: ResolvedOptions;
  readonly keydir: Keydir;
  readonly files: Map<number, DataFile>;
  allocFileId(): number;
  /** Make every write so far durable. */
  syncAll(): Promise<void>;
  /** Resolves when no fsync that could touch an input file is running, so its descriptor can be closed. */
  quiesce(): Promise<void>;
  /** close() was called: give up if not yet committed. */
  stopping(): boolean;
  /** A step after the commit failed: the store must stop taking writes (open finishes the merge). */
  fail(err: unknown): void;
}

export interface MergeResult {
  inputFiles: number[];
  outputFiles: number[];
  bytesBefore: number;
  bytesAfter: number;
  recordsCopied: number;
  tombstonesKept: number;
  recordsDropped: number;
}

class Output {
  readonly file: DataFile;
  readonly hint: HintWriter;
  private buf: Buffer;
  private len = 0;
  private flushed = FILE_HEADER_BYTES;
  private unsynced = 0;

  constructor(io: Io, dir: string, id: number, chunkBytes: number) {
    this.file = createMergeOutput(io, dir, id);
    this.hint = new HintWriter(id);
    this.buf = Buffer.allocUnsafe(chunkBytes);
  }

  /** Copy the record at src[at, at + total); every merged record is a batch of its own. */
  append(src: Buffer, at: number, total: number, h: RecordHeader): void {
    if (this.len + total > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.len + total, this.buf.length * 2));
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    const b = this.buf;
    const o = this.len;
    src.copy(b, o, at, at + total);
    b[o + 9] = FLAG_BATCH_END;
    b.writeUInt32LE(0, o + 20);
    b.writeUInt32LE(crc32cRange(b, o + 4, o + RECORD_HEADER_BYTES), o);
    this.hint.add(h.type, b, o + RECORD_HEADER_BYTES, h.keySize, h.valueSize, this.file.size, h.seq);
    this.file.noteRecord(h.seq);
    this.file.size += total;
    this.len += total;
  }

  get buffered(): number {
    return this.len;
  }

  async flush(o: ResolvedOptions): Promise<void> {
    if (this.len === 0) return;
    await writeFully(o.fs, this.file.fd, this.buf.subarray(0, this.len), this.flushed);
    this.flushed += this.len;
    this.unsynced += this.len;
    this.len = 0;
    // Flush as we go: one fdatasync of a whole output file queues the
    // writer's small fdatasyncs behind tens of MiB of journal work.
    if (this.unsynced >= SYNC_EVERY_BYTES) {
      this.unsynced = 0;
      await fdatasyncAsync(this.file.fd, "data", this.file.path + MERGE_SUFFIX, o);
    }
  }

  /** Seal, write, fdatasync; then write and fdatasync the hint. */
  async finish(o: ResolvedOptions): Promise<void> {
    const seal = Buffer.allocUnsafe(RECORD_HEADER_BYTES);
    encodeRecord(
      seal,
      0,
      RecordType.Seal,
      FLAG_BATCH_END,
      0,
      this.file.maxSeq,
      0,
      new Uint8Array(0),
      undefined,
    );
    await this.flush(o);
    await writeFully(o.fs, this.file.fd, seal, this.flushed);
    this.flushed += seal.length;
    this.file.size += seal.length;
    this.file.sealed = true;
    await fdatasyncAsync(this.file.fd, "data", this.file.path + MERGE_SUFFIX, o);
    const hintPath = path.join(this.file.dir, hintName(this.file.id) + MERGE_SUFFIX);
    const fh = await o.fs.promises.open(hintPath, "w");
    try {
      await writeFully(o.fs, fh.fd, this.hint.finish(this.file.size), 0);
      await fdatasyncAsync(fh.fd, "hint", hintPath, o);
    } finally {
      await fh.close();
    }
    this.file.hasHint = true;
  }
}

export async function runMerge(host: MergeHost, inputs: DataFile[]): Promise<MergeResult> {
  const { dir, opts: o, keydir } = host;
  const inputIds = new Set(inputs.map((f) => f.id));
  const result: MergeResult = {
    inputFiles: [...inputIds],
    outputFiles: [],
    bytesBefore: inputs.reduce((n, f) => n + f.size, 0),
    bytesAfter: 0,
    recordsCopied: 0,
    tombstonesKept: 0,
    recordsDropped: 0,
  };
  // Files outside the merge that may hold records older than a tombstone.
  // Files created later only hold newer records, so this can be fixed now.
  let otherMinSeq = Number.POSITIVE_INFINITY;
  for (const f of host.files.values()) if (!inputIds.has(f.id)) otherMinSeq = Math.min(otherMinSeq, f.minSeq);

  const outputs: Output[] = [];
  const unfinished: Output[] = [];
  let current: Output | undefined;
  const outputFor = (total: number): Output => {
    const f = current?.file;
    if (
      current === undefined ||
      (f!.size > FILE_HEADER_BYTES && f!.size + total + RECORD_HEADER_BYTES > o.maxFileBytes)
    ) {
      current = new Output(o, dir, host.allocFileId(), o.ioChunkBytes);
      outputs.push(current);
      unfinished.push(current);
    }
    return current;
  };
  const pause = async (): Promise<boolean> => {
    for (const out of unfinished.splice(0, unfinished.length - 1)) await out.finish(o);
    if (current && current.buffered >= o.ioChunkBytes) await current.flush(o);
    await yieldToEventLoop();
    return !host.stopping();
  };

  const manifestTmp = path.join(dir, MANIFEST_NAME + TMP_SUFFIX);
  try {
    for (const input of inputs) {
      const done = await scanSealed(
        input,
        o.ioChunkBytes,
        (h, buf, at, offset) => {
          const ks = at + RECORD_HEADER_BYTES;
          const found = keydir.find(buf, ks, ks + h.keySize);
          let keep: boolean;
          if (h.type === RecordType.Put) {
            keep = found && keydir.old.fileId === input.id && keydir.old.offset === offset;
          } else {
            keep = !found && otherMinSeq < h.seq;
            if (keep) result.tombstonesKept++;
          }
          if (!keep) {
            result.recordsDropped++;
            return;
          }
          const total = recordBytes(h.keySize, h.valueSize);
          outputFor(total).append(buf, at, total, h);
          result.recordsCopied++;
        },
        pause,
      );
      if (!done)
        throw new BitcaskError("MergeAborted", "bitcask: merge cancelled by close(); nothing changed");
    }
    for (const out of unfinished.splice(0)) await out.finish(o);
    await fsyncDir(dir, o);
    o.hooks.failpoint?.("merge:outputs-written");
    await host.syncAll();
    if (host.stopping())
      throw new BitcaskError("MergeAborted", "bitcask: merge cancelled by close(); nothing changed");
    const manifest = encodeManifest({
      inputs: result.inputFiles,
      outputs: outputs.map((x) => ({ id: x.file.id, bytes: x.file.size })),
    });
    const fh = await o.fs.promises.open(manifestTmp, "w");
    try {
      await writeFully(o.fs, fh.fd, manifest, 0);
      await fdatasyncAsync(fh.fd, "manifest", manifestTmp, o);
    } finally {
      await fh.close();
    }
    o.hooks.failpoint?.("merge:manifest-written");
    await o.fs.promises.rename(manifestTmp, path.join(dir, MANIFEST_NAME));
    await fsyncDir(dir, o);
  } catch (err) {
    for (const out of outputs) {
      out.file.close();
      unlinkIfExists(o.fs, path.join(dir, dataName(out.file.id) + MERGE_SUFFIX));
      unlinkIfExists(o.fs, path.join(dir, hintName(out.file.id) + MERGE_SUFFIX));
    }
    unlinkIfExists(o.fs, manifestTmp);
    throw err;
  }
  try {
    o.hooks.failpoint?.("merge:committed");
    await install(host, inputs, outputs);
  } catch (err) {
    host.fail(err);
    throw err;
  }
  result.outputFiles = outputs.map((x) => x.file.id);
  result.bytesAfter = outputs.reduce((n, x) => n + x.file.size, 0);
  return result;
}

/** Steps 5 to 7, after the commit. The caller treats a failure here as fatal for the store. */
async function install(host: MergeHost, inputs: DataFile[], outputs: Output[]): Promise<void> {
  const { dir, opts: o, keydir } = host;
  for (const out of outputs) {
    for (const name of [dataName(out.file.id), hintName(out.file.id)]) {
      await o.fs.promises.rename(path.join(dir, name + MERGE_SUFFIX), path.join(dir, name));
    }
  }
  await fsyncDir(dir, o);
  o.hooks.failpoint?.("merge:outputs-renamed");
  for (const out of outputs) host.files.set(out.file.id, out.file);
  for (const out of outputs) {
    const buf = await o.fs.promises.readFile(path.join(dir, hintName(out.file.id)));
    const h = checkHintHeader(buf, out.file.id);
    if (typeof h === "string")
      throw new BitcaskError("Failed", `bitcask: merge output hint unreadable: ${h}`);
    const cursor = newHintCursor();
    for (;;) {
      const done = visitHintChunk(buf, h, cursor, REPOINT_CHUNK, (type, b, ks, klen, vs, off, seq) => {
        if (type !== RecordType.Put || !keydir.repoint(b, ks, ks + klen, seq, out.file.id, off)) return;
        const size = recordBytes(klen, vs);
        const prev = host.files.get(keydir.old.fileId);
        if (prev) prev.liveBytes -= size;
        out.file.liveBytes += size;
      });
      if (done) break;
      await yieldToEventLoop();
    }
  }
  o.hooks.failpoint?.("merge:keydir-updated");
  await host.quiesce();
  for (const f of inputs) {
    assert(f.liveBytes === 0, () => `bitcask: merged file ${f.id} still has ${f.liveBytes} live bytes`);
    host.files.delete(f.id);
    f.close();
  }
  for (const f of inputs) {
    await unlinkIfExistsAsync(o.fs, f.path);
    await unlinkIfExistsAsync(o.fs, path.join(dir, hintName(f.id)));
  }
  await fsyncDir(dir, o);
  o.hooks.failpoint?.("merge:inputs-deleted");
  await o.fs.promises.unlink(path.join(dir, MANIFEST_NAME));
  await fsyncDir(dir, o);
}
