/**
 * Partition shapes for the `partition` nemesis, after Jepsen's partition
 * specs: isolate one node, split into a majority and a minority, a ring of
 * overlapping majorities (every node sees a majority, no two the same one),
 * or a random split. A partition is a grudge: for each node, the set of
 * nodes whose messages it drops.
 */
import type { Rand } from "../../raft/index.ts";

export type Grudge = Map<string, Set<string>>;

export const PARTITION_KINDS = ["one", "majority", "majorities-ring", "random"] as const;
export type PartitionKind = (typeof PARTITION_KINDS)[number];

export interface Partition {
  kind: PartitionKind;
  grudge: Grudge;
  description: string;
}

/** A random partition of one of `kinds` (default: all of the above), chosen uniformly. */
export function randomPartition(
  nodes: string[],
  rand: Rand,
  kinds: readonly PartitionKind[] = PARTITION_KINDS,
): Partition {
  return makePartition(kinds[rand.int(kinds.length)], nodes, rand);
}

export function makePartition(kind: PartitionKind, nodes: string[], rand: Rand): Partition {
  const shuffled = shuffle(nodes, rand);
  const n = nodes.length;
  switch (kind) {
    case "one":
      return components(kind, [[shuffled[0]], shuffled.slice(1)]);
    case "majority": {
      // Like Jepsen's bisect: the first, smaller half is the minority.
      const cut = Math.floor(n / 2);
      return components(kind, [shuffled.slice(0, cut), shuffled.slice(cut)]);
    }
    case "random": {
      const cut = n < 2 ? 0 : 1 + rand.int(n - 1);
      return components(kind, [shuffled.slice(0, cut), shuffled.slice(cut)]);
    }
    case "majorities-ring":
      return majoritiesRing(shuffled);
  }
}

/** Nodes in different components drop each other's messages. */
function components(kind: PartitionKind, parts: string[][]): Partition {
  const nonEmpty = parts.filter((p) => p.length > 0).map((p) => [...p].sort(compareNodes));
  const grudge: Grudge = new Map();
  for (const part of nonEmpty) {
    const others = nonEmpty.filter((p) => p !== part).flat();
    for (const node of part) grudge.set(node, new Set(others));
  }
  nonEmpty.sort((a, b) => a.length - b.length || compareNodes(a[0], b[0]));
  return { kind, grudge, description: nonEmpty.map((p) => p.join(" ")).join(" | ") };
}

/**
 * Places the nodes on a ring; each node sees the majority-sized window
 * centred on itself and drops messages from everyone else.
 */
function majoritiesRing(ring: string[]): Partition {
  const n = ring.length;
  const m = Math.floor(n / 2) + 1;
  const before = Math.floor((m - 1) / 2);
  const grudge: Grudge = new Map();
  const views: string[] = [];
  ring.forEach((node, i) => {
    const window = new Set<string>();
    for (let k = 0; k < m; k++) window.add(ring[(i - before + k + n) % n]);
    grudge.set(node, new Set(ring.filter((other) => !window.has(other))));
    views.push(`${node} sees ${[...window].sort(compareNodes).join(" ")}`);
  });
  views.sort();
  return { kind: "majorities-ring", grudge, description: `ring: ${views.join("; ")}` };
}

/** n2 before n10. */
export function compareNodes(a: string, b: string): number {
  const na = Number(a.slice(1));
  const nb = Number(b.slice(1));
  return a[0] === b[0] && Number.isInteger(na) && Number.isInteger(nb) ? na - nb : a < b ? -1 : a > b ? 1 : 0;
}

function shuffle<T>(items: T[], rand: Rand): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rand.int(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** True when the grudge makes `dest` drop messages from `src`. */
export function drops(grudge: Grudge | undefined, src: string, dest: string): boolean {
  return grudge?.get(dest)?.has(src) ?? false;
}
