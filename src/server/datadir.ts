// A member's first start-up phase: its data directory and who it is. Loads
// or creates the TLS material, imports an etcd data directory left by
// `etcdctl snapshot restore`, and settles the member's identity: read from
// member.json, derived from --initial-cluster for a new cluster, or asked of
// the listed peers when joining an existing one (after `member add`).

import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { opensslCiphers } from "../common/index.ts";
import { loadPeerTls, type PeerTls, queryPeer } from "../transport/index.ts";
import { selfSignedCert } from "./autotls.ts";
import { parseInitialCluster, type ServerConfig } from "./config.ts";
import type { HashAt } from "./corrupt.ts";
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
import { externalIdOf, type MemberInfo } from "./members.ts";
import { buildNewCluster, imageFromBolt } from "./recover.ts";

export class StartError extends Error {
  override name = "StartError";
}

/** What a peer answers a joining member (and the initial corruption check) on the peer port. */
export interface ClusterInfo {
  clusterId: number;
  /** The 64-bit cluster id in hex (absent from members older than 64-bit ids). */
  clusterIdHex?: string;
  members: MemberInfo[];
  /** The answering member's HashKV at its current revision (for --experimental-initial-corrupt-check). */
  hashKV?: HashAt;
}

/** The data directory's phase done: who this member is and what it starts from. */
export interface DataDir {
  readonly identity: MemberRecord;
  readonly myId: number;
  readonly cid: number;
  readonly ids64: ReturnType<typeof externalIds>;
  /** The member's 64-bit id in hex: how logs name it (as etcdctl member list does). */
  readonly member: string;
  /** The members of --initial-cluster, with the ids a new cluster gives them. */
  readonly initialMembers: MemberInfo[];
  /** The members known before the log says otherwise (a joining member's come from its peers). */
  readonly knownMembers: MemberInfo[];
  /** Joining an existing cluster for the first time. */
  readonly joining: boolean;
  /** The WAL directory is empty: nothing was ever written. */
  readonly fresh: boolean;
  readonly peerTls: PeerTls | undefined;
  readonly clientCert: { readonly certFile: string; readonly keyFile: string } | undefined;
  readonly ciphers: string | undefined;
}

export async function openDataDir(cfg: ServerConfig, log: Logger): Promise<DataDir> {
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
  const ids64 = externalIds(identity);
  const walDir = join(cfg.dataDir, "wal");
  return {
    identity,
    myId: identity.memberId,
    cid: identity.clusterId,
    ids64,
    // logs name members by the 64-bit id clients see (etcdctl member list)
    member: hexId(ids64.memberId64),
    initialMembers,
    knownMembers,
    joining,
    fresh: !existsSync(walDir) || readdirSync(walDir).length === 0,
    peerTls,
    clientCert,
    ciphers,
  };
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
