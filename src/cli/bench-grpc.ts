// A lean gRPC client over node:http2 for `floe bench`: unary calls and one
// bidirectional stream kind (Watch), with no per-call machinery beyond one
// HTTP/2 stream. @grpc/grpc-js and connect-node run the same node:http2
// underneath but add interceptors, metadata objects, deadlines and message
// (de)serialisation layers per call; here the request is a ready-made
// length-prefixed frame and the response is the raw message bytes.

import http2 from "node:http2";

export class GrpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const HEADERS = { ":method": "POST", "content-type": "application/grpc", te: "trailers" } as const;

function statusOf(h: http2.IncomingHttpHeaders): { code: number; message: string } | undefined {
  const s = h["grpc-status"];
  if (s === undefined) return undefined;
  const raw = h["grpc-message"];
  const msg = typeof raw === "string" ? decodeURIComponent(raw) : "";
  return { code: Number(s), message: msg };
}

/** Splits a byte stream into gRPC messages (5-byte prefix: flag, u32 length). */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer, onMessage: (msg: Buffer) => void): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 5) {
      if (this.buf[0] !== 0) throw new GrpcError(13, `compressed gRPC message (flag ${this.buf[0]})`);
      const len = this.buf.readUInt32BE(1);
      if (this.buf.length < 5 + len) return;
      onMessage(this.buf.subarray(5, 5 + len));
      this.buf = this.buf.subarray(5 + len);
    }
  }
}

/** One HTTP/2 connection to one endpoint, reopened on the next call if it drops. */
export class GrpcConn {
  private session: http2.ClientHttp2Session | undefined;
  readonly url: string;
  /** An auth token sent with every request (etcd's "token" metadata). */
  token: string | undefined;

  constructor(endpoint: string) {
    this.url = /^https?:\/\//.test(endpoint) ? endpoint : `http://${endpoint}`;
  }

  private get(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const s = http2.connect(this.url, {
      settings: { initialWindowSize: 4 << 20, enablePush: false },
      // etcd's default request limit is 1.5 MiB; leave headroom for headers
      maxSessionMemory: 64,
    });
    s.on("error", () => {
      // surfaced per stream; the next call reconnects
    });
    s.on("connect", () => s.setLocalWindowSize(16 << 20));
    this.session = s;
    return s;
  }

  private headers(path: string): http2.OutgoingHttpHeaders {
    return this.token === undefined
      ? { ...HEADERS, ":path": path }
      : { ...HEADERS, ":path": path, token: this.token };
  }

  /** A unary call: `frame` is a complete length-prefixed request; resolves the response message. */
  unary(path: string, frame: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.get().request(this.headers(path));
      } catch (e) {
        reject(e);
        return;
      }
      const reader = new FrameReader();
      let reply: Buffer | undefined;
      let status: { code: number; message: string } | undefined;
      stream.on("response", (h) => {
        status = statusOf(h) ?? status; // trailers-only response
      });
      stream.on("trailers", (h) => {
        status = statusOf(h) ?? status;
      });
      stream.on("data", (chunk: Buffer) => {
        try {
          reader.push(chunk, (m) => {
            reply = m;
          });
        } catch (e) {
          reject(e);
        }
      });
      stream.on("error", (e) => reject(e));
      stream.on("close", () => {
        if (status === undefined) {
          reject(new GrpcError(14, `stream closed without grpc-status (rst code ${stream.rstCode})`));
        } else if (status.code !== 0) reject(new GrpcError(status.code, status.message));
        else if (reply === undefined) reject(new GrpcError(13, "no response message"));
        else resolve(reply);
      });
      stream.end(frame);
    });
  }

  /** A bidirectional stream: returns a writer; every response message goes to `onMessage`. */
  bidi(
    path: string,
    onMessage: (msg: Buffer) => void,
    onEnd: (err: Error | undefined) => void,
  ): { write(frame: Buffer): void; close(): void } {
    const stream = this.get().request(this.headers(path));
    const reader = new FrameReader();
    let status: { code: number; message: string } | undefined;
    let failure: Error | undefined;
    stream.on("response", (h) => {
      status = statusOf(h) ?? status;
    });
    stream.on("trailers", (h) => {
      status = statusOf(h) ?? status;
    });
    stream.on("data", (chunk: Buffer) => {
      try {
        reader.push(chunk, onMessage);
      } catch (e) {
        failure = e as Error;
        stream.close(http2.constants.NGHTTP2_CANCEL);
      }
    });
    stream.on("error", (e) => {
      failure = e;
    });
    stream.on("close", () => {
      if (failure) onEnd(failure);
      else if (status && status.code !== 0) onEnd(new GrpcError(status.code, status.message));
      else onEnd(undefined);
    });
    return {
      write: (frame) => {
        stream.write(frame);
      },
      close: () => {
        if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
      },
    };
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }
}

export const PATHS = {
  put: "/etcdserverpb.KV/Put",
  range: "/etcdserverpb.KV/Range",
  txn: "/etcdserverpb.KV/Txn",
  watch: "/etcdserverpb.Watch/Watch",
  status: "/etcdserverpb.Maintenance/Status",
  authenticate: "/etcdserverpb.Auth/Authenticate",
} as const;
