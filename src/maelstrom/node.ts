// A Maelstrom lin-kv node on floe's Raft core. Peers talk through Maelstrom's
// network (JSON bodies of type "raft"); clients send read / write / cas.
// Writes and cas go through the log; reads use ReadIndex (linearizable) and
// wait until the read index is applied locally. A definite error (11) is sent
// only when nothing was proposed; otherwise the client gets the applied result
// or, if the entry never commits, no answer (Maelstrom records a timeout).

import { randomInt } from "node:crypto";
import {
  coalesceMessages,
  decodeConfChange,
  type Entry,
  EntryType,
  MemoryStorage,
  type NodeId,
  type RaftLogger,
  RawNode,
  type Ready,
  seededRand,
} from "../raft/index.ts";
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
  seed?: number;
}

interface Waiting {
  client: string;
  msgId: number;
  since: number;
}

interface PendingRead extends Waiting {
  key: Json;
  index: number;
}

/** A command as stored in the log: who asked, and what. */
interface Command {
  c: string;
  m: number;
  op: KvOp;
}

const ERR_TEMPORARILY_UNAVAILABLE = 11;
const ERR_TIMEOUT = 0;
const ERR_MALFORMED = 12;

export class MaelstromNode {
  private id = "";
  private ids: string[] = [];
  private rn: RawNode | undefined;
  private storage: MemoryStorage | undefined;
  private kv = new LinKvMap();
  private nextMsgId = 1;
  private applied = 0;
  private snapIndex = 0;
  private readonly writes = new Map<string, Waiting>();
  private readonly readsByContext = new Map<string, Waiting & { key: Json }>();
  private readsWaitingApply: PendingRead[] = [];
  private readSeq = 0;

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
    if (!this.rn) {
      if (msgId >= 0) this.error(e.src, msgId, ERR_TEMPORARILY_UNAVAILABLE, "node not initialized yet");
      return;
    }
    switch (body.type) {
      case "raft":
        this.onPeer(e);
        break;
      case "read":
      case "write":
      case "cas":
        this.onClient(e, msgId);
        break;
      default:
        if (msgId >= 0) this.error(e.src, msgId, 10, `unsupported message type ${JSON.stringify(body.type)}`);
    }
    this.drive();
  }

  private init(e: Envelope, msgId: number): void {
    const { node_id, node_ids } = e.body as { node_id?: unknown; node_ids?: unknown };
    if (typeof node_id !== "string" || !Array.isArray(node_ids) || !node_ids.includes(node_id)) {
      this.error(e.src, msgId, ERR_MALFORMED, "init needs node_id and node_ids containing it");
      return;
    }
    this.id = node_id;
    this.ids = node_ids.map(String);
    const voters = this.ids.map((_, i) => i + 1);
    this.storage = MemoryStorage.bootstrap(voters);
    const logger: RaftLogger = (event, fields) => this.opts.log(event, fields);
    this.rn = new RawNode({
      id: this.raftId(node_id),
      storage: this.storage,
      rand: seededRand(this.opts.seed ?? randomInt(2 ** 31)),
      electionTicks: 10,
      heartbeatTicks: 1,
      checkQuorum: true,
      preVote: true,
      maxSizePerMsgBytes: 256 * 1024,
      logger,
    });
    // A single-member cluster need not wait an election timeout.
    if (voters.length === 1) this.rn.campaign();
    this.reply(e.src, msgId, { type: "init_ok" });
    this.opts.log("initialized", { node: node_id, nodes: this.ids });
  }

  private onPeer(e: Envelope): void {
    const m = decodeMessage(e.body.msg);
    if (typeof m === "string") {
      this.opts.log("bad-peer-message", { from: e.src, reason: m });
      return;
    }
    const err = this.rn?.step(m);
    if (err) this.opts.log("step-refused", { from: e.src, reason: err.message });
  }

  private onClient(e: Envelope, msgId: number): void {
    const rn = this.rn as RawNode;
    const b = e.body as Record<string, unknown>;
    if (!("key" in b)) {
      this.error(e.src, msgId, ERR_MALFORMED, `${b.type} without a key`);
      return;
    }
    const key = b.key as Json;
    if (b.type === "read") {
      if (this.opts.unsafeLocalReads) {
        this.reply(e.src, msgId, this.kv.read(key));
        return;
      }
      const context = `${this.id}:${++this.readSeq}`;
      const err = rn.readIndex(context);
      if (err) this.error(e.src, msgId, ERR_TEMPORARILY_UNAVAILABLE, err.message);
      else this.readsByContext.set(context, { client: e.src, msgId, since: Date.now(), key });
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
    const cmd: Command = { c: e.src, m: msgId, op };
    const err = rn.propose(new TextEncoder().encode(JSON.stringify(cmd)));
    // Nothing was appended or forwarded: the operation certainly will not happen.
    if (err) this.error(e.src, msgId, ERR_TEMPORARILY_UNAVAILABLE, err.message);
    else this.writes.set(`${e.src}:${msgId}`, { client: e.src, msgId, since: Date.now() });
  }

  tick(): void {
    if (!this.rn) return;
    this.rn.tick();
    this.expire();
    this.drive();
  }

  /** Answers requests that waited too long with an indefinite error, keeping memory bounded. */
  private expire(): void {
    const limit = this.opts.requestTimeoutMs ?? 5000;
    const now = Date.now();
    for (const [k, w] of this.writes) {
      if (now - w.since < limit) continue;
      this.writes.delete(k);
      this.error(
        w.client,
        w.msgId,
        ERR_TIMEOUT,
        "timed out waiting for the entry to commit; it may still commit",
      );
    }
    for (const [k, r] of this.readsByContext) {
      if (now - r.since < limit) continue;
      this.readsByContext.delete(k);
      this.error(r.client, r.msgId, ERR_TIMEOUT, "timed out waiting for a read index");
    }
  }

  private drive(): void {
    const rn = this.rn;
    const storage = this.storage;
    if (!rn || !storage) return;
    for (let guard = 0; guard < 1000 && rn.hasReady(); guard++) this.handleReady(rn, storage, rn.ready());
  }

  private handleReady(rn: RawNode, storage: MemoryStorage, rd: Ready): void {
    // In-memory "persistence": Maelstrom nodes keep no disk state.
    if (rd.snapshot) storage.applySnapshot(rd.snapshot);
    storage.append(rd.entries);
    if (rd.hardState) storage.setHardState(rd.hardState);
    for (const m of coalesceMessages(rd.messages, rn.raft.cfg.maxSizePerMsgBytes)) {
      this.opts.send({ src: this.id, dest: this.name(m.to), body: { type: "raft", msg: encodeMessage(m) } });
    }
    if (rd.snapshot) {
      this.kv = LinKvMap.restore(rd.snapshot.data);
      this.applied = rd.snapshot.metadata.index;
      this.snapIndex = this.applied;
    }
    for (const e of rd.committedEntries) this.apply(rn, e);
    for (const rs of rd.readStates) {
      const r = this.readsByContext.get(rs.context);
      if (!r) continue;
      this.readsByContext.delete(rs.context);
      this.readsWaitingApply.push({ ...r, index: rs.index });
    }
    rn.advance(rd);
    this.serveReads();
    this.maybeSnapshot(rn, storage);
  }

  private apply(rn: RawNode, e: Entry): void {
    this.applied = e.index;
    if (e.type === EntryType.ConfChange) {
      rn.applyConfChange(decodeConfChange(e.data));
      return;
    }
    if (e.data.length === 0) return;
    const cmd = JSON.parse(new TextDecoder().decode(e.data)) as Command;
    const result: KvReply = this.kv.apply(cmd.op);
    const k = `${cmd.c}:${cmd.m}`;
    if (this.writes.delete(k)) this.reply(cmd.c, cmd.m, result);
  }

  private serveReads(): void {
    if (this.readsWaitingApply.length === 0) return;
    const still: PendingRead[] = [];
    for (const r of this.readsWaitingApply) {
      if (r.index > this.applied) still.push(r);
      else this.reply(r.client, r.msgId, this.kv.read(r.key));
    }
    this.readsWaitingApply = still;
  }

  private maybeSnapshot(rn: RawNode, storage: MemoryStorage): void {
    const every = this.opts.snapshotEvery ?? 1000;
    if (this.applied - this.snapIndex < every) return;
    storage.createSnapshot(this.applied, rn.raft.trk.confState(), this.kv.snapshot(), 100);
    this.snapIndex = this.applied;
  }
}
