// floe's HTTP/2 server connection against Node's HTTP/2 client (nghttp2) and
// raw frames: flow control both ways, stream limits, resets, protocol errors.

import assert from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import { after, before, test } from "node:test";
import { encodeHeaderBlock, H2Connection, type H2Stream } from "../../../src/api/h2/index.ts";
import { PREFACE, rawFrame } from "./raw-frames.ts";

type Handler = (stream: H2Stream) => void;
let handler: Handler = () => undefined;
let server: net.Server;
let port: number;
const connections: H2Connection[] = [];

before(async () => {
  server = net.createServer((socket) => {
    socket.on("error", () => undefined);
    connections.push(new H2Connection(socket, { maxConcurrentStreams: 3, onStream: (s) => handler(s) }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as net.AddressInfo).port;
});
after(() => server.close());

const OK_HEADERS = encodeHeaderBlock([
  [":status", "200"],
  ["content-type", "application/octet-stream"],
]);
const TRAILERS = encodeHeaderBlock([["x-done", "yes"]]);

/** Collects a request's body, then answers with `respond(body)`. */
function collect(respond: (stream: H2Stream, body: Buffer) => void): Handler {
  return (stream) => {
    const parts: Buffer[] = [];
    stream.onData = (c) => parts.push(Buffer.from(c));
    stream.onEnd = () => respond(stream, Buffer.concat(parts));
  };
}

function request(
  session: http2.ClientHttp2Session,
  body?: Buffer,
  headers: http2.OutgoingHttpHeaders = {},
): Promise<{ status: number; body: Buffer; trailers: http2.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ":method": "POST", ":path": "/x", ...headers });
    const parts: Buffer[] = [];
    let status = 0;
    let trailers: http2.IncomingHttpHeaders = {};
    req.on("response", (h) => (status = Number(h[":status"])));
    req.on("trailers", (t) => (trailers = t));
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => resolve({ status, body: Buffer.concat(parts), trailers }));
    req.on("error", reject);
    req.end(body);
  });
}

const pattern = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + (i >> 10)) & 0xff));

test("a 3 MiB request body arrives whole (our window grants) and a 5 MiB response leaves whole through a 16 KiB client window", async () => {
  handler = collect((stream, body) => {
    stream.respond(OK_HEADERS);
    // the echo of the body, then 2 MiB more, in uneven writes
    stream.write(body.subarray(0, 12345));
    stream.write(body.subarray(12345));
    stream.end(pattern(2 << 20), TRAILERS);
  });
  const session = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 16384 } });
  try {
    const sent = pattern(3 << 20);
    const r = await request(session, sent);
    assert.equal(r.status, 200);
    assert.equal(r.body.length, (3 << 20) + (2 << 20));
    assert.ok(r.body.subarray(0, 3 << 20).equals(sent), "echoed body differs");
    assert.ok(r.body.subarray(3 << 20).equals(pattern(2 << 20)), "appended data differs");
    assert.equal(r.trailers["x-done"], "yes");
  } finally {
    session.close();
  }
});

test("write() reports backpressure and onDrain fires once the client has read", async () => {
  let sawFull = false;
  handler = (stream) => {
    stream.onEnd = async () => {
      stream.respond(OK_HEADERS);
      for (let i = 0; i < 64; i++) {
        if (!stream.write(pattern(64 * 1024))) {
          sawFull = true;
          await new Promise<void>((resolve) => {
            stream.onDrain = resolve;
          });
        }
      }
      stream.end(undefined, TRAILERS);
    };
  };
  const session = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 65535 } });
  try {
    const r = await request(session);
    assert.equal(r.body.length, 64 * 64 * 1024);
    assert.ok(sawFull, "a 4 MiB response through a 64 KiB window must fill the stream's buffer");
  } finally {
    session.close();
  }
});

test("a paused stream holds back only itself: others on the connection complete", async () => {
  let paused: H2Stream | undefined;
  handler = (stream) => {
    if (stream.headers["x-pause"] === "1") {
      paused = stream;
      stream.pause();
      const parts: Buffer[] = [];
      stream.onData = (c) => parts.push(c);
      stream.onEnd = () => {
        stream.respond(OK_HEADERS);
        stream.end(Buffer.from(String(Buffer.concat(parts).length)));
      };
      return;
    }
    collect((s, body) => {
      s.respond(OK_HEADERS);
      s.end(Buffer.from(String(body.length)));
    })(stream);
  };
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const slow = request(session, pattern(3 << 20), { "x-pause": "1" });
    const fast = await request(session, pattern(2 << 20));
    assert.equal(fast.body.toString(), String(2 << 20));
    assert.ok(paused !== undefined);
    paused.resume();
    assert.equal((await slow).body.toString(), String(3 << 20));
  } finally {
    session.close();
  }
});

test("a client reset closes the stream: onClose fires and later writes are dropped", async () => {
  let closed!: () => void;
  const wasClosed = new Promise<void>((resolve) => (closed = resolve));
  let stream: H2Stream | undefined;
  handler = (s) => {
    stream = s;
    s.onClose(closed);
  };
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const req = session.request({ ":method": "POST", ":path": "/x" });
    req.on("error", () => undefined);
    req.write("partial");
    await new Promise((r) => req.once("ready", r));
    req.close(http2.constants.NGHTTP2_CANCEL);
    await wasClosed;
    assert.ok(stream?.closed);
    assert.equal(stream?.write(Buffer.from("late")), false);
    // the connection still serves
    handler = collect((s) => {
      s.respond(OK_HEADERS);
      s.end(Buffer.from("ok"));
    });
    assert.equal((await request(session)).body.toString(), "ok");
  } finally {
    session.close();
  }
});

test("a complete response while the client still sends ends the stream with RST_STREAM NO_ERROR", async () => {
  handler = (s) => {
    s.respond(encodeHeaderBlock([[":status", "413"]]), true);
  };
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const req = session.request({ ":method": "POST", ":path": "/x" });
    const status = await new Promise<number>((resolve, reject) => {
      req.on("response", (h) => resolve(Number(h[":status"])));
      req.on("error", reject);
      req.write(pattern(100_000));
    });
    assert.equal(status, 413);
    const code = await new Promise<number>((resolve) => req.on("close", () => resolve(req.rstCode)));
    assert.equal(code, http2.constants.NGHTTP2_NO_ERROR);
  } finally {
    session.close();
  }
});

test("a 20 KB header value arrives through CONTINUATION frames", async () => {
  let seen = "";
  handler = collect((s) => {
    seen = s.headers["x-big"] ?? "";
    s.respond(OK_HEADERS);
    s.end(Buffer.from("ok"));
  });
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const big = "v".repeat(20_000);
    assert.equal((await request(session, undefined, { "x-big": big })).status, 200);
    assert.equal(seen, big);
  } finally {
    session.close();
  }
});

// ---- raw frames ----

/** :method POST, :scheme http, :path /, without the dynamic table. */
const HEADERS_BLOCK = Buffer.from([0x83, 0x86, 0x84]);

interface RawFrame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/** Sends bytes after the preface and collects the frames the server sends until it closes or `until` holds. */
/** Splits what a socket delivers into frames; each call returns the frames the bytes so far complete. */
function frameParser(): (d: Buffer) => RawFrame[] {
  let buf = Buffer.alloc(0);
  return (d) => {
    buf = Buffer.concat([buf, d]);
    const frames: RawFrame[] = [];
    while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
      const length = buf.readUIntBE(0, 3);
      frames.push({
        type: buf[3],
        flags: buf[4],
        stream: buf.readUInt32BE(5),
        payload: buf.subarray(9, 9 + length),
      });
      buf = buf.subarray(9 + length);
    }
    return frames;
  };
}

function rawSession(bytes: Buffer[], until?: (frames: RawFrame[]) => boolean): Promise<RawFrame[]> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    const frames: RawFrame[] = [];
    const parse = frameParser();
    const done = () => {
      socket.destroy();
      resolve(frames);
    };
    socket.on("data", (d: Buffer) => {
      frames.push(...parse(d));
      if (until?.(frames)) done();
    });
    socket.on("error", () => undefined);
    socket.on("close", done);
    socket.write(Buffer.concat([PREFACE, rawFrame(4, 0, 0), ...bytes]));
  });
}

const goAwayCode = (frames: RawFrame[]) => frames.find((f) => f.type === 7)?.payload.readUInt32BE(4);

test("connection errors end the connection with GOAWAY and the code RFC 9113 names", async () => {
  handler = () => undefined;
  // DATA on stream 0: PROTOCOL_ERROR
  assert.equal(goAwayCode(await rawSession([rawFrame(0, 0, 0, Buffer.from("x"))])), 0x1);
  // a frame over the 16 KiB SETTINGS_MAX_FRAME_SIZE: FRAME_SIZE_ERROR
  assert.equal(goAwayCode(await rawSession([rawFrame(0, 0, 1, Buffer.alloc(20_000))])), 0x6);
  // an HPACK index that does not exist: COMPRESSION_ERROR
  assert.equal(goAwayCode(await rawSession([rawFrame(1, 0x5, 1, Buffer.from([0xff, 0x7f]))])), 0x9);
  // a stream id going backwards: STREAM_CLOSED
  const backwards = [rawFrame(1, 0x5, 5, HEADERS_BLOCK), rawFrame(1, 0x5, 3, HEADERS_BLOCK)];
  assert.equal(goAwayCode(await rawSession(backwards)), 0x5);
  // anything between HEADERS and its CONTINUATION: PROTOCOL_ERROR
  const interleaved = [rawFrame(1, 0x1, 1, HEADERS_BLOCK), rawFrame(6, 0, 0, Buffer.alloc(8))];
  assert.equal(goAwayCode(await rawSession(interleaved)), 0x1);
  // a bad preface: PROTOCOL_ERROR
  const bad = await new Promise<Buffer>((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    const got: Buffer[] = [];
    socket.on("data", (d) => got.push(d));
    socket.on("close", () => resolve(Buffer.concat(got)));
    socket.write("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n");
  });
  assert.ok(bad.includes(Buffer.from([0x07, 0x00, 0x00, 0x00, 0x00, 0x00])), "GOAWAY expected");
});

test("PING is answered with its payload; streams beyond SETTINGS_MAX_CONCURRENT_STREAMS are refused", async () => {
  handler = () => undefined; // streams stay open
  const ping = Buffer.from("0102030405060708", "hex");
  const open = [1, 3, 5, 7].map((id) => rawFrame(1, 0x4, id, HEADERS_BLOCK)); // END_HEADERS, no END_STREAM
  const frames = await rawSession([rawFrame(6, 0, 0, ping), ...open], (fs) => fs.some((f) => f.type === 3));
  const pong = frames.find((f) => f.type === 6);
  assert.equal(pong?.flags, 1);
  assert.deepEqual(pong?.payload, ping);
  const settings = frames.find((f) => f.type === 4 && f.flags === 0);
  assert.ok(settings, "the server's SETTINGS");
  const rst = frames.find((f) => f.type === 3);
  assert.equal(rst?.stream, 7, "the fourth stream is refused (limit 3)");
  assert.equal(rst?.payload.readUInt32BE(0), 0x7);
});

test("close() sends GOAWAY, lets an open stream finish, then ends the connection", async () => {
  let open: H2Stream | undefined;
  handler = (s) => {
    open = s;
  };
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const req = session.request({ ":method": "POST", ":path": "/x" });
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    const ended = new Promise<void>((resolve) => req.on("end", resolve));
    req.end();
    const goaway = new Promise<void>((resolve) => session.once("goaway", () => resolve()));
    await new Promise<void>((resolve) => {
      const poll = () => (open ? resolve() : setTimeout(poll, 5));
      poll();
    });
    connections.at(-1)?.close();
    await goaway;
    open?.respond(OK_HEADERS);
    open?.end(Buffer.from("finished"));
    await ended;
    assert.equal(Buffer.concat(parts).toString(), "finished");
    await new Promise<void>((resolve) =>
      session.closed ? resolve() : session.once("close", () => resolve()),
    );
  } finally {
    session.destroy();
  }
});

test("a client that sends PINGs but reads nothing is cut off once 16 MiB of answers wait", async () => {
  handler = () => undefined;
  const socket = net.connect(port, "127.0.0.1");
  socket.pause(); // never read
  const ping = rawFrame(6, 0, 0, Buffer.alloc(8));
  const chunk = Buffer.concat([...Array(4096)].map(() => ping)); // 68 KiB of PINGs
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.on("error", () => undefined);
  await new Promise<void>((resolve) =>
    socket.write(Buffer.concat([PREFACE, rawFrame(4, 0, 0)]), () => resolve()),
  );
  let sentBytes = 0;
  // keep writing (at most 256 MiB) until the server hangs up
  let open = true;
  void closed.then(() => (open = false));
  while (open && sentBytes < 256 << 20) {
    const ok = socket.write(chunk);
    sentBytes += chunk.length;
    if (!ok)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        socket.once("drain", () => {
          clearTimeout(t);
          resolve();
        });
      });
  }
  await closed;
  assert.ok(sentBytes < 256 << 20, `the server kept the connection after ${sentBytes} bytes of PINGs`);
  assert.ok(sentBytes > 16 << 20, `cut off after only ${sentBytes} bytes`);
});

/** A raw session that records each chunk the server writes, with its arrival time. */
function chunkedSession(bytes: Buffer[], until: (frames: RawFrame[]) => boolean, to = port) {
  return new Promise<{ chunks: { at: number; frames: RawFrame[] }[]; sentAt: number }>((resolve) => {
    const socket = net.connect(to, "127.0.0.1");
    const chunks: { at: number; frames: RawFrame[] }[] = [];
    const all: RawFrame[] = [];
    const parse = frameParser();
    let sentAt = 0;
    socket.on("data", (d: Buffer) => {
      const frames = parse(d);
      chunks.push({ at: performance.now(), frames });
      all.push(...frames);
      if (until(all)) {
        socket.destroy();
        resolve({ chunks, sentAt });
      }
    });
    socket.on("error", () => undefined);
    // the preface first; the request once the server acknowledged our SETTINGS (nothing else is then due)
    socket.write(Buffer.concat([PREFACE, rawFrame(4, 0, 0)]));
    const send = () => {
      if (!all.some((f) => f.type === 4 && f.flags === 1)) return;
      socket.off("data", send);
      chunks.length = 0;
      all.length = 0;
      sentAt = performance.now();
      socket.write(Buffer.concat(bytes));
    };
    socket.on("data", send);
  });
}

test("a PING that comes with a request is answered in the same write as the response, ahead of it", async () => {
  handler = (s) => {
    setTimeout(() => {
      s.respond(OK_HEADERS);
      s.end(Buffer.from("done"));
    }, 1);
  };
  const ping = Buffer.from("1112131415161718", "hex");
  // as gRPC-go writes them: its bandwidth PING, then the request
  const { chunks } = await chunkedSession(
    [rawFrame(6, 0, 0, ping), rawFrame(1, 0x5, 1, HEADERS_BLOCK)],
    (fs) => fs.some((f) => f.type === 0 && f.stream === 1),
  );
  const withPong = chunks.find((c) => c.frames.some((f) => f.type === 6 && f.flags === 1));
  assert.ok(withPong, "the PING was answered");
  assert.deepEqual(withPong.frames.find((f) => f.type === 6)?.payload, ping);
  const types = withPong.frames.map((f) => f.type);
  assert.ok(types.includes(1), `the answer came with the response's HEADERS, not alone: ${types}`);
  assert.ok(types.indexOf(6) < types.indexOf(1), `the PING answer leads: ${types}`);
});

test("a PING held for a stream that stays silent is answered after the hold; with no stream open, at once", async () => {
  handler = () => undefined; // the stream never answers
  const ping = Buffer.from("2122232425262728", "hex");
  const held = await chunkedSession([rawFrame(6, 0, 0, ping), rawFrame(1, 0x4, 1, HEADERS_BLOCK)], (fs) =>
    fs.some((f) => f.type === 6 && f.flags === 1),
  );
  const pong = held.chunks.find((c) => c.frames.some((f) => f.type === 6 && f.flags === 1));
  assert.ok(pong);
  assert.ok(pong.at - held.sentAt >= 3, `held ${pong.at - held.sentAt} ms (hold: 5 ms)`);
  // no stream: nothing to wait for. On a server that would hold an answer for
  // ten minutes, the answer still comes (this test's own deadline is 10 s).
  const accepted: net.Socket[] = [];
  const longHold = net.createServer((socket) => {
    accepted.push(socket);
    socket.on("error", () => undefined);
    new H2Connection(socket, { maxConcurrentStreams: 3, pingAckHoldMs: 600_000, onStream: () => undefined });
  });
  await new Promise<void>((resolve) => longHold.listen(0, "127.0.0.1", resolve));
  try {
    let timer: NodeJS.Timeout | undefined;
    const alone = await Promise.race([
      chunkedSession(
        [rawFrame(6, 0, 0, ping)],
        (fs) => fs.some((f) => f.type === 6 && f.flags === 1),
        (longHold.address() as net.AddressInfo).port,
      ),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("a PING with no stream open was held")), 10_000);
      }),
    ]);
    clearTimeout(timer);
    assert.equal(alone.chunks.length, 1);
  } finally {
    for (const socket of accepted) socket.destroy();
    longHold.close();
  }
});
