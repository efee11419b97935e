// An in-memory network of RawNodes for unit tests: delivers messages
// synchronously, can cut links and isolate members, and applies the Ready
// contract exactly as a real caller must (persist, send, apply, advance).

import {
  coalesceMessages,
  decodeConfChange,
  type Entry,
  EntryType,
  MemoryStorage,
  type Message,
  type MessageType,
  type NodeId,
  type RaftConfig,
  RawNode,
  type ReadState,
  StateRole,
  seededRand,
} from "../../src/raft/index.ts";
import { coreOf } from "../../src/raft/rawnode.ts";

export interface TestMember {
  id: NodeId;
  rn: RawNode;
  storage: MemoryStorage;
  applied: Entry[];
  readStates: ReadState[];
}

export type Overrides = Partial<Omit<RaftConfig, "id" | "storage" | "rand">>;

export class Network {
  readonly members = new Map<NodeId, TestMember>();
  queue: Message[] = [];
  private readonly cutLinks = new Set<string>();
  /** Every message delivered, for assertions on traffic. */
  delivered: Message[] = [];
  /** Drop messages for which this returns true. */
  filter: ((m: Message) => boolean) | undefined;
  /** Send each Ready's messages through coalesceMessages, as the server does. */
  coalesce = false;

  constructor(
    ids: NodeId[],
    readonly overrides: Overrides = {},
    seed = 1,
  ) {
    for (const id of ids) this.addMember(id, MemoryStorage.bootstrap(ids), seed);
  }

  addMember(id: NodeId, storage: MemoryStorage, seed = id): TestMember {
    const rn = new RawNode({ id, storage, rand: seededRand(seed * 7919 + id), ...this.overrides });
    const m: TestMember = { id, rn, storage, applied: [], readStates: [] };
    this.members.set(id, m);
    return m;
  }

  get(id: NodeId): TestMember {
    const m = this.members.get(id);
    if (!m) throw new Error(`no member ${id}`);
    return m;
  }

  raft(id: NodeId) {
    return coreOf(this.get(id).rn);
  }

  /** Handles one Ready of `id` per the contract; returns whether there was one. */
  process(id: NodeId): boolean {
    const m = this.get(id);
    if (!m.rn.hasReady()) return false;
    const rd = m.rn.ready();
    // The core's fsync contract: anything that must survive a crash asks for a sync.
    if ((rd.snapshot || rd.entries.length > 0) && !rd.mustSync)
      throw new Error(`member ${id}: a Ready with a snapshot or entries does not ask for an fsync`);
    if (rd.snapshot) {
      m.storage.applySnapshot(rd.snapshot);
      // The test state machine's image is the list of applied payloads.
      const image = new TextDecoder().decode(rd.snapshot.data);
      const texts = image === "" ? [] : (JSON.parse(image) as string[]);
      m.applied = texts.map((t, i) => ({
        index: i + 1,
        term: 0,
        type: EntryType.Normal,
        data: new TextEncoder().encode(t),
      }));
    }
    m.storage.append(rd.entries);
    if (rd.hardState) m.storage.setHardState(rd.hardState);
    const out = this.coalesce ? coalesceMessages(rd.messages, m.rn.maxSizePerMsgBytes) : rd.messages;
    for (const msg of out) this.queue.push(msg);
    for (const rs of rd.readStates) m.readStates.push(rs);
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.ConfChange) m.rn.applyConfChange(decodeConfChange(e.data));
      m.applied.push(e);
    }
    m.rn.advance(rd);
    return true;
  }

  /** Delivers queued messages and processes Readies until nothing is left. */
  stabilize(maxRounds = 10_000): void {
    for (let round = 0; round < maxRounds; round++) {
      let progress = false;
      for (const id of [...this.members.keys()].sort((a, b) => a - b)) {
        while (this.process(id)) progress = true;
      }
      const q = this.queue;
      this.queue = [];
      for (const msg of q) {
        progress = true;
        this.deliver(msg);
      }
      if (!progress) return;
    }
    throw new Error("network did not stabilize");
  }

  deliver(msg: Message): void {
    const to = this.members.get(msg.to);
    if (!to) return;
    if (this.cutLinks.has(`${msg.from}-${msg.to}`)) return;
    if (this.filter?.(msg)) return;
    this.delivered.push(msg);
    to.rn.step(msg);
  }

  /** Snapshots member `id` at its applied index and compacts its log. */
  compact(id: NodeId): void {
    const m = this.get(id);
    const data = new TextEncoder().encode(JSON.stringify(this.appliedData(id)));
    m.storage.createSnapshot(coreOf(m.rn).raftLog.applied, m.rn.confState(), data);
  }

  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) this.get(id).rn.tick();
  }

  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const m of this.members.values()) m.rn.tick();
      this.stabilize();
    }
  }

  campaign(id: NodeId): void {
    this.get(id).rn.campaign();
    this.stabilize();
  }

  propose(id: NodeId, text: string) {
    const err = this.get(id).rn.propose(new TextEncoder().encode(text));
    this.stabilize();
    return err;
  }

  leaders(): NodeId[] {
    return [...this.members.values()].filter((m) => m.rn.role === StateRole.Leader).map((m) => m.id);
  }

  cut(a: NodeId, b: NodeId): void {
    this.cutLinks.add(`${a}-${b}`);
    this.cutLinks.add(`${b}-${a}`);
  }

  isolate(id: NodeId): void {
    for (const other of this.members.keys()) if (other !== id) this.cut(id, other);
  }

  recover(): void {
    this.cutLinks.clear();
    this.filter = undefined;
  }

  appliedData(id: NodeId): string[] {
    return this.get(id)
      .applied.filter((e) => e.type === EntryType.Normal && e.data.length > 0)
      .map((e) => new TextDecoder().decode(e.data));
  }

  sent(type: MessageType): Message[] {
    return this.delivered.filter((m) => m.type === type);
  }
}
