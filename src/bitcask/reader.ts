// A sliding window over a file for sequential record parsing, with a sync
// flavour (open) and an async one (merge and hint building, which must not
// block the event loop on disk reads). The window never reads past the size
// it was given, so a length field can never make it allocate more than the
// file holds.

import type { Vfs } from "../common/index.ts";
import { readFully, readFullySync } from "./io.ts";

export class ChunkReader {
  buf: Buffer;
  /** File offset of buf[0]. */
  private start = 0;
  /** Valid bytes in buf. */
  private len = 0;

  constructor(
    private readonly fs: Vfs,
    private readonly fd: number,
    readonly fileSize: number,
    private readonly chunkBytes: number,
  ) {
    this.buf = Buffer.allocUnsafe(Math.min(chunkBytes, Math.max(fileSize, 64)));
  }

  /**
   * Index in `buf` of file offset `pos` once [pos, pos + len) is in the window,
   * or -1 if that range passes the end of the file. Bytes from `keepFrom`
   * (<= pos) stay in the window too.
   */
  loadSync(pos: number, len: number, keepFrom = pos): number {
    const at = this.prepare(pos, len, keepFrom);
    if (at !== undefined) return at;
    const want = this.fill(pos, len, keepFrom);
    const n = readFullySync(this.fs, this.fd, this.buf, this.len, want, this.start + this.len);
    return this.finish(pos, len, n);
  }

  /** Index in `buf` of [pos, pos + len) if the window already holds it (or -1 past the end), without reading. */
  peek(pos: number, len: number): number | undefined {
    return this.prepare(pos, len, pos);
  }

  async load(pos: number, len: number, keepFrom = pos): Promise<number> {
    const at = this.prepare(pos, len, keepFrom);
    if (at !== undefined) return at;
    const want = this.fill(pos, len, keepFrom);
    const n = await readFully(this.fs, this.fd, this.buf, this.len, want, this.start + this.len);
    return this.finish(pos, len, n);
  }

  /** The answer without reading, if there is one. */
  private prepare(pos: number, len: number, keepFrom: number): number | undefined {
    if (pos + len > this.fileSize) return -1;
    if (pos >= this.start && pos + len <= this.start + this.len && keepFrom >= this.start)
      return pos - this.start;
    return undefined;
  }

  /** Slide (or grow) the window so it starts at keepFrom; returns how many bytes to read at its end. */
  private fill(pos: number, len: number, keepFrom: number): number {
    const keepEnd = this.start + this.len;
    const reuse = keepFrom >= this.start && keepFrom <= keepEnd;
    const need = pos + len - keepFrom;
    const kept = reuse ? keepEnd - keepFrom : 0;
    // Grow geometrically: a window pinned at the start of a large batch would
    // otherwise grow by one record per read and be copied each time
    // (quadratic; a 4 MiB batch of 1 KiB records took seconds to scan).
    const size = Math.max(need, Math.min(Math.max(this.chunkBytes, 2 * kept), this.fileSize - keepFrom));
    const next = size > this.buf.length ? Buffer.allocUnsafe(size) : this.buf;
    if (reuse && !(next === this.buf && keepFrom === this.start)) {
      this.buf.copy(next, 0, keepFrom - this.start, this.len);
      this.len = keepEnd - keepFrom;
    } else {
      this.len = 0;
    }
    this.buf = next;
    this.start = keepFrom;
    return Math.min(this.buf.length - this.len, this.fileSize - (this.start + this.len));
  }

  private finish(pos: number, len: number, n: number): number {
    this.len += n;
    // The file shrank under us: report the range as past the end.
    if (pos + len > this.start + this.len) return -1;
    return pos - this.start;
  }
}
