// One HTTP/2 request stream on the server side. It has one consumer (the
// gRPC wire layer or the HTTP adapter), so its events are plain callback
// fields rather than an EventEmitter: a unary call on a loaded member is a
// few microseconds of work, and emitter plumbing per stream was a large part
// of what Node's HTTP/2 streams cost.
//
// Output is queued in order (headers, data, trailers) and leaves through the
// connection as flow control allows; headers and trailers are HPACK blocks,
// usually precomputed.

import type { H2Connection } from "./connection.ts";
import { H2Code } from "./frames.ts";

/** One queued output item: DATA bytes, or a header block (response headers or trailers). */
export interface OutItem {
  /** What is left to send of a DATA item. */
  data?: Buffer;
  readonly headers?: Buffer;
  readonly end: boolean;
}

export class H2Stream {
  /** Request header fields; a repeated name keeps its values joined by ", ". */
  readonly headers: Record<string, string>;
  onData: ((chunk: Buffer) => void) | undefined;
  onEnd: (() => void) | undefined;
  onDrain: (() => void) | undefined;
  private closeListeners: (() => void)[] | undefined;

  /** Bytes the client may still send before we grant more (our receive window for this stream). */
  recvWindow: number;
  /** Bytes received and handed on but not yet granted back. */
  recvUngranted = 0;
  /** Bytes we may still send (the client's window for this stream). */
  sendWindow: number;
  readonly out: OutItem[] = [];
  /** DATA bytes queued and not yet sent. */
  queuedBytes = 0;
  /** True while the stream is in the connection's list of streams with output waiting. */
  scheduled = false;

  inputEnded = false;
  headersSent = false;
  /** The last item (END_STREAM) has been queued. */
  writableEnded = false;
  closed = false;
  paused = false;
  /** Data that arrived while paused, delivered on resume. */
  private held: Buffer[] | undefined;
  private heldEnd = false;

  constructor(
    readonly id: number,
    headers: Record<string, string>,
    private readonly conn: H2Connection,
    initialRecvWindow: number,
    initialSendWindow: number,
  ) {
    this.headers = headers;
    this.recvWindow = initialRecvWindow;
    this.sendWindow = initialSendWindow;
  }

  /** The connection's socket (for TLS peer details). */
  get socket(): unknown {
    return this.conn.socket;
  }

  /** Registers a callback for when the stream closes, normally or not (called at most once). */
  onClose(listener: () => void): void {
    if (this.closed) {
      queueMicrotask(listener);
      return;
    }
    (this.closeListeners ??= []).push(listener);
  }

  offClose(listener: () => void): void {
    const list = this.closeListeners;
    const i = list?.indexOf(listener) ?? -1;
    if (list && i >= 0) list.splice(i, 1);
  }

  /** Sends the response headers (an HPACK block); with endStream the response is complete (trailers-only). */
  respond(block: Buffer, endStream = false): void {
    if (this.closed || this.headersSent) return;
    this.headersSent = true;
    this.push({ headers: block, end: endStream });
  }

  /**
   * Queues DATA. Returns false once the stream holds more unsent bytes than
   * the connection's high-water mark: wait for onDrain before writing more.
   */
  write(data: Buffer): boolean {
    if (this.closed || this.writableEnded) return false;
    if (data.length > 0) this.push({ data, end: false });
    return this.queuedBytes < this.conn.streamHighWaterBytes;
  }

  /** Ends the response: optional last DATA, then trailers (an HPACK block) or an empty END_STREAM DATA frame. */
  end(data?: Buffer, trailers?: Buffer): void {
    if (this.closed || this.writableEnded) return;
    if (data !== undefined && data.length > 0) this.push({ data, end: trailers === undefined });
    else if (trailers === undefined) this.push({ data: Buffer.alloc(0), end: true });
    if (trailers !== undefined) this.push({ headers: trailers, end: true });
  }

  /** Abandons the stream with RST_STREAM (e.g. NO_ERROR to a client still sending after the response). */
  reset(code: H2Code = H2Code.Cancel): void {
    if (this.closed) return;
    this.conn.resetStream(this, code);
  }

  /** Stops delivering data (and granting window) until resume(). */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const held = this.held;
    this.held = undefined;
    if (held) for (const chunk of held) this.deliver(chunk);
    if (this.heldEnd && !this.paused) {
      this.heldEnd = false;
      this.onEnd?.();
    }
  }

  private push(item: OutItem): void {
    if (item.end) this.writableEnded = true;
    if (item.data) this.queuedBytes += item.data.length;
    this.out.push(item);
    this.conn.schedule(this);
  }

  /** Called by the connection with a DATA payload. */
  deliver(chunk: Buffer): void {
    if (this.paused) {
      (this.held ??= []).push(chunk);
      return;
    }
    this.conn.consumed(this, chunk.length);
    this.onData?.(chunk);
  }

  /** Called by the connection when the client's END_STREAM arrives. */
  endInput(): void {
    this.inputEnded = true;
    if (this.paused) this.heldEnd = true;
    else this.onEnd?.();
  }

  /** Called by the connection once: the stream is finished or abandoned. */
  finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.out.length = 0;
    this.queuedBytes = 0;
    this.held = undefined;
    const listeners = this.closeListeners;
    this.closeListeners = undefined;
    if (listeners) for (const l of listeners) l();
  }
}
