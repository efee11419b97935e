/**
 * The just-in-time linearizability search (Wing & Gong, with Lowe's
 * memoization, in the shape Porcupine popularised) over one partition.
 *
 * Everything the inner loop touches is a typed array indexed by small
 * integers: list nodes, op ids and interned state ids. Explored
 * configurations are keyed by an incrementally maintained (Zobrist) hash of
 * the linearized set plus the state id, so testing one costs O(1) expected
 * plus one bitset comparison on a hash match.
 *
 * A search runs in slices (`run(budget)`) so the caller can interleave
 * partitions: one partition that fails fast then ends the whole check even
 * when another is expensive, as Porcupine gets from running them in parallel.
 */
import { StateSpace, VisitedSet } from "./tables.ts";
import type { Model, Operation } from "./types.ts";

const HEAD = 0;
// Local rather than imported: under some loaders an imported binding is a getter call.
const NONE = -1;

/** The deepest point the search reached before a return forced it back. */
interface DeepestPoint {
  /** Op indices of the longest linearizable prefix, in order. */
  prefix: number[];
  /** Interned state ids before each prefix op, then the state after the last. */
  prefixStates: number[];
  /** Ops whose call precedes the first pending return: each is rejected in the final state. */
  candidates: number[];
  /** The op whose return was reached without it having been linearized. */
  overdue: number;
}

export interface SearchViolation<S> extends DeepestPoint {
  /** Interned states, indexed by the ids in `prefixStates`. */
  states: S[];
}

export type SliceResult = "linearizable" | "violation" | "running";

/** Deterministic per-op random words, so the incremental set hash is reproducible. */
function zobristTable(n: number): Int32Array {
  const z = new Int32Array(n);
  let x = 0x2545f491;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    z[i] = Math.imul(x, 0x9e3779b1) ^ i;
  }
  return z;
}

export class PartitionSearch<S, I, O> {
  private readonly space: StateSpace<S, I, O>;
  private readonly visited: VisitedSet;
  private readonly zob: Int32Array;
  /** Doubly linked list of call and return events; node 0 is the head. */
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly opOf: Int32Array;
  /** For a call node, its return node; NONE for return nodes. */
  private readonly match: Int32Array;
  private readonly linearized: Uint32Array;
  private readonly stackNode: Int32Array;
  private readonly stackState: Int32Array;

  private state: number;
  private setHash = 0;
  private depth = 0;
  private entry: number;
  private result: SliceResult = "running";
  private bestDepth = -1;
  private best: DeepestPoint | undefined;

  constructor(model: Model<S, I, O>, ops: Operation<I, O>[]) {
    const n = ops.length;
    // Events 0..n-1 are calls, n..2n-1 returns. At equal times calls sort before
    // returns: touching intervals count as concurrent (the permissive reading).
    const order = Array.from({ length: 2 * n }, (_, i) => i);
    const timeOf = (ev: number) => (ev < n ? ops[ev].call : ops[ev - n].ret);
    order.sort((a, b) => timeOf(a) - timeOf(b) || (a < n ? 0 : 1) - (b < n ? 0 : 1) || a - b);

    this.next = new Int32Array(2 * n + 1);
    this.prev = new Int32Array(2 * n + 1);
    this.opOf = new Int32Array(2 * n + 1).fill(NONE);
    this.match = new Int32Array(2 * n + 1).fill(NONE);
    const callNode = new Int32Array(n);
    for (let k = 0; k < 2 * n; k++) {
      const node = k + 1;
      const ev = order[k];
      this.prev[node] = node - 1;
      this.next[node - 1] = node;
      if (ev < n) {
        this.opOf[node] = ev;
        callNode[ev] = node;
      } else {
        this.opOf[node] = ev - n;
        this.match[callNode[ev - n]] = node;
      }
    }
    this.next[2 * n] = NONE;

    this.space = new StateSpace(model, ops);
    const words = (n + 31) >>> 5;
    this.visited = new VisitedSet(words);
    this.zob = zobristTable(n);
    this.linearized = new Uint32Array(words);
    this.stackNode = new Int32Array(n);
    this.stackState = new Int32Array(n);
    this.state = this.space.intern(model.init());
    this.entry = this.next[HEAD];
    if (n === 0) this.result = "linearizable";
  }

  /** Runs for about `budget` loop iterations, or to the end. */
  run(budget: number): SliceResult {
    if (this.result !== "running") return this.result;
    const { next, prev, opOf, match, linearized, stackNode, stackState, zob, space, visited } = this;
    let { state, setHash, depth, entry } = this;
    let left = budget;

    while (next[HEAD] !== NONE) {
      if (--left < 0) {
        this.state = state;
        this.setHash = setHash;
        this.depth = depth;
        this.entry = entry;
        return "running";
      }
      const ret = match[entry];
      if (ret !== NONE) {
        const op = opOf[entry];
        const to = space.step(state, op);
        if (to !== NONE) {
          const h = setHash ^ zob[op];
          const w = op >>> 5;
          const bit = 1 << (op & 31);
          if (visited.addIfAbsent(h, to, linearized, w, bit)) {
            stackNode[depth] = entry;
            stackState[depth] = state;
            depth++;
            state = to;
            linearized[w] |= bit;
            setHash = h;
            // Lift the call and its return out of the list (dancing links).
            const cp = prev[entry];
            const cn = next[entry];
            next[cp] = cn;
            prev[cn] = cp;
            const rp = prev[ret];
            const rn = next[ret];
            next[rp] = rn;
            if (rn !== NONE) prev[rn] = rp;
            entry = next[HEAD];
            continue;
          }
        }
        entry = next[entry];
      } else {
        // A return reached with its op not linearized: this branch is dead.
        if (depth > this.bestDepth) this.recordDeepest(depth, entry, state);
        if (depth === 0) return (this.result = "violation");
        depth--;
        entry = stackNode[depth];
        state = stackState[depth];
        const op = opOf[entry];
        linearized[op >>> 5] &= ~(1 << (op & 31));
        setHash ^= zob[op];
        // Unlift in the reverse order of lifting: return first, then call.
        const r = match[entry];
        const rn = next[r];
        if (rn !== NONE) prev[rn] = r;
        next[prev[r]] = r;
        next[prev[entry]] = entry;
        prev[next[entry]] = entry;
        entry = next[entry];
      }
    }
    return (this.result = "linearizable");
  }

  /** The explanation data; only meaningful once `run` returned "violation". */
  violation(): SearchViolation<S> {
    return { ...this.best!, states: this.space.states };
  }

  /**
   * Each improvement deepens the prefix, so this runs at most n times. At the
   * deepest point no candidate is allowed by the model: an allowed one would
   * lead to a configuration one deeper, and either it was explored already
   * (so a deeper point was recorded before) or it is explored next.
   */
  private recordDeepest(depth: number, entry: number, state: number): void {
    this.bestDepth = depth;
    const candidates: number[] = [];
    for (let c = this.next[HEAD]; c !== entry; c = this.next[c]) candidates.push(this.opOf[c]);
    const prefix: number[] = [];
    const prefixStates: number[] = [];
    for (let d = 0; d < depth; d++) {
      prefix.push(this.opOf[this.stackNode[d]]);
      prefixStates.push(this.stackState[d]);
    }
    prefixStates.push(state);
    this.best = { prefix, prefixStates, candidates, overdue: this.opOf[entry] };
  }
}
