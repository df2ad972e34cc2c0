/**
 * How good the regions are, per level: how many, how big, and whether they mean something:
 * - coherence: mean cosine between the decoder rows of two features in the same region, against
 *   two features in different regions. Pairs are sampled with the seeded rng (exact pairs would be
 *   O(n²)); the gap between the two is what grouping by region buys.
 * - layout purity: the share of each feature's nearest neighbours on the 2-D map that are in its
 *   region; high means the regions are patches on the map rather than speckles.
 */
import { rng } from "../random.ts";
import { layoutKnn } from "./geometry.ts";
import type { RegionHierarchy } from "./hierarchy.ts";

export interface LevelQuality {
  level: number;
  regions: number;
  medianSize: number;
  minSize: number;
  maxSize: number;
  /** Mean cosine of decoder rows of two members of one region (sampled). */
  within: number;
  /** Mean cosine of decoder rows of two features in different regions (sampled). */
  between: number;
  /** Mean share of a feature's 10 nearest layout neighbours that are in its region. */
  layoutPurity: number;
}

export interface QualityOptions {
  /** Pairs sampled for each of `within` and `between`. Default 20,000. */
  pairs?: number;
  /** Features sampled for layout purity. Default 2,000. */
  puritySample?: number;
  seed: number;
}

function median(sorted: number[]): number {
  if (!sorted.length) return 0;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function dot(unit: Float32Array, d: number, a: number, b: number): number {
  let s = 0;
  for (let t = 0; t < d; t++) s += unit[a * d + t]! * unit[b * d + t]!;
  return s;
}

/** Region (global index) of each feature at `level`; −1 for dead features. */
export function assignmentAt(h: RegionHierarchy, level: number): Int32Array {
  const out = new Int32Array(h.n);
  for (let i = 0; i < h.n; i++) {
    let r = h.leafOf[i]!;
    while (r >= 0 && h.regions[r]!.level > level) r = h.regions[r]!.parent;
    out[i] = r;
  }
  return out;
}

export function measureRegions(h: RegionHierarchy, unit: Float32Array, d: number, xy: Float32Array, opts: QualityOptions): LevelQuality[] {
  const pairs = opts.pairs ?? 20000;
  const alive: number[] = [];
  for (let i = 0; i < h.n; i++) if (h.leafOf[i]! >= 0) alive.push(i);
  const purityIds = samplePurity(alive, opts.puritySample ?? 2000, opts.seed);
  const knn = layoutKnn(xy, alive, purityIds, 10);
  const nearest = purityIds.map((_, q) => Array.from(knn.indices.subarray(q * 10, q * 10 + 10)).filter((j) => j >= 0));
  const out: LevelQuality[] = [];
  for (let L = 0; L < h.levels; L++) {
    const regs = h.regions.slice(h.levelStart[L], h.levelStart[L + 1]);
    const sizes = regs.map((r) => r.members.length).sort((a, b) => a - b);
    const of = assignmentAt(h, L);
    const random = rng(opts.seed, `regions:quality${L}`);
    // Within: a random feature, then a random other member of its region (so big regions weigh by size).
    let wSum = 0;
    let wN = 0;
    let bSum = 0;
    let bN = 0;
    if (alive.length >= 2) {
      for (let s = 0; s < pairs; s++) {
        const i = alive[Math.floor(random() * alive.length)]!;
        const members = h.regions[of[i]!]!.members;
        if (members.length < 2) continue;
        let j = i;
        while (j === i) j = members[Math.floor(random() * members.length)]!;
        wSum += dot(unit, d, i, j);
        wN++;
      }
      if (regs.length > 1) {
        for (let s = 0; s < pairs; s++) {
          const i = alive[Math.floor(random() * alive.length)]!;
          const j = alive[Math.floor(random() * alive.length)]!;
          if (of[i] === of[j]) {
            s--;
            continue;
          }
          bSum += dot(unit, d, i, j);
          bN++;
        }
      }
    }
    let purity = 0;
    for (let q = 0; q < purityIds.length; q++) {
      const i = purityIds[q]!;
      const nb = nearest[q]!;
      let same = 0;
      for (const j of nb) if (of[j] === of[i]) same++;
      purity += nb.length ? same / nb.length : 1;
    }
    out.push({
      level: L,
      regions: regs.length,
      medianSize: median(sizes),
      minSize: sizes[0] ?? 0,
      maxSize: sizes[sizes.length - 1] ?? 0,
      within: wN ? wSum / wN : NaN,
      between: bN ? bSum / bN : NaN,
      layoutPurity: purityIds.length ? purity / purityIds.length : NaN,
    });
  }
  return out;
}

function samplePurity(alive: number[], sample: number, seed: number): number[] {
  if (alive.length <= sample) return alive.slice();
  const random = rng(seed, "regions:purity");
  const picked = new Set<number>();
  while (picked.size < sample) picked.add(alive[Math.floor(random() * alive.length)]!);
  return [...picked].sort((a, b) => a - b);
}

/** Adjusted Rand index of two labelings of the same items (Hubert & Arabie): 1 identical, ~0 chance. */
export function adjustedRandIndex(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`adjustedRandIndex: labelings of ${a.length} and ${b.length} items`);
  const n = a.length;
  const pair = new Map<string, number>();
  const ca = new Map<number, number>();
  const cb = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const key = `${a[i]}\u0000${b[i]}`;
    pair.set(key, (pair.get(key) ?? 0) + 1);
    ca.set(a[i]!, (ca.get(a[i]!) ?? 0) + 1);
    cb.set(b[i]!, (cb.get(b[i]!) ?? 0) + 1);
  }
  const c2 = (x: number): number => (x * (x - 1)) / 2;
  let index = 0;
  for (const v of pair.values()) index += c2(v);
  let sa = 0;
  let sb = 0;
  for (const v of ca.values()) sa += c2(v);
  for (const v of cb.values()) sb += c2(v);
  const expected = (sa * sb) / c2(n);
  const max = (sa + sb) / 2;
  if (max === expected) return 1;
  return (index - expected) / (max - expected);
}

/** The per-level table for the build summary. */
export function formatRegionQuality(q: LevelQuality[]): string {
  const head = ["level", "regions", "median size", "min–max", "cos within", "cos between", "map purity"];
  const rows = q.map((l) => [
    String(l.level),
    l.regions.toLocaleString("en-US"),
    String(l.medianSize),
    `${l.minSize}–${l.maxSize}`,
    Number.isFinite(l.within) ? l.within.toFixed(3) : "–",
    Number.isFinite(l.between) ? l.between.toFixed(3) : "–",
    Number.isFinite(l.layoutPurity) ? l.layoutPurity.toFixed(3) : "–",
  ]);
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]): string => cells.map((s, c) => (c === 0 ? s.padEnd(widths[c]!) : s.padStart(widths[c]!))).join("  ");
  return [line(head), ...rows.map(line)].join("\n");
}
