// The file system as the storage engines see it: the subset of node:fs they
// use, so a test or the simulator can put them on a file system of its own
// (src/sim/fs.ts: durability by fsync, crashes that lose unsynced writes,
// injected ENOSPC and EIO). node:fs itself is the production implementation,
// unwrapped (its module object, so a test that patches one of its functions
// reaches the engines).

import nodeFs from "node:fs";

/** An open file, as fs.promises.FileHandle. */
export interface VfsFileHandle {
  readonly fd: number;
  write(buf: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  truncate(length: number): Promise<void>;
  /** fsync: data and metadata. */
  sync(): Promise<void>;
  /** fdatasync: data, and the metadata needed to read it back. */
  datasync(): Promise<void>;
  stat(): Promise<{ size: number }>;
  close(): Promise<void>;
}

export interface Vfs {
  openSync(path: string, flags: string): number;
  closeSync(fd: number): void;
  readSync(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number;
  writeSync(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number;
  readFileSync(path: string): Buffer;
  fdatasyncSync(fd: number): void;
  fsyncSync(fd: number): void;
  ftruncateSync(fd: number, length: number): void;
  fstatSync(fd: number): { size: number };
  statSync(path: string): { size: number };
  existsSync(path: string): boolean;
  unlinkSync(path: string): void;
  renameSync(from: string, to: string): void;
  readdirSync(path: string): string[];
  realpathSync(path: string): string;
  read(
    fd: number,
    buf: Uint8Array,
    offset: number,
    length: number,
    position: number,
    cb: (err: NodeJS.ErrnoException | null, bytesRead: number) => void,
  ): void;
  write(
    fd: number,
    buf: Uint8Array,
    offset: number,
    length: number,
    position: number,
    cb: (err: NodeJS.ErrnoException | null, bytesWritten: number) => void,
  ): void;
  fdatasync(fd: number, cb: (err: NodeJS.ErrnoException | null) => void): void;
  readonly promises: {
    open(path: string, flags: string): Promise<VfsFileHandle>;
    mkdir(path: string, options: { recursive: true }): Promise<unknown>;
    readdir(path: string): Promise<string[]>;
    readFile(path: string): Promise<Buffer>;
    rm(path: string, options: { force: boolean }): Promise<void>;
    unlink(path: string): Promise<void>;
    rename(from: string, to: string): Promise<void>;
  };
}

/** The real file system. */
export const nodeVfs: Vfs = nodeFs;
