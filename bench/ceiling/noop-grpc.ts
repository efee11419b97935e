// The ceiling server of bench/ceiling.sh: a Node.js HTTP/2 server that answers
// every gRPC call at once with an empty message and status 0 (an empty
// message is a valid PutResponse, RangeResponse and DeleteRangeResponse, which
// is all `etcdctl check perf` asks for). No Raft, no disk, no protobuf.
//
// Usage: node --import tsx bench/ceiling/noop-grpc.ts PORT [raw|wrap] [DELAY_MS]
//   wrap: every connection goes through floe's :authority filter first
//   DELAY_MS: answer each call that much later (a slow server that uses no CPU)
import http2 from "node:http2";
import net from "node:net";
import { withFixedAuthority } from "../../src/api/h2-authority.ts";

const port = Number(process.argv[2]);
const wrap = process.argv[3] === "wrap";
const delayMs = Number(process.argv[4] ?? 0);
const EMPTY_MESSAGE = Buffer.from([0, 0, 0, 0, 0]);

const h2 = http2.createServer({ settings: { maxConcurrentStreams: 4096 } });
h2.on("stream", (stream) => {
  stream.on("data", () => {});
  stream.on("end", () => (delayMs > 0 ? setTimeout(answer, delayMs) : answer()));
  const answer = () => {
    if (stream.destroyed) return;
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    stream.end(EMPTY_MESSAGE);
  };
  stream.on("error", () => {});
});
net
  .createServer((socket) => {
    socket.on("error", () => {});
    socket.setNoDelay(true);
    h2.emit("connection", wrap ? withFixedAuthority(socket) : socket);
  })
  .listen(port, "127.0.0.1");
