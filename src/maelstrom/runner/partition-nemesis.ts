/**
 * The `partition` nemesis schedule: healthy for the first interval, then
 * every interval alternately a random partition (see nemesis.ts) and a heal,
 * until the end of the workload; whatever partition is in force then is
 * healed, as Maelstrom's final nemesis generator does.
 */
import type { Rand } from "../../raft/index.ts";
import { type Grudge, type PartitionKind, randomPartition } from "./nemesis.ts";
import type { PartitionPeriod } from "./types.ts";

export interface PartitionNemesisOptions {
  nodes: string[];
  intervalMs: number;
  rand: Rand;
  now(): number;
  /** Stop partitioning from this test time on. */
  endAt: number;
  stopped(): boolean;
  setPartition(grudge: Grudge | undefined): void;
  /** The partition shapes to choose from (default all). */
  kinds?: readonly PartitionKind[];
  /** Called with each partition when it starts; its `end` is filled in when it heals. */
  onPartition(period: PartitionPeriod): void;
  log(line: string): void;
}

/** Starts the schedule; the returned function heals any partition and stops. */
export function startPartitionNemesis(o: PartitionNemesisOptions): () => void {
  let timer: NodeJS.Timeout | undefined;
  let current: PartitionPeriod | undefined;
  const heal = () => {
    if (current === undefined) return;
    o.setPartition(undefined);
    current.end = o.now();
    o.log("nemesis: healed the partition");
    current = undefined;
  };
  const step = () => {
    if (o.stopped() || o.now() >= o.endAt) return;
    if (current !== undefined) {
      heal();
    } else if (o.nodes.length > 1) {
      const p = randomPartition(o.nodes, o.rand, o.kinds);
      o.setPartition(p.grudge);
      current = { start: o.now(), end: undefined, kind: p.kind, description: p.description };
      o.onPartition(current);
      o.log(`nemesis: partition (${p.kind}) ${p.description}`);
    }
    timer = setTimeout(step, o.intervalMs);
  };
  // Start healthy: the first partition comes one interval in, once the cluster has had time to settle.
  timer = setTimeout(step, o.intervalMs);
  return () => {
    clearTimeout(timer);
    heal();
  };
}
