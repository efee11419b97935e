/**
 * The just-in-time linearizability search (Wing & Gong, with Lowe's
 * memoization, in the shape Porcupine popularised) over one partition.
 *
 * Everything the inner loop touches is a typed array indexed by small
 * integers: list nodes, op ids and interned state ids. The model is consulted
 * at most once per (state, operation) pair, so its cost (and the cost of
 * hashing its states) is paid outside the hot path.
 */
import type { Model, Operation } from "./types.ts";

const NONE = -1;
const HEAD = 0;

/** The deepest point the search reached before a return forced it back. */
interface DeepestPoint {
  /** Op indices of the longest linearizable prefix, in order. */
  prefix: number[];
  /** Interned state ids before each prefix op, then the state after the last. */
  prefixStates: number[];
  /** Ops that could be linearized next at the end of the prefix. */
  candidates: number[];
  /** The op whose return was reached without it having been linearized. */
  overdue: number;
}

export interface SearchViolation<S> extends DeepestPoint {
  kind: "violation";
  /** For each candidate: true if the model rejects it in the final prefix state. */
  rejected: boolean[];
  /** Interned states, indexed by the ids in `prefixStates`. */
  states: S[];
}

export type SearchOutcome<S> = { kind: "linearizable" } | { kind: "timeout" } | SearchViolation<S>;

/**
 * Interns model states as dense ids and memoizes transitions, so equality
 * and hashing of states happen once per distinct state, not once per step.
 */
class StateSpace<S, I, O> {
  readonly states: S[] = [];
  private readonly byHash = new Map<string | number, number | number[]>();
  /** rows[s][op]: 0 = not computed yet, -1 = rejected, k > 0 = state id k - 1. */
  private readonly rows: (Int32Array | undefined)[] = [];
  private memoCells = 0;

  constructor(
    private readonly model: Model<S, I, O>,
    private readonly ops: Operation<I, O>[],
  ) {}

  intern(state: S): number {
    const h = this.model.hash(state);
    const found = this.byHash.get(h);
    if (found === undefined) {
      this.byHash.set(h, this.states.push(state) - 1);
      return this.states.length - 1;
    }
    if (typeof found === "number") {
      if (this.model.equal(this.states[found], state)) return found;
      const id = this.states.push(state) - 1;
      this.byHash.set(h, [found, id]);
      return id;
    }
    for (const id of found) if (this.model.equal(this.states[id], state)) return id;
    const id = this.states.push(state) - 1;
    found.push(id);
    return id;
  }

  /** The state id after applying `op` in state `s`, or NONE if the model rejects it. */
  step(s: number, op: number): number {
    let row = this.rows[s];
    if (row !== undefined) {
      const v = row[op];
      if (v !== 0) return v > 0 ? v - 1 : NONE;
    }
    const o = this.ops[op];
    const unknown = o.ret === Number.POSITIVE_INFINITY;
    const r = this.model.step(this.states[s], o.input, unknown ? undefined : o.output);
    const next = r.ok ? this.intern(r.state) : NONE;
    // Memo rows cost 4 bytes per op per state; past ~64 MB just recompute.
    if (row === undefined && this.memoCells < 16_000_000) {
      row = this.rows[s] = new Int32Array(this.ops.length);
      this.memoCells += this.ops.length;
    }
    if (row !== undefined) row[op] = next === NONE ? -1 : next + 1;
    return next;
  }
}

/**
 * The set of explored (linearized-set, state) configurations. Open
 * addressing over flat typed arrays; bitsets live in one growing arena so an
 * insert allocates nothing until the arena must double.
 */
class VisitedSet {
  private slots: Int32Array;
  private mask: number;
  private keys: Int32Array;
  private stateIds: Int32Array;
  private bits: Uint32Array;
  private size = 0;

  constructor(private readonly words: number) {
    const cap = 1024;
    this.slots = new Int32Array(cap * 2);
    this.mask = cap * 2 - 1;
    this.keys = new Int32Array(cap);
    this.stateIds = new Int32Array(cap);
    this.bits = new Uint32Array(cap * words);
  }

  /**
   * Adds the configuration (`cur` with bit `flip` of word `w` set, `state`)
   * unless present. Returns whether it was added. `cur` itself is not changed.
   */
  addIfAbsent(setHash: number, state: number, cur: Uint32Array, w: number, flip: number): boolean {
    let key = setHash ^ Math.imul(state + 1, 0x9e3779b1);
    key ^= key >>> 15;
    key = Math.imul(key, 0x2c1b3c6d);
    key ^= key >>> 12;
    const words = this.words;
    const mask = this.mask;
    let i = key & mask;
    for (;;) {
      const e = this.slots[i] - 1;
      if (e < 0) break;
      if (this.keys[e] === key && this.stateIds[e] === state) {
        const bits = this.bits;
        const base = e * words;
        let same = bits[base + w] === (cur[w] | flip) >>> 0;
        for (let k = 0; same && k < words; k++) if (k !== w && bits[base + k] !== cur[k]) same = false;
        if (same) return false;
      }
      i = (i + 1) & mask;
    }
    if (this.size === this.keys.length) {
      this.grow();
      return this.addIfAbsent(setHash, state, cur, w, flip);
    }
    const e = this.size++;
    this.slots[i] = e + 1;
    this.keys[e] = key;
    this.stateIds[e] = state;
    const base = e * words;
    this.bits.set(cur, base);
    this.bits[base + w] |= flip;
    return true;
  }

  private grow(): void {
    const cap = this.keys.length * 2;
    const keys = new Int32Array(cap);
    keys.set(this.keys);
    const stateIds = new Int32Array(cap);
    stateIds.set(this.stateIds);
    const bits = new Uint32Array(cap * this.words);
    bits.set(this.bits);
    this.keys = keys;
    this.stateIds = stateIds;
    this.bits = bits;
    this.slots = new Int32Array(cap * 2);
    this.mask = cap * 2 - 1;
    for (let e = 0; e < this.size; e++) {
      let i = keys[e] & this.mask;
      while (this.slots[i] !== 0) i = (i + 1) & this.mask;
      this.slots[i] = e + 1;
    }
  }
}

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

/**
 * Checks one partition. `deadline` is a `performance.now()` value, or
 * Infinity for no limit.
 */
export function searchPartition<S, I, O>(
  model: Model<S, I, O>,
  ops: Operation<I, O>[],
  deadline: number,
): SearchOutcome<S> {
  const n = ops.length;
  if (n === 0) return { kind: "linearizable" };

  // Events 0..n-1 are calls, n..2n-1 returns. At equal times calls sort before
  // returns: touching intervals count as concurrent (the permissive reading).
  const order = Array.from({ length: 2 * n }, (_, i) => i);
  const timeOf = (ev: number) => (ev < n ? ops[ev].call : ops[ev - n].ret);
  order.sort((a, b) => timeOf(a) - timeOf(b) || (a < n ? 0 : 1) - (b < n ? 0 : 1) || a - b);

  // Node 0 is the list head; node k + 1 is the k-th event in time order.
  const next = new Int32Array(2 * n + 1);
  const prev = new Int32Array(2 * n + 1);
  const opOf = new Int32Array(2 * n + 1).fill(NONE);
  const match = new Int32Array(2 * n + 1).fill(NONE);
  const callNode = new Int32Array(n);
  for (let k = 0; k < 2 * n; k++) {
    const node = k + 1;
    const ev = order[k];
    prev[node] = node - 1;
    next[node - 1] = node;
    if (ev < n) {
      opOf[node] = ev;
      callNode[ev] = node;
    } else {
      opOf[node] = ev - n;
      match[callNode[ev - n]] = node;
    }
  }
  next[2 * n] = NONE;

  const space = new StateSpace(model, ops);
  const words = (n + 31) >>> 5;
  const visited = new VisitedSet(words);
  const zob = zobristTable(n);
  const linearized = new Uint32Array(words);
  const stackNode = new Int32Array(n);
  const stackState = new Int32Array(n);

  let state = space.intern(model.init());
  let setHash = 0;
  let depth = 0;
  let entry = next[HEAD];
  let iterations = 0;
  const timed = deadline !== Number.POSITIVE_INFINITY;

  let bestDepth = -1;
  let best: DeepestPoint | undefined;

  while (next[HEAD] !== NONE) {
    if (timed && (++iterations & 0x3ff) === 0 && performance.now() > deadline) return { kind: "timeout" };
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
      if (depth > bestDepth) {
        bestDepth = depth;
        const candidates: number[] = [];
        for (let c = next[HEAD]; c !== entry; c = next[c]) candidates.push(opOf[c]);
        const prefix: number[] = [];
        const prefixStates: number[] = [];
        for (let d = 0; d < depth; d++) {
          prefix.push(opOf[stackNode[d]]);
          prefixStates.push(stackState[d]);
        }
        prefixStates.push(state);
        best = { prefix, prefixStates, candidates, overdue: opOf[entry] };
      }
      if (depth === 0) break;
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
  if (next[HEAD] === NONE) return { kind: "linearizable" };

  const b = best!;
  const last = b.prefixStates[b.prefixStates.length - 1];
  const rejected = b.candidates.map((op) => space.step(last, op) === NONE);
  return { kind: "violation", ...b, rejected, states: space.states };
}
