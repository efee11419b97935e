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
  /** Congested directed links ("from>to"): since when their queue has been building up. */
  private congestedSince = new Map<string, number>();
  healthy = false;

  constructor(
    private readonly rand: Rand,
    public profile: NetworkProfile,
  ) {}

  /** Delivery delays for one message sent at `now`: none when lost, two when duplicated. */
  delays(from: Addr, to: Addr, now: number): number[] {
    if (from > 0 && to > 0 && this.blocked.has(`${from}>${to}`)) return [];
    const p = this.profile;
    if (!this.healthy && this.rand.float() < p.lossRate) return [];
    const one = (): number => {
      const base = p.minLatencyMs + this.rand.int(p.maxLatencyMs - p.minLatencyMs + 1);
      return !this.healthy && this.rand.float() < p.slowRate ? base * (10 + this.rand.int(41)) : base;
    };
    const since = from > 0 && to > 0 ? this.congestedSince.get(`${from}>${to}`) : undefined;
    const extra = since === undefined ? 0 : now - since;
    const out = [one() + extra];
    // Only peer links duplicate: clients talk over a connection (as over TCP), so a
    // definite failure reply really means the request will not run later.
    if (!this.healthy && from > 0 && to > 0 && this.rand.float() < p.dupRate) out.push(one());
    return out;
  }

  heal(): void {
    this.blocked.clear();
    this.congestedSince.clear();
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
   * Congests one direction of a link from `now` on: a queue builds up, so a
   * message sent t ms later waits t ms more than the path's latency.
   * Messages already on their way are delivered even if the link is cut
   * meanwhile, as bytes in flight on a TCP connection are.
   */
  congest(from: number, to: number, now: number): void {
    this.congestedSince.set(`${from}>${to}`, now);
  }

  clearCongestion(): void {
    this.congestedSince.clear();
  }

  /** Blocks one direction only (asymmetric partition). */
  blockOneWay(from: number, to: number): void {
    this.blocked.add(`${from}>${to}`);
  }

  describe(): string {
    return this.blocked.size === 0 ? "healed" : `blocked ${[...this.blocked].sort().join(",")}`;
  }
}
