// The ceiling server of bench/ceiling.sh: an HTTP/2 server that answers every
// gRPC call at once with an empty message and status 0 (an empty message is a
// valid PutResponse, RangeResponse and DeleteRangeResponse, which is all
// `etcdctl check perf` asks for). No Raft, no disk, no protobuf.
//
// Usage: node --import tsx bench/ceiling/noop-grpc.ts PORT [node|floe] [DELAY_MS]
//   node: Node's http2 module (nghttp2), as floe's client port used until 2026-12-03
//   floe: floe's own HTTP/2 layer (src/api/h2/), as the client port uses now
//   DELAY_MS: answer each call that much later (a slow server that uses no CPU)
import http2 from "node:http2";
import net from "node:net";
import { encodeHeaderBlock, H2Connection, type H2Stream } from "../../src/api/h2/index.ts";

const port = Number(process.argv[2]);
const mode = process.argv[3] ?? "node";
const delayMs = Number(process.argv[4] ?? 0);
const EMPTY_MESSAGE = Buffer.from([0, 0, 0, 0, 0]);
const later = (answer: () => void) => (delayMs > 0 ? setTimeout(answer, delayMs) : answer());

function nodeHttp2(): (socket: net.Socket) => void {
  const h2 = http2.createServer({ settings: { maxConcurrentStreams: 4096 } });
  h2.on("stream", (stream) => {
    stream.on("data", () => {});
    stream.on("end", () => later(answer));
    const answer = () => {
      if (stream.destroyed) return;
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(EMPTY_MESSAGE);
    };
    stream.on("error", () => {});
  });
  return (socket) => h2.emit("connection", socket);
}

function floeHttp2(): (socket: net.Socket) => void {
  const headers = encodeHeaderBlock([
    [":status", "200"],
    ["content-type", "application/grpc"],
  ]);
  const trailers = encodeHeaderBlock([["grpc-status", "0"]]);
  const onStream = (stream: H2Stream) => {
    stream.onEnd = () =>
      later(() => {
        stream.respond(headers);
        stream.end(EMPTY_MESSAGE, trailers);
      });
  };
  return (socket) => new H2Connection(socket, { maxConcurrentStreams: 4096, onStream });
}

const serve = mode === "floe" ? floeHttp2() : nodeHttp2();
net
  .createServer((socket) => {
    socket.on("error", () => {});
    socket.setNoDelay(true);
    serve(socket);
  })
  .listen(port, "127.0.0.1");
