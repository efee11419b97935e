// floe's HTTP/2 server side for the client port: frames, HPACK, connections
// and streams, written for gRPC's request/response pattern (see
// connection.ts for why it replaces Node's http2 module there). It owns the
// protocol, not the calls: the gRPC wire layer (../wire.ts) and the HTTP
// listener (through http-adapter.ts) consume its streams.

export { H2Connection, type H2ConnectionOptions } from "./connection.ts";
export { H2Code, PREFACE } from "./frames.ts";
export { encodeHeaderBlock, HpackDecoder, HpackEncoder, HpackError } from "./hpack.ts";
export { H2HttpRequest, H2HttpResponse } from "./http-adapter.ts";
export { H2Stream } from "./stream.ts";
