// sim/: a deterministic cluster simulator. Each member is the member's own
// runtime (server/runtime.ts) around the real Raft core, on a virtual clock
// and an in-memory disk that honours the Ready contract, with a small kv state
// machine; the cluster runs under a faulty network, crashes, membership
// changes and leader transfers. Raft's safety invariants are checked as it
// runs and the client history for linearizability. One seed determines
// everything: a failing seed replays exactly. Never imported by production code.

export type { HistoryEntry } from "./client.ts";
export { drainMicrotasks, ManualClock } from "./clock.ts";
export { checkHistory } from "./history.ts";
export { MUTATIONS, type Mutation } from "./mutations.ts";
export { failed, reproduceHint, runSeed, type SeedOutcome } from "./run.ts";
export { type SimOptions, type SimResult, Simulation } from "./simulation.ts";
