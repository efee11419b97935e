// Every error the storage engine raises on purpose, in one place. A caller
// tells them apart by `code`; corruption carries the file and byte offset.

export type BitcaskErrorCode =
  /** An option is out of range; the message names it and the value seen. */
  | "InvalidOption"
  /** A key is empty (an empty key means "unbounded" in ranges, so it cannot be stored). */
  | "KeyEmpty"
  | "KeyTooLarge"
  | "ValueTooLarge"
  /** Too many operations or bytes in one writeBatch. */
  | "BatchTooLarge"
  /** The store was closed. */
  | "Closed"
  /** An earlier write or fsync failed, so what is on disk is unknown: close and reopen. */
  | "Failed"
  /** A write failed and was rolled back; the store is still usable. */
  | "WriteFailed"
  /** Another process, or another instance in this process, has the directory open. */
  | "Locked"
  | "MergeInProgress"
  /** A merge was cancelled by close(); nothing changed on disk. */
  | "MergeAborted"
  /** Bytes on disk fail a checksum or make no sense. */
  | "Corruption";

export class BitcaskError extends Error {
  constructor(
    readonly code: BitcaskErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "BitcaskError";
  }
}

/** Damage found on disk that is not a torn tail: the store refuses to guess. */
export class BitcaskCorruptionError extends BitcaskError {
  constructor(
    /** Path of the damaged file. */
    readonly file: string,
    /** Byte offset in that file where the damage starts. */
    readonly offset: number,
    /** What was wrong, with the value seen. */
    readonly reason: string,
  ) {
    super("Corruption", `bitcask: corrupt data in ${file} at offset ${offset}: ${reason}`);
    this.name = "BitcaskCorruptionError";
  }
}

/** An invariant of the engine does not hold: a bug, never a user error. */
export class BitcaskAssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BitcaskAssertionError";
  }
}

export function assert(cond: boolean, message: string | (() => string)): asserts cond {
  if (!cond) throw new BitcaskAssertionError(typeof message === "string" ? message : message());
}
