// A simulated file system with the durability rules the storage engines rely
// on, for the simulator and crash tests (the Vfs of common/vfs.ts):
//  - a file's bytes are durable once an fsync or fdatasync of it returns;
//    writes and truncations after that live in memory only;
//  - a directory's entries (a file created, renamed or removed) are durable
//    once that directory is fsynced; directories themselves always exist;
//  - crash(prefix) is power loss for the files under `prefix`: each directory
//    gets back its durable entries, each file its durable bytes plus, in
//    order, a random number of the operations since (the last one kept may
//    be a write cut short: a torn write), and every descriptor is closed.
// Faults are injected per operation (`fault`: return "EIO", "ENOSPC", ...)
// and by capacity (writes past `capacityBytes` in all files fail with ENOSPC).
// Asynchronous calls complete through `later` (the simulator's clock; by
// default a resolved promise); synchronous ones at once.

import * as path from "node:path";
import type { Vfs, VfsFileHandle } from "../common/index.ts";

type Change = { readonly pos: number; readonly bytes: Uint8Array } | { readonly truncate: number };

class Inode {
  data = Buffer.alloc(0);
  size = 0;
  durable = Buffer.alloc(0);
  /** Writes and truncations since the last sync, oldest first. */
  changes: Change[] = [];

  write(buf: Uint8Array, pos: number): void {
    const end = pos + buf.length;
    this.ensure(end);
    this.data.set(buf, pos);
    if (end > this.size) this.size = end;
    this.changes.push({ pos, bytes: Uint8Array.from(buf) });
  }

  truncate(len: number): void {
    this.ensure(len);
    if (len > this.size) this.data.fill(0, this.size, len);
    this.size = len;
    this.changes.push({ truncate: len });
  }

  sync(): void {
    this.durable = Buffer.from(this.data.subarray(0, this.size));
    this.changes = [];
  }

  /** Power loss: the durable bytes and `keep` of the changes since, then that fraction of the next one's bytes. */
  crash(keep: number, torn: number): void {
    let image = Buffer.from(this.durable);
    const apply = (c: Change, cut?: number) => {
      if ("truncate" in c) {
        const next = Buffer.alloc(c.truncate);
        image.copy(next, 0, 0, Math.min(image.length, c.truncate));
        image = next;
        return;
      }
      const bytes = cut === undefined ? c.bytes : c.bytes.subarray(0, cut);
      const end = c.pos + bytes.length;
      if (end > image.length) {
        const next = Buffer.alloc(end);
        image.copy(next);
        image = next;
      }
      image.set(bytes, c.pos);
    };
    for (let i = 0; i < keep && i < this.changes.length; i++) apply(this.changes[i]);
    const next = this.changes[keep];
    if (next !== undefined && !("truncate" in next)) apply(next, Math.floor(torn * next.bytes.length));
    this.data = image;
    this.size = image.length;
    this.durable = Buffer.from(image);
    this.changes = [];
  }

  private ensure(len: number): void {
    if (len <= this.data.length) return;
    const next = Buffer.alloc(Math.max(len, this.data.length * 2, 4096));
    this.data.copy(next, 0, 0, this.size);
    this.data = next;
  }
}

class Dir {
  entries = new Map<string, Inode>();
  durable = new Map<string, Inode>();
}

interface Open {
  readonly path: string;
  readonly inode?: Inode;
  readonly dir?: Dir;
  readonly writable: boolean;
}

export interface SimFsOptions {
  /** Random numbers in [0, 1) for the torn tails of a crash (the simulator's seeded generator). */
  rand: () => number;
  /** Runs an asynchronous call's completion (the simulator's clock); default: at once, as a resolved promise. */
  later?: (op: SimFsOp, done: () => void) => void;
  /** Consulted before every operation: an errno code ("EIO", "ENOSPC", ...) makes it fail with that code. */
  fault?: (op: SimFsOp, file: string) => string | undefined;
  /** Total bytes all files may hold; a write past it fails with ENOSPC. Default: unlimited. */
  capacityBytes?: number;
}

export type SimFsOp =
  | "open"
  | "read"
  | "write"
  | "truncate"
  | "sync"
  | "datasync"
  | "rename"
  | "rm"
  | "readdir"
  | "mkdir";

/** An error shaped like node:fs's (code, syscall, path). */
export function fsError(code: string, op: string, file: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: simulated ${op} failure, '${file}'`), {
    code,
    syscall: op,
    path: file,
  });
}

export class SimFs implements Vfs {
  private dirs = new Map<string, Dir>();
  private readonly fds = new Map<number, Open>();
  private nextFd = 3;
  private usedBytes = 0;
  readonly promises: Vfs["promises"];

  constructor(private readonly o: SimFsOptions) {
    this.dirs.set("/", new Dir());
    const run = this.run.bind(this);
    this.promises = {
      open: (file, flags) => run("open", () => this.handle(this.openSync(file, flags))),
      mkdir: (dir) => run("mkdir", () => this.mkdirSync(dir)),
      readdir: (dir) => run("readdir", () => this.readdirSync(dir)),
      readFile: (file) => run("read", () => this.readFileSync(file)),
      rm: (file, options) => run("rm", () => this.rmSync(file, options.force)),
      unlink: (file) => run("rm", () => this.rmSync(file, false)),
      rename: (from, to) => run("rename", () => this.renameSync(from, to)),
    };
  }

  // ---- the Vfs ------------------------------------------------------------------

  openSync(file: string, flags: string): number {
    file = path.resolve(file);
    this.check("open", file);
    const dir = this.dirs.get(file);
    if (dir) {
      if (flags !== "r") throw fsError("EISDIR", "open", file);
      return this.addFd({ path: file, dir, writable: false });
    }
    const parent = this.parent(file, "open");
    const name = path.basename(file);
    let inode = parent.entries.get(name);
    const create = flags.startsWith("w") || flags.startsWith("a");
    if (inode === undefined) {
      if (!create) throw fsError("ENOENT", "open", file);
      inode = new Inode();
      parent.entries.set(name, inode);
    } else if (flags.includes("x")) {
      throw fsError("EEXIST", "open", file);
    } else if (flags.startsWith("w") && inode.size > 0) {
      this.usedBytes -= inode.size;
      inode.truncate(0);
    }
    return this.addFd({ path: file, inode, writable: flags !== "r" });
  }

  closeSync(fd: number): void {
    if (!this.fds.delete(fd)) throw fsError("EBADF", "close", String(fd));
  }

  readSync(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number {
    const f = this.file(fd, "read");
    const n = Math.max(0, Math.min(length, f.inode.size - position));
    buf.set(f.inode.data.subarray(position, position + n), offset);
    return n;
  }

  writeSync(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number {
    const f = this.file(fd, "write");
    if (!f.writable) throw fsError("EBADF", "write", f.path);
    const grow = Math.max(0, position + length - f.inode.size);
    if (this.o.capacityBytes !== undefined && this.usedBytes + grow > this.o.capacityBytes) {
      throw fsError("ENOSPC", "write", f.path);
    }
    f.inode.write(buf.subarray(offset, offset + length), position);
    this.usedBytes += grow;
    return length;
  }

  readFileSync(file: string): Buffer {
    file = path.resolve(file);
    this.check("read", file);
    const inode = this.parent(file, "open").entries.get(path.basename(file));
    if (inode === undefined) throw fsError("ENOENT", "open", file);
    return Buffer.from(inode.data.subarray(0, inode.size));
  }

  fdatasyncSync(fd: number): void {
    this.syncFd(fd, "datasync");
  }

  fsyncSync(fd: number): void {
    this.syncFd(fd, "sync");
  }

  ftruncateSync(fd: number, length: number): void {
    const f = this.file(fd, "truncate");
    this.usedBytes += length - f.inode.size;
    f.inode.truncate(length);
  }

  fstatSync(fd: number): { size: number } {
    return { size: this.file(fd, "read").inode.size };
  }

  statSync(file: string): { size: number } {
    file = path.resolve(file);
    if (this.dirs.has(file)) return { size: 0 };
    const inode = this.dirs.get(path.dirname(file))?.entries.get(path.basename(file));
    if (inode === undefined) throw fsError("ENOENT", "stat", file);
    return { size: inode.size };
  }

  existsSync(file: string): boolean {
    file = path.resolve(file);
    return (
      this.dirs.has(file) || this.dirs.get(path.dirname(file))?.entries.has(path.basename(file)) === true
    );
  }

  unlinkSync(file: string): void {
    this.rmSync(file, false);
  }

  realpathSync(file: string): string {
    if (!this.existsSync(file)) throw fsError("ENOENT", "realpath", file);
    return path.resolve(file);
  }

  read(
    fd: number,
    buf: Uint8Array,
    offset: number,
    length: number,
    position: number,
    cb: (err: NodeJS.ErrnoException | null, bytesRead: number) => void,
  ): void {
    this.callback("read", () => this.readSync(fd, buf, offset, length, position), 0, cb);
  }

  write(
    fd: number,
    buf: Uint8Array,
    offset: number,
    length: number,
    position: number,
    cb: (err: NodeJS.ErrnoException | null, bytesWritten: number) => void,
  ): void {
    this.callback("write", () => this.writeSync(fd, buf, offset, length, position), 0, cb);
  }

  fdatasync(fd: number, cb: (err: NodeJS.ErrnoException | null) => void): void {
    this.callback("datasync", () => this.syncFd(fd, "datasync"), undefined, cb);
  }

  // ---- the simulation's side ----------------------------------------------------

  /**
   * The machine after a crash: the same files (call crash() first), seen by
   * a new process (no descriptors open; a library's in-process state keyed
   * by file system, such as bitcask's lock table, starts empty).
   */
  reboot(): SimFs {
    const next = new SimFs(this.o);
    next.dirs = this.dirs;
    next.usedBytes = this.usedBytes;
    return next;
  }

  /** Power loss for every file under `prefix` (see the top of this file). */
  crash(prefix: string): void {
    prefix = path.resolve(prefix);
    const under = (p: string) => p === prefix || p.startsWith(prefix + path.sep);
    for (const [fd, f] of this.fds) if (under(f.path)) this.fds.delete(fd);
    const inodes = new Set<Inode>();
    for (const [name, dir] of this.dirs) {
      if (!under(name)) continue;
      for (const inode of dir.entries.values()) this.usedBytes -= inode.size;
      dir.entries = new Map(dir.durable);
      for (const inode of dir.entries.values()) inodes.add(inode);
    }
    for (const inode of inodes) {
      const keep = Math.floor(this.o.rand() * (inode.changes.length + 1));
      const torn = this.o.rand() < 0.5 ? 0 : this.o.rand();
      inode.crash(keep, torn);
      this.usedBytes += inode.size;
    }
  }

  // ---- internals ------------------------------------------------------------------

  /** An asynchronous call in node's callback style: `cb(null, result)`, or `cb(error, failed)`. */
  private callback<T>(
    op: SimFsOp,
    fn: () => T,
    failed: T,
    cb: (err: NodeJS.ErrnoException | null, result: T) => void,
  ): void {
    this.run(op, fn).then(
      (r) => cb(null, r),
      (e: NodeJS.ErrnoException) => cb(e, failed),
    );
  }

  /** An asynchronous call: `fn` runs when the call completes (see SimFsOptions.later). */
  private run<T>(op: SimFsOp, fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const finish = () => {
        try {
          resolve(fn());
        } catch (e) {
          reject(e);
        }
      };
      if (this.o.later) this.o.later(op, finish);
      else queueMicrotask(finish);
    });
  }

  private handle(fd: number): VfsFileHandle {
    const run = this.run.bind(this);
    const sync = (op: "sync" | "datasync") => () => run(op, () => this.syncFd(fd, op));
    return {
      fd,
      write: (buf, offset, length, position) =>
        run("write", () => ({ bytesWritten: this.writeSync(fd, buf, offset, length, position) })),
      read: (buf, offset, length, position) =>
        run("read", () => ({ bytesRead: this.readSync(fd, buf, offset, length, position) })),
      truncate: (length) =>
        run("truncate", () => {
          const f = this.file(fd, "truncate");
          this.usedBytes += length - f.inode.size;
          f.inode.truncate(length);
        }),
      sync: sync("sync"),
      datasync: sync("datasync"),
      stat: () => run("read", () => ({ size: this.file(fd, "read").inode.size })),
      close: () => run("read", () => this.closeSync(fd)),
    };
  }

  private addFd(f: Open): number {
    const fd = this.nextFd++;
    this.fds.set(fd, f);
    return fd;
  }

  private file(fd: number, op: SimFsOp): Open & { inode: Inode } {
    const f = this.fds.get(fd);
    if (f === undefined || f.inode === undefined) throw fsError("EBADF", op, String(fd));
    this.check(op, f.path);
    return f as Open & { inode: Inode };
  }

  private check(op: SimFsOp, file: string): void {
    const code = this.o.fault?.(op, file);
    if (code !== undefined) throw fsError(code, op, file);
  }

  private parent(file: string, op: string): Dir {
    const dir = this.dirs.get(path.dirname(file));
    if (dir === undefined) throw fsError("ENOENT", op, file);
    return dir;
  }

  /** fsync or fdatasync: a file's bytes, or a directory's entries, become durable. */
  private syncFd(fd: number, op: "sync" | "datasync"): void {
    const f = this.fds.get(fd);
    if (f === undefined) throw fsError("EBADF", op, String(fd));
    this.check(op, f.path);
    if (f.dir) f.dir.durable = new Map(f.dir.entries);
    else f.inode?.sync();
  }

  private mkdirSync(dir: string): void {
    dir = path.resolve(dir);
    this.check("mkdir", dir);
    for (let d = dir; !this.dirs.has(d); d = path.dirname(d)) this.dirs.set(d, new Dir());
  }

  readdirSync(dir: string): string[] {
    dir = path.resolve(dir);
    this.check("readdir", dir);
    const d = this.dirs.get(dir);
    if (d === undefined) throw fsError("ENOENT", "readdir", dir);
    const names = [...d.entries.keys()];
    for (const other of this.dirs.keys())
      if (other !== dir && path.dirname(other) === dir) names.push(path.basename(other));
    return names.sort();
  }

  private rmSync(file: string, force: boolean): void {
    file = path.resolve(file);
    this.check("rm", file);
    const parent = this.dirs.get(path.dirname(file));
    const inode = parent?.entries.get(path.basename(file));
    if (parent === undefined || inode === undefined) {
      if (force) return;
      throw fsError("ENOENT", "rm", file);
    }
    parent.entries.delete(path.basename(file));
    this.usedBytes -= inode.size;
  }

  renameSync(from: string, to: string): void {
    from = path.resolve(from);
    to = path.resolve(to);
    this.check("rename", from);
    const src = this.parent(from, "rename");
    const inode = src.entries.get(path.basename(from));
    if (inode === undefined) throw fsError("ENOENT", "rename", from);
    const dst = this.parent(to, "rename");
    const replaced = dst.entries.get(path.basename(to));
    if (replaced !== undefined && replaced !== inode) this.usedBytes -= replaced.size;
    src.entries.delete(path.basename(from));
    dst.entries.set(path.basename(to), inode);
  }
}
