// The simulated network: per-message latency, loss, duplication (and so
// reordering), and partitions as a set of blocked directed links between nodes.

import type { Rand } from "../raft/index.ts";
import type { Addr } from "./types.ts";

export interface NetworkProfile {
  minLatencyMs: number;
  maxLatencyMs: number;
  /** Probability that a message is lost. */
  lossRate: number;
  /** Probability that a message is delivered twice. */
  dupRate: number;
  /** Probability that a message is held up 10-50x longer (a latency spike; also reorders). */
  slowRate: number;
}

export class SimNetwork {
  private blocked = new Set<string>();
  /** Extra latency per directed link ("from>to"), for messages sent while it is set. */
  private lag = new Map<string, number>();
  healthy = false;

  constructor(
    private readonly rand: Rand,
    public profile: NetworkProfile,
  ) {}

  /** Delivery delays for one message: none when lost, two when duplicated. */
  delays(from: Addr, to: Addr): number[] {
    if (from > 0 && to > 0 && this.blocked.has(`${from}>${to}`)) return [];
    const p = this.profile;
    if (!this.healthy && this.rand.float() < p.lossRate) return [];
    const one = (): number => {
      const base = p.minLatencyMs + this.rand.int(p.maxLatencyMs - p.minLatencyMs + 1);
      return !this.healthy && this.rand.float() < p.slowRate ? base * (10 + this.rand.int(41)) : base;
    };
    const extra = from > 0 && to > 0 ? (this.lag.get(`${from}>${to}`) ?? 0) : 0;
    const out = [one() + extra];
    // Only peer links duplicate: clients talk over a connection (as over TCP), so a
    // definite failure reply really means the request will not run later.
    if (!this.healthy && from > 0 && to > 0 && this.rand.float() < p.dupRate) out.push(one());
    return out;
  }

  heal(): void {
    this.blocked.clear();
    this.lag.clear();
  }

  /** Blocks every link between the two groups, both ways. */
  split(a: readonly number[], b: readonly number[]): void {
    for (const x of a) {
      for (const y of b) {
        this.blocked.add(`${x}>${y}`);
        this.blocked.add(`${y}>${x}`);
      }
    }
  }

  /**
   * Holds up what is sent on one direction of a link by `ms` more (a
   * congested path): messages already on their way are delivered even if the
   * link is cut meanwhile, as bytes in flight on a TCP connection are.
   */
  slowDown(from: number, to: number, ms: number): void {
    this.lag.set(`${from}>${to}`, ms);
  }

  clearSlowDowns(): void {
    this.lag.clear();
  }

  /** Blocks one direction only (asymmetric partition). */
  blockOneWay(from: number, to: number): void {
    this.blocked.add(`${from}>${to}`);
  }

  describe(): string {
    return this.blocked.size === 0 ? "healed" : `blocked ${[...this.blocked].sort().join(",")}`;
  }
}
