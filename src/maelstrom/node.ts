// A Maelstrom lin-kv node on floe's runtime (server/runtime.ts: the Ready
// loop, proposal waiters and ReadIndex rounds every floe member runs) with an
// in-memory log. Peers talk through Maelstrom's network (JSON bodies of type
// "raft"); clients send read / write / cas. Writes and cas go through the log;
// reads wait on a ReadIndex barrier (linearizable). A definite error (11) is
// sent only when nothing was proposed; otherwise the client gets the applied
// result or, when the entry does not apply in time, an indefinite error (0).

import { type NodeId, type RaftLogger, seededRand, uint32From } from "../raft/index.ts";
import {
  collectImage,
  MemoryLogStore,
  RaftRuntime,
  type RuntimeClock,
  RuntimeError,
  realClock,
  realRandomUint32,
  type SnapshotImage,
  type StateMachine,
} from "../server/index.ts";
import { decodeMessage, encodeMessage } from "./codec.ts";
import { type Json, type KvOp, type KvReply, LinKvMap } from "./kv.ts";

export interface Envelope {
  src: string;
  dest: string;
  body: Record<string, unknown> & { type: string; msg_id?: number; in_reply_to?: number };
}

export interface NodeOptions {
  /** Emits one message to stdout (or a test's network). */
  send: (e: Envelope) => void;
  log: (event: string, fields?: Record<string, unknown>) => void;
  /** Test-only: serve reads from local state without ReadIndex (deliberately not linearizable). */
  unsafeLocalReads?: boolean;
  /** Snapshot and compact the log every this many applied entries. */
  snapshotEvery?: number;
  /** Give up on a client request after this long (answers with indefinite error 0). */
  requestTimeoutMs?: number;
  /** Raft tick period (default 25 ms). */
  tickMs?: number;
  /** Time and timers (default: the process's). */
  clock?: RuntimeClock;
  /** Seeds the election jitter and proposal ids (default: the OS's randomness). */
  seed?: number;
}

const ERR_TEMPORARILY_UNAVAILABLE = 11;
const ERR_TIMEOUT = 0;
const ERR_MALFORMED = 12;

/** The lin-kv map as the runtime's state machine; a command is one client operation. */
class LinKvMachine implements StateMachine<KvReply> {
  kv = new LinKvMap();
  private applied = 0;

  apply(index: number, data: Uint8Array): KvReply {
    this.applied = index;
    return this.kv.apply(JSON.parse(new TextDecoder().decode(data)) as KvOp);
  }

  appliedIndex(): number {
    return this.applied;
  }

  async snapshot(): Promise<SnapshotImage> {
    return this.kv.snapshot();
  }

  async restore(image: SnapshotImage, index: number): Promise<void> {
    this.kv = LinKvMap.restore(await collectImage(image));
    this.applied = index;
  }
}

export class MaelstromNode {
  private id = "";
  private ids: string[] = [];
  private runtime: RaftRuntime<KvReply> | undefined;
  private readonly machine = new LinKvMachine();
  private nextMsgId = 1;

  constructor(private readonly opts: NodeOptions) {}

  private raftId(name: string): NodeId {
    return this.ids.indexOf(name) + 1;
  }

  private name(id: NodeId): string {
    return this.ids[id - 1] ?? `unknown-${id}`;
  }

  private reply(to: string, inReplyTo: number, body: Record<string, unknown> & { type: string }): void {
    this.opts.send({
      src: this.id,
      dest: to,
      body: { ...body, msg_id: this.nextMsgId++, in_reply_to: inReplyTo },
    });
  }

  private error(to: string, inReplyTo: number, code: number, text: string): void {
    this.reply(to, inReplyTo, { type: "error", code, text });
  }

  /** Handles one parsed input message. */
  handle(e: Envelope): void {
    const body = e.body;
    const msgId = typeof body.msg_id === "number" ? body.msg_id : -1;
    if (body.type === "init") {
      this.init(e, msgId);
      return;
    }
    if (!this.runtime) {
      if (msgId >= 0) this.error(e.src, msgId, ERR_TEMPORARILY_UNAVAILABLE, "node not initialized yet");
      return;
    }
    switch (body.type) {
      case "raft":
        this.onPeer(this.runtime, e);
        break;
      case "read":
      case "write":
      case "cas":
        this.onClient(this.runtime, e, msgId);
        break;
      default:
        if (msgId >= 0) this.error(e.src, msgId, 10, `unsupported message type ${JSON.stringify(body.type)}`);
    }
  }

  private init(e: Envelope, msgId: number): void {
    const { node_id, node_ids } = e.body as { node_id?: unknown; node_ids?: unknown };
    if (typeof node_id !== "string" || !Array.isArray(node_ids) || !node_ids.includes(node_id)) {
      this.error(e.src, msgId, ERR_MALFORMED, "init needs node_id and node_ids containing it");
      return;
    }
    if (this.runtime) {
      this.error(e.src, msgId, ERR_MALFORMED, "already initialized");
      return;
    }
    this.id = node_id;
    this.ids = node_ids.map(String);
    const voters = this.ids.map((_, i) => i + 1);
    const logger: RaftLogger = (event, fields) => this.opts.log(event, fields);
    const runtime = new RaftRuntime(this.machine, {
      id: this.raftId(node_id),
      clock: this.opts.clock ?? realClock,
      randomUint32: this.opts.seed !== undefined ? uint32From(seededRand(this.opts.seed)) : realRandomUint32,
      log: MemoryLogStore.bootstrapped(voters, 100),
      transport: {
        send: (messages) => {
          for (const m of messages)
            this.opts.send({
              src: this.id,
              dest: this.name(m.to),
              body: { type: "raft", msg: encodeMessage(m) },
            });
        },
      },
      tickMs: this.opts.tickMs ?? 25,
      electionTicks: 10,
      snapshotCount: this.opts.snapshotEvery ?? 1000,
      requestTimeoutMs: this.opts.requestTimeoutMs ?? 5000,
      raft: { checkQuorum: true, preVote: true, maxSizePerMsgBytes: 256 * 1024 },
      logger,
      onFatal: (err) => this.opts.log("stopped", { error: err.message }),
    });
    this.runtime = runtime;
    runtime.start();
    // A single-member cluster need not wait an election timeout.
    if (voters.length === 1) runtime.campaign();
    this.reply(e.src, msgId, { type: "init_ok" });
    this.opts.log("initialized", { node: node_id, nodes: this.ids });
  }

  /** Stops the runtime's timers (the end of input). */
  stop(): void {
    this.runtime?.stop();
  }

  private onPeer(runtime: RaftRuntime<KvReply>, e: Envelope): void {
    const m = decodeMessage(e.body.msg);
    if (typeof m === "string") {
      this.opts.log("bad-peer-message", { from: e.src, reason: m });
      return;
    }
    runtime.step(m);
  }

  /** A request that failed: definite (11) when nothing was proposed, indefinite (0) otherwise. */
  private failed(client: string, msgId: number, e: unknown, what: string): void {
    if (!(e instanceof RuntimeError)) throw e;
    if (e.code === "ProposalDropped") this.error(client, msgId, ERR_TEMPORARILY_UNAVAILABLE, e.message);
    else if (e.code === "Timeout") this.error(client, msgId, ERR_TIMEOUT, `timed out waiting for ${what}`);
    // Stopped: the node is going away and answers nothing.
  }

  private onClient(runtime: RaftRuntime<KvReply>, e: Envelope, msgId: number): void {
    const b = e.body as Record<string, unknown>;
    if (!("key" in b)) {
      this.error(e.src, msgId, ERR_MALFORMED, `${b.type} without a key`);
      return;
    }
    const key = b.key as Json;
    if (b.type === "read") {
      if (this.opts.unsafeLocalReads) {
        this.reply(e.src, msgId, this.machine.kv.read(key));
        return;
      }
      runtime.readBarrier().then(
        () => this.reply(e.src, msgId, this.machine.kv.read(key)),
        (err: unknown) => this.failed(e.src, msgId, err, "a read index"),
      );
      return;
    }
    let op: KvOp;
    if (b.type === "write") {
      if (!("value" in b)) {
        this.error(e.src, msgId, ERR_MALFORMED, "write without a value");
        return;
      }
      op = { type: "write", key, value: b.value as Json };
    } else {
      if (!("from" in b) || !("to" in b)) {
        this.error(e.src, msgId, ERR_MALFORMED, "cas needs from and to");
        return;
      }
      op = { type: "cas", key, from: b.from as Json, to: b.to as Json };
    }
    runtime.propose(new TextEncoder().encode(JSON.stringify(op))).then(
      (result) => this.reply(e.src, msgId, result),
      (err: unknown) => this.failed(e.src, msgId, err, "the entry to commit; it may still commit"),
    );
  }
}
