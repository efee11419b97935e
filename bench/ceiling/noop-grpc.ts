// The ceiling server of bench/ceiling.sh: a Node.js HTTP/2 server that answers
// every gRPC call at once with an empty message and status 0 (an empty
// message is a valid PutResponse, RangeResponse and DeleteRangeResponse, which
// is all `etcdctl check perf` asks for). No Raft, no disk, no protobuf.
//
// Usage: node --import tsx bench/ceiling/noop-grpc.ts PORT [raw|wrap]
//   wrap: every connection goes through floe's :authority filter first
import http2 from "node:http2";
import net from "node:net";
import { withFixedAuthority } from "../../src/api/h2-authority.ts";

const port = Number(process.argv[2]);
const wrap = process.argv[3] === "wrap";
const EMPTY_MESSAGE = Buffer.from([0, 0, 0, 0, 0]);

const h2 = http2.createServer({ settings: { maxConcurrentStreams: 4096 } });
h2.on("stream", (stream) => {
  stream.on("data", () => {});
  stream.on("end", () => {
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    stream.end(EMPTY_MESSAGE);
  });
  stream.on("error", () => {});
});
net
  .createServer((socket) => {
    socket.on("error", () => {});
    h2.emit("connection", wrap ? withFixedAuthority(socket) : socket);
  })
  .listen(port, "127.0.0.1");
