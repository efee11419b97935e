// PeerTransport: listener, one outgoing message stream per peer, snapshot
// transfers. See index.ts for what it promises.

import { createHash } from "node:crypto";
import net from "node:net";
import tls from "node:tls";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { SnapshotAckSchema } from "../api/gen/floe/raftpb_pb.ts";
import { type Message, MessageType, type NodeId } from "../raft/index.ts";
import {
  CodecError,
  decodeHello,
  decodeMessage,
  encodeHello,
  encodeMessage,
  PURPOSE_MESSAGES,
  PURPOSE_QUERY,
  PURPOSE_SNAPSHOT,
} from "./codec.ts";
import { encodeFrame, type Frame, FrameDecoder, FrameError, FrameType } from "./frame.ts";
import { type PeerTls, revokedPeer } from "./tls.ts";

export type TransportLogger = (
  level: "info" | "warn",
  event: string,
  fields: Record<string, unknown>,
) => void;

export interface SnapshotImage {
  chunks: AsyncIterable<Uint8Array>;
}

export interface PeerTransportOptions {
  memberId: NodeId;
  clusterId: number;
  /** host:port to listen on (from the listen peer URL). */
  listenHost: string;
  listenPort: number;
  tls?: PeerTls;
  /** Named limits, with defaults. */
  maxFrameBytes?: number;
  maxQueuedMessages?: number;
  /** Bytes written to a socket but not yet flushed before we stop writing and queue. */
  socketHighWaterBytes?: number;
  snapshotChunkBytes?: number;
  /** A snapshot transfer with no progress for this long is abandoned. */
  snapshotIdleTimeoutMs?: number;
  /** An inbound connection must identify itself (hello) within this time. */
  helloTimeoutMs?: number;
  /** An inbound connection that stops in the middle of a frame for this long is closed. */
  frameIdleTimeoutMs?: number;
  /** Inbound connections that have not yet sent their hello; more are closed at once. */
  maxPendingConnections?: number;
  /** Reconnect backoff bounds. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** What a joining member's query is answered with (cluster id and members, JSON). */
  clusterInfo?: () => Uint8Array;
  /** An incoming Raft message. */
  onMessage: (m: Message) => void;
  /**
   * An incoming snapshot: store the image (consume `chunks` fully), then hand
   * the message to Raft. Resolve when stored and stepped; reject to refuse it.
   */
  onSnapshot: (m: Message, chunks: AsyncIterable<Uint8Array>) => Promise<void>;
  /** The image a snapshot message refers to (its data is empty in the message). */
  snapshotSource: (m: Message) => Promise<SnapshotImage>;
  onUnreachable?: (id: NodeId) => void;
  /** An established message connection to the peer closed (e.g. its process exited). */
  onDisconnected?: (id: NodeId) => void;
  onSnapshotStatus?: (id: NodeId, ok: boolean) => void;
  logger?: TransportLogger;
  /** Randomness for backoff jitter (the transport is not part of the deterministic core). */
  random?: () => number;
}

/** The largest frame accepted before a peer's hello (a hello is a few dozen bytes). */
export const MAX_HELLO_BYTES = 4096;

const DEFAULTS = {
  maxFrameBytes: 64 * 1024 * 1024,
  maxQueuedMessages: 4096,
  socketHighWaterBytes: 16 * 1024 * 1024,
  snapshotChunkBytes: 1024 * 1024,
  snapshotIdleTimeoutMs: 30_000,
  helloTimeoutMs: 5000,
  frameIdleTimeoutMs: 30_000,
  maxPendingConnections: 64,
  minBackoffMs: 50,
  maxBackoffMs: 5000,
};

type Required_ = typeof DEFAULTS;

interface PeerAddress {
  host: string;
  port: number;
  secure: boolean;
}

function parsePeerUrl(url: string): PeerAddress {
  const u = new URL(url);
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new Error(`peer URL ${url} must use http:// or https://`);
  }
  return { host: u.hostname, port: Number(u.port || 2380), secure: u.protocol === "https:" };
}

/** Counters for /metrics and tests. */
export interface TransportStats {
  sentMessages: number;
  droppedMessages: number;
  receivedMessages: number;
  rejectedConnections: number;
  snapshotsSent: number;
  snapshotsReceived: number;
}

export class PeerTransport {
  private readonly o: PeerTransportOptions & Required_;
  private readonly peers = new Map<NodeId, Peer>();
  private server: net.Server | undefined;
  private readonly inbound = new Set<net.Socket>();
  /** Inbound connections that have not yet sent an acceptable hello. */
  private pendingInbound = 0;
  private closed = false;
  readonly stats: TransportStats = {
    sentMessages: 0,
    droppedMessages: 0,
    receivedMessages: 0,
    rejectedConnections: 0,
    snapshotsSent: 0,
    snapshotsReceived: 0,
  };

  constructor(options: PeerTransportOptions) {
    this.o = { ...DEFAULTS, ...options } as PeerTransportOptions & Required_;
  }

  get memberId(): NodeId {
    return this.o.memberId;
  }

  /** Starts listening; resolves with the bound port. */
  async listen(): Promise<number> {
    const onConn = (s: net.Socket) => this.accept(s);
    this.server = this.o.tls
      ? tls.createServer({ requestCert: true, ...this.o.tls }, onConn)
      : net.createServer(onConn);
    const srv = this.server;
    srv.on("tlsClientError", (e: Error) => this.log("warn", "peer-tls-refused", { reason: e.message }));
    await new Promise<void>((resolve, reject) => {
      srv.once("error", reject);
      srv.listen(this.o.listenPort, this.o.listenHost, () => {
        srv.off("error", reject);
        resolve();
      });
    });
    const addr = srv.address();
    return typeof addr === "object" && addr ? addr.port : this.o.listenPort;
  }

  /** Adds or updates a peer's URLs. */
  setPeer(id: NodeId, urls: readonly string[]): void {
    if (id === this.o.memberId || this.closed) return;
    const addrs = urls.map(parsePeerUrl);
    const p = this.peers.get(id);
    if (p) p.setAddresses(addrs);
    else this.peers.set(id, new Peer(this, id, addrs));
  }

  removePeer(id: NodeId): void {
    this.peers.get(id)?.close();
    this.peers.delete(id);
  }

  hasPeer(id: NodeId): boolean {
    return this.peers.has(id);
  }

  /** Whether the outgoing stream to a peer is up. */
  connected(id: NodeId): boolean {
    return this.peers.get(id)?.isConnected() ?? false;
  }

  send(messages: readonly Message[]): void {
    for (const m of messages) {
      const p = this.peers.get(m.to);
      if (!p) {
        this.stats.droppedMessages++;
        continue;
      }
      if (m.type === MessageType.Snap) p.sendSnapshot(m);
      else p.send(m);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.peers.values()) p.close();
    this.peers.clear();
    for (const s of this.inbound) s.destroy();
    const srv = this.server;
    if (srv) await new Promise<void>((resolve) => srv.close(() => resolve()));
  }

  // --- internals shared with Peer ---

  get options(): PeerTransportOptions & Required_ {
    return this.o;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  log(level: "info" | "warn", event: string, fields: Record<string, unknown>): void {
    this.o.logger?.(level, event, { member: this.o.memberId.toString(16), ...fields });
  }

  dial(addr: PeerAddress): net.Socket {
    if (addr.secure || this.o.tls) {
      if (!this.o.tls)
        throw new Error(`peer ${addr.host}:${addr.port} uses https but no peer TLS files are set`);
      return refuseRevoked(
        tls.connect({
          host: addr.host,
          port: addr.port,
          ...this.o.tls,
          servername: net.isIP(addr.host) ? undefined : addr.host,
        }),
        this.o.tls,
        (serial) =>
          this.log("warn", "peer-tls-refused", {
            addr: `${addr.host}:${addr.port}`,
            reason: `revoked certificate ${serial}`,
          }),
      );
    }
    return net.connect({ host: addr.host, port: addr.port });
  }

  private accept(socket: net.Socket): void {
    const serial = socket instanceof tls.TLSSocket ? revokedPeer(this.o.tls, socket) : undefined;
    if (serial !== undefined) {
      this.stats.rejectedConnections++;
      this.log("warn", "peer-tls-refused", {
        remote: `${socket.remoteAddress}:${socket.remotePort}`,
        reason: `revoked certificate ${serial}`,
      });
      socket.destroy();
      return;
    }
    if (this.closed || this.pendingInbound >= this.o.maxPendingConnections) {
      if (!this.closed) {
        this.stats.rejectedConnections++;
        this.log("warn", "peer-connection-closed", {
          remote: `${socket.remoteAddress}:${socket.remotePort}`,
          reason: `${this.pendingInbound} connections have not yet said hello (limit ${this.o.maxPendingConnections})`,
        });
      }
      socket.destroy();
      return;
    }
    this.inbound.add(socket);
    socket.setNoDelay(true);
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const decoder = new FrameDecoder(this.o.maxFrameBytes);
    let hello: ReturnType<typeof decodeHello> | undefined;
    let snap: IncomingSnapshot | undefined;
    this.pendingInbound++;
    let pending = true;
    const helloDone = () => {
      if (!pending) return;
      pending = false;
      this.pendingInbound--;
      clearTimeout(helloTimer);
    };
    const refuse = (reason: string) => {
      this.stats.rejectedConnections++;
      this.log("warn", "peer-connection-closed", { remote, from: hello?.from.toString(16), reason });
      socket.destroy();
    };
    const helloTimer = setTimeout(
      () => refuse(`no hello within ${this.o.helloTimeoutMs} ms`),
      this.o.helloTimeoutMs,
    );
    // a frame begun and never finished would hold the connection (and its bytes) forever
    socket.setTimeout(this.o.frameIdleTimeoutMs, () => {
      if (decoder.pendingBytes > 0) {
        refuse(
          `a frame stalled for ${this.o.frameIdleTimeoutMs} ms with ${decoder.pendingBytes} bytes received`,
        );
      }
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      helloDone();
      this.inbound.delete(socket);
      snap?.abort(new Error("connection closed before the snapshot was complete"));
    });
    socket.on("data", (chunk: Buffer) => {
      const frames = decoder.push(chunk);
      if (frames instanceof FrameError) return refuse(frames.message);
      // Until the peer has said who it is, only a hello-sized frame is accepted:
      // a stranger cannot make the member buffer a 64 MiB frame.
      if (pending) {
        const first = frames[0]?.payload.length ?? decoder.announcedBytes ?? 0;
        if (first > MAX_HELLO_BYTES) {
          return refuse(`a ${first}-byte frame before the hello, over the ${MAX_HELLO_BYTES}-byte limit`);
        }
      }
      for (const f of frames) {
        try {
          if (!hello) {
            if (f.type !== FrameType.Hello) return refuse(`first frame is type ${f.type}, not a hello`);
            hello = decodeHello(f.payload);
            if (hello.purpose === PURPOSE_QUERY) {
              helloDone();
              socket.end(encodeFrame(FrameType.ClusterInfo, this.o.clusterInfo?.() ?? new Uint8Array(0)));
              return;
            }
            const why = this.checkHello(hello);
            if (why) return refuse(why);
            helloDone();
            // The peer is (back) up: our own connection to it need not wait out its backoff.
            if (hello.purpose === PURPOSE_MESSAGES) this.peers.get(hello.from)?.reconnectNow();
            if (hello.purpose === PURPOSE_SNAPSHOT) snap = new IncomingSnapshot(this, socket, hello.from);
            continue;
          }
          if (hello.purpose === PURPOSE_MESSAGES) {
            if (f.type !== FrameType.Message)
              return refuse(`unexpected frame type ${f.type} on a message stream`);
            const m = decodeMessage(f.payload);
            if (m.from !== hello.from || m.to !== this.o.memberId) {
              return refuse(`message addressed ${m.from}->${m.to} on the stream of ${hello.from}`);
            }
            if (m.type === MessageType.Snap) return refuse("snapshot message on a message stream");
            this.stats.receivedMessages++;
            this.o.onMessage(m);
          } else if (snap) {
            const why = snap.frame(f);
            if (why) return refuse(why);
          }
        } catch (e) {
          if (e instanceof CodecError) return refuse(e.message);
          throw e;
        }
      }
    });
  }

  private checkHello(h: ReturnType<typeof decodeHello>): string | undefined {
    if (h.clusterId !== this.o.clusterId) {
      return `peer ${h.from.toString(16)} belongs to cluster ${h.clusterId.toString(16)}, not ${this.o.clusterId.toString(16)}`;
    }
    if (h.to !== this.o.memberId) {
      return `peer ${h.from.toString(16)} is addressing member ${h.to.toString(16)}, this is ${this.o.memberId.toString(16)}`;
    }
    if (h.purpose !== PURPOSE_MESSAGES && h.purpose !== PURPOSE_SNAPSHOT)
      return `unknown purpose ${h.purpose}`;
    return undefined;
  }
}

/**
 * Asks the member at a peer URL for its cluster info (used by a member that
 * joins an existing cluster and does not know the cluster id yet).
 */
/** Closes a dialled connection whose server presents a certificate the peer CRL lists. */
function refuseRevoked(
  s: tls.TLSSocket,
  t: PeerTls | undefined,
  onRefused?: (serial: string) => void,
): tls.TLSSocket {
  s.prependOnceListener("secureConnect", () => {
    const serial = revokedPeer(t, s);
    if (serial === undefined) return;
    onRefused?.(serial);
    s.destroy(new Error(`the peer's certificate ${serial} is revoked by the peer CRL`));
  });
  return s;
}

export async function queryPeer(url: string, tlsFiles?: PeerTls, timeoutMs = 2000): Promise<Uint8Array> {
  const addr = parsePeerUrl(url);
  const s =
    addr.secure || tlsFiles
      ? refuseRevoked(
          tls.connect({
            host: addr.host,
            port: addr.port,
            ...tlsFiles,
            servername: net.isIP(addr.host) ? undefined : addr.host,
          }),
          tlsFiles,
        )
      : net.connect({ host: addr.host, port: addr.port });
  const decoder = new FrameDecoder(16 * 1024 * 1024);
  try {
    return await new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no answer from ${url} in ${timeoutMs} ms`)),
        timeoutMs,
      );
      const fail = (e: Error) => {
        clearTimeout(timer);
        reject(e);
      };
      s.once(s instanceof tls.TLSSocket ? "secureConnect" : "connect", () => {
        s.write(
          encodeFrame(FrameType.Hello, encodeHello({ clusterId: 0, from: 0, to: 0, purpose: PURPOSE_QUERY })),
        );
      });
      s.on("data", (chunk: Buffer) => {
        const frames = decoder.push(chunk);
        if (frames instanceof FrameError) return fail(frames);
        const info = frames.find((f) => f.type === FrameType.ClusterInfo);
        if (info) {
          clearTimeout(timer);
          resolve(info.payload);
        }
      });
      s.on("error", fail);
      s.on("close", () => fail(new Error(`${url} closed the connection without an answer`)));
    });
  } finally {
    s.destroy();
  }
}

/** Receiving side of one snapshot transfer: frames in, a bounded async chunk stream out. */
class IncomingSnapshot {
  private message: Message | undefined;
  private readonly queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private ended = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;
  private readonly sha = createHash("sha256");
  private bytes = 0;

  constructor(
    private readonly t: PeerTransport,
    private readonly socket: net.Socket,
    private readonly from: NodeId,
  ) {}

  /** Handles one frame; returns a reason to close the connection, if any. */
  frame(f: Frame): string | undefined {
    if (f.type === FrameType.SnapshotHeader) {
      if (this.message) return "second snapshot header on one transfer";
      const m = decodeMessage(f.payload);
      if (m.type !== MessageType.Snap || !m.snapshot || m.from !== this.from) return "bad snapshot header";
      this.message = m;
      this.t.log("info", "snapshot-receiving", {
        from: m.from.toString(16),
        index: m.snapshot.metadata.index,
      });
      this.t.options
        .onSnapshot(m, this.chunks())
        .then(() => {
          this.t.stats.snapshotsReceived++;
          this.ack(true, "");
        })
        .catch((e: unknown) => {
          this.t.log("warn", "snapshot-refused", {
            from: this.from.toString(16),
            reason: (e as Error).message,
          });
          this.ack(false, (e as Error).message);
        });
      return undefined;
    }
    if (!this.message) return `snapshot frame type ${f.type} before the header`;
    if (f.type === FrameType.SnapshotChunk) {
      if (this.ended) return "snapshot chunk after the end";
      this.sha.update(f.payload);
      this.bytes += f.payload.length;
      this.queue.push(f.payload);
      this.queuedBytes += f.payload.length;
      // Backpressure: stop reading the socket while the consumer is behind.
      if (this.queuedBytes > 4 * this.t.options.snapshotChunkBytes) this.socket.pause();
      this.wake?.();
      return undefined;
    }
    if (f.type === FrameType.SnapshotEnd) {
      if (f.payload.length !== 40) return "snapshot end frame of the wrong size";
      const total = Number(f.payload.readBigUInt64BE(0));
      const digest = f.payload.subarray(8);
      if (total !== this.bytes || !digest.equals(this.sha.digest())) {
        this.abort(
          new Error(`snapshot image damaged in transit (${this.bytes} bytes received, ${total} sent)`),
        );
        return undefined;
      }
      this.ended = true;
      this.wake?.();
      return undefined;
    }
    return `unexpected frame type ${f.type} in a snapshot transfer`;
  }

  abort(e: Error): void {
    if (this.ended) return;
    this.error ??= e;
    this.wake?.();
  }

  private async *chunks(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const c = this.queue.shift();
      if (c) {
        this.queuedBytes -= c.length;
        if (this.queuedBytes <= this.t.options.snapshotChunkBytes) this.socket.resume();
        yield c;
        continue;
      }
      if (this.error) throw this.error;
      if (this.ended) return;
      await new Promise<void>((r) => {
        this.wake = r;
      });
      this.wake = undefined;
    }
  }

  private ack(ok: boolean, error: string): void {
    if (this.socket.destroyed) return;
    const payload = toBinary(SnapshotAckSchema, create(SnapshotAckSchema, { ok, error }));
    this.socket.end(encodeFrame(FrameType.SnapshotAck, payload));
  }
}

/** The outgoing side towards one peer. */
class Peer {
  private socket: net.Socket | undefined;
  private up = false;
  private readonly queue: Buffer[] = [];
  private backoffMs: number;
  private retry: NodeJS.Timeout | undefined;
  private next = 0;
  private closed = false;
  private lastUnreachable = 0;
  private snapshotInFlight = false;
  private flushScheduled = false;

  constructor(
    private readonly t: PeerTransport,
    readonly id: NodeId,
    private addrs: PeerAddress[],
  ) {
    this.backoffMs = t.options.minBackoffMs;
    this.connect();
  }

  setAddresses(addrs: PeerAddress[]): void {
    const same = JSON.stringify(addrs) === JSON.stringify(this.addrs);
    this.addrs = addrs;
    if (!same) this.socket?.destroy();
  }

  isConnected(): boolean {
    return this.up;
  }

  send(m: Message): void {
    if (!this.up || this.queue.length >= this.t.options.maxQueuedMessages) {
      this.drop();
      return;
    }
    this.queue.push(encodeFrame(FrameType.Message, encodeMessage(m)));
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  private drop(): void {
    this.t.stats.droppedMessages++;
    const now = Date.now();
    if (now - this.lastUnreachable >= 100) {
      this.lastUnreachable = now;
      this.t.options.onUnreachable?.(this.id);
    }
  }

  private flush(): void {
    const s = this.socket;
    if (!s || !this.up) return;
    // One write per flush, not one per frame: a Ready's messages to a peer
    // leave in a single syscall.
    const batch: Buffer[] = [];
    let bytes = s.writableLength;
    while (this.queue.length > 0 && bytes < this.t.options.socketHighWaterBytes) {
      const frame = this.queue.shift() as Buffer;
      batch.push(frame);
      bytes += frame.length;
    }
    if (batch.length === 0) return;
    s.write(batch.length === 1 ? batch[0] : Buffer.concat(batch));
    this.t.stats.sentMessages += batch.length;
  }

  private connect(): void {
    if (this.closed || this.t.isClosed || this.addrs.length === 0) return;
    const addr = this.addrs[this.next++ % this.addrs.length];
    let s: net.Socket;
    try {
      s = this.t.dial(addr);
    } catch (e) {
      this.t.log("warn", "peer-dial-failed", { peer: this.id.toString(16), reason: (e as Error).message });
      this.scheduleReconnect();
      return;
    }
    this.socket = s;
    s.setNoDelay(true);
    const onUp = () => {
      if (s.destroyed) return; // refused after the handshake (a revoked certificate)
      this.up = true;
      this.backoffMs = this.t.options.minBackoffMs;
      s.write(
        encodeFrame(
          FrameType.Hello,
          encodeHello({
            clusterId: this.t.options.clusterId,
            from: this.t.memberId,
            to: this.id,
            purpose: PURPOSE_MESSAGES,
          }),
        ),
      );
      this.t.log("info", "peer-connected", { peer: this.id.toString(16), addr: `${addr.host}:${addr.port}` });
      this.flush();
    };
    s.once(s instanceof tls.TLSSocket ? "secureConnect" : "connect", onUp);
    s.on("drain", () => this.flush());
    s.on("data", () => {}); // the receiver never writes on a message stream
    s.on("error", (e: Error) => {
      if (this.up) this.t.log("warn", "peer-stream-error", { peer: this.id.toString(16), reason: e.message });
    });
    s.on("close", () => {
      const wasUp = this.up;
      this.up = false;
      this.socket = undefined;
      this.queue.length = 0; // Raft retries; stale messages are worthless after a reconnect
      if (wasUp) {
        this.t.log("warn", "peer-disconnected", { peer: this.id.toString(16) });
        this.t.options.onUnreachable?.(this.id);
        this.t.options.onDisconnected?.(this.id);
      }
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.closed || this.t.isClosed || this.retry) return;
    const rnd = this.t.options.random ?? Math.random;
    const delay = Math.round(this.backoffMs * (0.5 + rnd()));
    this.backoffMs = Math.min(this.t.options.maxBackoffMs, this.backoffMs * 2);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.connect();
    }, delay);
  }

  /** Dials at once if no connection is up and a reconnect is waiting (the peer just dialled us). */
  reconnectNow(): void {
    if (this.up || this.closed) return;
    this.backoffMs = this.t.options.minBackoffMs;
    if (!this.retry) return; // a dial is under way (it retries from the minimum if it fails)
    clearTimeout(this.retry);
    this.retry = undefined;
    this.connect();
  }

  sendSnapshot(m: Message): void {
    if (this.snapshotInFlight) return; // Raft resends once the current one is reported
    this.snapshotInFlight = true;
    this.streamSnapshot(m)
      .then((ok) => {
        this.t.stats.snapshotsSent += ok ? 1 : 0;
        this.t.options.onSnapshotStatus?.(this.id, ok);
      })
      .finally(() => {
        this.snapshotInFlight = false;
      });
  }

  private async streamSnapshot(m: Message): Promise<boolean> {
    const o = this.t.options;
    const index = m.snapshot?.metadata.index ?? 0;
    const fields = { peer: this.id.toString(16), index };
    if (this.addrs.length === 0) return false;
    let s: net.Socket | undefined;
    try {
      const image = await o.snapshotSource(m);
      s = this.t.dial(this.addrs[0]);
      const sock = s;
      s.setNoDelay(true);
      const verdict = this.awaitAck(sock);
      await new Promise<void>((resolve, reject) => {
        sock.once(sock instanceof tls.TLSSocket ? "secureConnect" : "connect", resolve);
        sock.once("error", reject);
      });
      this.t.log("info", "snapshot-sending", fields);
      const write = async (frame: Buffer) => {
        if (!sock.write(frame)) {
          await new Promise<void>((resolve, reject) => {
            const timer = setTimeout(
              () => reject(new Error(`peer took no data for ${o.snapshotIdleTimeoutMs} ms`)),
              o.snapshotIdleTimeoutMs,
            );
            sock.once("drain", () => {
              clearTimeout(timer);
              resolve();
            });
            sock.once("close", () => {
              clearTimeout(timer);
              reject(new Error("connection closed"));
            });
          });
        }
      };
      await write(
        encodeFrame(
          FrameType.Hello,
          encodeHello({
            clusterId: o.clusterId,
            from: this.t.memberId,
            to: this.id,
            purpose: PURPOSE_SNAPSHOT,
          }),
        ),
      );
      await write(encodeFrame(FrameType.SnapshotHeader, encodeMessage({ ...m, snapshot: m.snapshot })));
      const sha = createHash("sha256");
      let total = 0;
      for await (const chunk of image.chunks) {
        for (let at = 0; at < chunk.length; at += o.snapshotChunkBytes) {
          const part = chunk.subarray(at, at + o.snapshotChunkBytes);
          sha.update(part);
          total += part.length;
          await write(encodeFrame(FrameType.SnapshotChunk, part));
        }
      }
      const end = Buffer.alloc(8);
      end.writeBigUInt64BE(BigInt(total));
      await write(encodeFrame(FrameType.SnapshotEnd, Buffer.concat([end, sha.digest()])));
      const ack = await verdict;
      if (!ack.ok) this.t.log("warn", "snapshot-refused-by-peer", { ...fields, reason: ack.error });
      else this.t.log("info", "snapshot-sent", { ...fields, bytes: total });
      return ack.ok;
    } catch (e) {
      this.t.log("warn", "snapshot-send-failed", { ...fields, reason: (e as Error).message });
      return false;
    } finally {
      s?.destroy();
    }
  }

  private awaitAck(s: net.Socket): Promise<{ ok: boolean; error: string }> {
    const decoder = new FrameDecoder(64 * 1024);
    return new Promise((resolve) => {
      s.on("data", (chunk: Buffer) => {
        const frames = decoder.push(chunk);
        if (frames instanceof FrameError) return resolve({ ok: false, error: frames.message });
        for (const f of frames) {
          if (f.type !== FrameType.SnapshotAck) continue;
          try {
            const ack = fromBinary(SnapshotAckSchema, f.payload);
            resolve({ ok: ack.ok, error: ack.error });
          } catch {
            resolve({ ok: false, error: "undecodable snapshot ack" });
          }
        }
      });
      s.on("error", () => {});
      s.on("close", () => resolve({ ok: false, error: "connection closed before the peer acknowledged" }));
    });
  }

  close(): void {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.socket?.destroy();
  }
}
