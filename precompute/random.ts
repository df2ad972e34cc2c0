/**
 * Seeded randomness. Every random choice in a build draws from one of these, derived from the
 * build seed and a fixed stream name, so that stages do not disturb each other's sequences:
 * adding a draw in the tiler must not move the layout.
 */

/** mulberry32: tiny, fast, and good enough for shuffles and initialisation (not for cryptography). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A generator for one named stream of a build seed, e.g. `rng(seed, "umap")`. */
export function rng(seed: number, stream: string): () => number {
  let h = 2166136261 ^ seed;
  for (let i = 0; i < stream.length; i++) h = Math.imul(h ^ stream.charCodeAt(i), 16777619);
  return mulberry32(h >>> 0);
}

/** Fisher–Yates shuffle in place. */
export function shuffle<T>(items: T[] | Int32Array | Uint32Array, random: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = items[i]!;
    items[i] = items[j]!;
    items[j] = t;
  }
}

/** A standard normal draw (Box–Muller). */
export function gaussian(random: () => number): number {
  const u = 1 - random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
