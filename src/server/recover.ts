// Disaster recovery: turn a state-machine image (from a saved snapshot or
// from a stopped member's data directory) into the data directory of a new
// one-member cluster, the `etcdutl snapshot restore` / `--force-new-cluster`
// path for when a majority of members is permanently lost.

import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { readBolt } from "../bbolt/index.ts";
import { Bitcask } from "../bitcask/index.ts";
import { encodeSnapshot, MvccStore, recordsFromEtcdBuckets } from "../mvcc/index.ts";
import { EMPTY_CONF_STATE, EntryType } from "../raft/index.ts";
import { WalStorage } from "../wal/index.ts";
import { BitcaskMvccStorage, MVCC_BITCASK_LIMITS, MvccStateMachine } from "./kvstore.ts";
import { clusterId, clusterId64, hexId, loadOrCreateIdentity, memberId64, raftIdOf } from "./member.ts";
import { MemberTable } from "./members.ts";
import { collectImage } from "./runtime.ts";

export class RecoveryError extends Error {
  override name = "RecoveryError";
}

/** Proposal framing of the runtime: an 8-byte proposal id, then the command. */
const PROPOSAL_ID_BYTES = 8;

/**
 * The state of a stopped member's data directory as an image: its applied
 * MVCC state plus every committed entry of its WAL not yet applied (bitcask
 * syncs on an interval; the WAL is the source of truth). The directory is
 * opened as the member itself would open it.
 */
export async function imageFromDataDir(dir: string): Promise<Uint8Array> {
  if (!existsSync(join(dir, "member.json")) || !existsSync(join(dir, "kv"))) {
    throw new RecoveryError(`${dir} is not a floe data directory (no member.json or kv/)`);
  }
  const wal = await WalStorage.open(dir);
  const db = await Bitcask.open(join(dir, "kv"), MVCC_BITCASK_LIMITS);
  try {
    const storage = new BitcaskMvccStorage(db);
    const store = MvccStore.open(storage);
    const sm = new MvccStateMachine(store, storage, () => {});
    const commit = wal.initialState().hardState.commit;
    for (
      let i = Math.max(store.appliedIndex + 1, wal.firstIndex());
      i <= Math.min(commit, wal.lastIndex());
    ) {
      const batch = wal.entries(i, Math.min(commit, wal.lastIndex()) + 1, 64 * 1024 * 1024);
      for (const e of batch) {
        if (e.type === EntryType.Normal && e.data.length >= PROPOSAL_ID_BYTES) {
          sm.apply(e.index, e.data.subarray(PROPOSAL_ID_BYTES));
        } else {
          store.apply(e.index, { type: "noop" });
        }
        i = e.index + 1;
      }
      if (batch.length === 0) break;
    }
    return await collectImage(await sm.snapshot());
  } finally {
    await db.close();
    await wal.close();
  }
}

/**
 * The state-machine image of a bbolt database in etcd's backend layout (a
 * floe or etcd snapshot without its trailer, or an etcd member's
 * member/snap/db), with what `snapshot status` reports about it.
 */
export function imageFromBolt(db: Uint8Array): {
  image: Uint8Array;
  revision: number;
  totalKeys: number;
  buckets: number;
} {
  const buckets = readBolt(db);
  const image = Buffer.concat([...encodeSnapshot(recordsFromEtcdBuckets(buckets), 1 << 20)]);
  let totalKeys = 0;
  for (const entries of buckets.values()) totalKeys += entries.length;
  const keys = buckets.get("key") ?? [];
  const last = keys[keys.length - 1];
  const revision = last === undefined ? 0 : Number(Buffer.from(last[0]).readBigUInt64BE(0));
  return { image, revision, totalKeys, buckets: buckets.size };
}

export interface NewClusterOptions {
  image: Uint8Array;
  dataDir: string;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  token: string;
  /**
   * Every member of the new cluster (from --initial-cluster), each restored
   * from the same image as etcd's restore does; default this member alone.
   */
  members?: ReadonlyArray<{ name: string; peerUrls: string[] }>;
  /** The data directory may hold other files (an etcd member's member/ being imported). */
  allowNonEmpty?: boolean;
}

/**
 * Writes a new one-member cluster's data directory holding `image`: identity,
 * bitcask with the restored state and a member table of just this member, and
 * a WAL whose snapshot (with the full image, so later members can join from
 * it) sits right after the restored index.
 */
export async function buildNewCluster(
  o: NewClusterOptions,
): Promise<{ memberId: bigint; clusterId: bigint; index: number; revision: number }> {
  if (!o.allowNonEmpty && existsSync(o.dataDir) && readdirSync(o.dataDir).length > 0) {
    throw new RecoveryError(`${o.dataDir} is not empty; restore into a new data directory`);
  }
  mkdirSync(o.dataDir, { recursive: true });
  const members = (o.members ?? [{ name: o.name, peerUrls: o.peerUrls }]).map((m) => {
    const id64 = memberId64(m.peerUrls, o.token);
    return { ...m, id64, id: raftIdOf(id64) };
  });
  const mid64 = memberId64(o.peerUrls, o.token);
  const mid = raftIdOf(mid64);
  if (!members.some((m) => m.id === mid)) {
    throw new RecoveryError(
      `member ${o.name} (${o.peerUrls.join(",")}) is not among the new cluster's members`,
    );
  }
  const cid64 = clusterId64(members.map((m) => m.id64));
  const cid = clusterId(members.map((m) => m.id));
  await loadOrCreateIdentity(o.dataDir, {
    name: o.name,
    memberId: mid,
    clusterId: cid,
    memberIdHex: hexId(mid64),
    clusterIdHex: hexId(cid64),
    peerUrls: o.peerUrls,
    clientUrls: o.clientUrls,
  });
  const db = await Bitcask.open(join(o.dataDir, "kv"), MVCC_BITCASK_LIMITS);
  const wal = await WalStorage.open(o.dataDir);
  try {
    const storage = new BitcaskMvccStorage(db);
    const store = MvccStore.open(storage);
    await store.restore([o.image]);
    // The old cluster's members are gone: the table is the new cluster's.
    const table = new MemberTable();
    for (const m of members) {
      const self = m.id === mid;
      table.set({
        id: m.id,
        xid: hexId(m.id64),
        name: m.name,
        peerUrls: self ? o.peerUrls : m.peerUrls,
        clientUrls: self ? o.clientUrls : [],
        isLearner: false,
      });
    }
    const index = store.appliedIndex + 1;
    store.apply(index, { type: "cluster", request: { value: table.encode() } });
    const term = Math.max(1, store.appliedTerm);
    await storage.flush();
    const metadata = { index, term, confState: { ...EMPTY_CONF_STATE, voters: members.map((m) => m.id) } };
    const s = store.snapshot();
    try {
      await wal.writeSnapshot(metadata, s);
    } finally {
      s.close();
    }
    await wal.save({ snapshot: metadata, hardState: { term, vote: 0, commit: index }, entries: [] });
    return { memberId: mid64, clusterId: cid64, index, revision: store.revision };
  } finally {
    await db.close();
    await wal.close();
  }
}
