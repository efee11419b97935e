// Snapshot files: `snap/<term>-<index>.snap`, both 16-digit zero-padded
// decimal. A file is a sequence of frames (the WAL's framing, record.ts):
//   SnapMeta  (magic "FSNP", version, index, term, conf state)
//   SnapChunk (image bytes, at most SNAP_MAX_CHUNK_BYTES each) ...
//   SnapEnd   (total image bytes, chunk count, CRC-32C of the whole image)
// Images are streamed both ways: the writer frames chunks as they arrive and
// the reader yields each chunk once its frame checksum holds, so memory stays
// at about one chunk whatever the image size. A file appears only complete
// (temp name, fsync, rename, directory fsync) and the newest few are kept.

import * as path from "node:path";
import { crc32c, nodeVfs, type Vfs, type VfsFileHandle } from "../common/index.ts";
import type { SnapshotMetadata } from "../raft/index.ts";
import { stderrLogger, WalCorruptionError, WalError, type WalLogger } from "./errors.ts";
import { noSyncHook, openDirDurably, readAt, type SyncHook, syncDir, writeAll } from "./fsutil.ts";
import { decodeFrame, FRAME_HEADER_BYTES, frameHeaderFor, RecordType } from "./record.ts";
import { decodeSnapEnd, decodeSnapMeta, encodeSnapEnd, encodeSnapMeta } from "./snapshot-codec.ts";
import { checkSnapshotMetadata } from "./validate.ts";

/** Largest image chunk a snapshot file may hold; the reader refuses larger ones before allocating. */
export const SNAP_MAX_CHUNK_BYTES = 1024 * 1024;
const MAX_META_BYTES = 1024 * 1024;
const NAME = /^(\d{16})-(\d{16})\.snap$/;

export interface SnapshotStoreOptions {
  /** How many snapshot files to keep (newest by index). Default 3. */
  readonly keepSnapshots?: number;
  /** Size of the chunks written (incoming chunks are split or coalesced). Default and maximum 1 MiB. */
  readonly chunkBytes?: number;
  readonly logger?: WalLogger;
  readonly onSync?: SyncHook;
  /** The file system (default: the real one). */
  readonly fs?: Vfs;
}

export interface SnapshotFile {
  readonly index: number;
  readonly term: number;
  readonly file: string;
}

export interface SnapshotInfo {
  readonly metadata: SnapshotMetadata;
  readonly file: string;
  readonly sizeBytes: number;
}

export interface OpenedSnapshot extends SnapshotInfo {
  /** The image; iterating reads the file once and fails with WalCorruptionError on any damage. */
  readonly chunks: AsyncIterable<Uint8Array>;
}

const pad16 = (n: number): string => String(n).padStart(16, "0");

export function snapshotFileName(term: number, index: number): string {
  return `${pad16(term)}-${pad16(index)}.snap`;
}

export class SnapshotStore {
  readonly keepSnapshots: number;
  private readonly chunkBytes: number;
  private readonly onSync: SyncHook;
  private readonly fs: Vfs;

  private constructor(
    readonly dir: string,
    options: SnapshotStoreOptions,
  ) {
    this.keepSnapshots = Math.max(1, options.keepSnapshots ?? 3);
    this.chunkBytes = Math.min(SNAP_MAX_CHUNK_BYTES, Math.max(1, options.chunkBytes ?? SNAP_MAX_CHUNK_BYTES));
    this.onSync = options.onSync ?? noSyncHook;
    this.fs = options.fs ?? nodeVfs;
  }

  /** Opens (creating) `dir` and removes temp files left by a write that did not finish. */
  static async open(dir: string, options: SnapshotStoreOptions = {}): Promise<SnapshotStore> {
    const logger = options.logger ?? stderrLogger;
    const fs = options.fs ?? nodeVfs;
    await openDirDurably(fs, dir, options.onSync ?? noSyncHook);
    let removed = 0;
    for (const name of await fs.promises.readdir(dir)) {
      if (!name.endsWith(".tmp")) continue;
      logger("removing unfinished temporary snapshot file", { file: path.join(dir, name) });
      await fs.promises.rm(path.join(dir, name), { force: true });
      removed++;
    }
    const store = new SnapshotStore(dir, options);
    if (removed > 0) await syncDir(fs, dir, store.onSync);
    return store;
  }

  /** Snapshot files by name, oldest index first (contents are not read). */
  async listSnapshots(): Promise<SnapshotFile[]> {
    const out: SnapshotFile[] = [];
    for (const name of await this.fs.promises.readdir(this.dir)) {
      const m = NAME.exec(name);
      if (m) out.push({ term: Number(m[1]), index: Number(m[2]), file: path.join(this.dir, name) });
    }
    return out.sort((a, b) => a.index - b.index || a.term - b.term);
  }

  /** The newest snapshot's metadata (its header is checked, its image is not). */
  async latestSnapshot(): Promise<SnapshotInfo | undefined> {
    const all = await this.listSnapshots();
    return all.length === 0 ? undefined : this.readInfo(all[all.length - 1]);
  }

  /** Reads and checks a file's header frame. */
  async readInfo(f: SnapshotFile): Promise<SnapshotInfo> {
    const fh = await this.fs.promises.open(f.file, "r");
    try {
      const { metadata, sizeBytes } = await readMeta(fh, f);
      return { metadata, file: f.file, sizeBytes };
    } finally {
      await fh.close();
    }
  }

  /** Writes a snapshot from a stream of image chunks; returns once it is durable under its final name. */
  async writeSnapshot(
    meta: SnapshotMetadata,
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  ): Promise<SnapshotInfo> {
    checkSnapshotMetadata(meta);
    const file = path.join(this.dir, snapshotFileName(meta.term, meta.index));
    const tmp = `${file}.tmp`;
    const fh = await this.fs.promises.open(tmp, "w");
    let sizeBytes: number;
    try {
      sizeBytes = await this.writeFrames(fh, meta, chunks);
      await fh.sync();
      this.onSync("fsync", tmp);
    } catch (e) {
      await fh.close();
      await this.fs.promises.rm(tmp, { force: true });
      throw e;
    }
    await fh.close();
    await this.fs.promises.rename(tmp, file);
    await syncDir(this.fs, this.dir, this.onSync);
    return { metadata: meta, file, sizeBytes };
  }

  private async writeFrames(
    fh: VfsFileHandle,
    meta: SnapshotMetadata,
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  ): Promise<number> {
    const head = encodeSnapMeta(meta);
    await writeAll(fh, head, 0);
    let pos = head.length;
    let imageCrc = 0;
    let totalBytes = 0;
    let count = 0;
    const emit = async (piece: Uint8Array) => {
      const header = frameHeaderFor(RecordType.SnapChunk, piece);
      await writeAll(fh, header, pos);
      await writeAll(fh, piece, pos + header.length);
      pos += header.length + piece.length;
      imageCrc = crc32c(piece, imageCrc);
      totalBytes += piece.length;
      count++;
    };
    // Small incoming chunks are coalesced into one buffer so a chatty producer
    // does not turn into tiny frames; big ones are framed in place without a copy.
    const pending = Buffer.allocUnsafe(this.chunkBytes);
    let fill = 0;
    for await (const c of chunks) {
      let off = 0;
      while (off < c.length) {
        if (fill === 0 && c.length - off >= this.chunkBytes) {
          await emit(c.subarray(off, off + this.chunkBytes));
          off += this.chunkBytes;
          continue;
        }
        const n = Math.min(this.chunkBytes - fill, c.length - off);
        pending.set(c.subarray(off, off + n), fill);
        fill += n;
        off += n;
        if (fill === this.chunkBytes) {
          await emit(pending);
          fill = 0;
        }
      }
    }
    if (fill > 0) await emit(pending.subarray(0, fill));
    const end = encodeSnapEnd({ totalBytes, chunks: count, imageCrc });
    await writeAll(fh, end, pos);
    return pos + end.length;
  }

  /** Opens the snapshot at `index` (the newest when omitted) for streaming its image. */
  async openSnapshot(index?: number): Promise<OpenedSnapshot> {
    const all = await this.listSnapshots();
    const matching = index === undefined ? all : all.filter((f) => f.index === index);
    const f = matching[matching.length - 1];
    if (f === undefined) {
      throw new WalError(
        "NotFound",
        index === undefined ? `no snapshot in ${this.dir}` : `no snapshot at index ${index} in ${this.dir}`,
      );
    }
    return this.openSnapshotFile(f);
  }

  async openSnapshotFile(f: SnapshotFile): Promise<OpenedSnapshot> {
    const fh = await this.fs.promises.open(f.file, "r");
    let info: { metadata: SnapshotMetadata; sizeBytes: number; end: number };
    try {
      info = await readMeta(fh, f);
    } finally {
      await fh.close();
    }
    const start = info.end;
    return {
      metadata: info.metadata,
      file: f.file,
      sizeBytes: info.sizeBytes,
      chunks: { [Symbol.asyncIterator]: () => readChunks(this.fs, f.file, start) },
    };
  }

  /** Reads a snapshot's whole image, checking every checksum; throws WalCorruptionError on damage. */
  async verifySnapshotFile(f: SnapshotFile): Promise<SnapshotInfo> {
    const s = await this.openSnapshotFile(f);
    for await (const _ of s.chunks) {
      // draining is the check
    }
    return { metadata: s.metadata, file: s.file, sizeBytes: s.sizeBytes };
  }

  /** Deletes all but the newest `keep` snapshots, never one whose index is in `protect`; returns deleted files. */
  async retainSnapshots(keep = this.keepSnapshots, protect: readonly number[] = []): Promise<string[]> {
    const all = await this.listSnapshots();
    const victims = all
      .slice(0, Math.max(0, all.length - Math.max(1, keep)))
      .filter((f) => !protect.includes(f.index));
    for (const f of victims) await this.fs.promises.rm(f.file, { force: true });
    if (victims.length > 0) await syncDir(this.fs, this.dir, this.onSync);
    return victims.map((f) => f.file);
  }

  /** Moves a damaged file aside (`.corrupt`) so it is neither used nor deleted by retention. */
  async quarantine(file: string): Promise<string> {
    const target = `${file}.corrupt`;
    await this.fs.promises.rename(file, target);
    await syncDir(this.fs, this.dir, this.onSync);
    return target;
  }
}

async function readMeta(
  fh: VfsFileHandle,
  f: SnapshotFile,
): Promise<{ metadata: SnapshotMetadata; sizeBytes: number; end: number }> {
  const corrupt = (offset: number, reason: string) => new WalCorruptionError(f.file, offset, reason);
  const { size } = await fh.stat();
  const head = Buffer.alloc(FRAME_HEADER_BYTES);
  if ((await readAt(fh, head, FRAME_HEADER_BYTES, 0)) < FRAME_HEADER_BYTES) {
    throw corrupt(0, `file is ${size} bytes, too short for a snapshot header`);
  }
  const len = head.readUInt32LE(0);
  if (head[8] !== RecordType.SnapMeta)
    throw corrupt(0, `first record has type ${head[8]}, not a snapshot header`);
  if (len > MAX_META_BYTES || len + FRAME_HEADER_BYTES > size) {
    throw corrupt(0, `snapshot header length ${len} is impossible for a ${size}-byte file`);
  }
  const buf = Buffer.alloc(FRAME_HEADER_BYTES + len);
  head.copy(buf);
  await readAt(fh, buf.subarray(FRAME_HEADER_BYTES), len, FRAME_HEADER_BYTES);
  const frame = decodeFrame(buf, 0, MAX_META_BYTES);
  if (!frame.ok) throw corrupt(0, frame.reason);
  const metadata = decodeSnapMeta(frame.payload);
  if (typeof metadata === "string") throw corrupt(FRAME_HEADER_BYTES, metadata);
  if (metadata.index !== f.index || metadata.term !== f.term) {
    throw corrupt(
      0,
      `header says index ${metadata.index} term ${metadata.term}, the file name says ${f.index} / ${f.term}`,
    );
  }
  return { metadata, sizeBytes: size, end: frame.end };
}

async function* readChunks(fs: Vfs, file: string, start: number): AsyncGenerator<Uint8Array> {
  const corrupt = (offset: number, reason: string) => new WalCorruptionError(file, offset, reason);
  const fh = await fs.promises.open(file, "r");
  try {
    const head = Buffer.alloc(FRAME_HEADER_BYTES);
    let pos = start;
    let imageCrc = 0;
    let totalBytes = 0;
    let count = 0;
    for (;;) {
      const got = await readAt(fh, head, FRAME_HEADER_BYTES, pos);
      if (got < FRAME_HEADER_BYTES) {
        throw corrupt(
          pos,
          got === 0 ? "image ends without an end record (the file is cut short)" : "incomplete frame header",
        );
      }
      const len = head.readUInt32LE(0);
      const type = head[8];
      const limit =
        type === RecordType.SnapChunk ? SNAP_MAX_CHUNK_BYTES : type === RecordType.SnapEnd ? 20 : -1;
      if (limit < 0) throw corrupt(pos, `record type ${type} does not belong in a snapshot image`);
      if (len > limit) throw corrupt(pos, `record length ${len} exceeds the limit of ${limit} bytes`);
      // The length is bounded above, so this allocation is too.
      const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + len);
      head.copy(frame);
      if ((await readAt(fh, frame.subarray(FRAME_HEADER_BYTES), len, pos + FRAME_HEADER_BYTES)) < len) {
        throw corrupt(pos, `record of ${len} bytes runs past the end of the file`);
      }
      const f = decodeFrame(frame, 0, limit);
      if (!f.ok) throw corrupt(pos, f.reason);
      if (type === RecordType.SnapChunk) {
        imageCrc = crc32c(f.payload, imageCrc);
        totalBytes += len;
        count++;
        pos += frame.length;
        yield f.payload;
        continue;
      }
      const end = decodeSnapEnd(f.payload);
      if (typeof end === "string") throw corrupt(pos, end);
      if (end.totalBytes !== totalBytes || end.chunks !== count || end.imageCrc !== imageCrc) {
        throw corrupt(
          pos,
          `image check failed: end record says ${end.totalBytes} bytes in ${end.chunks} chunks with CRC ${end.imageCrc}, read ${totalBytes} bytes in ${count} chunks with CRC ${imageCrc}`,
        );
      }
      pos += frame.length;
      if ((await readAt(fh, head, 1, pos)) > 0) throw corrupt(pos, "bytes follow the end record");
      return;
    }
  } finally {
    await fh.close();
  }
}
