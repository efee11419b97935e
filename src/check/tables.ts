/**
 * The two tables the search lives on: interned model states with memoized
 * transitions, and the set of already explored configurations. Both are flat
 * typed arrays so the hot loop allocates nothing in the common case.
 */
import type { Model, Operation } from "./types.ts";

/** "The model rejects this step"; search.ts relies on the same value. */
const NONE = -1;
const ROW_STATES = 256;
/** A JS Map holds at most 2^24 entries; stay clear of that. */
const MAX_STATES = 1 << 23;
const MAX_CONFIGURATIONS = 1 << 26;
/** 1 GiB of stored bitsets: past this a search is better reported undecided than run out of memory. */
const MAX_BITSET_WORDS = 1 << 28;

/** The search outgrew what one process can hold; the verdict is unknown. */
export class SearchLimitError extends Error {}

function mix(x: number): number {
  x ^= x >>> 15;
  x = Math.imul(x, 0x2c1b3c6d);
  x ^= x >>> 12;
  return x;
}

/**
 * Interns model states as dense ids, so the explored-configuration set can
 * compare states as integers, and memoizes transitions of the first states.
 */
export class StateSpace<S, I, O> {
  readonly states: S[] = [];
  private readonly byHash = new Map<string | number, number | number[]>();
  /**
   * Transitions out of the first ROW_STATES states live in dense rows:
   * rows[s][op] is 0 (not computed yet), -1 (rejected) or k > 0 (state k - 1).
   * Models with few states (registers) then never leave the typed arrays.
   * Models with many states (strings built by appends) rarely revisit a
   * (state, op) pair, and a memo there measured slower than recomputing.
   */
  private readonly rows: Int32Array[] = [];
  private readonly unknown: Uint8Array;

  constructor(
    private readonly model: Model<S, I, O>,
    private readonly ops: Operation<I, O>[],
  ) {
    this.unknown = Uint8Array.from(ops, (o) => (o.ret === Number.POSITIVE_INFINITY ? 1 : 0));
  }

  intern(state: S): number {
    const h = this.model.hash(state);
    const found = this.byHash.get(h);
    if (found === undefined) {
      const id = this.add(state);
      this.byHash.set(h, id);
      return id;
    }
    if (typeof found === "number") {
      if (this.model.equal(this.states[found], state)) return found;
      const id = this.add(state);
      this.byHash.set(h, [found, id]);
      return id;
    }
    for (const id of found) if (this.model.equal(this.states[id], state)) return id;
    const id = this.add(state);
    found.push(id);
    return id;
  }

  private add(state: S): number {
    if (this.states.length >= MAX_STATES)
      throw new SearchLimitError(`more than ${MAX_STATES} distinct states`);
    return this.states.push(state) - 1;
  }

  /** The state id after applying `op` in state `s`, or NONE if the model rejects it. */
  step(s: number, op: number): number {
    if (s < ROW_STATES) {
      let row = this.rows[s];
      if (row === undefined) row = this.rows[s] = new Int32Array(this.ops.length);
      const v = row[op];
      if (v !== 0) return v > 0 ? v - 1 : NONE;
      const to = this.compute(s, op);
      row[op] = to === NONE ? -1 : to + 1;
      return to;
    }
    return this.compute(s, op);
  }

  private compute(s: number, op: number): number {
    const o = this.ops[op];
    const from = this.states[s];
    const r = this.model.step(from, o.input, this.unknown[op] === 1 ? undefined : o.output);
    if (!r.ok) return NONE;
    // Reads hand back the very same state; skip hashing it again.
    return r.state === from ? s : this.intern(r.state);
  }
}

/**
 * The set of explored (linearized-set, state) configurations. Open
 * addressing over flat typed arrays; bitsets live in one growing arena so an
 * insert allocates nothing until the arena must double.
 */
export class VisitedSet {
  private slots: Int32Array;
  private mask: number;
  private keys: Int32Array;
  private stateIds: Int32Array;
  private bits: Uint32Array;
  private size = 0;

  constructor(private readonly words: number) {
    // Small to start: a check may hold thousands of partitions at once.
    const cap = 64;
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
    const key = mix(setHash ^ Math.imul(state + 1, 0x9e3779b1));
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
    if (cap > MAX_CONFIGURATIONS || cap * this.words > MAX_BITSET_WORDS) {
      throw new SearchLimitError(`more than ${this.keys.length} explored configurations`);
    }
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
