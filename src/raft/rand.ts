// Seeded pseudo-random numbers. The core never calls Math.random: the caller
// injects a generator, so a seed replays a run exactly.

export interface Rand {
  /** A uniformly distributed integer in [0, n). */
  int(n: number): number;
  /** A uniformly distributed float in [0, 1). */
  float(): number;
}

/** sfc32: small, fast, good enough statistical quality for simulation. */
export function seededRand(seed: number): Rand {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const next = (): number => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 15; i++) next();
  return {
    int(n: number): number {
      if (!(n > 0)) throw new RangeError(`Rand.int needs n > 0, got ${n}`);
      return Math.floor((next() / 4294967296) * n);
    },
    float(): number {
      return next() / 4294967296;
    },
  };
}

/** 32-bit unsigned integers from `r` (what the runtime takes as its randomness). */
export function uint32From(r: Rand): () => number {
  return () => r.int(4294967296);
}
