// The peer transport: how members exchange Raft messages and snapshots.
//
// Each member listens on its peer URL. For every peer it keeps one outgoing
// TCP (or mutual-TLS) connection carrying Raft messages as checksummed frames;
// the peer does the same towards us, so each direction has its own stream and
// its own backpressure. A connection opens with a Hello naming cluster, sender
// and receiver; a mismatch, a malformed or oversized frame closes that
// connection with a logged reason and never takes the member down.
//
// Promises: messages to one peer leave in the order given; a slow or dead
// peer never grows memory without bound (messages beyond the per-peer queue
// limit, or sent while the peer is disconnected, are dropped and the peer is
// reported unreachable: Raft retries); snapshots stream in chunks on a
// connection of their own with backpressure on both ends, so heartbeats keep
// flowing meanwhile and the image is never held whole in memory.
//
// The transport does not interpret Raft messages beyond their addresses.

export { CodecError, decodeMessage, encodeMessage } from "./codec.ts";
export { encodeFrame, FrameDecoder, FrameError, FrameType } from "./frame.ts";
export { loadPeerTls, type PeerTls, type PeerTlsFiles } from "./tls.ts";
export {
  PeerTransport,
  type PeerTransportOptions,
  queryPeer,
  type SnapshotImage,
  type TransportLogger,
} from "./transport.ts";
