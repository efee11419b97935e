// Starts one floe member in phases: data directory and identity (datadir.ts),
// storage (WAL, bitcask, mvcc), the Raft runtime, the peer transport, and the
// etcd v3 API on the client port. A member of a new cluster bootstraps the
// membership from --initial-cluster; a member joining an existing one (after
// `member add`) asks the listed peers which cluster this is and which id it
// was given, and then catches up from the leader's snapshot.

import { join } from "node:path";
import { type IntervalHistogram, monitorEventLoopDelay } from "node:perf_hooks";
import { type Logger, pino } from "pino";
import { type ApiServer, defaultEtcdVersion, defaultRegistry, startApiServer } from "../api/index.ts";
import { JwtTokens, parseJwtSpec } from "../auth/index.ts";
import { Bitcask, BitcaskError } from "../bitcask/index.ts";
import { MvccStore } from "../mvcc/index.ts";
import { type Message, StateRole } from "../raft/index.ts";
import { type PeerTls, PeerTransport, queryPeer } from "../transport/index.ts";
import { WalStorage } from "../wal/index.ts";
import { ClusterService } from "./cluster.ts";
import { ConfigError, type ServerConfig } from "./config.ts";
import { compareWithPeers, type HashAt, type PeerHash } from "./corrupt.ts";
import { type ClusterInfo, type DataDir, openDataDir, StartError } from "./datadir.ts";
import { EtcdServer } from "./etcd.ts";
import {
  BitcaskMvccStorage,
  INDEX_CHECKPOINT_FILE,
  type KvApplyResult,
  liveImage,
  MVCC_BITCASK_LIMITS,
  MvccStateMachine,
  walLogStore,
} from "./kvstore.ts";
import { hexId } from "./member.ts";
import { externalIdOf, type MemberInfo, type MemberTable } from "./members.ts";
import { ServerMetrics } from "./metrics.ts";
import { RaftRuntime, ReadyLoopError } from "./runtime.ts";

export interface FloeServer {
  readonly etcd: EtcdServer;
  readonly api: ApiServer;
  readonly transport: PeerTransport;
  readonly clientUrl: string;
  close(): Promise<void>;
}

export { StartError } from "./datadir.ts";

/**
 * Starts a member in phases, each taking only what the ones before it
 * built: the data directory and identity (datadir.ts), storage (WAL,
 * bitcask, the MVCC state machine), Raft (the runtime), the peer transport,
 * and the API (the etcd server, the cluster service and the client port).
 * Nothing runs until every phase is done; then the runtime, the server's
 * duties and the client port start.
 */
export async function startFloeServer(
  cfg: ServerConfig,
  logger?: Logger,
  onFatal?: (e: Error) => void,
): Promise<FloeServer> {
  const log = logger ?? pino({ level: cfg.logLevel }, pino.destination(2));
  const startedAt = performance.now();
  /** Milliseconds each start-up phase took (logged with "floe member ready"). */
  const phases: Record<string, number> = {};
  let phaseStart = startedAt;
  const phaseDone = (name: string) => {
    const now = performance.now();
    phases[name] = Math.round(now - phaseStart);
    phaseStart = now;
  };
  const dir = await openDataDir(cfg, log);
  const storage = await openStorage(cfg, dir, log, phaseDone);
  const raft = createRaft(cfg, dir, storage, log, onFatal);
  const peers = createTransport(cfg, dir, storage, raft, log, onFatal);
  const { etcd, cluster } = createServices(cfg, dir, storage, raft, peers, log);
  const { runtime: rt } = raft;
  const { transport } = peers;
  const { store, sm, db, wal, kvStorage } = storage;

  await transport.listen();
  if (cfg.experimentalInitialCorruptCheck) {
    try {
      await initialCorruptCheck(store, sm.members().list(), dir.myId, dir.peerTls, log);
    } catch (e) {
      await transport.close();
      throw e;
    }
  }
  rt.start();
  etcd.start();
  // A single voter need not wait an election timeout.
  if (rt.confStateNow().voters.length === 1 && rt.confStateNow().voters[0] === dir.myId) rt.rn.campaign();
  let api: ApiServer;
  try {
    api = await listenClients(cfg, dir, etcd, storage.registry, log);
  } catch (e) {
    rt.stop();
    await transport.close();
    throw e;
  }
  const publish = startPublishing(cluster, sm, dir.myId, cfg, log);
  const lag = watchEventLoop(cfg.electionTimeout / 2, (maxMs) =>
    log.warn(
      { member: dir.member, maxDelayMs: Math.round(maxMs) },
      "event loop stalled for a large part of an election timeout",
    ),
  );
  log.info(
    {
      member: dir.member,
      cluster: hexId(dir.ids64.clusterId64),
      client: api.url,
      peer: cfg.listenPeerUrls[0],
      dataDir: cfg.dataDir,
      joining: dir.joining,
      ...phases,
      keyIndex: store.loadedFrom,
      startMs: Math.round(performance.now() - startedAt),
      // from the process's start to this function: Node's own start-up and loading floe's modules
      bootMs: Math.round(startedAt),
    },
    "floe member ready",
  );
  return {
    etcd,
    api,
    transport,
    clientUrl: api.url,
    async close() {
      peers.stopping = true;
      clearInterval(publish);
      lag.disable();
      await api.close({ graceMs: 500 });
      etcd.stop();
      cluster.stop();
      rt.stop();
      await transport.close();
      // Nothing applies any more: a checkpoint now makes the next start skip the whole rebuild.
      await store.checkpointIndex().catch(() => false);
      await kvStorage.flush().catch(() => {});
      await db.close();
      await wal.close();
    },
  };
}

/** Storage: the WAL, bitcask, the MVCC store and the state machine over them, and the metrics their hooks feed. */
interface Storage {
  readonly registry: ReturnType<typeof defaultRegistry>;
  readonly metrics: ServerMetrics;
  readonly wal: WalStorage;
  readonly db: Bitcask;
  readonly kvStorage: BitcaskMvccStorage;
  readonly store: MvccStore;
  readonly sm: MvccStateMachine;
}

async function openStorage(
  cfg: ServerConfig,
  dir: DataDir,
  log: Logger,
  phaseDone: (name: string) => void,
): Promise<Storage> {
  const { member, joining, initialMembers } = dir;
  // etcd's metric families, fed by the WAL's and bitcask's timing hooks and
  // read from the member (attached in the Raft phase) at scrape time
  const registry = defaultRegistry();
  const metrics = new ServerMetrics(registry);
  const walLogger = (msg: string, fields: Readonly<Record<string, unknown>>) =>
    log.warn({ module: "wal", member, ...fields }, msg);
  const walOptions = {
    logger: walLogger,
    onFsyncSeconds: (s: number) => metrics.walFsyncSeconds.observe(s),
  };
  const wal =
    dir.fresh && !joining && cfg.initialClusterState === "new"
      ? await WalStorage.bootstrap(
          cfg.dataDir,
          initialMembers.map((m) => m.id),
          [],
          walOptions,
        )
      : await WalStorage.open(cfg.dataDir, walOptions);
  phaseDone("walMs");
  const db = await Bitcask.open(join(cfg.dataDir, "kv"), {
    ...MVCC_BITCASK_LIMITS,
    sync: "interval",
    syncIntervalMs: 100,
    maxValueBytes: cfg.maxRequestBytes + 4096,
    hooks: { onCommitSeconds: (s) => metrics.backendCommitSeconds.observe(s) },
    logger: {
      warn: (f, m) => log.warn({ module: "bitcask", member, ...f }, m),
      error: (f, m) => log.error({ module: "bitcask", member, ...f }, m),
    },
  });
  phaseDone("bitcaskMs");
  const kvStorage = new BitcaskMvccStorage(db, join(cfg.dataDir, INDEX_CHECKPOINT_FILE));
  const store = MvccStore.open(kvStorage);
  phaseDone("mvccMs");
  const sm = new MvccStateMachine(store, kvStorage, () => {});
  const at = wal.snapshot().metadata.index;
  if (store.needsRestore || (at > 1 && store.appliedIndex < at)) {
    // A snapshot install was interrupted (a crash after the log recorded the
    // snapshot, before or during the restore): the log already points at that
    // snapshot, so install it again from snap/ before serving. (A local
    // snapshot's image is a reference to the store, synced before the log
    // recorded it; restore() fails naming the cause if the store lost it.)
    log.warn(
      { member, index: at, storeAppliedIndex: store.appliedIndex },
      "finishing an interrupted snapshot install",
    );
    await sm.restore((await wal.openSnapshot(at)).chunks, at);
  }
  if (at === 1 && !joining && sm.bootstrapMembers(initialMembers)) {
    // The bootstrap snapshot carries the initial member table, so a member
    // added later learns everyone's URLs from it.
    await kvStorage.flush();
    const image = await sm.snapshot();
    await wal.writeSnapshot(wal.snapshot().metadata, image instanceof Uint8Array ? [image] : image);
  }
  return { registry, metrics, wal, db, kvStorage, store, sm };
}

/**
 * Where the runtime's messages go. The runtime is built before the transport
 * (which delivers to it), so its sends pass through here; the runtime sends
 * nothing before it starts, after every phase is done.
 */
class Outbox {
  private transport: PeerTransport | undefined;
  attach(t: PeerTransport): void {
    this.transport = t;
  }
  send(msgs: readonly Message[]): void {
    this.transport?.send(msgs);
  }
}

/** Raft: the runtime over the storage, and who is told when this member's role changes. */
interface RaftPhase {
  readonly runtime: RaftRuntime<KvApplyResult>;
  readonly outbox: Outbox;
  /** Told on every change of role; the API phase adds the etcd server. */
  readonly onRole: ((isLeader: boolean) => void)[];
}

function createRaft(
  cfg: ServerConfig,
  dir: DataDir,
  s: Storage,
  log: Logger,
  onFatal: ((e: Error) => void) | undefined,
): RaftPhase {
  const { member, myId } = dir;
  const outbox = new Outbox();
  const onRole: ((isLeader: boolean) => void)[] = [];
  const tickMs = cfg.heartbeatInterval;
  const rt: RaftRuntime<KvApplyResult> = new RaftRuntime<KvApplyResult>(s.sm, {
    id: myId,
    log: walLogStore(s.wal, () => s.kvStorage.flush()),
    transport: outbox,
    tickMs,
    electionTicks: Math.max(2, Math.round(cfg.electionTimeout / tickMs)),
    snapshotCount: cfg.snapshotCount,
    requestTimeoutMs: 7000,
    raft: { preVote: true, checkQuorum: true },
    logger: (event, fields) =>
      log[event === "slow-ready" || event === "ready-loop-failed" ? "warn" : "info"](
        { module: "raft", ...fields, member },
        event,
      ),
    onSoftState: (st) => {
      for (const f of onRole) f(st.role === StateRole.Leader);
      s.metrics.observeLeader(st.lead);
      const leader = hexId(s.sm.members().externalId(st.lead));
      log.info({ member, role: st.role, leader, term: rt.rn.term }, "role");
    },
    onFatal: (e) => {
      const why = describeFatal(e, cfg.dataDir);
      log.fatal({ err: e.message, dataDir: cfg.dataDir, code: errnoOf(e) }, `stopping: ${why}`);
      onFatal?.(new Error(`${why}: ${e.message}`, { cause: e }));
    },
  });
  s.metrics.attach({
    version: defaultEtcdVersion,
    memberId: myId,
    leader: () => rt.leader(),
    committedIndex: () => rt.rn.status().hardState.commit,
    appliedIndex: () => rt.appliedIndex(),
    pendingProposals: () => rt.pendingProposals,
    failedProposals: () => rt.proposalsFailed,
    dbSizeBytes: () => {
      const st = s.db.stats();
      return st.liveBytes + st.deadBytes;
    },
    dbSizeInUseBytes: () => s.db.stats().liveBytes,
    keys: () => s.store.keyCount,
    watchers: () => s.store.hub.size,
    watchEventsDelivered: () => s.store.hub.eventsDelivered,
  });
  return { runtime: rt, outbox, onRole };
}

/** The peer transport, delivering to the runtime, and the member table it follows. */
interface Peers {
  readonly transport: PeerTransport;
  /** Told of every applied member-table change; the API phase adds the cluster service. */
  readonly onMembers: ((table: MemberTable, requestId?: string) => void)[];
  /** Set once the member is closing or was removed from the cluster. */
  stopping: boolean;
}

function createTransport(
  cfg: ServerConfig,
  dir: DataDir,
  s: Storage,
  raft: RaftPhase,
  log: Logger,
  onFatal: ((e: Error) => void) | undefined,
): Peers {
  const { myId, cid, ids64, member } = dir;
  const { store, sm, wal } = s;
  const rt = raft.runtime;
  let infoHash: HashAt | undefined;
  const transport = new PeerTransport({
    memberId: myId,
    clusterId: cid,
    ...listenAddress(cfg.listenPeerUrls[0]),
    tls: dir.peerTls,
    clusterInfo: () => {
      // hashed at most once per revision: anyone on the peer port may ask
      if (infoHash?.revision !== store.revision || infoHash.compactRevision !== store.compactRevision) {
        const h = store.hashKV(0);
        infoHash = { hash: h.hash, revision: h.hashRevision, compactRevision: h.compactRevision };
      }
      const hashKV = infoHash;
      return Buffer.from(
        JSON.stringify({
          clusterId: cid,
          clusterIdHex: hexId(ids64.clusterId64),
          members: sm.members().list(),
          hashKV,
        } satisfies ClusterInfo),
      );
    },
    onMessage: (m) => rt.step(m),
    onSnapshot: async (m: Message, chunks) => {
      const meta = m.snapshot?.metadata;
      if (!meta) throw new Error("snapshot message without metadata");
      await wal.writeSnapshot(meta, chunks);
      rt.step(m);
    },
    // The image is made from the store as it is when the send starts (its
    // applied index is at or past the snapshot's); local snapshots keep no records.
    snapshotSource: async () => ({ chunks: liveImage(sm) }),
    onUnreachable: (id) => rt.reportUnreachable(id),
    onDisconnected: (id) => rt.peerDisconnected(id),
    onSnapshotStatus: (id, ok) => rt.reportSnapshot(id, ok),
    logger: (level, event, fields) => log[level]({ module: "transport", ...fields }, event),
  });
  raft.outbox.attach(transport);
  const peers: Peers = { transport, onMembers: [], stopping: false };
  const syncPeers = (table: MemberTable | undefined, extra: MemberInfo[] = []) => {
    const wanted = new Map<number, string[]>();
    for (const m of extra) if (m.peerUrls.length > 0) wanted.set(m.id, m.peerUrls);
    for (const m of table?.list() ?? []) if (m.peerUrls.length > 0) wanted.set(m.id, m.peerUrls);
    for (const [id, urls] of wanted) if (!table?.isRemoved(id)) transport.setPeer(id, urls);
    for (const m of extra) if (table?.isRemoved(m.id)) transport.removePeer(m.id);
  };
  let knownMembers = dir.knownMembers;
  syncPeers(sm.members(), sm.members().size > 0 ? [] : knownMembers);
  sm.onMembers = (table, requestId) => {
    syncPeers(table);
    for (const id of [...knownMembers.map((m) => m.id)]) if (table.isRemoved(id)) transport.removePeer(id);
    knownMembers = table.list();
    for (const f of peers.onMembers) f(table, requestId);
    if (table.isRemoved(myId) && !peers.stopping) {
      log.warn({ member }, "this member was removed from the cluster; stopping");
      peers.stopping = true;
      setTimeout(() => onFatal?.(new Error("the member has been permanently removed from the cluster")), 200);
    }
  };
  return peers;
}

/** The etcd server and the cluster service, on the runtime, storage and transport. */
function createServices(
  cfg: ServerConfig,
  dir: DataDir,
  s: Storage,
  raft: RaftPhase,
  peers: Peers,
  log: Logger,
): { etcd: EtcdServer; cluster: ClusterService } {
  const { myId, cid, ids64, member } = dir;
  const rt = raft.runtime;
  const etcd = new EtcdServer(rt, s.store, s.db, {
    name: cfg.name,
    memberId: myId,
    clusterId: cid,
    ...ids64,
    peerUrls: cfg.initialAdvertisePeerUrls,
    clientUrls: cfg.advertiseClientUrls,
    electionTimeoutMs: cfg.electionTimeout,
    quotaBackendBytes: cfg.quotaBackendBytes,
    watchProgressNotifyIntervalMs: cfg.watchProgressNotifyInterval,
    maxRequestBytes: cfg.maxRequestBytes,
    authTokenTtlSeconds: cfg.authTokenTtl,
    jwt: cfg.authToken.startsWith("jwt") ? jwtTokens(cfg.authToken) : undefined,
  });
  raft.onRole.push((isLeader) => etcd.onRole(isLeader));
  s.sm.onAuth = (change) => etcd.auth.onApplied(change);
  const cluster = new ClusterService(rt, s.sm, {
    selfId: myId,
    clusterToken: cfg.initialClusterToken,
    electionTimeoutMs: cfg.electionTimeout,
    requestTimeoutMs: 7000,
    peerConnected: (id) => peers.transport.connected(id),
  });
  peers.onMembers.push((table, requestId) => cluster.onMembersChanged(table, requestId));
  etcd.cluster = cluster;
  etcd.onDutyError = (what, e) => log.error({ member, err: e.message, duty: what }, "background duty failed");
  etcd.onCheckpoint = (c) =>
    log.debug(
      { member, ...c, encodeMs: Math.round(c.encodeMs), totalMs: Math.round(c.totalMs) },
      "key index checkpoint saved",
    );
  return { etcd, cluster };
}

/** The client port: gRPC and HTTP for the etcd server, with the configured TLS and limits. */
function listenClients(
  cfg: ServerConfig,
  dir: DataDir,
  etcd: EtcdServer,
  registry: Storage["registry"],
  log: Logger,
): Promise<ApiServer> {
  const url = new URL(cfg.listenClientUrls[0]);
  const { clientCert, ciphers } = dir;
  return startApiServer({
    backend: etcd,
    host: url.hostname,
    port: Number(url.port || 2379),
    tls: clientCert
      ? {
          ...clientCert,
          clientCertAuth: cfg.clientCertAuth,
          ...(ciphers ? { ciphers } : {}),
          ...(cfg.trustedCaFile ? { trustedCaFile: cfg.trustedCaFile } : {}),
          ...(cfg.clientCrlFile ? { crlFile: cfg.clientCrlFile } : {}),
        }
      : undefined,
    limits: {
      maxRequestBytes: cfg.maxRequestBytes,
      maxTxnOps: cfg.maxTxnOps,
      maxConcurrentStreams: cfg.maxConcurrentStreams,
    },
    logger: log,
    metrics: registry,
  });
}

/** Reports event-loop stalls (they delay heartbeats and can cost the leadership). */
function watchEventLoop(thresholdMs: number, warn: (maxMs: number) => void): IntervalHistogram {
  const h = monitorEventLoopDelay({ resolution: 20 });
  h.enable();
  const timer = setInterval(() => {
    const maxMs = h.max / 1e6;
    h.reset();
    if (maxMs > thresholdMs) warn(maxMs);
  }, 1000);
  timer.unref();
  const disable = h.disable.bind(h);
  h.disable = () => {
    clearInterval(timer);
    return disable();
  };
  return h;
}

function listenAddress(url: string | undefined): { listenHost: string; listenPort: number } {
  const u = new URL(url ?? "http://127.0.0.1:2380");
  return { listenHost: u.hostname, listenPort: Number(u.port || 2380) };
}

/**
 * etcd's publish: a member records its name and client URLs in the member
 * table through the log, so every member's MemberList shows them. Retried
 * until the table agrees (there may be no leader yet).
 */
function startPublishing(
  cs: ClusterService,
  sm: MvccStateMachine,
  id: number,
  cfg: ServerConfig,
  log: Logger,
): NodeJS.Timeout {
  let inFlight = false;
  const want = cfg.advertiseClientUrls;
  const timer = setInterval(() => {
    const me = sm.members().get(id);
    const done = me && me.name === cfg.name && JSON.stringify(me.clientUrls) === JSON.stringify(want);
    if (done) {
      clearInterval(timer);
      log.info({ member: hexId(externalIdOf(me)), clientUrls: want }, "published member attributes");
      return;
    }
    if (inFlight || !me) return;
    inFlight = true;
    cs.proposeAttributes({ id, name: cfg.name, peerUrls: [], clientUrls: want })
      .catch(() => {})
      .finally(() => {
        inFlight = false;
      });
  }, 200);
  timer.unref();
  return timer;
}

/** The errno code (ENOSPC, EIO, ...) anywhere in an error's cause chain. */
function errnoOf(e: unknown): string | undefined {
  for (let c: unknown = e, depth = 0; c instanceof Error && depth < 8; c = c.cause, depth++) {
    const code = (c as NodeJS.ErrnoException).code;
    if (typeof code === "string" && code.startsWith("E")) return code;
  }
  return undefined;
}

/** One line naming what failed, for the log and the operator: the disk, the WAL or the store. */
export function describeFatal(e: Error, dataDir: string): string {
  let inBitcask = false;
  for (let c: unknown = e, depth = 0; c instanceof Error && depth < 8; c = c.cause, depth++) {
    if (c instanceof BitcaskError) inBitcask = true;
  }
  const stage = e instanceof ReadyLoopError ? e.stage : undefined;
  const part = inBitcask
    ? `the key-value store in ${join(dataDir, "kv")}`
    : stage === "persist"
      ? `the Raft log in ${join(dataDir, "wal")}`
      : stage === "snapshot"
        ? `a snapshot in ${join(dataDir, "snap")}`
        : "applying a committed entry";
  const code = errnoOf(e);
  if (code === "ENOSPC") return `the disk is full: ${part} could not be written (ENOSPC)`;
  if (code === "EIO") return `the disk failed: ${part} could not be written (EIO)`;
  return `${part} failed`;
}

/** The JWT issuer/verifier of `--auth-token jwt,...`; a bad key stops the start naming the option. */
function jwtTokens(spec: string): JwtTokens {
  try {
    return new JwtTokens(parseJwtSpec(spec));
  } catch (e) {
    throw new ConfigError(`auth-token: ${(e as Error).message}`);
  }
}

/** etcd's initial corruption check (corrupt.ts): refuses to start on a HashKV mismatch with a peer. */
async function initialCorruptCheck(
  store: MvccStore,
  members: readonly MemberInfo[],
  myId: number,
  tls: PeerTls | undefined,
  log: Logger,
): Promise<void> {
  const h = store.hashKV(0);
  const own = { hash: h.hash, revision: h.hashRevision, compactRevision: h.compactRevision };
  const urls = members.filter((m) => m.id !== myId).flatMap((m) => m.peerUrls.slice(0, 1));
  const peers: PeerHash[] = await Promise.all(
    urls.map(async (url) => {
      try {
        const info = JSON.parse(Buffer.from(await queryPeer(url, tls)).toString("utf8")) as ClusterInfo;
        return {
          url,
          hash: info.hashKV,
          error: info.hashKV === undefined ? "no hash in its answer" : undefined,
        };
      } catch (e) {
        return { url, error: (e as Error).message };
      }
    }),
  );
  const r = compareWithPeers(own, peers);
  if (r.mismatch !== undefined) throw new StartError(r.mismatch);
  log.info(
    {
      member: hexId(externalIdOf(members.find((m) => m.id === myId) ?? { id: myId })),
      ...own,
      matched: r.matched,
      skipped: r.skipped,
    },
    "initial corruption check done",
  );
}
