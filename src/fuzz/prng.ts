/**
 * Seeded pseudo-random numbers for the fuzzer. Every generated input is a pure function of
 * (campaign seed, exec index), so a run replays exactly: mulberry32 for the stream, splitmix32 to
 * derive independent per-exec seeds.
 */

/** splitmix32 finaliser: spreads a (seed, index) pair over the whole 32-bit space. */
export function mixSeed(seed: number, index: number): number {
  let z = (seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

export class Rng {
  private a: number;

  constructor(seed: number) {
    this.a = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let x = this.a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** Pick by weight: `[[weight, value], ...]`. */
  weighted<T>(choices: ReadonlyArray<readonly [number, T]>): T {
    let total = 0;
    for (const [w] of choices) total += w;
    let r = this.next() * total;
    for (const [w, v] of choices) {
      r -= w;
      if (r < 0) return v;
    }
    return choices[choices.length - 1][1];
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }

  /** A string of `n` characters drawn from `alphabet`. */
  text(n: number, alphabet: string): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }

  /** Lengths skewed towards the boundaries where parsers break: 0, 1, limit-1, limit, limit+1, huge. */
  interestingLength(limit: number): number {
    return this.pick([0, 1, 2, limit - 1, limit, limit + 1, limit * 2, 0xff, 0x100, 0xffff, 0x10000, this.int(limit + 1)].filter((n) => n >= 0));
  }

  /** A fresh generator whose stream does not overlap this one's. */
  fork(): Rng {
    return new Rng(mixSeed(this.int(0x100000000), 0x5eed));
  }
}

/** The generator for exec `index` of a campaign seeded with `seed`. */
export function execRng(seed: number, index: number): Rng {
  return new Rng(mixSeed(seed, index));
}
