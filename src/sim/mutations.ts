// The simulator's catalogue of deliberately broken behaviours: each breaks
// one rule of Raft, of the runtime, of the lease keeper, of watch streams or of the WAL, and the simulator must catch each
// (test/sim/sim.test.ts asserts how soon). `npm run sim -- --mutation NAME`.

import type { SimOptions } from "./simulation.ts";

export type Mutation = Pick<
  SimOptions,
  "mutations" | "runtimeMutations" | "leaseMutations" | "watchMutations" | "walMutations" | "machine" | "disk"
>;

export const MUTATIONS: Record<string, Mutation> = {
  "commit-previous-term": { mutations: { commitPreviousTermByCount: true } },
  "vote-without-log-check": { mutations: { voteWithoutLogCheck: true } },
  "leader-ignores-higher-term": { mutations: { leaderIgnoresHigherTerm: true } },
  "apply-before-commit": { mutations: { applyBeforeCommit: true } },
  "count-unpersisted-own-entries": { mutations: { countUnpersistedOwnEntries: true } },
  "read-index-without-quorum": { mutations: { readIndexWithoutQuorum: true } },
  "joint-commit-by-incoming-only": { mutations: { jointCommitByIncomingOnly: true } },
  "lease-from-receipt": { mutations: { leaseFromReceipt: true } },
  "pre-vote-ignores-leader": { mutations: { preVoteIgnoresLeader: true } },
  "runtime-tick-once-per-callback": { runtimeMutations: { tickOncePerCallback: true } },
  "runtime-ack-before-durable": { runtimeMutations: { sendBeforeDurable: true } },
  "runtime-snapshot-without-marker": { runtimeMutations: { installSnapshotWithoutMarker: true } },
  // The member's lease keeper (server/leases.ts); leases exist on the MVCC machine only.
  "lease-keepalive-without-renew": { leaseMutations: { keepAliveWithoutRenew: true }, machine: "mvcc" },
  "lease-never-expires": { leaseMutations: { neverExpire: true }, machine: "mvcc" },
  // The member's watch streams (server/watchstream.ts), read by a slow client.
  "watch-drops-when-full": { watchMutations: { dropWhenFull: true }, machine: "mvcc" },
  // The member's WAL (src/wal/), on the simulated file system.
  "wal-ack-before-sync": { walMutations: { ackBeforeSync: true }, disk: "wal" },
};
