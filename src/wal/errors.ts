// Errors of the durable log. Corruption is its own class because callers must
// treat it differently from a bad argument: the data directory needs a human
// (or a snapshot from a peer), and retrying will not help.

/**
 * A file under the data directory is damaged somewhere other than its torn
 * tail. `file` and `offset` point at the first byte that could not be trusted.
 */
export class WalCorruptionError extends Error {
  readonly code = "WAL_CORRUPTION";
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`wal: corrupt data in ${file} at byte offset ${offset}: ${reason}`);
    this.name = "WalCorruptionError";
  }
}

export type WalErrorCode =
  /** The caller passed a value that would break a log invariant; nothing was written. */
  | "InvalidArgument"
  /** A record would exceed `maxRecordBytes`; nothing was written. */
  | "RecordTooLarge"
  /** The log was closed. */
  | "Closed"
  /** An earlier write or fsync failed; the file's tail is unknown until the log is reopened. */
  | "Failed"
  /** More saves are waiting than `maxPendingSaves` allows. */
  | "TooManyPendingSaves"
  /** Bootstrap of a data directory that already holds a log. */
  | "AlreadyExists"
  /** No snapshot file matches the request. */
  | "NotFound";

export class WalError extends Error {
  constructor(
    readonly code: WalErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`wal: ${message}`, options);
    this.name = "WalError";
  }
}

/** Where warnings go (a torn tail truncated, a temp file removed, a snapshot skipped). */
export type WalLogger = (message: string, fields: Readonly<Record<string, unknown>>) => void;

export const stderrLogger: WalLogger = (message, fields) => {
  process.stderr.write(`${JSON.stringify({ level: "warn", module: "wal", msg: message, ...fields })}\n`);
};
