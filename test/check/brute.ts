import type { Model, Operation } from "../../src/check/index.ts";

/**
 * Reference decision procedure for tiny histories: try every order of every
 * choice of unknown-outcome operations. Exponential, obviously correct.
 */
export function bruteForceLinearizable<S, I, O>(model: Model<S, I, O>, ops: Operation<I, O>[]): boolean {
  const n = ops.length;
  const unknown = ops.map((o) => o.ret === Number.POSITIVE_INFINITY);
  const used = new Array<boolean>(n).fill(false);
  const search = (state: S, placed: number): boolean => {
    // Done when every completed op is placed; leftover unknown ops never happened.
    if (ops.every((_, i) => used[i] || unknown[i])) return true;
    if (placed === n) return false;
    for (let i = 0; i < n; i++) {
      if (used[i]) continue;
      // i may go next only if no unplaced op returned strictly before i was called.
      const blocked = ops.some((o, j) => j !== i && !used[j] && o.ret < ops[i].call);
      if (blocked) continue;
      const r = model.step(state, ops[i].input, unknown[i] ? undefined : ops[i].output);
      if (!r.ok) continue;
      used[i] = true;
      const found = search(r.state, placed + 1);
      used[i] = false;
      if (found) return true;
    }
    return false;
  };
  return search(model.init(), 0);
}
