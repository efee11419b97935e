/**
 * The lin-kv operation generator, after Jepsen's linearizable-register test
 * that Maelstrom's lin-kv uses: workers are grouped 2 x node-count to a
 * group; each group works on one integer key at a time, half its workers
 * reading and half writing or compare-and-setting (write : cas = 1 : 2),
 * values 0-4; after about 128 operations (randomised to 90-100% of that, so
 * keys drift out of step) the group moves on to the next unused key.
 * Worker i talks to node i mod node-count for its whole life, as Jepsen
 * binds worker threads to nodes.
 */
import type { LinKvInput } from "../../check/index.ts";
import type { Rand } from "../../raft/index.ts";

export type Role = "reader" | "writer" | "mixed";

export interface Worker {
  index: number;
  node: string;
  group: number;
  role: Role;
}

interface Group {
  key: number;
  remaining: number;
}

export const DEFAULT_OPS_PER_KEY = 128;

export class LinKvGenerator {
  readonly workers: Worker[];
  private readonly groups: Group[];
  private nextKey = 0;

  constructor(
    nodes: string[],
    concurrency: number,
    private readonly rand: Rand,
    private readonly opsPerKey = DEFAULT_OPS_PER_KEY,
  ) {
    const n = nodes.length;
    const groupSize = 2 * n;
    this.workers = [];
    const groupCount = Math.ceil(concurrency / groupSize);
    for (let g = 0; g < groupCount; g++) {
      const first = g * groupSize;
      const size = Math.min(groupSize, concurrency - first);
      // A full group reserves n readers; a short last group (concurrency not a multiple of 2n) keeps the ratio.
      const readers = size === 1 ? 0 : Math.floor(size / 2);
      for (let k = 0; k < size; k++) {
        const index = first + k;
        const role: Role = size === 1 ? "mixed" : k < readers ? "reader" : "writer";
        this.workers.push({ index, node: nodes[index % n], group: g, role });
      }
    }
    this.groups = Array.from({ length: groupCount }, () => ({ key: -1, remaining: 0 }));
  }

  /** Keys handed out so far (0 .. keysUsed-1). */
  get keysUsed(): number {
    return this.nextKey;
  }

  /** The next operation for `worker`. */
  next(worker: Worker): LinKvInput {
    const group = this.groups[worker.group];
    if (group.remaining <= 0) {
      group.key = this.nextKey++;
      group.remaining = Math.max(1, Math.floor(this.opsPerKey * (0.9 + 0.1 * this.rand.float())));
    }
    group.remaining--;
    const key = group.key;
    const role = worker.role === "mixed" ? (this.rand.int(2) === 0 ? "reader" : "writer") : worker.role;
    if (role === "reader") return { type: "read", key };
    if (this.rand.int(3) === 0) return { type: "write", key, value: this.rand.int(5) };
    return { type: "cas", key, from: this.rand.int(5), to: this.rand.int(5) };
  }
}
