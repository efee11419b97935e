// Types of the public API.

export type BatchOp =
  | { type: "put"; key: Uint8Array; value: Uint8Array }
  | { type: "delete"; key: Uint8Array };

export interface Entry {
  key: Uint8Array;
  value: Uint8Array;
}

export interface RangeOptions {
  /** Walk from the largest key down. */
  reverse?: boolean;
  /** Stop after this many entries. */
  limit?: number;
  /** Leave values empty and skip reading them. */
  keysOnly?: boolean;
  /**
   * Read values this many entries ahead, in file order, neighbours in one
   * read (a whole-store scan is then a few large sequential reads rather
   * than a read per record). Values may then be up to a window older than
   * the walk; for scans that run while nothing writes. Default 1 (no read-ahead).
   */
  readAhead?: number;
}

export interface DataFileStats {
  id: number;
  /** "write": written by the writer; "merge": written by a merge. */
  kind: "write" | "merge";
  bytes: number;
  /** Bytes of records that hold the newest value of their key. */
  liveBytes: number;
  /** Everything else: overwritten values, tombstones, headers, seals. */
  deadBytes: number;
  sealed: boolean;
  hasHint: boolean;
}

export interface BitcaskStats {
  keys: number;
  files: number;
  totalBytes: number;
  liveBytes: number;
  deadBytes: number;
  /** The file writes go to; undefined until the first write after open. */
  activeFileId: number | undefined;
  nextSeq: number;
  merging: boolean;
  /** At open: data files loaded from their hint, and by scanning the data. */
  filesFromHints: number;
  filesScanned: number;
  dataFiles: DataFileStats[];
}
