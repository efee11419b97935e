// etcd's --experimental-initial-corrupt-check: before a member serves
// clients it compares its key space hash (HashKV) with its peers' and
// refuses to start when a peer at the same revision and compaction point
// holds different data. Peers answer with their hash in the cluster-info
// query on the peer port (so auth and client TLS do not get in the way);
// a peer that is down, or at another revision, cannot be compared and is
// skipped with a log line, as etcd skips peers it cannot ask.

export interface HashAt {
  hash: number;
  revision: number;
  compactRevision: number;
}

export interface PeerHash {
  url: string;
  /** undefined: the peer did not answer (the reason is in `error`). */
  hash?: HashAt;
  error?: string;
}

export interface CorruptCheckResult {
  /** Peers whose hash matched at our revision. */
  matched: string[];
  /** Peers that could not be compared, and why. */
  skipped: string[];
  /** Set when a peer at the same revision and compaction holds other data. */
  mismatch?: string;
}

export function compareWithPeers(own: HashAt, peers: readonly PeerHash[]): CorruptCheckResult {
  const r: CorruptCheckResult = { matched: [], skipped: [] };
  for (const p of peers) {
    const h = p.hash;
    if (h === undefined) {
      r.skipped.push(`${p.url}: ${p.error ?? "no answer"}`);
    } else if (h.revision !== own.revision || h.compactRevision !== own.compactRevision) {
      r.skipped.push(
        `${p.url}: at revision ${h.revision} (compacted at ${h.compactRevision}), this member at ${own.revision} (${own.compactRevision})`,
      );
    } else if (h.hash !== own.hash) {
      r.mismatch ??=
        `found data inconsistency with peers: ${p.url} has hash ${h.hash} at revision ${h.revision}, ` +
        `this member has ${own.hash}`;
    } else {
      r.matched.push(p.url);
    }
  }
  return r;
}
