// floe/raft: a pure, deterministic Raft consensus core.
//
// It owns elections (with pre-vote and check-quorum), log replication with
// flow control, commitment, snapshots, ReadIndex and lease reads, leadership
// transfer, and joint-consensus membership with learners. It promises to
// perform no I/O and read no clock or global randomness: the caller supplies
// ticks, messages, a seeded generator and a Storage, and carries out each
// Ready in order (persist, send, apply, advance).

export { coalesceMessages } from "./coalesce.ts";
export { decodeConfChange, encodeConfChange } from "./confchange.ts";
export type { RaftConfig, RaftLogger, RaftMutations, ReadOnlyOption } from "./config.ts";
export { assert, RaftAssertionError, RaftError } from "./errors.ts";
export { ProgressState } from "./progress.ts";
export { CAMPAIGN_TRANSFER, Raft } from "./raft.ts";
export { type Rand, seededRand, uint32From } from "./rand.ts";
export { type ProgressStatus, RawNode, type Status } from "./rawnode.ts";
export { EMPTY_CONF_STATE, MemoryStorage, type Storage } from "./storage.ts";
export * from "./types.ts";
