// Adapters that put the server's pieces together: bitcask under mvcc, the WAL
// as the runtime's log store, and mvcc as the runtime's state machine.
//
// Durability: the WAL is the source of truth. Bitcask writes land atomically
// (a batch is all or nothing after a crash) together with mvcc's applied
// index, and are synced on an interval; after a crash, entries past the last
// synced applied index are re-applied from the WAL. Before the WAL drops
// entries (snapshot + compaction) bitcask is synced, so nothing is lost.

import { readFileSync } from "node:fs";
import { fromBinary } from "@bufbuild/protobuf";
import { AlarmRequest_AlarmAction } from "../api/gen/etcdserverpb/rpc_pb.ts";
import { type InternalRequest, InternalRequestSchema } from "../api/gen/floe/raft_internal_pb.ts";
import { decodeInternalPut, FloeError, invalidRequest } from "../api/index.ts";
import type { AuthChange, AuthInfo, PermType } from "../auth/index.ts";
import type { BatchOp, Bitcask, BitcaskOptions } from "../bitcask/index.ts";
import {
  type ApplyResult,
  encodeSnapshot,
  encodeStoreReference,
  type MvccCommand,
  MvccError,
  type MvccStorage,
  type MvccStore,
  STORE_REFERENCE_PREFIX_BYTES,
  storeReferenceOf,
  type WriteBatch,
} from "../mvcc/index.ts";
import type { ConfChange, ConfState, SnapshotMetadata } from "../raft/index.ts";
import type { WalStorage } from "../wal/index.ts";
import { num, toDeleteRange, toPut, toTxn } from "./convert.ts";
import { removeFileDurably, writeFileAtomic } from "./fsutil.ts";
import { raftIdOf } from "./member.ts";
import { decodeConfContext, type MemberInfo, MemberTable } from "./members.ts";
import type { LogStore, SaveRequest, SnapshotImage, StateMachine } from "./runtime.ts";

/**
 * Bitcask limits for the MVCC store. One applied entry is one atomic batch
 * whatever its size (a DeleteRange of a whole prefix, a snapshot frame of
 * small records), so the batch limits are set far above bitcask's defaults
 * (10,000 operations, 16 MiB): a batch refused there would stop the member at
 * every replay of the entry. Data files are larger to hold such a batch.
 */
export const MVCC_BITCASK_LIMITS = {
  maxFileBytes: 512 * 1024 * 1024,
  // Sealed files have hints; a restart after a crash scans at most this much record by record.
  rolloverBytes: 16 * 1024 * 1024,
  maxBatchBytes: 512 * 1024 * 1024 - 4096,
  maxBatchOps: 1_000_000,
} as const satisfies BitcaskOptions;

/** The key index checkpoint's file in a member's data directory (see mvcc/checkpoint.ts). */
export const INDEX_CHECKPOINT_FILE = "kv-index.ckpt";

/**
 * Writes of consecutive applies are coalesced into one bitcask batch (one
 * pwrite) per Ready: the runtime calls writePending() after the last entry of
 * each Ready, and sooner when the batch grows large. Until then reads see the
 * pending writes; a scan writes them first. Crash safety is unchanged: the
 * combined batch is atomic and carries the applied index of its last entry,
 * and the WAL holds every entry after it.
 */
export class BitcaskMvccStorage implements MvccStorage {
  private failure: unknown;
  private readonly pending = new Map<string, BatchOp>();
  private pendingBytes = 0;
  /** Set while a Ready's entries apply; writes outside (compaction timers, tools) go out at once. */
  coalescing = false;

  /** `checkpointFile`: where the key index checkpoint is kept (none without it). */
  constructor(
    readonly db: Bitcask,
    private readonly checkpointFile?: string,
  ) {
    if (checkpointFile === undefined) {
      this.readCheckpoint = undefined;
      this.saveCheckpoint = undefined;
      this.dropCheckpoint = undefined;
    }
  }

  readCheckpoint?(): Uint8Array | undefined {
    try {
      return readFileSync(this.checkpointFile as string);
    } catch {
      // Missing or unreadable: the store rebuilds its index from the records.
      return undefined;
    }
  }

  async saveCheckpoint?(stream: Uint8Array, stillValid: () => boolean): Promise<boolean> {
    await this.flush();
    return writeFileAtomic(this.checkpointFile as string, stream, stillValid);
  }

  dropCheckpoint?(): void {
    removeFileDurably(this.checkpointFile as string);
  }

  private check(): void {
    if (this.failure !== undefined) {
      throw new Error(
        `storage engine failed earlier: ${(this.failure as Error).message ?? String(this.failure)}`,
        { cause: this.failure },
      );
    }
  }

  get(key: Uint8Array): Uint8Array | undefined {
    this.check();
    if (this.pending.size > 0) {
      const p = this.pending.get(Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("latin1"));
      if (p) return p.type === "put" ? p.value : undefined;
    }
    return this.db.get(key);
  }

  *scan(start: Uint8Array, end: Uint8Array): Iterable<[Uint8Array, Uint8Array]> {
    this.check();
    this.writePending();
    // Scans here walk the whole store (load, HashKV, restore) while nothing writes: read ahead.
    for (const e of this.db.range(start, end, { readAhead: 512 })) yield [e.key, e.value];
  }

  write(batch: WriteBatch): void {
    this.check();
    // A large batch goes out on its own: merged batches stay within bitcask's limits.
    const ops = batch.puts.length + batch.deletes.length;
    if (this.pending.size > 0 && this.pending.size + ops > 512) this.writePending();
    const name = (k: Uint8Array) => Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString("latin1");
    for (const [key, value] of batch.puts) {
      this.pending.set(name(key), { type: "put", key, value });
      this.pendingBytes += key.length + value.length;
    }
    for (const key of batch.deletes) {
      this.pending.set(name(key), { type: "delete", key });
      this.pendingBytes += key.length;
    }
    if (!this.coalescing || this.pending.size >= 512 || this.pendingBytes >= 4 * 1024 * 1024) {
      this.writePending();
    }
  }

  /**
   * Hands the coalesced writes to bitcask (written now; durable at its next
   * sync). A write that fails fails the store at once: the MVCC state in
   * memory holds what it lost, so no later batch (with a later applied
   * index) may reach the disk; the member stops, and a restart replays the
   * log from what the store holds.
   */
  writePending(): void {
    this.check();
    if (this.pending.size === 0) return;
    const ops = [...this.pending.values()];
    this.pending.clear();
    this.pendingBytes = 0;
    try {
      this.db.writeBatchNow(ops);
    } catch (e) {
      this.failure ??= e;
      this.check();
    }
  }

  /** Makes every write so far durable; throws if any earlier write failed. */
  async flush(): Promise<void> {
    this.writePending();
    await this.db.sync();
    this.check();
  }
}

/** What applying one entry produced: the mvcc result for the proposer. */
export type KvApplyResult = ApplyResult<unknown>;

/** Decodes a proposed InternalRequest into an mvcc command. */
export function toCommand(req: InternalRequest): MvccCommand {
  const r = req.request;
  switch (r.case) {
    case "put":
      return { type: "put", request: toPut(r.value) };
    case "deleteRange":
      return { type: "deleteRange", request: toDeleteRange(r.value) };
    case "txn":
      return { type: "txn", request: toTxn(r.value) };
    case "compaction":
      return {
        type: "compaction",
        request: { revision: num(r.value.revision, "revision"), physical: r.value.physical },
      };
    case "leaseGrant":
      return { type: "leaseGrant", request: { ttl: num(r.value.TTL, "TTL"), id: r.value.ID } };
    case "leaseRevoke":
      return { type: "leaseRevoke", request: { id: r.value.ID } };
    case "alarm":
      // GET is served from the applied table, never proposed; an odd action is refused as undecodable.
      if (
        r.value.action !== AlarmRequest_AlarmAction.ACTIVATE &&
        r.value.action !== AlarmRequest_AlarmAction.DEACTIVATE
      )
        throw invalidRequest(`alarm action ${r.value.action} cannot be applied`);
      return {
        type: "alarm",
        request: {
          action: r.value.action === AlarmRequest_AlarmAction.ACTIVATE ? "activate" : "deactivate",
          // a client names the member by its 64-bit id; the alarm table keeps raft ids
          memberId: r.value.memberID === 0n ? 0 : raftIdOf(r.value.memberID),
          alarm: r.value.alarm,
        },
      };
    default: {
      const change = toAuthChange(req);
      return change === undefined ? { type: "noop" } : { type: "auth", request: change };
    }
  }
}

/** The auth store change an InternalRequest asks for, if it is one. */
function toAuthChange(req: InternalRequest): AuthChange | undefined {
  const r = req.request;
  switch (r.case) {
    case "authEnable":
      return { op: "enable" };
    case "authDisable":
      return { op: "disable" };
    case "authenticate":
      return { op: "authenticate", name: r.value.name, token: r.value.simpleToken };
    case "authUserAdd":
      return {
        op: "userAdd",
        name: r.value.name,
        passwordHash: r.value.hashedPassword,
        noPassword: r.value.options?.noPassword ?? false,
      };
    case "authUserDelete":
      return { op: "userDelete", name: r.value.name };
    case "authUserChangePassword":
      return { op: "userChangePassword", name: r.value.name, passwordHash: r.value.hashedPassword };
    case "authUserGrantRole":
      return { op: "userGrantRole", name: r.value.user, role: r.value.role };
    case "authUserRevokeRole":
      return { op: "userRevokeRole", name: r.value.name, role: r.value.role };
    case "authRoleAdd":
      return { op: "roleAdd", name: r.value.name };
    case "authRoleDelete":
      return { op: "roleDelete", name: r.value.role };
    case "authRoleGrantPermission": {
      const p = r.value.perm;
      if (p === undefined) throw invalidRequest("role grant without a permission");
      if (p.permType < 0 || p.permType > 2) throw invalidRequest(`permission type ${p.permType}`);
      return {
        op: "roleGrantPermission",
        name: r.value.name,
        perm: { type: p.permType as number as PermType, key: p.key, rangeEnd: p.rangeEnd },
      };
    }
    case "authRoleRevokePermission":
      return { op: "roleRevokePermission", name: r.value.role, key: r.value.key, rangeEnd: r.value.rangeEnd };
    default:
      return undefined;
  }
}

/** Who proposed a client request (its header), or undefined for the server's own requests. */
function authInfoOf(req: InternalRequest): AuthInfo | undefined {
  const h = req.header;
  if (h === undefined) return undefined;
  return { username: h.username, revision: Number(h.authRevision) };
}

/** Told when the member table changed (after the entry applied); requestId of a conf change, if any. */
export type MembersListener = (table: MemberTable, requestId?: string) => void;

/** How the state machine batches a Ready's writes: BitcaskMvccStorage, or none (in memory). */
export interface ApplyBatching {
  /** While true, the store's writes are kept for one write at afterApply(). */
  coalescing: boolean;
  writePending(): void;
  /** Everything written so far is in the storage (before a snapshot image is taken). */
  flush(): Promise<void>;
}

/** For storage that needs no batching (MemoryMvccStorage). */
export const noBatching = (): ApplyBatching => ({
  coalescing: false,
  writePending() {},
  async flush() {},
});

export class MvccStateMachine implements StateMachine<KvApplyResult> {
  private table: MemberTable;
  onMembers: MembersListener | undefined;

  constructor(
    readonly store: MvccStore,
    private readonly storage: ApplyBatching,
    private readonly onApplied: () => void,
  ) {
    this.table = MemberTable.decode(store.clusterRecord());
  }

  /** The member table as of the applied index. */
  members(): MemberTable {
    return this.table;
  }

  /** Writes the initial member table of a new cluster (before anything is applied). */
  bootstrapMembers(members: readonly MemberInfo[]): boolean {
    if (this.table.size > 0 || this.store.appliedIndex > 0) return false;
    const t = new MemberTable();
    for (const m of members) t.set(m);
    this.store.apply(1, { type: "cluster", request: { value: t.encode() } });
    this.table = t;
    return true;
  }

  private setMembers(index: number, next: MemberTable, requestId?: string): KvApplyResult {
    const result = this.store.apply(index, { type: "cluster", request: { value: next.encode() } });
    if (result.status === "applied") {
      this.table = next;
      this.onMembers?.(next, requestId);
    }
    return result;
  }

  applyConfChange(index: number, cc: ConfChange, cs: ConfState): void {
    if (index <= this.store.appliedIndex) return; // replayed after a restart: already in the table
    const ctx = decodeConfContext(cc.context);
    const next = this.table.clone();
    next.applyConfChange(cc, cs, ctx);
    this.setMembers(index, next, ctx?.requestId);
  }

  /** Told of every applied auth change and login (the server keeps its tokens in step). */
  onAuth: ((change: AuthChange, index: number, info: AuthInfo | undefined) => void) | undefined;

  apply(index: number, data: Uint8Array): KvApplyResult {
    this.storage.coalescing = true;
    let command: MvccCommand;
    let info: AuthInfo | undefined;
    try {
      // A plain put (the bulk of the log) without protobuf-es's reflective decode.
      const req = decodeInternalPut(data) ?? fromBinary(InternalRequestSchema, data);
      if (req.request.case === "memberAttributes") {
        const a = req.request.value;
        const next = this.table.clone();
        const id = num(a.id, "id");
        const known = next.applyAttributes({
          id,
          name: a.name,
          peerUrls: a.peerUrls,
          clientUrls: a.clientUrls,
        });
        if (!known) {
          this.store.apply(index, { type: "noop" });
          return { status: "failed", error: new MvccError("Failed", `member ${id.toString(16)} not found`) };
        }
        return this.setMembers(index, next);
      }
      command = toCommand(req);
      info = authInfoOf(req);
    } catch (e) {
      // Every member decodes the same bytes the same way: a refusal is deterministic.
      const detail = e instanceof FloeError ? e.detail : (e as Error).message;
      this.store.apply(index, { type: "noop" });
      return { status: "failed", error: new MvccError("Failed", `undecodable entry ${index}: ${detail}`) };
    }
    const result = this.store.apply(index, command, { auth: info });
    if (command.type === "auth" && result.status === "applied") {
      this.onAuth?.(command.request, index, info);
    }
    this.onApplied();
    return result;
  }

  appliedIndex(): number {
    return this.store.appliedIndex;
  }

  /** After the last entry of a Ready: one storage write for all of them. */
  afterApply(): void {
    this.storage.coalescing = false;
    this.storage.writePending();
  }

  /**
   * The image of a local snapshot: a reference to this store at the applied
   * index. The log store syncs the store before it records the snapshot
   * (walLogStore's beforeCompaction), so no sync here, inside the Ready loop.
   * The records are encoded only when a peer needs them (snapshot(), at send
   * time), as etcd sends its backend: writing every record at every snapshot
   * cost a tenth of the members' CPU under a steady put load (bench/RESULTS.md).
   */
  async localSnapshot(): Promise<SnapshotImage> {
    return encodeStoreReference(this.store.appliedIndex);
  }

  /**
   * The state at the applied index as a stream, captured now: applies that
   * run while it is consumed do not show in it (the store pins the records).
   */
  async snapshot(): Promise<SnapshotImage> {
    await this.storage.flush();
    const s = this.store.snapshot();
    return (function* () {
      try {
        yield* s;
      } finally {
        s.close();
      }
    })();
  }

  /**
   * Installs an image. A reference to this store (a local snapshot's image,
   * read back after a restart) installs nothing when the store already holds
   * that applied index, and fails naming the cause when it does not.
   */
  async restore(image: SnapshotImage, index: number): Promise<void> {
    const { head, chunks } = await peekImage(
      image instanceof Uint8Array ? [image] : image,
      STORE_REFERENCE_PREFIX_BYTES,
    );
    const refIndex = storeReferenceOf(head);
    if (refIndex !== undefined) {
      if (!this.store.needsRestore && this.store.appliedIndex >= refIndex) return;
      throw new Error(
        `the snapshot at index ${index} stands for this member's own store at applied index ${refIndex}, but the store ${
          this.store.needsRestore
            ? "holds an interrupted restore"
            : `is at applied index ${this.store.appliedIndex}`
        }: its data was lost; remove this member's data directory and add it again (it then gets a snapshot from the leader)`,
      );
    }
    await this.store.restore(nonEmpty(chunks));
    this.table = MemberTable.decode(this.store.clusterRecord());
    this.onMembers?.(this.table);
  }
}

/**
 * A state machine's snapshot() as a stream that captures its view when first
 * read, so an image that is never sent (the dial failed) pins nothing.
 */
export async function* liveImage(sm: StateMachine<unknown>): AsyncGenerator<Uint8Array> {
  const image = await sm.snapshot();
  if (image instanceof Uint8Array) yield image;
  else yield* image;
}

/** The first `n` bytes of a chunk stream (fewer if it is shorter), and the whole stream again. */
async function peekImage(
  image: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  n: number,
): Promise<{ head: Uint8Array; chunks: AsyncIterable<Uint8Array> }> {
  const it =
    Symbol.asyncIterator in image
      ? image[Symbol.asyncIterator]()
      : (image as Iterable<Uint8Array>)[Symbol.iterator]();
  const seen: Uint8Array[] = [];
  let have = 0;
  let done = false;
  while (have <= n) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    seen.push(r.value);
    have += r.value.byteLength;
  }
  const head = new Uint8Array(have);
  let at = 0;
  for (const c of seen) {
    head.set(c, at);
    at += c.byteLength;
  }
  async function* all(): AsyncGenerator<Uint8Array> {
    yield* seen;
    if (done) return;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  }
  return { head, chunks: all() };
}

/**
 * A new cluster's membership snapshot (index 1) has an empty image: it stands
 * for the empty state machine, written out as an empty MVCC snapshot.
 */
async function* nonEmpty(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  let any = false;
  for await (const c of chunks) {
    if (c.length === 0) continue;
    any = true;
    yield c;
  }
  if (!any) yield* encodeSnapshot([], 1024);
}

/**
 * The WAL as the runtime's log store. `beforeCompaction` makes the state
 * machine's store durable before a snapshot is recorded; `keepEntries` stay
 * in the log behind each local snapshot.
 */
export function walLogStore(
  w: WalStorage,
  beforeCompaction: () => Promise<void>,
  keepEntries = 1000,
): LogStore {
  return {
    initialState: () => w.initialState(),
    entries: (lo, hi, max) => w.entries(lo, hi, max),
    term: (i) => w.term(i),
    firstIndex: () => w.firstIndex(),
    lastIndex: () => w.lastIndex(),
    snapshot: () => w.snapshot(),
    save: (rd: SaveRequest) => w.save(rd),
    saveLocalSnapshot: async (index: number, cs: ConfState, image: SnapshotImage) => {
      await beforeCompaction();
      await w.createSnapshot(index, cs, image instanceof Uint8Array ? [image] : image, keepEntries);
    },
    writeLocalSnapshot: async (index: number, cs: ConfState, image: SnapshotImage) => {
      const term = w.term(index);
      if (term === undefined) throw new Error(`snapshot ${index} is outside the log`);
      const meta = { index, term, confState: cs };
      await w.writeSnapshot(meta, image instanceof Uint8Array ? [image] : image);
      return meta;
    },
    commitLocalSnapshot: async (meta: SnapshotMetadata) => {
      await beforeCompaction();
      await w.commitSnapshot(meta, keepEntries);
    },
    openSnapshotImage: async (index: number) => (await w.openSnapshot(index)).chunks,
  };
}
