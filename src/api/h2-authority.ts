// Why HTTP/2 connections pass through this filter before Node's HTTP/2 server:
//
// etcdctl 3.4 (clientv3's Dial(endpoint), used for `endpoint status`, `endpoint
// hashkv`, `defrag`, `move-leader`) opens a connection per endpoint with the
// endpoint string, scheme and all, as the gRPC target, so its requests carry
// `:authority: http://127.0.0.1:2379`. "/" is not an authority character, and
// nghttp2, inside Node's HTTP/2 server, refuses that HEADERS frame with
// RST_STREAM PROTOCOL_ERROR before any JavaScript runs (NODE_DEBUG_NATIVE=
// HTTP2SESSION: "Invalid HTTP header field was received: frame type: 1,
// stream: 1, name: [:authority], value: [http://127.0.0.1:2379]"). No 'stream'
// event fires, and Node has no option to relax the check. So the bytes are
// fixed on their way in: a literal `:authority` that starts with "http://" or
// "https://" becomes the host:port after the scheme. Nothing nghttp2 would have
// accepted is changed.
//
// The filter is a JavaScript stream between the socket and nghttp2, and it
// costs (about 25 µs of CPU a request under `etcdctl check perf`, see
// bench/ceiling.sh). So a connection gets it only when its first request
// needs it: routeHttp2 holds the client's first bytes until the first HEADERS
// frame, and a connection whose first request names a valid authority goes to
// Node's HTTP/2 server as the plain socket (gRPC clients send one authority
// per connection). grpc-go sends no request before the server's SETTINGS, so
// routeHttp2 sends an empty SETTINGS frame itself (legal: a server may send
// any number) and removes the client's ACK of it from the bytes nghttp2 will
// see, which would otherwise be an unexpected ACK to nghttp2.
//
// HPACK stays in step: the new value is shorter, so the server's dynamic table
// holds the same entries in the same order as the client's, none bigger; it
// evicts no sooner than the client's, and every index the client sends still
// names the entry it means (later requests that reuse the entry by index get
// the fixed value).

import type net from "node:net";
import { Duplex } from "node:stream";
import tls from "node:tls";

const HEADERS = 0x1;
const SETTINGS = 0x4;
const ACK = 0x1;
const PADDED = 0x8;
const PRIORITY = 0x20;
/** SETTINGS_MAX_FRAME_SIZE as the server announces it (the default). */
const MAX_FRAME = 16384;
const PREFACE_LENGTH = 24;
const EMPTY = Buffer.alloc(0);
/** A SETTINGS frame with no parameters (stream 0). */
const EMPTY_SETTINGS = Buffer.from([0, 0, 0, SETTINGS, 0, 0, 0, 0, 0]);
const SCHEME = /^https?:\/\/([^/]*)/;

// RFC 7541 Appendix B: the Huffman code length of each byte 0..255, as the
// character 60 + length ("A" = 5 bits ... "Z" = 30). The code is canonical, so
// the lengths define it: codes of one length are consecutive, in byte order.
const HUFFMAN_LENGTHS =
  "ISXXXXXXXTZXXZXXXXXXXXZXXXXXXXXXBFFHIBDGFFDGDBBBAAABBBBBBBCDKBHFIBCCCCCCCCCCCCCCCCCCCCCCDCDIOIJB" +
  "KABABABBBACCBBBABCBAABCCCCCKGJIXPRPPRRRSRSSSSSTSTTRSTSSSSQRSRSSTRQPRRSSQSRRTQRSSQQRQSRSSPRRRSRRSVV" +
  "PORSRUVVVWWVTUOQVWWVWTQQVVXWWWPTPQRQQSRRUUTTVSVWVVWWWWWXWWWWWV";
/** Per code length: the first code of that length and the bytes it encodes, in code order. */
const firstCode: number[] = [];
const symbols: number[][] = [];
for (let len = 5, code = 0; len <= 30; len++, code *= 2) {
  firstCode[len] = code;
  symbols[len] = [];
  for (let byte = 0; byte < 256; byte++) {
    if (HUFFMAN_LENGTHS.charCodeAt(byte) - 60 === len) {
      symbols[len]?.push(byte);
      code++;
    }
  }
}

/** Decodes an HPACK Huffman string; undefined if it is malformed. */
export function huffmanDecode(data: Uint8Array): Buffer | undefined {
  const out: number[] = [];
  let code = 0;
  let len = 0;
  for (const byte of data) {
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      len++;
      const index = code - (firstCode[len] ?? 0);
      const ofLength = symbols[len];
      if (ofLength !== undefined && index >= 0 && index < ofLength.length) {
        out.push(ofLength[index] as number);
        code = 0;
        len = 0;
      } else if (len >= 30) {
        return undefined; // EOS or no such code
      }
    }
  }
  // the padding: fewer than 8 bits, all ones
  return len < 8 && code === 2 ** len - 1 ? Buffer.from(out) : undefined;
}

type HpackInt = { value: number; next: number };

/** An HPACK integer with an n-bit prefix at data[at], or undefined if it runs past end. */
function readInt(data: Buffer, at: number, bits: number, end: number): HpackInt | undefined {
  if (at >= end) return undefined;
  const max = 2 ** bits - 1;
  let value = (data[at] as number) & max;
  let next = at + 1;
  if (value < max) return { value, next };
  for (let shift = 0; next < end && shift <= 28; shift += 7) {
    const b = data[next++] as number;
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return { value, next };
  }
  return undefined;
}

/** A string literal (length with a 7-bit prefix and the Huffman flag) at data[at]. */
function readString(data: Buffer, at: number, end: number) {
  const n = readInt(data, at, 7, end);
  if (n === undefined || n.next + n.value > end) return undefined;
  const huffman = ((data[at] as number) & 0x80) !== 0;
  return { huffman, bytes: data.subarray(n.next, n.next + n.value), next: n.next + n.value };
}

/** host:port for an authority given as a URL; undefined if it is not one. */
function authorityOf(value: { huffman: boolean; bytes: Buffer }): Buffer | undefined {
  const text = value.huffman ? huffmanDecode(value.bytes) : value.bytes;
  const m = text === undefined ? null : SCHEME.exec(text.toString("latin1"));
  return m === null ? undefined : Buffer.from(m[1] ?? "", "latin1");
}

/**
 * One whole HEADERS frame (9-byte header included): a literal `:authority`
 * that is a URL is replaced by its host:port (sent without Huffman coding).
 * Anything else, or anything that does not parse, comes back unchanged.
 */
export function fixHeadersFrame(frame: Buffer): Buffer {
  const flags = frame[4] as number;
  let at = 9;
  let padding = 0;
  if (flags & PADDED) {
    padding = frame[at++] as number;
  }
  if (flags & PRIORITY) at += 5;
  const end = frame.length - padding;
  while (at < end) {
    const b = frame[at] as number;
    // an indexed field (1xxxxxxx) or a dynamic table size update (001xxxxx): nothing to see
    if (b & 0x80 || (b & 0xe0) === 0x20) {
      const n = readInt(frame, at, b & 0x80 ? 7 : 5, end);
      if (n === undefined) return frame;
      at = n.next;
      continue;
    }
    // a literal, with incremental indexing (01xxxxxx) or without (000xxxxx)
    const name = readInt(frame, at, b & 0x40 ? 6 : 4, end);
    if (name === undefined) return frame;
    let isAuthority = name.value === 1; // static table entry 1 is :authority
    let valueAt = name.next;
    if (name.value === 0) {
      const literal = readString(frame, valueAt, end);
      if (literal === undefined) return frame;
      isAuthority = !literal.huffman && literal.bytes.toString("latin1") === ":authority";
      valueAt = literal.next;
    }
    const value = readString(frame, valueAt, end);
    if (value === undefined) return frame;
    if (isAuthority) {
      const fixed = authorityOf(value);
      if (fixed === undefined || fixed.length >= 0x7f) return frame; // one length byte, no Huffman flag
      const payload = Buffer.concat([
        frame.subarray(9, valueAt),
        Buffer.from([fixed.length]),
        fixed,
        frame.subarray(value.next),
      ]);
      if (payload.length > MAX_FRAME) return frame;
      const header = Buffer.from(frame.subarray(0, 9));
      header.writeUIntBE(payload.length, 0, 3);
      return Buffer.concat([header, payload]);
    }
    at = value.next;
  }
  return frame;
}

/**
 * Follows the frames of a client's HTTP/2 byte stream (from the preface on)
 * and passes everything through as it comes, except HEADERS frames, which are
 * held until whole and go through fixHeadersFrame.
 */
export class AuthorityFixer {
  /** Bytes to pass through untouched: the preface, then each non-HEADERS frame. */
  private pass = PREFACE_LENGTH;
  /** The start of a frame whose header or (HEADERS) payload has not all arrived. */
  private held = EMPTY;
  /** Remove the next SETTINGS ACK: it answers a SETTINGS frame nghttp2 did not send. */
  dropSettingsAck = false;
  /** A whole HEADERS frame has gone through. */
  sawHeaders = false;
  /** Some HEADERS frame was changed. */
  changed = false;

  push(chunk: Buffer): Buffer {
    const data = this.held.length > 0 ? Buffer.concat([this.held, chunk]) : chunk;
    const out: Buffer[] = [];
    let at = 0;
    for (;;) {
      if (this.pass > 0) {
        const n = Math.min(this.pass, data.length - at);
        out.push(data.subarray(at, at + n));
        at += n;
        this.pass -= n;
        if (this.pass > 0) break;
      }
      if (data.length - at < 9) break;
      const length = data.readUIntBE(at, 3);
      const type = data[at + 3];
      if (
        this.dropSettingsAck &&
        type === SETTINGS &&
        length === 0 &&
        ((data[at + 4] as number) & ACK) !== 0
      ) {
        this.dropSettingsAck = false;
        at += 9;
        continue;
      }
      if (type !== HEADERS || length > MAX_FRAME) {
        this.pass = 9 + length; // an oversized HEADERS frame is nghttp2's to refuse
        continue;
      }
      if (data.length - at < 9 + length) break;
      const frame = data.subarray(at, at + 9 + length);
      const fixed = fixHeadersFrame(frame);
      this.sawHeaders = true;
      if (fixed !== frame) this.changed = true;
      out.push(fixed);
      at += 9 + length;
    }
    this.held = at < data.length ? Buffer.from(data.subarray(at)) : EMPTY;
    return out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out);
  }

  /** The bytes of an incomplete frame, taken out of the fixer (they go on unchanged). */
  takeHeld(): Buffer {
    const held = this.held;
    this.held = EMPTY;
    return held;
  }
}

/** What routeHttp2 holds at most before it gives up deciding (and filters the connection). */
const ROUTE_MAX_BYTES = 256 * 1024;

/**
 * Decides how an HTTP/2 connection (its preface already seen, and put back on
 * the socket) reaches Node's HTTP/2 server: the socket itself when the first
 * request's :authority is one nghttp2 accepts, or withFixedAuthority(socket)
 * when it needs fixing, when no request comes within waitMs, or when the
 * client sends more than ROUTE_MAX_BYTES first. Undefined if the connection
 * ended meanwhile.
 */
export function routeHttp2(socket: net.Socket, waitMs: number): Promise<net.Socket | Duplex | undefined> {
  // Node's HTTP/2 server does not turn Nagle off on a socket it is given; small
  // frames written apart (a PING ACK, then a response) would wait for the
  // client's delayed ACK
  socket.setNoDelay(true);
  return new Promise((resolve) => {
    const fixer = new AuthorityFixer();
    const out: Buffer[] = [];
    let bytes = 0;
    let sentSettings = false;
    let done = false;
    const finish = (to: "socket" | "filter" | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.removeListener("readable", onReadable);
      socket.removeListener("end", onGone);
      socket.removeListener("close", onGone);
      if (to === undefined) return resolve(undefined);
      if (to === "filter") return resolve(withFixedAuthority(socket, fixer, Buffer.concat(out)));
      out.push(fixer.takeHeld());
      const first = Buffer.concat(out);
      if (first.length > 0) socket.unshift(first);
      resolve(socket);
    };
    const onReadable = () => {
      for (let chunk = socket.read(); chunk !== null; chunk = socket.read()) {
        const b = fixer.push(chunk as Buffer);
        bytes += (chunk as Buffer).length;
        if (b.length > 0) out.push(b);
      }
      if (fixer.changed || bytes > ROUTE_MAX_BYTES) return finish("filter");
      // the socket only once the client's ACK of our SETTINGS is out of the bytes
      if (fixer.sawHeaders) return fixer.dropSettingsAck ? undefined : finish("socket");
      if (!sentSettings) {
        sentSettings = true;
        fixer.dropSettingsAck = true;
        socket.write(EMPTY_SETTINGS);
      }
    };
    const onGone = () => finish(undefined);
    const timer = setTimeout(() => finish("filter"), waitMs);
    socket.on("readable", onReadable);
    socket.once("end", onGone);
    socket.once("close", onGone);
    onReadable();
  });
}

/**
 * The socket as a Duplex whose incoming bytes go through an AuthorityFixer;
 * what is written goes to the socket as it is. Give this to the HTTP/2 server.
 */
export function withFixedAuthority(
  socket: net.Socket,
  fixer = new AuthorityFixer(),
  first: Buffer = EMPTY,
): Duplex {
  // what Node's HTTP/2 session does to a socket it is given directly (on a
  // Duplex it cannot): no Nagle delay (40 ms a request without), no TLS renegotiation
  socket.setNoDelay(true);
  if (socket instanceof tls.TLSSocket) socket.disableRenegotiation();
  const wrapped: Duplex = new Duplex({
    read: () => void socket.resume(),
    write: (chunk: Buffer, _encoding, callback) => {
      if (socket.write(chunk)) callback();
      else socket.once("drain", () => callback());
    },
    // Node's HTTP/2 session corks a Duplex around each burst of frames: one
    // socket write for the burst instead of one per frame.
    writev: (chunks: { chunk: Buffer }[], callback) => {
      const data = chunks.length === 1 ? chunks[0].chunk : Buffer.concat(chunks.map((c) => c.chunk));
      if (socket.write(data)) callback();
      else socket.once("drain", () => callback());
    },
    final: (callback) => {
      socket.end();
      callback();
    },
    destroy: (err, callback) => {
      socket.destroy(err ?? undefined);
      callback(err);
    },
  });
  if (first.length > 0) wrapped.push(first);
  socket.on("data", (chunk: Buffer) => {
    const bytes = fixer.push(chunk);
    if (bytes.length > 0 && !wrapped.push(bytes)) socket.pause();
  });
  socket.once("end", () => wrapped.push(null));
  socket.once("close", () => wrapped.destroy());
  socket.on("error", (err) => wrapped.destroy(err));
  return wrapped;
}
