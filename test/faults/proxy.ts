// A fault-injecting TCP proxy in front of each member's peer port. Members
// dial each other at their advertised peer URLs, which point at these
// proxies; each proxy forwards to its member's real listen port. The first
// frame of every peer connection is a Hello naming the sender, so a proxy
// knows which directed link (from -> to) a connection carries and can refuse
// it, cut it when a partition begins, or delay its bytes. Raft traffic in
// each direction travels on the sender's own connection, so blocking
// from -> to at `to`'s proxy cuts exactly that direction.
//
// A block either refuses (connections are reset and refused, as when a
// process is gone: the sender notices at once) or stalls (connections stay
// open and bytes stop flowing, as when packets are silently dropped: the
// sender notices nothing, and when the partition heals the backlog of stale
// messages arrives, as TCP would deliver it).

import net from "node:net";
import { decodeHello, PURPOSE_QUERY } from "../../src/transport/codec.ts";
import { FRAME_HEADER_BYTES, FrameType } from "../../src/transport/frame.ts";

/** The directed rules every proxy consults; shared by all proxies of a cluster. */
export type BlockMode = "refuse" | "stall";

export class LinkRules {
  private readonly blocked = new Map<string, BlockMode>();
  private readonly delays = new Map<string, number>();
  private readonly proxies = new Set<PeerProxy>();

  block(from: number, to: number, mode: BlockMode = "refuse"): void {
    this.blocked.set(`${from}>${to}`, mode);
    this.notify();
  }

  blockMode(from: number, to: number): BlockMode | undefined {
    return this.blocked.get(`${from}>${to}`);
  }

  isBlocked(from: number, to: number): boolean {
    return this.blocked.has(`${from}>${to}`);
  }

  /** Every byte from -> to is held this long before it is forwarded. */
  setDelay(from: number, to: number, ms: number): void {
    if (ms <= 0) this.delays.delete(`${from}>${to}`);
    else this.delays.set(`${from}>${to}`, ms);
  }

  delayMs(from: number, to: number): number {
    return this.delays.get(`${from}>${to}`) ?? 0;
  }

  /** Removes every block and delay; stalled connections resume. */
  healAll(): void {
    this.blocked.clear();
    this.delays.clear();
    this.notify();
  }

  private notify(): void {
    for (const p of this.proxies) p.enforce();
  }

  describe(): string {
    const parts = [...this.blocked].map(([l, mode]) => `${mode} ${l}`);
    for (const [l, ms] of this.delays) parts.push(`delay ${l} ${ms}ms`);
    return parts.length === 0 ? "no rules" : parts.join(", ");
  }

  attach(p: PeerProxy): void {
    this.proxies.add(p);
  }

  detach(p: PeerProxy): void {
    this.proxies.delete(p);
  }
}

interface Link {
  from: number;
  inbound: net.Socket;
  outbound: net.Socket;
  stalled: boolean;
  connected: boolean;
}

/** A connection accepted while its link stalls: its Hello is read, nothing is forwarded yet. */
interface Held {
  from: number;
  inbound: net.Socket;
  head: Buffer;
}

/** Largest first frame we buffer while looking for the Hello; a Hello is a few dozen bytes. */
const MAX_HELLO_BYTES = 64 * 1024;

export class PeerProxy {
  private server: net.Server | undefined;
  private readonly links = new Set<Link>();
  private readonly pending = new Set<net.Socket>();
  private readonly held = new Set<Held>();
  /** Connections refused or cut by a rule, for the run summary. */
  refused = 0;

  constructor(
    readonly toId: number,
    readonly listenPort: number,
    readonly targetPort: number,
    private readonly rules: LinkRules,
  ) {}

  async listen(): Promise<void> {
    const server = net.createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.listenPort, "127.0.0.1", () => resolve());
    });
    this.server = server;
    this.rules.attach(this);
  }

  /** Applies the current rules to open connections: cut, stall or resume each. */
  enforce(): void {
    for (const l of this.links) {
      const mode = this.rules.blockMode(l.from, this.toId);
      if (mode === "refuse") {
        this.refused++;
        this.drop(l);
      } else if (mode === "stall" && !l.stalled) {
        l.stalled = true;
        l.inbound.pause();
        l.outbound.pause();
      } else if (mode === undefined && l.stalled) {
        l.stalled = false;
        if (l.connected) {
          l.inbound.resume();
          l.outbound.resume();
        }
      }
    }
    for (const h of this.held) {
      const mode = this.rules.blockMode(h.from, this.toId);
      if (mode === "stall") continue;
      this.held.delete(h);
      if (mode === "refuse") h.inbound.destroy();
      else this.forward(h.inbound, h.from, h.head);
    }
  }

  async close(): Promise<void> {
    this.rules.detach(this);
    for (const l of this.links) this.drop(l);
    for (const s of this.pending) s.destroy();
    for (const h of this.held) h.inbound.destroy();
    this.held.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private drop(l: Link): void {
    this.links.delete(l);
    l.inbound.destroy();
    l.outbound.destroy();
  }

  private accept(inbound: net.Socket): void {
    this.pending.add(inbound);
    let head = Buffer.alloc(0);
    const onError = () => {
      this.pending.delete(inbound);
      inbound.destroy();
    };
    inbound.on("error", onError);
    inbound.on("close", () => this.pending.delete(inbound));
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      if (head.length < FRAME_HEADER_BYTES) return;
      const len = head.readUInt32BE(0);
      if (len > MAX_HELLO_BYTES || head[8] !== FrameType.Hello) {
        // Not a floe peer connection (or a corrupt one): let the member judge it.
        inbound.off("data", onData);
        this.forward(inbound, 0, head);
        return;
      }
      if (head.length < FRAME_HEADER_BYTES + len) return;
      inbound.off("data", onData);
      let from = 0;
      let purpose = 0;
      try {
        const hello = decodeHello(head.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + len));
        from = hello.from;
        purpose = hello.purpose;
      } catch {
        // An undecodable Hello is the member's to reject; forward it unchanged.
      }
      // A joining member's query (from 0) is not Raft traffic: always let it through.
      const mode =
        from === 0 || purpose === PURPOSE_QUERY ? undefined : this.rules.blockMode(from, this.toId);
      if (mode === "refuse") {
        this.refused++;
        this.pending.delete(inbound);
        inbound.destroy();
        return;
      }
      if (mode === "stall") {
        inbound.pause();
        this.pending.delete(inbound);
        const h: Held = { from, inbound, head };
        this.held.add(h);
        inbound.once("close", () => this.held.delete(h));
        return;
      }
      this.forward(inbound, from, head);
    };
    inbound.on("data", onData);
  }

  private forward(inbound: net.Socket, from: number, head: Buffer): void {
    this.pending.delete(inbound);
    inbound.pause();
    const outbound = net.connect(this.targetPort, "127.0.0.1");
    const link: Link = { from, inbound, outbound, stalled: false, connected: false };
    this.links.add(link);
    const close = () => this.drop(link);
    inbound.removeAllListeners("error");
    inbound.on("error", close);
    inbound.on("close", close);
    outbound.on("error", close);
    outbound.on("close", close);
    outbound.once("connect", () => {
      // Bytes are released in order, each after the link's delay at the time
      // it arrived, never before the bytes ahead of it: one queue, one timer.
      const queue: { at: number; chunk: Buffer }[] = [];
      let timer: NodeJS.Timeout | undefined;
      const drain = () => {
        timer = undefined;
        while (queue.length > 0 && queue[0].at <= Date.now()) {
          const { chunk } = queue.shift()!;
          if (!outbound.destroyed) outbound.write(chunk);
        }
        if (queue.length > 0) timer = setTimeout(drain, queue[0].at - Date.now());
      };
      const send = (chunk: Buffer) => {
        const delay = this.rules.delayMs(from, this.toId);
        if (delay === 0 && queue.length === 0) {
          outbound.write(chunk);
          return;
        }
        const last = queue.length > 0 ? queue[queue.length - 1].at : 0;
        queue.push({ at: Math.max(last, Date.now() + delay), chunk });
        if (timer === undefined) timer = setTimeout(drain, queue[0].at - Date.now());
      };
      outbound.once("close", () => {
        if (timer !== undefined) clearTimeout(timer);
      });
      send(head);
      inbound.on("data", send);
      // Replies (snapshot acks, cluster info) go back undelayed: the reverse
      // direction's Raft traffic has its own connection and its own rule.
      // Not pipe(): a pipe would resume a stalled reader on its own.
      outbound.on("data", (chunk: Buffer) => inbound.write(chunk));
      link.connected = true;
      if (link.stalled) outbound.pause();
      else inbound.resume();
    });
  }
}
