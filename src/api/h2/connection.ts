// The server side of one HTTP/2 connection (RFC 9113), written for floe's
// client port instead of Node's http2 module: a loaded member spent about
// 33 µs of CPU per gRPC call in Node's HTTP/2 plumbing before doing any work
// (bench/RESULTS.md), and a connection that parses frames in JavaScript and
// hands each stream to one consumer costs a fraction of that.
//
// What it does: the preface and SETTINGS exchange, HEADERS/CONTINUATION
// reassembly and HPACK decoding (hpack.ts), DATA with flow control in both
// directions (connection and stream windows; our grants go back as the
// consumer takes the data, so a paused stream holds back only itself), PING
// answers (with the next response while a stream is open: holdPingAck),
// RST_STREAM, GOAWAY both ways, the concurrent-stream limit (REFUSED_STREAM
// beyond it), and output coalesced into one socket write per
// turn of the event loop. What it refuses: anything RFC 9113 calls a
// connection error ends the connection with GOAWAY and the code; server push
// is never used. It is deliberately lenient about header values (etcdctl 3.4
// sends `:authority: http://host:port`, which nghttp2 refused).

import type { Duplex } from "node:stream";
import {
  ACK,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_WINDOW_BYTES,
  Flag,
  FRAME_HEADER_BYTES,
  FrameType,
  frame,
  goAwayFrame,
  H2Code,
  H2ConnectionError,
  MAX_FRAME_BYTES_LIMIT,
  MAX_WINDOW_BYTES,
  PREFACE,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from "./frames.ts";
import { HpackDecoder, HpackError } from "./hpack.ts";
import { H2Stream } from "./stream.ts";

export interface H2ConnectionOptions {
  /** SETTINGS_MAX_CONCURRENT_STREAMS: streams beyond it are refused. */
  maxConcurrentStreams: number;
  /** Our receive window per stream (SETTINGS_INITIAL_WINDOW_SIZE). */
  streamWindowBytes?: number;
  /** Our receive window for the whole connection. */
  connectionWindowBytes?: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE. */
  maxHeaderListBytes?: number;
  /** A stream's unsent bytes above which write() asks the writer to wait. */
  streamHighWaterBytes?: number;
  /** How long a PING's answer may wait for a stream's output (see holdPingAck). Default 5 ms. */
  pingAckHoldMs?: number;
  onStream(stream: H2Stream): void;
  /** The connection ended; err is set when it ended with a protocol or socket error. */
  onClose?(err?: Error): void;
}

/** Unsent bytes in the socket above which DATA waits for 'drain'. */
const SOCKET_HIGH_WATER_BYTES = 1 << 20;
/**
 * Unsent bytes above which a client that keeps sending is cut off: frames
 * we must answer (PING, SETTINGS) from a peer that reads nothing would
 * otherwise queue without bound.
 */
const SOCKET_UNREAD_LIMIT_BYTES = 16 << 20;
/** Pending-frame bytes below which they are joined into one buffer for the socket. */
const COALESCE_BYTES = 64 * 1024;
/** A CONTINUATION sequence may not grow a header block beyond this multiple of the header list limit. */
const BLOCK_SLACK = 2;

export class H2Connection {
  readonly streamHighWaterBytes: number;
  private readonly streams = new Map<number, H2Stream>();
  private readonly decoder: HpackDecoder;
  private readonly streamWindow: number;
  private readonly connWindow: number;
  private readonly maxHeaderListBytes: number;

  private buf: Buffer | undefined;
  private prefaceSeen = false;
  private lastStreamId = 0;
  /** A header block being reassembled from HEADERS + CONTINUATION. */
  private pendingBlock: { streamId: number; flags: number; parts: Buffer[]; bytes: number } | undefined;

  private connRecvWindow: number;
  private connRecvUngranted = 0;
  private connSendWindow = DEFAULT_WINDOW_BYTES;
  private peerInitialWindow = DEFAULT_WINDOW_BYTES;
  private peerMaxFrame = DEFAULT_MAX_FRAME_BYTES;

  private pendingOut: Buffer[] = [];
  private pendingOutBytes = 0;
  /** A PING's answer waiting for the next output (at most one; see holdPingAck). */
  private heldPingAck: Buffer | undefined;
  private pingAckTimer: ReturnType<typeof setTimeout> | undefined;
  private flushScheduled = false;
  /** Streams with queued output, in the order they asked. */
  private ready: H2Stream[] = [];
  /** Streams with output that a flow-control window holds back. */
  private readonly blocked = new Set<H2Stream>();
  private goAwaySent = false;
  private peerGoAway = false;
  private ended = false;
  private closeReported = false;

  constructor(
    readonly socket: Duplex,
    private readonly opts: H2ConnectionOptions,
  ) {
    this.streamWindow = opts.streamWindowBytes ?? 1 << 20;
    this.connWindow = opts.connectionWindowBytes ?? 16 << 20;
    this.maxHeaderListBytes = opts.maxHeaderListBytes ?? 64 * 1024;
    this.streamHighWaterBytes = opts.streamHighWaterBytes ?? 64 * 1024;
    this.connRecvWindow = this.connWindow;
    this.decoder = new HpackDecoder({ maxHeaderListBytes: this.maxHeaderListBytes });
    this.queue(
      settingsFrame([
        [Setting.MaxConcurrentStreams, opts.maxConcurrentStreams],
        [Setting.InitialWindowSize, this.streamWindow],
        [Setting.MaxHeaderListSize, this.maxHeaderListBytes],
      ]),
    );
    this.queue(windowUpdateFrame(0, this.connWindow - DEFAULT_WINDOW_BYTES));
    this.scheduleFlush();
    // small responses must leave at once, not wait for the client's delayed ACK (Nagle)
    (socket as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    socket.on("data", (chunk: Buffer) => this.onBytes(chunk));
    socket.on("drain", () => this.scheduleFlush());
    socket.once("close", () => this.teardown(undefined));
    socket.once("end", () => this.teardown(undefined));
    socket.on("error", (err: Error) => this.teardown(err));
  }

  /** Graceful close: no new streams; the socket ends once the open ones finish. */
  close(): void {
    if (this.ended) return;
    if (!this.goAwaySent) {
      this.goAwaySent = true;
      this.queue(goAwayFrame(this.lastStreamId, H2Code.NoError, ""));
      this.scheduleFlush();
    }
    this.maybeEnd();
  }

  // ---- input ----

  private onBytes(chunk: Buffer): void {
    if (this.ended) return;
    if (this.socket.writableLength > SOCKET_UNREAD_LIMIT_BYTES) {
      this.fail(new H2ConnectionError(H2Code.EnhanceYourCalm, "the client does not read what it asks for"));
      this.socket.destroy();
      return;
    }
    const buf = this.buf === undefined ? chunk : Buffer.concat([this.buf, chunk]);
    this.buf = undefined;
    try {
      let at = 0;
      if (!this.prefaceSeen) {
        const n = Math.min(buf.length, PREFACE.length);
        if (!buf.subarray(0, n).equals(PREFACE.subarray(0, n))) {
          throw new H2ConnectionError(H2Code.ProtocolError, "bad connection preface");
        }
        if (buf.length < PREFACE.length) {
          this.buf = buf;
          return;
        }
        this.prefaceSeen = true;
        at = PREFACE.length;
      }
      // we announce no SETTINGS_MAX_FRAME_SIZE, so the default bounds what the client sends
      const maxFrame = DEFAULT_MAX_FRAME_BYTES;
      while (buf.length - at >= FRAME_HEADER_BYTES && !this.ended) {
        const length = (buf[at] << 16) | (buf[at + 1] << 8) | buf[at + 2];
        if (length > maxFrame) {
          throw new H2ConnectionError(H2Code.FrameSizeError, `frame of ${length} bytes (max ${maxFrame})`);
        }
        if (buf.length - at < FRAME_HEADER_BYTES + length) break;
        const type = buf[at + 3];
        const flags = buf[at + 4];
        const streamId = buf.readUInt32BE(at + 5) & 0x7fffffff;
        const payload = buf.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length);
        at += FRAME_HEADER_BYTES + length;
        this.onFrame(type, flags, streamId, payload);
      }
      if (at < buf.length && !this.ended) this.buf = buf.subarray(at);
    } catch (e) {
      this.fail(e);
    }
    if (this.heldPingAck !== undefined) this.holdPingAck();
    this.scheduleFlush();
  }

  private onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (this.pendingBlock !== undefined && type !== FrameType.Continuation) {
      throw new H2ConnectionError(H2Code.ProtocolError, "expected CONTINUATION");
    }
    switch (type) {
      case FrameType.Data:
        this.onData(flags, streamId, payload);
        return;
      case FrameType.Headers:
        this.onHeaders(flags, streamId, payload);
        return;
      case FrameType.Continuation:
        this.onContinuation(flags, streamId, payload);
        return;
      case FrameType.Priority:
        if (streamId === 0) throw new H2ConnectionError(H2Code.ProtocolError, "PRIORITY on stream 0");
        return;
      case FrameType.RstStream:
        this.onRst(streamId, payload);
        return;
      case FrameType.Settings:
        this.onSettings(flags, streamId, payload);
        return;
      case FrameType.PushPromise:
        throw new H2ConnectionError(H2Code.ProtocolError, "PUSH_PROMISE from a client");
      case FrameType.Ping:
        if (streamId !== 0 || payload.length !== 8) {
          throw new H2ConnectionError(H2Code.ProtocolError, "malformed PING");
        }
        if ((flags & ACK) === 0) {
          // one answer held at most: an earlier one goes now
          this.releasePingAck();
          this.heldPingAck = frame(FrameType.Ping, ACK, 0, payload);
        }
        return;
      case FrameType.GoAway:
        this.peerGoAway = true;
        this.maybeEnd();
        return;
      case FrameType.WindowUpdate:
        this.onWindowUpdate(streamId, payload);
        return;
      default:
        return; // unknown frame types are ignored (RFC 9113 §4.1)
    }
  }

  /** Strips padding (and the priority fields of HEADERS); returns the fragment. */
  private static unpad(flags: number, payload: Buffer, priority: boolean): Buffer {
    let start = 0;
    let end = payload.length;
    if (flags & Flag.Padded) {
      if (payload.length < 1) throw new H2ConnectionError(H2Code.ProtocolError, "padded frame too short");
      end -= payload[0];
      start = 1;
    }
    if (priority && flags & Flag.Priority) start += 5;
    if (end < start) throw new H2ConnectionError(H2Code.ProtocolError, "padding longer than the frame");
    return payload.subarray(start, end);
  }

  private onData(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new H2ConnectionError(H2Code.ProtocolError, "DATA on stream 0");
    if (payload.length > this.connRecvWindow) {
      throw new H2ConnectionError(H2Code.FlowControlError, "DATA beyond the connection window");
    }
    // the whole frame counts against the windows, padding included
    this.connRecvWindow -= payload.length;
    this.grantConnection(payload.length);
    const s = this.streams.get(streamId);
    if (s === undefined) {
      if (streamId > this.lastStreamId)
        throw new H2ConnectionError(H2Code.ProtocolError, "DATA on an idle stream");
      return; // a stream we closed or reset: ignored, its bytes already granted back
    }
    if (s.inputEnded) {
      this.resetStream(s, H2Code.StreamClosed);
      return;
    }
    if (payload.length > s.recvWindow) {
      this.resetStream(s, H2Code.FlowControlError);
      return;
    }
    s.recvWindow -= payload.length;
    const data = H2Connection.unpad(flags, payload, false);
    // padding is consumed at once; the data when the consumer takes it
    if (data.length < payload.length) this.consumed(s, payload.length - data.length);
    if (data.length > 0) s.deliver(data);
    if (flags & Flag.EndStream) s.endInput();
  }

  private onHeaders(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0 || streamId % 2 === 0) {
      throw new H2ConnectionError(H2Code.ProtocolError, `HEADERS on stream ${streamId}`);
    }
    const fragment = H2Connection.unpad(flags, payload, true);
    if (flags & Flag.EndHeaders) {
      this.onHeaderBlock(streamId, flags, fragment);
      return;
    }
    this.pendingBlock = { streamId, flags, parts: [Buffer.from(fragment)], bytes: fragment.length };
  }

  private onContinuation(flags: number, streamId: number, payload: Buffer): void {
    const p = this.pendingBlock;
    if (p === undefined || p.streamId !== streamId) {
      throw new H2ConnectionError(H2Code.ProtocolError, "unexpected CONTINUATION");
    }
    p.parts.push(Buffer.from(payload));
    p.bytes += payload.length;
    if (p.bytes > this.maxHeaderListBytes * BLOCK_SLACK) {
      throw new H2ConnectionError(H2Code.EnhanceYourCalm, `header block over ${p.bytes} bytes`);
    }
    if ((flags & Flag.EndHeaders) === 0) return;
    this.pendingBlock = undefined;
    this.onHeaderBlock(streamId, p.flags, Buffer.concat(p.parts, p.bytes));
  }

  private onHeaderBlock(streamId: number, flags: number, block: Buffer): void {
    let fields: string[];
    try {
      fields = this.decoder.decode(block);
    } catch (e) {
      if (e instanceof HpackError) throw new H2ConnectionError(H2Code.CompressionError, e.message);
      throw e;
    }
    const existing = this.streams.get(streamId);
    if (existing !== undefined) {
      // trailers from the client: must end the stream; their fields are not used
      if ((flags & Flag.EndStream) === 0 || existing.inputEnded) {
        this.resetStream(existing, H2Code.ProtocolError);
        return;
      }
      existing.endInput();
      return;
    }
    if (streamId <= this.lastStreamId) {
      throw new H2ConnectionError(H2Code.StreamClosed, `HEADERS on closed stream ${streamId}`);
    }
    this.lastStreamId = streamId;
    if (this.goAwaySent || this.streams.size >= this.opts.maxConcurrentStreams) {
      this.queue(rstStreamFrame(streamId, H2Code.RefusedStream));
      return;
    }
    const headers: Record<string, string> = {};
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i];
      const prior = headers[name];
      headers[name] = prior === undefined ? fields[i + 1] : `${prior}, ${fields[i + 1]}`;
    }
    const s = new H2Stream(streamId, headers, this, this.streamWindow, this.peerInitialWindow);
    this.streams.set(streamId, s);
    this.opts.onStream(s);
    if (flags & Flag.EndStream) s.endInput();
  }

  private onRst(streamId: number, payload: Buffer): void {
    if (streamId === 0 || payload.length !== 4)
      throw new H2ConnectionError(H2Code.ProtocolError, "malformed RST_STREAM");
    const s = this.streams.get(streamId);
    if (s !== undefined) this.closeStream(s);
  }

  private onSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new H2ConnectionError(H2Code.ProtocolError, "SETTINGS on a stream");
    if (flags & ACK) {
      if (payload.length !== 0)
        throw new H2ConnectionError(H2Code.FrameSizeError, "SETTINGS ACK with a payload");
      return;
    }
    if (payload.length % 6 !== 0) throw new H2ConnectionError(H2Code.FrameSizeError, "SETTINGS length");
    for (let i = 0; i < payload.length; i += 6) {
      const id = payload.readUInt16BE(i);
      const value = payload.readUInt32BE(i + 2);
      if (id === Setting.InitialWindowSize) {
        if (value > MAX_WINDOW_BYTES)
          throw new H2ConnectionError(H2Code.FlowControlError, "INITIAL_WINDOW_SIZE");
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const s of this.streams.values()) {
          s.sendWindow += delta;
          if (s.sendWindow > MAX_WINDOW_BYTES)
            throw new H2ConnectionError(H2Code.FlowControlError, "stream window");
        }
      } else if (id === Setting.MaxFrameSize) {
        if (value < DEFAULT_MAX_FRAME_BYTES || value > MAX_FRAME_BYTES_LIMIT) {
          throw new H2ConnectionError(H2Code.ProtocolError, `MAX_FRAME_SIZE ${value}`);
        }
        this.peerMaxFrame = value;
      } else if (id === Setting.EnablePush && value > 1) {
        throw new H2ConnectionError(H2Code.ProtocolError, "ENABLE_PUSH");
      }
      // HEADER_TABLE_SIZE: our encoder uses no dynamic table; the rest are advisory
    }
    this.queue(frame(FrameType.Settings, ACK, 0));
    this.unblock();
  }

  private onWindowUpdate(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) throw new H2ConnectionError(H2Code.FrameSizeError, "WINDOW_UPDATE length");
    const inc = payload.readUInt32BE(0) & 0x7fffffff;
    if (streamId === 0) {
      if (inc === 0) throw new H2ConnectionError(H2Code.ProtocolError, "WINDOW_UPDATE of 0");
      this.connSendWindow += inc;
      if (this.connSendWindow > MAX_WINDOW_BYTES) {
        throw new H2ConnectionError(H2Code.FlowControlError, "connection window overflow");
      }
      this.unblock();
      return;
    }
    const s = this.streams.get(streamId);
    if (s === undefined) return;
    if (inc === 0) {
      this.resetStream(s, H2Code.ProtocolError);
      return;
    }
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW_BYTES) {
      this.resetStream(s, H2Code.FlowControlError);
      return;
    }
    if (s.out.length > 0) {
      this.blocked.delete(s);
      this.schedule(s);
    }
  }

  // ---- flow control of input ----

  private grantConnection(bytes: number): void {
    this.connRecvUngranted += bytes;
    if (this.connRecvUngranted >= this.connWindow / 2) {
      this.queue(windowUpdateFrame(0, this.connRecvUngranted));
      this.connRecvWindow += this.connRecvUngranted;
      this.connRecvUngranted = 0;
    }
  }

  /** The consumer took `bytes` of a stream's data: grant them back once half the window is used. */
  consumed(s: H2Stream, bytes: number): void {
    s.recvUngranted += bytes;
    if (s.inputEnded || s.recvUngranted < this.streamWindow / 2) return;
    this.queue(windowUpdateFrame(s.id, s.recvUngranted));
    s.recvWindow += s.recvUngranted;
    s.recvUngranted = 0;
    this.scheduleFlush();
  }

  // ---- output ----

  /** A stream has queued output. */
  schedule(s: H2Stream): void {
    if (!s.scheduled) {
      s.scheduled = true;
      this.ready.push(s);
    }
    this.scheduleFlush();
  }

  resetStream(s: H2Stream, code: H2Code): void {
    if (s.closed) return;
    this.queue(rstStreamFrame(s.id, code));
    this.closeStream(s);
    this.scheduleFlush();
  }

  private queue(buf: Buffer): void {
    this.pendingOut.push(buf);
    this.pendingOutBytes += buf.length;
  }

  /**
   * gRPC-go clients send a PING (their bandwidth estimate) with nearly every
   * request. Answered at once, that is a socket write, and a wake-up of the
   * client, ahead of the request's own work (forwarding it to the leader,
   * replicating it). While a stream is open, whose output will follow, the
   * answer waits for that output and leaves first in the same write, at most
   * pingAckHoldMs (5 ms) later; on a connection with no open stream (a keepalive
   * ping) it leaves at once.
   */
  private holdPingAck(): void {
    if (this.streams.size === 0 || this.ended) {
      this.releasePingAck();
      return;
    }
    if (this.pingAckTimer !== undefined) return;
    this.pingAckTimer = setTimeout(() => {
      this.pingAckTimer = undefined;
      this.releasePingAck();
      this.scheduleFlush();
    }, this.opts.pingAckHoldMs ?? 5);
    this.pingAckTimer.unref?.();
  }

  /** The held PING answer, if any, goes ahead of everything queued. */
  private releasePingAck(): void {
    const ack = this.heldPingAck;
    if (ack === undefined) return;
    this.heldPingAck = undefined;
    clearTimeout(this.pingAckTimer);
    this.pingAckTimer = undefined;
    this.pendingOut.unshift(ack);
    this.pendingOutBytes += ack.length;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.ended) return;
    this.flushScheduled = true;
    process.nextTick(() => this.flush());
  }

  /**
   * Moves what flow control allows from the streams into frames. Streams left
   * with output wait in `blocked` for a window update; while the socket holds
   * more than its high-water mark, everything waits for its 'drain'.
   */
  private pumpStreams(): void {
    while (this.ready.length > 0 && !this.socketBusy()) {
      const ready = this.ready;
      this.ready = [];
      for (let i = 0; i < ready.length; i++) {
        const s = ready[i];
        s.scheduled = false;
        if (s.closed) continue;
        if (this.socketBusy()) {
          // keep the rest, in order, for the next 'drain'
          for (let j = i; j < ready.length; j++) this.requeue(ready[j]);
          break;
        }
        this.drainStream(s);
        if (s.out.length > 0 && !s.closed && !s.scheduled) this.blocked.add(s);
      }
    }
  }

  /** A window opened (or the socket drained): blocked streams try again. */
  private unblock(): void {
    for (const s of this.blocked) this.requeue(s);
    this.blocked.clear();
    this.scheduleFlush();
  }

  private drainStream(s: H2Stream): void {
    const before = s.queuedBytes;
    while (s.out.length > 0) {
      const item = s.out[0];
      if (item.headers !== undefined) {
        this.queueHeaders(s.id, item.headers, item.end);
        s.out.shift();
      } else {
        const data = item.data as Buffer;
        const room = Math.min(s.sendWindow, this.connSendWindow, this.peerMaxFrame);
        if (data.length > 0 && room <= 0) break;
        const n = Math.max(0, Math.min(room, data.length));
        const last = n === data.length;
        const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + n);
        writeFrameHeader(out, 0, n, FrameType.Data, last && item.end ? Flag.EndStream : 0, s.id);
        data.copy(out, FRAME_HEADER_BYTES, 0, n);
        this.queue(out);
        s.sendWindow -= n;
        this.connSendWindow -= n;
        s.queuedBytes -= n;
        if (last) s.out.shift();
        else item.data = data.subarray(n);
      }
      // the response is complete: the stream closes here, whatever its input's state
      if (s.out.length === 0 && s.writableEnded) {
        // a complete response while the client still sends: ask it to stop, without error (RFC 9113 §8.1)
        if (!s.inputEnded) this.queue(rstStreamFrame(s.id, H2Code.NoError));
        this.closeStream(s);
        return;
      }
    }
    if (before >= this.streamHighWaterBytes && s.queuedBytes < this.streamHighWaterBytes) s.onDrain?.();
  }

  private requeue(s: H2Stream): void {
    if (!s.scheduled) {
      s.scheduled = true;
      this.ready.push(s);
    }
  }

  private socketBusy(): boolean {
    return this.socket.writableLength + this.pendingOutBytes > SOCKET_HIGH_WATER_BYTES;
  }

  /** HEADERS (+ CONTINUATION when the block is larger than the peer's frame size). */
  private queueHeaders(streamId: number, block: Buffer, endStream: boolean): void {
    const max = this.peerMaxFrame;
    if (block.length <= max) {
      const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + block.length);
      writeFrameHeader(
        out,
        0,
        block.length,
        FrameType.Headers,
        Flag.EndHeaders | (endStream ? Flag.EndStream : 0),
        streamId,
      );
      block.copy(out, FRAME_HEADER_BYTES);
      this.queue(out);
      return;
    }
    for (let at = 0; at < block.length; at += max) {
      const part = block.subarray(at, at + max);
      const lastPart = at + max >= block.length;
      const type = at === 0 ? FrameType.Headers : FrameType.Continuation;
      const fl = (lastPart ? Flag.EndHeaders : 0) | (at === 0 && endStream ? Flag.EndStream : 0);
      this.queue(frame(type, fl, streamId, part));
    }
  }

  private flush(): void {
    if (this.ended) return;
    this.pumpStreams();
    this.flushScheduled = false;
    if (this.pendingOutBytes === 0) return;
    this.releasePingAck();
    const out = this.pendingOut;
    const bytes = this.pendingOutBytes;
    this.pendingOut = [];
    this.pendingOutBytes = 0;
    if (out.length === 1) this.socket.write(out[0]);
    else if (bytes <= COALESCE_BYTES) this.socket.write(Buffer.concat(out, bytes));
    else {
      this.socket.cork();
      for (const b of out) this.socket.write(b);
      this.socket.uncork();
    }
    if (this.goAwaySent || this.peerGoAway) this.maybeEnd();
  }

  // ---- lifetime ----

  private closeStream(s: H2Stream): void {
    if (s.closed) return;
    this.streams.delete(s.id);
    this.blocked.delete(s);
    s.finish();
    if (this.goAwaySent || this.peerGoAway) this.maybeEnd();
  }

  private maybeEnd(): void {
    if (this.ended || this.streams.size > 0) return;
    if (this.pendingOutBytes > 0) {
      this.scheduleFlush();
      return;
    }
    this.ended = true;
    this.socket.end();
  }

  /** A connection error: GOAWAY with its code, then the socket ends. */
  private fail(e: unknown): void {
    const err = e instanceof H2ConnectionError ? e : new H2ConnectionError(H2Code.InternalError, String(e));
    if (!this.ended) {
      this.queue(goAwayFrame(this.lastStreamId, err.code, err.message));
      this.goAwaySent = true;
      const out = Buffer.concat(this.pendingOut, this.pendingOutBytes);
      this.pendingOut = [];
      this.pendingOutBytes = 0;
      this.socket.end(out);
    }
    this.teardown(err);
  }

  private teardown(err: Error | undefined): void {
    this.ended = true;
    this.buf = undefined;
    clearTimeout(this.pingAckTimer);
    this.heldPingAck = undefined;
    for (const s of [...this.streams.values()]) this.closeStream(s);
    if (this.closeReported) return;
    this.closeReported = true;
    this.opts.onClose?.(err);
  }
}
