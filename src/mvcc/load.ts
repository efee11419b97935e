// Opening a store: read the meta state and the lease table, rebuild the key
// index by replaying every revision record in revision order (or only those
// after the key index checkpoint, checkpoint.ts), and re-derive what physical
// compaction had left to delete.
//
// Compaction deletes garbage records after the fact, in ascending revision
// order (compaction.ts), so a crash can leave any ascending prefix of them
// deleted. Each key then shows a suffix of its history, which is why a
// generation takes its created revision and version from the records
// themselves (as etcd's restore does), and why re-running the index
// compaction at the stored compact revision yields the same survivors and the
// rest of the garbage.

import { toLatin1 } from "./bytes.ts";
import { readCheckpoint } from "./checkpoint.ts";
import {
  decodeLease,
  decodeRecord,
  decodeState,
  INITIAL_STATE,
  type MetaState,
  PREFIX_LEASE,
  PREFIX_REV,
  parseLeaseKey,
  parseRevKey,
  prefixLimit,
  prefixStart,
  RESTORING_KEY,
  type Revision,
  revKey,
  STATE_KEY,
} from "./codec.ts";
import { MvccError } from "./errors.ts";
import { KeyIndex } from "./key_index.ts";
import { LeaseTable } from "./lease.ts";
import type { MvccStorage } from "./storage.ts";

export interface LoadedState {
  state: MetaState;
  index: KeyIndex;
  leases: LeaseTable;
  /** Records still to delete for the last compaction, ascending. */
  garbage: Revision[];
  /** A snapshot restore was interrupted; nothing else was loaded. */
  restoreRequired: boolean;
  /** How the key index was built: from a checkpoint (and the records after it), or why not. */
  checkpoint: { used: true; revision: number } | { used: false; reason: string };
}

export function loadState(storage: MvccStorage): LoadedState {
  const index = new KeyIndex();
  const leases = new LeaseTable();
  if (storage.get(RESTORING_KEY) !== undefined) {
    return {
      state: INITIAL_STATE,
      index,
      leases,
      garbage: [],
      restoreRequired: true,
      checkpoint: { used: false, reason: "restore pending" },
    };
  }
  const stateBytes = storage.get(STATE_KEY);
  const state = stateBytes === undefined ? INITIAL_STATE : decodeState(stateBytes);

  for (const [k, v] of storage.scan(prefixStart(PREFIX_LEASE), prefixLimit(PREFIX_LEASE))) {
    const id = parseLeaseKey(k);
    leases.grant(id, decodeLease(id, v));
  }

  const orphans: Revision[] = [];
  const ck = readCheckpoint(storage);
  let checkpoint: LoadedState["checkpoint"];
  let from = prefixStart(PREFIX_REV);
  if (!ck.ok) checkpoint = { used: false, reason: ck.reason };
  else if (ck.checkpoint.revision > state.revision) {
    const reason = `it is at revision ${ck.checkpoint.revision}, past the store's ${state.revision}`;
    checkpoint = { used: false, reason };
  } else if (ck.checkpoint.compactRevision !== state.compactRevision)
    checkpoint = { used: false, reason: "compacted since it was taken" };
  else {
    checkpoint = { used: true, revision: ck.checkpoint.revision };
    from = revKey(ck.checkpoint.revision + 1, 0);
  }
  if (checkpoint.used && ck.ok) index.adoptSorted(ck.checkpoint.keys, ck.checkpoint.entries);
  else index.beginRestore();
  for (const [k, v] of storage.scan(from, prefixLimit(PREFIX_REV))) {
    const rev = parseRevKey(k);
    if (rev.main > state.revision) {
      throw new MvccError(
        "Corrupt",
        `revision record ${rev.main}.${rev.sub} is past the stored revision ${state.revision}`,
      );
    }
    const { tombstone, kv } = decodeRecord(rev, v);
    const key = toLatin1(kv.key);
    if (!tombstone) index.restorePut(key, kv.key, rev, kv.createRevision, kv.version, kv.lease);
    else if (!index.restoreTombstone(key, kv.key, rev)) {
      if (rev.main > state.compactRevision) {
        throw new MvccError(
          "Corrupt",
          `tombstone ${rev.main}.${rev.sub} of a deleted key above the compact revision`,
        );
      }
      orphans.push(rev);
    }
  }

  if (!checkpoint.used) index.finishRestore();
  const garbage = state.compactRevision >= 0 ? index.compact(state.compactRevision) : [];
  garbage.push(...orphans);
  garbage.sort(compareRevisions);

  for (const e of index.entries()) {
    if (e.lease === 0n || KeyIndex.live(e) === undefined) continue;
    if (!leases.has(e.lease)) {
      throw new MvccError(
        "Corrupt",
        `live key ${toLatin1(e.key)} is attached to lease ${e.lease}, which does not exist`,
      );
    }
    leases.attach(e.lease, toLatin1(e.key));
  }
  return { state, index, leases, garbage, restoreRequired: false, checkpoint };
}

export function compareRevisions(a: Revision, b: Revision): number {
  return a.main - b.main || a.sub - b.sub;
}
