// sim/: a deterministic cluster simulator. It runs N members of the real Raft
// core with an in-memory disk that honours the Ready contract, on virtual
// time, under a faulty network, crashes, membership changes and leader
// transfers, checks Raft's safety invariants after every event and the client
// history for linearizability. One seed determines everything: a failing seed
// replays exactly. Never imported by production code.

export type { HistoryEntry } from "./client.ts";
export { checkHistory } from "./history.ts";
export { failed, reproduceHint, runSeed, type SeedOutcome } from "./run.ts";
export { type SimOptions, type SimResult, Simulation } from "./simulation.ts";
