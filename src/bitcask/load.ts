// Opening a store's directory: finish or discard an interrupted merge, then
// rebuild the keydir from every data file: first all files with a valid hint,
// in one bulk build, then the others by scanning them (writing the hint they
// lacked). The newest file of the writer may end torn: it is cut back and
// sealed. Records apply by seq, newest wins, so the order files load in does
// not matter; tombstones stay in the keydir until every file is loaded, then go.

import path from "node:path";
import { type DataFile, openDataFile } from "./datafile.ts";
import { checkHint, HINT_HEADER_BYTES, type HintHeader, HintWriter, visitHint } from "./hint.ts";
import { fdatasyncSync, fsyncDirSync, hintName, parseName, writeFileAtomicSync } from "./io.ts";
import { Keydir, SetResult, TOMBSTONE_SIZE } from "./keydir.ts";
import { BulkLoad } from "./keydir-bulk.ts";
import { recoverMerge } from "./manifest.ts";
import type { ResolvedOptions } from "./options.ts";
import { FileKind, RECORD_HEADER_BYTES, RecordType, recordBytes } from "./record.ts";
import { scanForRecovery } from "./scan.ts";

export interface LoadedStore {
  files: Map<number, DataFile>;
  keydir: Keydir;
  nextSeq: number;
  nextFileId: number;
  filesFromHints: number;
  filesScanned: number;
}

export function loadStore(dir: string, o: ResolvedOptions): LoadedStore {
  const { fs } = o;
  recoverMerge(dir, o);
  const dataIds: number[] = [];
  const hintIds = new Set<number>();
  for (const name of fs.readdirSync(dir)) {
    const p = parseName(name);
    if (p === undefined || p.suffix !== "") continue;
    if (p.ext === "data") dataIds.push(p.id);
    else hintIds.add(p.id);
  }
  dataIds.sort((a, b) => a - b);
  // A hint whose data file is gone (a merge deleted the data first) means nothing.
  const dataSet = new Set(dataIds);
  for (const id of hintIds) if (!dataSet.has(id)) fs.unlinkSync(path.join(dir, hintName(id)));
  const loaded: LoadedStore = {
    files: new Map(),
    keydir: new Keydir(),
    nextSeq: 1,
    nextFileId: (dataIds.at(-1) ?? 0) + 1,
    filesFromHints: 0,
    filesScanned: 0,
  };
  try {
    for (const id of dataIds) loaded.files.set(id, openDataFile(o, dir, id, false));
    let candidate: DataFile | undefined;
    for (const f of loaded.files.values()) if (f.kind === FileKind.Write) candidate = f;
    const loader = new Loader(dir, o, loaded);
    const hinted = loader.fromHints([...loaded.files.values()].filter((f) => hintIds.has(f.id)));
    for (const f of [...loaded.files.values()]) {
      if (f.kind === FileKind.Write) loaded.nextSeq = Math.max(loaded.nextSeq, f.baseSeq);
      if (!hinted.has(f.id)) loader.scan(f, f === candidate);
    }
    loaded.keydir.dropTombstones();
    for (const f of loaded.files.values()) loaded.nextSeq = Math.max(loaded.nextSeq, f.maxSeq + 1);
    return loaded;
  } catch (err) {
    for (const f of loaded.files.values()) f.close();
    throw err;
  }
}

class Loader {
  constructor(
    private readonly dir: string,
    private readonly o: ResolvedOptions,
    private readonly s: LoadedStore,
  ) {}

  /** Apply one put or tombstone: newest seq wins; keep the live-byte counts right. */
  private apply(
    f: DataFile,
    type: number,
    buf: Buffer,
    keyStart: number,
    keySize: number,
    valueSize: number,
    offset: number,
    seq: number,
  ): void {
    f.noteRecord(seq);
    const kd = this.s.keydir;
    const size = type === RecordType.Put ? valueSize : TOMBSTONE_SIZE;
    const r = kd.set(buf, keyStart, keyStart + keySize, f.id, offset, size, seq, true);
    if (r === SetResult.Ignored) return;
    if (r === SetResult.Replaced && kd.old.valueSize !== TOMBSTONE_SIZE) {
      const prev = this.s.files.get(kd.old.fileId);
      if (prev) prev.liveBytes -= recordBytes(keySize, kd.old.valueSize);
    }
    if (type === RecordType.Put) f.liveBytes += recordBytes(keySize, valueSize);
  }

  /**
   * Load the files whose hints are usable, all at once into the (empty)
   * keydir; returns their ids. An unusable hint is skipped with a warning.
   */
  fromHints(files: DataFile[]): Set<number> {
    const usable: { f: DataFile; buf: Buffer; h: HintHeader }[] = [];
    for (const f of files) {
      const hint = this.readHint(f);
      if (hint !== undefined) usable.push({ f, ...hint });
    }
    const bulk = new BulkLoad(usable.reduce((n, u) => n + u.h.entryCount, 0));
    for (const { f, buf, h } of usable) {
      const src = bulk.addSource(buf, f.id);
      visitHint(buf, h, (_type, _b, keyStart) => bulk.add(src, keyStart));
      f.sealed = true;
      f.hasHint = true;
      f.records = h.entryCount;
      if (h.entryCount > 0) {
        f.minSeq = h.minSeq;
        f.maxSeq = h.maxSeq;
      }
      this.s.filesFromHints++;
      this.o.hooks.onLoad?.(f.id, "hint");
    }
    const tree = bulk.build(TOMBSTONE_SIZE, (w) => {
      if (w.type === RecordType.Put)
        this.s.files.get(w.fileId)!.liveBytes += recordBytes(w.keySize, w.valueSize);
    });
    this.s.keydir.adopt(tree);
    return new Set(usable.map((u) => u.f.id));
  }

  /** The checked hint of `f`, or undefined (after a warning) when it is unusable. */
  private readHint(f: DataFile): { buf: Buffer; h: HintHeader } | undefined {
    const file = path.join(this.dir, hintName(f.id));
    const size = this.o.fs.statSync(file).size;
    // An entry is always smaller than its record, so a valid hint is never larger than this.
    if (size > f.size + HINT_HEADER_BYTES) {
      this.o.logger.warn(
        { file, size, dataBytes: f.size },
        "bitcask: hint larger than its data file; scanning",
      );
      return undefined;
    }
    const buf = this.o.fs.readFileSync(file);
    const h = checkHint(buf, f.id);
    const why =
      typeof h === "string"
        ? h
        : h.dataFileBytes !== f.size
          ? `hint describes ${h.dataFileBytes} bytes of data, the data file has ${f.size}`
          : undefined;
    if (typeof h === "string" || why !== undefined) {
      this.o.logger.warn(
        { file, reason: why },
        "bitcask: ignoring unusable hint file; scanning the data file",
      );
      return undefined;
    }
    return { buf, h };
  }

  /** Load `f` by reading every record; cut a torn tail (newest file only), seal it, write its hint. */
  scan(f: DataFile, newest: boolean): void {
    const hint = new HintWriter(f.id);
    const res = scanForRecovery(f, newest, this.o.ioChunkBytes, (h, buf, at, offset) => {
      const ks = at + RECORD_HEADER_BYTES;
      this.apply(f, h.type, buf, ks, h.keySize, h.valueSize, offset, h.seq);
      hint.add(h.type, buf, ks, h.keySize, h.valueSize, offset, h.seq);
    });
    this.s.filesScanned++;
    this.o.hooks.onLoad?.(f.id, "scan");
    if (res.sealed) {
      // Sealed by a process whose fdatasync may not have completed (it
      // stopped, or the call failed): what was just read is made durable
      // before anything is written after it.
      fdatasyncSync(f.fd, "data", f.path, this.o);
      f.sealed = true;
    } else {
      this.reopenWritable(f);
      if (res.torn !== undefined) {
        this.o.logger.warn(
          { file: f.path, offset: res.torn.offset, reason: res.torn.reason, truncatedTo: res.end },
          `bitcask: torn write at the tail of the newest data file; dropping its last ${res.torn.droppedBytes} bytes`,
        );
        this.o.fs.ftruncateSync(f.fd, res.end);
        fdatasyncSync(f.fd, "data", f.path, this.o);
        f.size = res.end;
      }
      if (f.empty) {
        // Never written to: nothing to keep, and its seq floor was already taken.
        f.close();
        this.o.fs.unlinkSync(f.path);
        fsyncDirSync(this.dir, this.o);
        this.s.files.delete(f.id);
        return;
      }
      f.sealSync();
    }
    try {
      writeFileAtomicSync(this.dir, hintName(f.id), hint.finish(f.size), "hint", this.o);
      f.hasHint = true;
    } catch (err) {
      this.o.logger.warn(
        { file: f.path, err: String(err) },
        "bitcask: could not write a hint file; open will scan",
      );
    }
  }

  private reopenWritable(f: DataFile): void {
    const fd = this.o.fs.openSync(f.path, "r+");
    this.o.fs.closeSync(f.fd);
    f.fd = fd;
  }
}
