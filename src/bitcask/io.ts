// File-system plumbing: names of the store's files, full reads and writes,
// fsync through the hooks, atomic creation (temp, fsync, rename, fsync the
// directory) and the directory lock.

import path from "node:path";
import type { Vfs } from "../common/index.ts";
import { BitcaskError } from "./errors.ts";
import type { BitcaskHooks, SyncTarget } from "./options.ts";

/** The file system a store runs on and the hooks told of its syncs (ResolvedOptions carries both). */
export interface Io {
  readonly fs: Vfs;
  readonly hooks: BitcaskHooks;
}

export const LOCK_NAME = "LOCK";
export const MANIFEST_NAME = "MERGE";
/** Suffix of a file being written that is not yet part of the store. */
export const TMP_SUFFIX = ".tmp";
/** Suffix of a merge output before the merge commits. */
export const MERGE_SUFFIX = ".merge";

export function dataName(id: number): string {
  return `${String(id).padStart(6, "0")}.data`;
}

export function hintName(id: number): string {
  return `${String(id).padStart(6, "0")}.hint`;
}

const FILE_RE = /^(\d{6,10})\.(data|hint)(\.merge|\.tmp)?$/;

export interface ParsedName {
  id: number;
  ext: "data" | "hint";
  suffix: "" | ".merge" | ".tmp";
}

export function parseName(name: string): ParsedName | undefined {
  const m = FILE_RE.exec(name);
  if (!m) return undefined;
  const id = Number(m[1]);
  if (!Number.isSafeInteger(id) || id > 0xffff_ffff) return undefined;
  return { id, ext: m[2] as "data" | "hint", suffix: (m[3] ?? "") as ParsedName["suffix"] };
}

export function writeFullySync(fs: Vfs, fd: number, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.length) {
    done += fs.writeSync(fd, buf, done, buf.length - done, position + done);
  }
}

/** Read exactly `len` bytes at `position` into buf[off..]; returns how many were read (< len only at EOF). */
export function readFullySync(
  fs: Vfs,
  fd: number,
  buf: Uint8Array,
  off: number,
  len: number,
  position: number,
): number {
  let done = 0;
  while (done < len) {
    const n = fs.readSync(fd, buf, off + done, len - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

export function readAsync(
  fs: Vfs,
  fd: number,
  buf: Uint8Array,
  off: number,
  len: number,
  position: number,
): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.read(fd, buf, off, len, position, (err, n) => (err ? reject(err) : resolve(n))),
  );
}

export async function readFully(
  fs: Vfs,
  fd: number,
  buf: Uint8Array,
  off: number,
  len: number,
  position: number,
) {
  let done = 0;
  while (done < len) {
    const n = await readAsync(fs, fd, buf, off + done, len - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

export async function writeFully(fs: Vfs, fd: number, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    done += await new Promise<number>((resolve, reject) =>
      fs.write(fd, buf, done, buf.length - done, position + done, (err, n) =>
        err ? reject(err) : resolve(n),
      ),
    );
  }
}

export function fdatasyncSync(fd: number, target: SyncTarget, file: string, io: Io): void {
  io.fs.fdatasyncSync(fd);
  io.hooks.onSync?.(target, file);
}

export function fdatasyncAsync(fd: number, target: SyncTarget, file: string, io: Io): Promise<void> {
  return new Promise((resolve, reject) =>
    io.fs.fdatasync(fd, (err) => {
      if (err) return reject(err);
      try {
        // A hook that throws stands for a failed fsync (tests inject failures this way).
        io.hooks.onSync?.(target, file);
      } catch (hookErr) {
        return reject(hookErr);
      }
      resolve();
    }),
  );
}

/** Make the directory's entries (creations, renames, deletions) durable. */
export function fsyncDirSync(dir: string, io: Io): void {
  const fd = io.fs.openSync(dir, "r");
  try {
    io.fs.fsyncSync(fd);
  } finally {
    io.fs.closeSync(fd);
  }
  io.hooks.onSync?.("dir", dir);
}

/** fsyncDirSync without blocking the event loop (merge and background work use this). */
export async function fsyncDir(dir: string, io: Io): Promise<void> {
  const fh = await io.fs.promises.open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  io.hooks.onSync?.("dir", dir);
}

export async function unlinkIfExistsAsync(fs: Vfs, file: string): Promise<boolean> {
  try {
    await fs.promises.unlink(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

/** Create `name` in `dir` holding exactly `bytes`: temp file, fsync, rename, fsync the directory. */
export function writeFileAtomicSync(
  dir: string,
  name: string,
  bytes: Uint8Array,
  target: SyncTarget,
  io: Io,
): void {
  const tmp = path.join(dir, name + TMP_SUFFIX);
  const fd = io.fs.openSync(tmp, "w");
  try {
    writeFullySync(io.fs, fd, bytes, 0);
    fdatasyncSync(fd, target, tmp, io);
  } finally {
    io.fs.closeSync(fd);
  }
  io.fs.renameSync(tmp, path.join(dir, name));
  fsyncDirSync(dir, io);
}

/** writeFileAtomicSync without blocking the event loop on the writes and the fsync. */
export async function writeFileAtomic(
  dir: string,
  name: string,
  bytes: Uint8Array,
  target: SyncTarget,
  io: Io,
): Promise<void> {
  const tmp = path.join(dir, name + TMP_SUFFIX);
  const fh = await io.fs.promises.open(tmp, "w");
  try {
    await writeFully(io.fs, fh.fd, bytes, 0);
    await fdatasyncAsync(fh.fd, target, tmp, io);
  } finally {
    await fh.close();
  }
  await io.fs.promises.rename(tmp, path.join(dir, name));
  await fsyncDir(dir, io);
}

export function unlinkIfExists(fs: Vfs, file: string): boolean {
  try {
    fs.unlinkSync(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

/**
 * Directories open in this process, by file system and real path: a second
 * open would interleave writes. (A simulated file system after a simulated
 * crash is another one: src/sim/fs.ts reboot().)
 */
const openHere = new WeakMap<Vfs, Set<string>>();

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Take the directory for this instance: a LOCK file names the owning pid. A
 * lock left by a dead process, or by this process for a directory it no
 * longer has open (a crash simulated in tests, a copied directory), is taken
 * over. Returns the release function.
 */
export function acquireLock(io: Io, dir: string): () => void {
  const { fs } = io;
  const real = fs.realpathSync(dir);
  let open = openHere.get(fs);
  if (open === undefined) openHere.set(fs, (open = new Set()));
  if (open.has(real)) {
    throw new BitcaskError("Locked", `bitcask: ${dir} is already open in this process (pid ${process.pid})`);
  }
  const file = path.join(dir, LOCK_NAME);
  let holder: number | undefined;
  try {
    holder = Number(fs.readFileSync(file).toString("latin1").trim());
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  // An empty or torn LOCK (power lost before it reached the disk) reads as 0
  // or NaN: no holder. (process.kill(0) would ask about our own process group.)
  if (
    holder !== undefined &&
    Number.isSafeInteger(holder) &&
    holder > 0 &&
    holder !== process.pid &&
    pidAlive(holder)
  ) {
    throw new BitcaskError("Locked", `bitcask: ${dir} is locked by running process ${holder} (see ${file})`);
  }
  // Whole or absent after a power loss (a torn pid could name a live process).
  writeFileAtomicSync(dir, LOCK_NAME, Buffer.from(`${process.pid}\n`), "lock", io);
  open.add(real);
  return () => {
    open.delete(real);
    unlinkIfExists(fs, file);
  };
}
