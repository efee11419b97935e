// A small seeded generator for fault schedules and client choices, so that a
// failing run's schedule can be replayed from the seed it prints. (Process
// scheduling and the network still vary between runs; the seed fixes what the
// harness decides, not what the operating system does.)

export class Prng {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  /** A uniform float in [0, 1): the mulberry32 mixing function over a Weyl sequence. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("pick from an empty list");
    return items[Math.floor(this.next() * items.length)];
  }

  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }

  /** An independent generator derived from this one, so adding draws in one place does not shift another. */
  fork(): Prng {
    return new Prng(Math.floor(this.next() * 4294967296));
  }
}

/** The seed from FLOE_FAULT_SEED when set (to replay a run), otherwise a fresh one. */
export function seedFromEnv(): number {
  const env = process.env.FLOE_FAULT_SEED;
  if (env !== undefined && env !== "") {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 0)
      throw new RangeError(`FLOE_FAULT_SEED must be a non-negative integer, saw ${env}`);
    return n;
  }
  return Math.floor(Math.random() * 2 ** 31);
}
