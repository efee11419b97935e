// Starts one floe member: data directory and identity, WAL, bitcask, mvcc,
// the Raft runtime, the peer transport, and the etcd v3 API on the client
// port. A member of a new cluster bootstraps the membership from
// --initial-cluster; a member joining an existing one (after `member add`)
// asks the listed peers which cluster this is and which id it was given, and
// then catches up from the leader's snapshot.

import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type IntervalHistogram, monitorEventLoopDelay } from "node:perf_hooks";
import { type Logger, pino } from "pino";
import { type ApiServer, defaultEtcdVersion, defaultRegistry, startApiServer } from "../api/index.ts";
import { JwtTokens, parseJwtSpec } from "../auth/index.ts";
import { Bitcask, BitcaskError } from "../bitcask/index.ts";
import { opensslCiphers } from "../common/index.ts";
import { MvccStore } from "../mvcc/index.ts";
import { type Message, StateRole } from "../raft/index.ts";
import { loadPeerTls, type PeerTls, PeerTransport, queryPeer } from "../transport/index.ts";
import { WalStorage } from "../wal/index.ts";
import { selfSignedCert } from "./autotls.ts";
import { ClusterService } from "./cluster.ts";
import { ConfigError, parseInitialCluster, type ServerConfig } from "./config.ts";
import { compareWithPeers, type HashAt, type PeerHash } from "./corrupt.ts";
import { EtcdServer } from "./etcd.ts";
import {
  BitcaskMvccStorage,
  INDEX_CHECKPOINT_FILE,
  type KvApplyResult,
  MVCC_BITCASK_LIMITS,
  MvccStateMachine,
  walLogStore,
} from "./kvstore.ts";
import {
  clusterId,
  clusterId64,
  externalIds,
  hexId,
  loadOrCreateIdentity,
  type MemberRecord,
  memberId64,
  raftIdOf,
} from "./member.ts";
import { externalIdOf, type MemberInfo, type MemberTable } from "./members.ts";
import { type MemberView, ServerMetrics } from "./metrics.ts";
import { buildNewCluster, imageFromBolt } from "./recover.ts";
import { RaftRuntime, ReadyLoopError } from "./runtime.ts";

export interface FloeServer {
  readonly etcd: EtcdServer;
  readonly api: ApiServer;
  readonly transport: PeerTransport;
  readonly clientUrl: string;
  close(): Promise<void>;
}

export class StartError extends Error {
  override name = "StartError";
}

interface ClusterInfo {
  clusterId: number;
  /** The 64-bit cluster id in hex (absent from members older than 64-bit ids). */
  clusterIdHex?: string;
  members: MemberInfo[];
  /** The answering member's HashKV at its current revision (for --experimental-initial-corrupt-check). */
  hashKV?: HashAt;
}

/** Finds out which cluster the peers form and which member we are in it. */
async function joinExisting(
  cfg: ServerConfig,
  peers: string[],
  tls: PeerTls | undefined,
  log: Logger,
): Promise<{
  clusterId: number;
  clusterIdHex?: string;
  memberId: number;
  memberIdHex?: string;
  members: MemberInfo[];
}> {
  const mine = cfg.initialAdvertisePeerUrls;
  const reasons: string[] = [];
  for (let attempt = 0; attempt < 10; attempt++) {
    for (const url of peers) {
      try {
        const info = JSON.parse(Buffer.from(await queryPeer(url, tls)).toString("utf8")) as ClusterInfo;
        const me = info.members.find((m) => m.peerUrls.some((u) => mine.includes(u)));
        if (!me) {
          throw new StartError(
            `cluster ${info.clusterIdHex ?? info.clusterId.toString(16)} (asked at ${url}) has no member with peer URLs ${mine.join(",")}: ` +
              `add it first with \`etcdctl member add ${cfg.name} --peer-urls=${mine.join(",")}\``,
          );
        }
        return {
          clusterId: info.clusterId,
          memberId: me.id,
          members: info.members,
          ...(info.clusterIdHex ? { clusterIdHex: info.clusterIdHex } : {}),
          ...(me.xid ? { memberIdHex: me.xid } : {}),
        };
      } catch (e) {
        if (e instanceof StartError) throw e;
        reasons.push(`${url}: ${(e as Error).message}`);
      }
    }
    log.warn({ attempt, reasons: reasons.slice(-peers.length) }, "no peer answered yet; retrying");
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new StartError(
    `cannot join the existing cluster, no peer answered: ${reasons.slice(-peers.length).join("; ")}`,
  );
}

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
  const cluster = parseInitialCluster(cfg.initialCluster);
  mkdirSync(cfg.dataDir, { recursive: true });
  const ciphers = cfg.cipherSuites === "" ? undefined : opensslCiphers(cfg.cipherSuites);
  const clientCert =
    cfg.certFile !== ""
      ? { certFile: cfg.certFile, keyFile: cfg.keyFile }
      : cfg.autoTls
        ? await selfSignedCert(join(cfg.dataDir, "fixtures", "client"), cfg.name, [
            ...cfg.listenClientUrls,
            ...cfg.advertiseClientUrls,
          ])
        : undefined;
  if (cfg.autoTls && cfg.certFile === "")
    log.warn(
      { dir: join(cfg.dataDir, "fixtures", "client") },
      "auto-tls: clients are served with a self-signed certificate they cannot verify",
    );
  let peerTls: PeerTls | undefined;
  if (cfg.peerCertFile !== "") {
    peerTls = loadPeerTls({
      certFile: cfg.peerCertFile,
      keyFile: cfg.peerKeyFile,
      caFile: cfg.peerTrustedCaFile,
      ...(cfg.peerCrlFile ? { crlFile: cfg.peerCrlFile } : {}),
      ...(ciphers ? { ciphers } : {}),
    });
  } else if (cfg.peerAutoTls) {
    const dir = join(cfg.dataDir, "fixtures", "peer");
    const own = await selfSignedCert(dir, cfg.name, [...cfg.listenPeerUrls, ...cfg.initialAdvertisePeerUrls]);
    peerTls = loadPeerTls({ ...own, ...(ciphers ? { ciphers } : {}) });
    log.warn(
      { dir },
      "peer-auto-tls: the peer port is encrypted with a self-signed certificate; members are not verified",
    );
  }
  const identityFile = join(cfg.dataDir, "member.json");
  const initialMembers: MemberInfo[] = [...cluster].map(([name, urls]) => {
    const id64 = memberId64(urls, cfg.initialClusterToken);
    // client URLs are published by each member through the log (startPublishing)
    return { id: raftIdOf(id64), xid: hexId(id64), name, peerUrls: urls, clientUrls: [], isLearner: false };
  });
  // An etcd member's data directory (e.g. written by `etcdctl snapshot
  // restore`): its backend database becomes this member's state, and the
  // cluster is the one --initial-cluster names, as etcd would start it.
  const etcdDb = join(cfg.dataDir, "member", "snap", "db");
  if (!existsSync(identityFile) && existsSync(etcdDb)) {
    const me = initialMembers.find((m) => m.name === cfg.name);
    if (!me) throw new StartError(`--name ${cfg.name} is not in --initial-cluster ${cfg.initialCluster}`);
    let image: Uint8Array;
    try {
      image = imageFromBolt(readFileSync(etcdDb)).image;
    } catch (e) {
      throw new StartError(`${etcdDb} is not a usable etcd backend database: ${(e as Error).message}`);
    }
    const r = await buildNewCluster({
      image,
      dataDir: cfg.dataDir,
      name: cfg.name,
      peerUrls: me.peerUrls,
      clientUrls: cfg.advertiseClientUrls,
      token: cfg.initialClusterToken,
      members: initialMembers,
      allowNonEmpty: true,
    });
    log.info(
      {
        member: hexId(r.memberId),
        cluster: hexId(r.clusterId),
        revision: r.revision,
        index: r.index,
        from: etcdDb,
      },
      "imported an etcd data directory",
    );
  }
  let identity: MemberRecord;
  let knownMembers: MemberInfo[] = initialMembers;
  const joining = cfg.initialClusterState === "existing" && !existsSync(identityFile);
  if (existsSync(identityFile)) {
    identity = JSON.parse(readFileSync(identityFile, "utf8")) as MemberRecord;
    if (identity.name !== cfg.name) {
      throw new StartError(
        `${cfg.dataDir} belongs to member ${JSON.stringify(identity.name)}, not --name ${cfg.name}`,
      );
    }
  } else if (joining) {
    const myUrls = new Set(cfg.initialAdvertisePeerUrls);
    const others = [...cluster.values()].flat().filter((u) => !myUrls.has(u));
    if (others.length === 0)
      throw new StartError("--initial-cluster-state existing needs other members in --initial-cluster");
    const j = await joinExisting(cfg, others, peerTls, log);
    knownMembers = j.members;
    identity = await loadOrCreateIdentity(cfg.dataDir, {
      name: cfg.name,
      memberId: j.memberId,
      clusterId: j.clusterId,
      ...(j.memberIdHex ? { memberIdHex: j.memberIdHex } : {}),
      ...(j.clusterIdHex ? { clusterIdHex: j.clusterIdHex } : {}),
      peerUrls: cfg.initialAdvertisePeerUrls,
      clientUrls: cfg.advertiseClientUrls,
    });
  } else {
    const me = initialMembers.find((m) => m.name === cfg.name);
    if (!me) throw new StartError(`--name ${cfg.name} is not in --initial-cluster ${cfg.initialCluster}`);
    identity = await loadOrCreateIdentity(cfg.dataDir, {
      name: cfg.name,
      memberId: me.id,
      clusterId: clusterId(initialMembers.map((m) => m.id)),
      memberIdHex: me.xid,
      clusterIdHex: hexId(clusterId64(initialMembers.map(externalIdOf))),
      peerUrls: me.peerUrls,
      clientUrls: cfg.advertiseClientUrls,
    });
  }
  const myId = identity.memberId;
  const cid = identity.clusterId;
  const ids64 = externalIds(identity);
  // logs name members by the 64-bit id clients see (etcdctl member list)
  const member = hexId(ids64.memberId64);

  const walDir = join(cfg.dataDir, "wal");
  const fresh = !existsSync(walDir) || readdirSync(walDir).length === 0;
  // etcd's metric families, fed by the WAL's and bitcask's timing hooks and read from the member at scrape time
  const registry = defaultRegistry();
  let memberView: MemberView | undefined;
  const metrics = new ServerMetrics(registry, () => memberView);
  const walLogger = (msg: string, fields: Readonly<Record<string, unknown>>) =>
    log.warn({ module: "wal", member, ...fields }, msg);
  const walOptions = {
    logger: walLogger,
    onFsyncSeconds: (s: number) => metrics.walFsyncSeconds.observe(s),
  };
  let wal: WalStorage;
  if (fresh && !joining && cfg.initialClusterState === "new") {
    wal = await WalStorage.bootstrap(
      cfg.dataDir,
      initialMembers.map((m) => m.id),
      [],
      walOptions,
    );
  } else {
    wal = await WalStorage.open(cfg.dataDir, walOptions);
  }
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
  if (store.needsRestore) {
    // A snapshot install was interrupted (crash mid-restore): the log already
    // points at that snapshot, so install it again from snap/ before serving.
    const at = wal.snapshot().metadata.index;
    log.warn({ member, index: at }, "finishing an interrupted snapshot install");
    await sm.restore((await wal.openSnapshot(at)).chunks, at);
  }
  if (wal.snapshot().metadata.index === 1 && !joining && sm.bootstrapMembers(initialMembers)) {
    // The bootstrap snapshot carries the initial member table, so a member
    // added later learns everyone's URLs from it.
    await kvStorage.flush();
    const image = await sm.snapshot();
    await wal.writeSnapshot(wal.snapshot().metadata, image instanceof Uint8Array ? [image] : image);
  }

  let etcd: EtcdServer | undefined;
  let clusterService: ClusterService | undefined;
  let runtime: RaftRuntime<KvApplyResult> | undefined;
  let stopping = false;
  let infoHash: HashAt | undefined;
  const transport = new PeerTransport({
    memberId: myId,
    clusterId: cid,
    ...listenAddress(cfg.listenPeerUrls[0]),
    tls: peerTls,
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
    onMessage: (m) => runtime?.step(m),
    onSnapshot: async (m: Message, chunks) => {
      const meta = m.snapshot?.metadata;
      if (!meta || !runtime) throw new Error("snapshot message without metadata");
      await wal.writeSnapshot(meta, chunks);
      runtime.step(m);
    },
    snapshotSource: async (m) => {
      const s = await wal.openSnapshot(m.snapshot?.metadata.index);
      return { sizeBytes: s.sizeBytes, chunks: s.chunks };
    },
    onUnreachable: (id) => runtime?.reportUnreachable(id),
    onDisconnected: (id) => runtime?.peerDisconnected(id),
    onSnapshotStatus: (id, ok) => runtime?.reportSnapshot(id, ok),
    logger: (level, event, fields) => log[level]({ module: "transport", ...fields }, event),
  });
  const syncPeers = (table: MemberTable | undefined, extra: MemberInfo[] = []) => {
    const wanted = new Map<number, string[]>();
    for (const m of extra) if (m.peerUrls.length > 0) wanted.set(m.id, m.peerUrls);
    for (const m of table?.list() ?? []) if (m.peerUrls.length > 0) wanted.set(m.id, m.peerUrls);
    for (const [id, urls] of wanted) if (!table?.isRemoved(id)) transport.setPeer(id, urls);
    for (const m of extra) if (table?.isRemoved(m.id)) transport.removePeer(m.id);
  };
  syncPeers(sm.members(), sm.members().size > 0 ? [] : knownMembers);
  sm.onMembers = (table, requestId) => {
    syncPeers(table);
    for (const id of [...knownMembers.map((m) => m.id)]) if (table.isRemoved(id)) transport.removePeer(id);
    knownMembers = table.list();
    clusterService?.onMembersChanged(table, requestId);
    if (table.isRemoved(myId) && !stopping) {
      log.warn({ member }, "this member was removed from the cluster; stopping");
      stopping = true;
      setTimeout(() => onFatal?.(new Error("the member has been permanently removed from the cluster")), 200);
    }
  };

  const tickMs = cfg.heartbeatInterval;
  const rt = new RaftRuntime<KvApplyResult>(sm, {
    id: myId,
    log: walLogStore(wal, () => kvStorage.flush()),
    transport: { send: (msgs) => transport.send(msgs) },
    tickMs,
    electionTicks: Math.max(2, Math.round(cfg.electionTimeout / tickMs)),
    snapshotCount: cfg.snapshotCount,
    requestTimeoutMs: 7000,
    raft: { preVote: true, checkQuorum: true },
    logger: (event, fields) =>
      log[event === "slow-ready" || event === "ready-loop-failed" ? "warn" : "info"](
        { module: "raft", ...fields, member, term: runtime?.rn.term },
        event,
      ),
    onSoftState: (s) => {
      etcd?.onRole(s.role === StateRole.Leader);
      metrics.observeLeader(s.lead);
      const leader = hexId(sm.members().externalId(s.lead));
      log.info({ member, role: s.role, leader, term: runtime?.rn.term }, "role");
    },
    onFatal: (e) => {
      const why = describeFatal(e, cfg.dataDir);
      log.fatal({ err: e.message, dataDir: cfg.dataDir, code: errnoOf(e) }, `stopping: ${why}`);
      onFatal?.(new Error(`${why}: ${e.message}`, { cause: e }));
    },
  });
  runtime = rt;
  memberView = {
    version: defaultEtcdVersion,
    memberId: myId,
    leader: () => rt.leader(),
    committedIndex: () => rt.rn.status().hardState.commit,
    appliedIndex: () => rt.appliedIndex(),
    pendingProposals: () => rt.pendingProposals,
    failedProposals: () => rt.proposalsFailed,
    dbSizeBytes: () => {
      const st = db.stats();
      return st.liveBytes + st.deadBytes;
    },
    dbSizeInUseBytes: () => db.stats().liveBytes,
    keys: () => store.keyCount,
  };
  etcd = new EtcdServer(rt, store, db, {
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
  {
    const server = etcd;
    sm.onAuth = (change) => server.auth.onApplied(change);
  }
  clusterService = new ClusterService(rt, sm, {
    selfId: myId,
    clusterToken: cfg.initialClusterToken,
    electionTimeoutMs: cfg.electionTimeout,
    requestTimeoutMs: 7000,
    peerConnected: (id) => transport.connected(id),
  });
  etcd.cluster = clusterService;
  etcd.onDutyError = (what, e) => log.error({ member, err: e.message, duty: what }, "background duty failed");
  etcd.onCheckpoint = (c) =>
    log.debug(
      { member, ...c, encodeMs: Math.round(c.encodeMs), totalMs: Math.round(c.totalMs) },
      "key index checkpoint saved",
    );
  await transport.listen();
  if (cfg.experimentalInitialCorruptCheck) {
    try {
      await initialCorruptCheck(store, sm.members().list(), myId, peerTls, log);
    } catch (e) {
      await transport.close();
      throw e;
    }
  }
  rt.start();
  etcd.start();
  // A single voter need not wait an election timeout.
  if (rt.confStateNow().voters.length === 1 && rt.confStateNow().voters[0] === myId) rt.rn.campaign();
  const url = new URL(cfg.listenClientUrls[0]);
  let api: ApiServer;
  try {
    api = await startApiServer({
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
  } catch (e) {
    rt.stop();
    await transport.close();
    throw e;
  }
  const publish = startPublishing(clusterService, sm, myId, cfg, log);
  const lag = watchEventLoop(cfg.electionTimeout / 2, (maxMs) =>
    log.warn(
      { member, maxDelayMs: Math.round(maxMs) },
      "event loop stalled for a large part of an election timeout",
    ),
  );
  log.info(
    {
      member,
      cluster: hexId(ids64.clusterId64),
      client: api.url,
      peer: cfg.listenPeerUrls[0],
      dataDir: cfg.dataDir,
      joining,
      ...phases,
      keyIndex: store.loadedFrom,
      startMs: Math.round(performance.now() - startedAt),
      // from the process's start to this function: Node's own start-up and loading floe's modules
      bootMs: Math.round(startedAt),
    },
    "floe member ready",
  );
  const e = etcd;
  const cs = clusterService;
  return {
    etcd: e,
    api,
    transport,
    clientUrl: api.url,
    async close() {
      stopping = true;
      clearInterval(publish);
      lag.disable();
      await api.close({ graceMs: 500 });
      e.stop();
      cs.stop();
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
