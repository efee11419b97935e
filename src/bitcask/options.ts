// Options of a store, their defaults and limits, checked once at open.

import { nodeVfs, type Vfs } from "../common/index.ts";
import { BitcaskError } from "./errors.ts";
import { FILE_HEADER_BYTES, RECORD_HEADER_BYTES } from "./record.ts";

export type SyncPolicy =
  /** fsync before a writeBatch promise resolves (concurrent batches share one fsync). */
  | "always"
  /** fsync every `syncIntervalMs` when something was written; a batch resolves once written. */
  | "interval"
  /** fsync only when a file is sealed, at close, before a merge commits, or on sync(). */
  | "none";

/** Structured log sink (pino's `logger.warn(obj, msg)` fits). */
export interface BitcaskLogger {
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
}

export type SyncTarget = "data" | "hint" | "manifest" | "lock" | "dir";

/** Observation and fault-injection points, for tests and metrics. */
export interface BitcaskHooks {
  /** After every fsync/fdatasync the store issues. */
  onSync?(target: SyncTarget, path: string): void;
  /** How long each group-commit fdatasync of written records took, in seconds. */
  onCommitSeconds?(seconds: number): void;
  /** When open loads a data file, and whether from its hint or by scanning the data. */
  onLoad?(fileId: number, source: "hint" | "scan"): void;
  /**
   * Called at named steps of a merge ("merge:outputs-written", ...); throwing
   * stops the merge there as a crash would (see merge.ts for the list).
   */
  failpoint?(name: string): void;
}

export interface BitcaskOptions {
  /** A data file is sealed and a new one started before it would pass this size. Default 64 MiB. */
  maxFileBytes?: number;
  /**
   * Seal the active file sooner, before it would pass this size (a batch
   * larger than this still goes whole into a fresh file, up to maxFileBytes).
   * Only sealed files have hints, so after a crash the open scans at most
   * this much of the active file record by record. Default maxFileBytes.
   */
  rolloverBytes?: number;
  /** Default 4 KiB: every key lives in RAM in the keydir. */
  maxKeyBytes?: number;
  /** Default 1.5 MiB, etcd's default max request size. */
  maxValueBytes?: number;
  /** Operations in one writeBatch. Default 10,000. */
  maxBatchOps?: number;
  /**
   * Encoded bytes of one writeBatch (40 bytes of header per record plus keys and
   * values). Default 16 MiB, and never more than fits in one data file: with
   * small files this, not maxValueBytes, bounds a value.
   */
  maxBatchBytes?: number;
  /** Default "always". */
  sync?: SyncPolicy;
  /** For sync "interval". Default 1000. */
  syncIntervalMs?: number;
  /** Check the checksums of every record read by get and range. Default true. */
  verifyReads?: boolean;
  /**
   * Merge and hint building read and write this much between yields to the
   * event loop. Default 128 KiB: a millisecond or two of work at a time.
   */
  ioChunkBytes?: number;
  logger?: BitcaskLogger;
  hooks?: BitcaskHooks;
  /** The file system (default: the real one; the simulator's and tests' can crash and fail). */
  fs?: Vfs;
  /** Clock for record timestamps, in ms since the epoch. Default Date.now. */
  now?: () => number;
}

export interface ResolvedOptions {
  maxFileBytes: number;
  rolloverBytes: number;
  maxKeyBytes: number;
  maxValueBytes: number;
  maxBatchOps: number;
  maxBatchBytes: number;
  sync: SyncPolicy;
  syncIntervalMs: number;
  verifyReads: boolean;
  ioChunkBytes: number;
  logger: BitcaskLogger;
  hooks: BitcaskHooks;
  fs: Vfs;
  now: () => number;
}

export const MiB = 1024 * 1024;
/** Record offsets are 32-bit in the keydir and hint files; this keeps them far from overflow. */
export const MAX_FILE_BYTES_LIMIT = 2 ** 31;
/** A record header plus the smallest seal; the least a data file must hold besides its header. */
const SEAL_BYTES = RECORD_HEADER_BYTES;

export const defaultLogger: BitcaskLogger = {
  warn: (fields, msg) => process.stderr.write(`${JSON.stringify({ level: "warn", msg, ...fields })}\n`),
  error: (fields, msg) => process.stderr.write(`${JSON.stringify({ level: "error", msg, ...fields })}\n`),
};

function intOption(name: string, value: number | undefined, dflt: number, min: number, max: number): number {
  const v = value ?? dflt;
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    throw new BitcaskError(
      "InvalidOption",
      `bitcask: option ${name} must be an integer in [${min}, ${max}], got ${v}`,
    );
  }
  return v;
}

export function resolveOptions(o: BitcaskOptions = {}): ResolvedOptions {
  const maxFileBytes = intOption("maxFileBytes", o.maxFileBytes, 64 * MiB, 4096, MAX_FILE_BYTES_LIMIT);
  const maxKeyBytes = intOption("maxKeyBytes", o.maxKeyBytes, 4096, 1, 16 * MiB);
  const maxValueBytes = intOption("maxValueBytes", o.maxValueBytes, 1.5 * MiB, 0, 256 * MiB);
  const fits = maxFileBytes - FILE_HEADER_BYTES - SEAL_BYTES;
  const maxBatchBytes = intOption("maxBatchBytes", o.maxBatchBytes, Math.min(16 * MiB, fits), 1, fits);
  const maxBatchOps = intOption("maxBatchOps", o.maxBatchOps, 10_000, 1, 1_000_000);
  const sync = o.sync ?? "always";
  if (sync !== "always" && sync !== "interval" && sync !== "none") {
    throw new BitcaskError(
      "InvalidOption",
      `bitcask: option sync must be always|interval|none, got ${String(sync)}`,
    );
  }
  return {
    maxFileBytes,
    rolloverBytes: intOption("rolloverBytes", o.rolloverBytes, maxFileBytes, 4096, maxFileBytes),
    maxKeyBytes,
    maxValueBytes,
    maxBatchOps,
    maxBatchBytes,
    sync,
    syncIntervalMs: intOption("syncIntervalMs", o.syncIntervalMs, 1000, 1, 3_600_000),
    verifyReads: o.verifyReads ?? true,
    ioChunkBytes: intOption("ioChunkBytes", o.ioChunkBytes, 128 * 1024, 4096, 256 * MiB),
    logger: o.logger ?? defaultLogger,
    hooks: o.hooks ?? {},
    fs: o.fs ?? nodeVfs,
    now: o.now ?? Date.now,
  };
}
