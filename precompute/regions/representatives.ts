/**
 * Each region's members closest to its mean decoder direction, every member's cosine to it (the
 * naming weights), and the region's cohesion, for every level at once.
 *
 * Why two passes over the rows and not one per level: the rows are n × d floats (9.7 GB at
 * 1,048,576 × 2,304), and reading them is what this costs. Taking each level by itself read them
 * twice per level (its means, then each member's cosine): 12 passes and 222 s at 1M with six
 * levels. The levels nest, so a coarse region's sum is the sum of its children's sums; one pass
 * sums the leaves (and takes the leaves' cosines while their rows are still in cache), and a
 * second takes every row's cosines to all its coarser ancestors' means while the row is loaded.
 * Leaves are visited in index order, which is grouped by parent, so consecutive leaves share their
 * ancestors' means and those stay in cache.
 *
 * The dots run in WebAssembly (`RowDots`). Memory beyond the rows: one
 * float64 sum and one float32 unit mean per coarse region ((8 + 4) · d bytes each; 14,800 coarse
 * regions at 1M is 410 MB) and one float32 cosine per member per level.
 */
import { RowDots } from "./row-dots.ts";

export interface Representatives {
  /** Per region: up to `topK` members by cosine to the mean direction, closest first; ties by smaller id. */
  top: number[][];
  /** Per region: |mean of the unit member rows|, rounded to 1e-4, in [0, 1]; 0 for an empty region. */
  cohesion: number[];
  /** Per region: each member's cosine to the mean direction, in the order of its member list. */
  cosines: Float32Array[];
}

/** The nesting of regions as `buildRegions` lays it out: global indices, coarsest level first. */
export interface RegionTree {
  /** Member feature ids of each region, ascending. */
  members: readonly (readonly number[])[];
  /** Parent of each region (global index), −1 at level 0. */
  parent: Int32Array;
  /** First region of each level, then the total. */
  levelStart: readonly number[];
}

export function representatives(unit: Float32Array, d: number, tree: RegionTree, topK: number): Representatives {
  const { members, parent, levelStart } = tree;
  const total = levelStart[levelStart.length - 1] ?? 0;
  const finest = levelStart.length - 2;
  const top: number[][] = Array.from({ length: total }, () => []);
  const cohesion = new Array<number>(total).fill(0);
  const cosines = members.map((list) => new Float32Array(list.length));
  if (finest < 0 || total === 0) return { top, cohesion, cosines };
  const firstLeaf = levelStart[finest]!;
  const queries = Math.max(1, finest);
  const stage = new RowDots(d, queries);

  const topCos: number[][] = Array.from({ length: total }, () => []);
  const offer = (r: number, id: number, cos: number): void => {
    const best = top[r]!;
    const bestCos = topCos[r]!;
    if (best.length === topK && !(cos > bestCos[topK - 1]! || (cos === bestCos[topK - 1]! && id < best[topK - 1]!))) return;
    let p = best.length < topK ? best.length : topK - 1;
    if (best.length < topK) {
      best.push(id);
      bestCos.push(cos);
    }
    while (p > 0 && (bestCos[p - 1]! < cos || (bestCos[p - 1]! === cos && best[p - 1]! > id))) {
      best[p] = best[p - 1]!;
      bestCos[p] = bestCos[p - 1]!;
      p--;
    }
    best[p] = id;
    bestCos[p] = cos;
  };

  // Pass 1: each leaf's sum, its members' cosines to its mean, and its sum added to its parent's.
  const sums = new Float64Array(firstLeaf * d);
  const acc = new Float64Array(d);
  for (let r = firstLeaf; r < total; r++) {
    const list = members[r]!;
    acc.fill(0);
    for (const i of list) addRow(acc, 0, unit, i * d, d);
    const norm = Math.sqrt(squaredNorm(acc, 0, d));
    cohesion[r] = list.length ? Math.min(1, Math.round((norm / list.length) * 1e4) / 1e4) : 0;
    stage.setQuery(0, acc, 0, norm);
    const cos = cosines[r]!;
    stage.run(unit, list, 1, (q, _slot, dot) => {
      cos[q] = dot;
      offer(r, list[q]!, dot);
    });
    const p = parent[r]!;
    if (p >= 0) for (let t = 0; t < d; t++) sums[p * d + t]! += acc[t]!;
  }
  if (finest === 0) return { top, cohesion, cosines };

  // Coarse sums from their children's, finest coarse level first, so each is complete before it is added up.
  for (let r = firstLeaf - 1; r >= 0; r--) {
    const p = parent[r]!;
    if (p >= 0) for (let t = 0; t < d; t++) sums[p * d + t]! += sums[r * d + t]!;
  }
  const norms = new Float64Array(firstLeaf);
  for (let r = 0; r < firstLeaf; r++) {
    norms[r] = Math.sqrt(squaredNorm(sums, r * d, d));
    const size = members[r]!.length;
    cohesion[r] = size ? Math.min(1, Math.round((norms[r]! / size) * 1e4) / 1e4) : 0;
  }

  // Pass 2: every member of each leaf against the means of the leaf's ancestors, one per coarser level.
  const chain = new Int32Array(finest); // chain[L] = ancestor at level L of the current leaf
  const loaded = new Int32Array(finest).fill(-1);
  for (let r = firstLeaf; r < total; r++) {
    let a = parent[r]!;
    for (let L = finest - 1; L >= 0; L--) {
      chain[L] = a;
      if (loaded[L] !== a) {
        stage.setQuery(L, sums, a * d, norms[a]!);
        loaded[L] = a;
      }
      a = parent[a]!;
    }
    const list = members[r]!;
    stage.run(unit, list, finest, (q, L, dot) => {
      const anc = chain[L]!;
      const id = list[q]!;
      cosines[anc]![indexOf(members[anc]!, id)] = dot;
      offer(anc, id, dot);
    });
  }
  return { top, cohesion, cosines };
}

function addRow(acc: Float64Array, at: number, unit: Float32Array, row: number, d: number): void {
  for (let t = 0; t < d; t++) acc[at + t]! += unit[row + t]!;
}

function squaredNorm(v: Float64Array, at: number, d: number): number {
  let s = 0;
  for (let t = 0; t < d; t++) s += v[at + t]! ** 2;
  return s;
}

/** Position of `id` in an ascending list (it is there: a leaf's members are in each ancestor's). */
function indexOf(list: readonly number[], id: number): number {
  let lo = 0;
  let hi = list.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]! < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
