// Starts one floe member: data directory and identity, WAL, bitcask, mvcc,
// the Raft runtime, and the etcd v3 API on the client port.

import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { type Logger, pino } from "pino";
import { type ApiServer, startApiServer } from "../api/index.ts";
import { Bitcask } from "../bitcask/index.ts";
import { MvccStore } from "../mvcc/index.ts";
import { StateRole } from "../raft/index.ts";
import { WalStorage } from "../wal/index.ts";
import { parseInitialCluster, type ServerConfig } from "./config.ts";
import { EtcdServer } from "./etcd.ts";
import { BitcaskMvccStorage, type KvApplyResult, MvccStateMachine, walLogStore } from "./kvstore.ts";
import { clusterId, loadOrCreateIdentity, memberId } from "./member.ts";
import { RaftRuntime } from "./runtime.ts";

export interface FloeServer {
  readonly etcd: EtcdServer;
  readonly api: ApiServer;
  readonly clientUrl: string;
  close(): Promise<void>;
}

export class StartError extends Error {
  override name = "StartError";
}

export async function startFloeServer(
  cfg: ServerConfig,
  logger?: Logger,
  onFatal?: (e: Error) => void,
): Promise<FloeServer> {
  const log = logger ?? pino({ level: cfg.logLevel }, pino.destination(2));
  const cluster = parseInitialCluster(cfg.initialCluster);
  const ids = new Map([...cluster].map(([name, urls]) => [name, memberId(urls, cfg.initialClusterToken)]));
  const myId = ids.get(cfg.name);
  if (myId === undefined) {
    throw new StartError(`--name ${cfg.name} is not in --initial-cluster ${cfg.initialCluster}`);
  }
  if (cluster.size > 1) {
    throw new StartError(
      `--initial-cluster lists ${cluster.size} members; this build serves single-member clusters only (the peer transport is not built yet)`,
    );
  }
  const cid = clusterId([...ids.values()]);
  mkdirSync(cfg.dataDir, { recursive: true });
  await loadOrCreateIdentity(cfg.dataDir, {
    name: cfg.name,
    memberId: myId,
    clusterId: cid,
    peerUrls: cluster.get(cfg.name) ?? [],
    clientUrls: cfg.advertiseClientUrls,
  });
  const walDir = join(cfg.dataDir, "wal");
  const fresh = !existsSync(walDir) || readdirSync(walDir).length === 0;
  const walLogger = (msg: string, fields: Readonly<Record<string, unknown>>) =>
    log.warn({ module: "wal", ...fields }, msg);
  const wal = fresh
    ? await WalStorage.bootstrap(cfg.dataDir, [myId], [], { logger: walLogger })
    : await WalStorage.open(cfg.dataDir, { logger: walLogger });
  const db = await Bitcask.open(join(cfg.dataDir, "kv"), {
    sync: "interval",
    syncIntervalMs: 100,
    maxValueBytes: cfg.maxRequestBytes + 4096,
    logger: {
      warn: (f, m) => log.warn({ module: "bitcask", ...f }, m),
      error: (f, m) => log.error({ module: "bitcask", ...f }, m),
    },
  });
  const kvStorage = new BitcaskMvccStorage(db);
  const store = MvccStore.open(kvStorage);
  let etcd: EtcdServer | undefined;
  const sm = new MvccStateMachine(store, kvStorage, () => {});
  const tickMs = cfg.heartbeatInterval;
  const runtime = new RaftRuntime<KvApplyResult>(sm, {
    id: myId,
    log: walLogStore(wal, () => kvStorage.flush()),
    transport: { send: () => {} },
    tickMs,
    electionTicks: Math.max(2, Math.round(cfg.electionTimeout / tickMs)),
    snapshotCount: cfg.snapshotCount,
    requestTimeoutMs: 7000,
    logger: (event, fields) => log.info({ module: "raft", ...fields }, event),
    onSoftState: (s) => etcd?.onRole(s.role === StateRole.Leader),
    onFatal: (e) => {
      log.fatal({ err: e.message, dataDir: cfg.dataDir }, "stopping: the Raft log could not be persisted");
      onFatal?.(e);
    },
  });
  etcd = new EtcdServer(runtime, store, db, {
    name: cfg.name,
    memberId: myId,
    clusterId: cid,
    peerUrls: cluster.get(cfg.name) ?? [],
    clientUrls: cfg.advertiseClientUrls,
    electionTimeoutMs: cfg.electionTimeout,
  });
  runtime.start();
  etcd.start();
  // A single voter need not wait an election timeout.
  runtime.rn.campaign();
  const url = new URL(cfg.listenClientUrls[0]);
  const api = await startApiServer({
    backend: etcd,
    host: url.hostname,
    port: Number(url.port || (url.protocol === "https:" ? 2379 : 2379)),
    tls: cfg.certFile ? { certFile: cfg.certFile, keyFile: cfg.keyFile } : undefined,
    limits: { maxRequestBytes: cfg.maxRequestBytes, maxTxnOps: cfg.maxTxnOps },
    logger: log,
  });
  log.info(
    { member: myId.toString(16), cluster: cid.toString(16), client: api.url, dataDir: cfg.dataDir },
    "floe member ready",
  );
  const e = etcd;
  return {
    etcd: e,
    api,
    clientUrl: api.url,
    async close() {
      await api.close({ graceMs: 500 });
      e.stop();
      runtime.stop();
      await kvStorage.flush().catch(() => {});
      await db.close();
      await wal.close();
    },
  };
}
