// server/: a floe member: configuration, start-up and recovery, the runtime
// that drives the Raft core (also hosted by the simulator and the Maelstrom
// node), the etcd backend over the MVCC store, and the member table.

export {
  ConfigError,
  describeOptions,
  loadConfig,
  OPTIONS,
  parseInitialCluster,
  type ServerConfig,
} from "./config.ts";
export { type BackendDb, EtcdServer, type EtcdServerEnv, type EtcdServerInfo } from "./etcd.ts";
export { LeaderForwarder, type LeaseRelay } from "./forward.ts";
export {
  type ApplyBatching,
  BitcaskMvccStorage,
  type KvApplyResult,
  MvccStateMachine,
  noBatching,
  walLogStore,
} from "./kvstore.ts";
export { LeaseKeeper, type LeaseMutations } from "./leases.ts";
export { MemoryLogStore } from "./memlog.ts";
export {
  buildNewCluster,
  imageFromBolt,
  imageFromDataDir,
  type NewClusterOptions,
  RecoveryError,
} from "./recover.ts";
export {
  type ClockTimer,
  collectImage,
  type LogStore,
  RaftRuntime,
  ReadyLoopError,
  type ReadyStage,
  type RuntimeClock,
  RuntimeError,
  type RuntimeErrorCode,
  type RuntimeMutations,
  type RuntimeOptions,
  realClock,
  realRandomUint32,
  type SaveRequest,
  type SnapshotImage,
  type StateMachine,
  type Transport,
} from "./runtime.ts";
export { describeFatal, type FloeServer, StartError, startFloeServer } from "./start.ts";
export type { WatchMutations } from "./watchstream.ts";
