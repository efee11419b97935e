// The file system as the storage engines see it: the subset of node:fs they
// use, so a test or the simulator can put them on a file system of its own
// (src/sim/fs.ts: durability by fsync, crashes that lose unsynced writes,
// injected ENOSPC and EIO). node:fs itself is the production implementation,
// unwrapped.

import * as nodeFs from "node:fs";

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
  readonly promises: {
    open(path: string, flags: string): Promise<VfsFileHandle>;
    mkdir(path: string, options: { recursive: true }): Promise<unknown>;
    readdir(path: string): Promise<string[]>;
    rm(path: string, options: { force: boolean }): Promise<void>;
    rename(from: string, to: string): Promise<void>;
  };
}

/** The real file system. */
export const nodeVfs: Vfs = nodeFs;
