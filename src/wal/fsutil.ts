// The few file-system moves every durable file here is made of: whole writes,
// whole reads, and the fsyncs (data, file, directory) reported to a hook so
// tests can count them and crash harnesses can know what is durable.

import * as path from "node:path";
import type { Vfs, VfsFileHandle } from "../common/index.ts";

export type SyncKind = "fdatasync" | "fsync" | "dirsync";
/** Called after each completed sync, with the path that was synced. */
export type SyncHook = (kind: SyncKind, path: string) => void;

export const noSyncHook: SyncHook = () => {};

/** Writes all of `buf` at `position` (a short write is retried, never silently accepted). */
export async function writeAll(fh: VfsFileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    if (bytesWritten <= 0)
      throw new Error(`write returned ${bytesWritten} bytes at position ${position + done}`);
    done += bytesWritten;
  }
}

/** writeAll on a file descriptor, synchronously (short writes retried). */
export function writeAllSync(fs: Vfs, fd: number, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.length) {
    const n = fs.writeSync(fd, buf, done, buf.length - done, position + done);
    if (n <= 0) throw new Error(`write returned ${n} bytes at position ${position + done}`);
    done += n;
  }
}

/** Reads exactly `length` bytes at `position` into a new buffer; fewer bytes at EOF is an error. */
export function readExactSync(fs: Vfs, fd: number, length: number, position: number, file: string): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, position + done);
    if (n === 0) throw new Error(`${file}: unexpected end of file at offset ${position + done}`);
    done += n;
  }
  return buf;
}

/** Reads up to `length` bytes at `position`; returns how many were read (short only at EOF). */
export async function readAt(
  fh: VfsFileHandle,
  buf: Buffer,
  length: number,
  position: number,
): Promise<number> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/**
 * Creates `dir` if needed and makes it durable as it is found: its name in
 * its parent, and the names in it. A process that stopped between a rename
 * (or mkdir) and the directory's fsync, or whose directory fsync failed, left
 * names that a power loss may still take away; nothing written into those
 * files later would be durable until the directory is synced again.
 */
export async function openDirDurably(fs: Vfs, dir: string, hook: SyncHook): Promise<void> {
  await fs.promises.mkdir(dir, { recursive: true });
  await syncDir(fs, path.dirname(path.resolve(dir)), hook);
  await syncDir(fs, dir, hook);
}

/**
 * fdatasync of a file by name. A process that stopped (or whose fdatasync
 * failed) may have left units in the page cache that never reached the disk;
 * read back at the next open they look like any other, so they are made
 * durable before the log acts on them (votes, acknowledgements).
 */
export function syncFile(fs: Vfs, file: string, hook: SyncHook): Promise<void> {
  return syncByName(fs, file, "fdatasync", hook);
}

export function syncDir(fs: Vfs, dir: string, hook: SyncHook): Promise<void> {
  return syncByName(fs, dir, "dirsync", hook);
}

/** Opens `name`, fdatasyncs it (a file) or fsyncs it (a directory), closes it, and tells the hook. */
async function syncByName(
  fs: Vfs,
  name: string,
  kind: "fdatasync" | "dirsync",
  hook: SyncHook,
): Promise<void> {
  const fh = await fs.promises.open(name, kind === "dirsync" ? "r" : "r+");
  try {
    await (kind === "dirsync" ? fh.sync() : fh.datasync());
  } finally {
    await fh.close();
  }
  hook(kind, name);
}

/** Creates `file` with `content` durably: temp name, fsync, rename, directory fsync. */
export async function writeFileAtomic(
  fs: Vfs,
  file: string,
  content: Uint8Array,
  hook: SyncHook,
): Promise<void> {
  const tmp = `${file}.tmp`;
  const fh = await fs.promises.open(tmp, "w");
  try {
    await writeAll(fh, content, 0);
    await fh.sync();
    hook("fsync", tmp);
  } finally {
    await fh.close();
  }
  await fs.promises.rename(tmp, file);
  await syncDir(fs, path.dirname(file), hook);
}

export const isNotFound = (e: unknown): boolean => (e as NodeJS.ErrnoException)?.code === "ENOENT";
