/**
 * Partitioned search for the kNN graph. Spherical k-means (on a seeded sample) cuts the alive
 * points into P ≈ √n cells; each point is compared with every member of its own cell and of each
 * other cell that could still hold one of its nearest, judged by the angular triangle inequality
 *
 *     angle(p, x) ≥ angle(p, centroid_B) − radius_B     for every member x of cell B,
 *
 * radius_B being the largest angle between B's centroid and a member. A point's cells are taken
 * from the smallest bound up while the bound is below its current K-th neighbour's angle (+ slack
 * for float32 rounding), within two budgets: `maxCandidates` points in all, `farCandidates` of
 * them from cells it lies outside of (bound > 0). Without the budgets the search would be exact.
 *
 * Three phases, each shared by the threads (thread-pool.ts) through an atomic work counter:
 * 1. per cell: all pairs inside it; each member's plan; one-sided scans of the planned cells
 *    (offered to this cell's points only; far cells in stages of doubling size, a point going on
 *    only while its last stage improved its heap, see FAR_FIRST) — except sibling cells (bound ≤ 0, wanted by at least a
 *    quarter of the members), which are marked for phase 2;
 * 2. per marked pair of cells: the whole block once, each dot offered to both points (under
 *    per-point spin locks); in a flat cluster that halves the work;
 * 3. per point: the K tracked neighbours re-scored by the exact float64 kernel, best k kept.
 * Dots are made by the 4 × 2 float32 tile kernel (simd.ts) over blocks of ≤ 64 × 128 rows that stay
 * in cache.
 *
 * Why this and not HNSW or NN-descent (measured on `syntheticDictionary`, 65,536 × 768, the
 * benchmark's data, on this 2-core machine): the planted clusters are "flat" — isotropic noise in
 * 768 dimensions, so a point's 15th-nearest cluster mate is at cosine 0.777 against a median of
 * 0.745. Neighbour-of-neighbour structure barely exists there: NN-descent (same SIMD kernel,
 * RP-tree start) converged at recall 0.76 with K = 16 and reached 0.86 with K = 32 after 32 s on
 * one thread; pynndescent's 0.92 in 13 s is the same story. hnswlib-node builds at ~1,000
 * points/s on one thread (96 s at 65k). A flat cluster's true neighbours can only be found by
 * scanning the cluster, which this search does in cache-friendly blocks, pruning the rest. It costs
 * Σ (cluster size)² dot products instead of n log n, which two cores afford up to a few hundred
 * thousand points. Measured (CPU seconds over both threads; wall ≈ half on an idle machine):
 * 16,384 × 768: 5 s, recall@15 0.987; 65,536 × 768: 20–25 s, 0.975; 65,536 × 2,304: 58 s, 0.979;
 * 262,144 × 2,304: 634 s, 0.960 (520 s and 0.954 with the far budget fixed at 512 instead of n / 128).
 *
 * Determinism: the sample, starting centroids and centroid updates are sequential and seeded.
 * Each point's heap keeps the K smallest distinct (distance, id) offers, a set that does not depend
 * on the order of the offers; which pairs are offered depends only on the cells and on each
 * point's plan, made from its own cell's pairs alone before anything else can reach its heap, and
 * on its far stages, decided from its heap after its cell's own scans, which the same thread makes
 * before anything else can reach it. So the graph is the same whatever the number of threads or
 * their timing.
 */
import { rng, shuffle } from "../random.ts";
import type { BlockKernel, ExactKernel } from "./simd.ts";
import { replaceWorst } from "./heap.ts";

/** Key of an empty heap slot: +Infinity as float32 bits, worse than any distance. */
const EMPTY_KEY = 0x7f800000;
/** Id of an empty heap slot: larger than any point id, so it loses every (key, id) tie. */
const EMPTY_ID = 0x7fffffff;
/** Radians added to the pruning bound: far more than float32 rounding of a cosine can move it. */
const SLACK = 1e-3;

export interface SearchShared {
  n: number;
  d: number;
  /** Radians added to the pruning bound (see SLACK; larger for int8 dots). */
  slack: number;
  /** Neighbours kept in the graph. */
  k: number;
  /** Neighbours tracked per point while searching (k plus a margin re-ranked exactly at the end). */
  K: number;
  /** Cells. */
  P: number;
  /** Most points one point is compared with (its own cell included). */
  maxCandidates: number;
  /** Most of those from cells whose bound is positive (the point lies outside their ball). */
  farCandidates: number;
  alive: Uint8Array;
  /** Points the centroids are trained on, and their current cell. */
  sample: Int32Array;
  sampleAssign: Int32Array;
  /** Cell of every point (−1 when dead) and the float32 cosine to its centroid. */
  assign: Int32Array;
  cosine: Float32Array;
  /** [n × P] every point's cosine to every centroid, when that fits COSINE_CACHE_BYTES (else empty). */
  cosines: Float32Array;
  /** The same as int16 (cosine × 32,767) when only that fits COSINE_CACHE_16_BYTES (else empty). */
  cosines16: Int16Array;
  /** CSR of the cells: members of cell c are members[partStart[c] … partStart[c + 1]), ascending. */
  partStart: Int32Array;
  members: Int32Array;
  /** Largest angle (radians) between a cell's centroid and a member. */
  radius: Float64Array;
  /** Cells in the order they are handed out (largest first, for load balance). */
  order: Int32Array;
  /** Exact self dot of every row (see knn.ts). */
  self: Float64Array;
  /** [0]: next piece of work to hand out; [1]: work done (for progress). */
  counters: Int32Array;
  /** [n × K] neighbours found so far per point: ids (EMPTY_ID when empty) and float32-bit distance keys. */
  heapIds: Int32Array;
  heapKeys: Int32Array;
  /** [n] spin locks over the heaps. */
  locks: Int32Array;
  /** [P × P] 1 where cell pair (a, b), a < b, must be searched. */
  need: Uint8Array;
  /**
   * The stray cell's chunks (groupStrays): [0] the number of chunks, then their offsets from
   * partStart[P] (chunk j is [1 + j] … [2 + j]); chunks never span two stray groups.
   */
  strayChunks: Int32Array;
  /** Stray group of each chunk: only chunks of the same group are compared (listPairs). */
  strayGroup: Int32Array;
  /** Strays are grouped by their own k-means only when more than this many (see groupStrays). */
  strayGroupFrom: number;
  /** Far candidates in a point's first stage of far scans (see FAR_FIRST). */
  farFirst: number;
  /** [P + 1] dots of each cell's one-sided scans in phase 1 (for profiling and tests). */
  scanDots: Float64Array;
  /** The graph being written ([n × (k + 1)]). */
  indices: Int32Array;
  distances: Float32Array;
}

function sab(bytes: number): SharedArrayBuffer {
  return new SharedArrayBuffer(Math.max(8, bytes));
}

/** Cells for n alive points: ⌈√n⌉ (capped by the spare rows allocated for centroids). */
export function defaultCells(nAlive: number): number {
  return Math.max(1, Math.ceil(Math.sqrt(nAlive)));
}

export function createShared(
  n: number,
  d: number,
  k: number,
  alive: Uint8Array,
  cells: number,
  maxCandidates: number,
  farCandidates: number,
  seed: number,
  track: { extra: number; slack: number; cosineCache?: CosineCache; strayGroupFrom?: number; farFirst?: number } = { extra: 4, slack: SLACK },
): SearchShared {
  const ids: number[] = [];
  for (let i = 0; i < n; i++) if (alive[i]) ids.push(i);
  const nAlive = ids.length;
  const P = Math.max(1, Math.min(cells, nAlive));
  // Enough sample points per cell for the centroids to follow the density, not the outliers.
  shuffle(ids, rng(seed, "knn-cells"));
  const sampleSize = Math.min(nAlive, 32 * P);
  const sample = new Int32Array(sab(sampleSize * 4));
  sample.set(ids.slice(0, sampleSize));
  const aliveShared = new Uint8Array(sab(n));
  aliveShared.set(alive);
  const k1 = k + 1;
  // At most ⌈√alive⌉ groups, each adding at most one partial chunk.
  const maxChunks = Math.ceil(nAlive / STRAY_CHUNK) + Math.ceil(Math.sqrt(nAlive)) + 1;
  const cache = track.cosineCache ?? (n * P * 4 <= COSINE_CACHE_BYTES ? "float32" : n * P * 2 <= COSINE_CACHE_16_BYTES ? "int16" : "none");
  return {
    n, d, k, K: k + track.extra, P, maxCandidates, farCandidates, slack: track.slack,
    alive: aliveShared,
    sample,
    sampleAssign: new Int32Array(sab(sampleSize * 4)),
    assign: new Int32Array(sab(n * 4)),
    cosine: new Float32Array(sab(n * 4)),
    cosines: new Float32Array(cache === "float32" ? sab(n * P * 4) : sab(0), 0, cache === "float32" ? n * P : 0),
    cosines16: cache === "int16" ? new Int16Array(sab(n * P * 2)) : new Int16Array(0),
    partStart: new Int32Array(sab((P + 2) * 4)),
    members: new Int32Array(sab(nAlive * 4)),
    radius: new Float64Array(sab((P + 1) * 8)),
    order: new Int32Array(sab((P + 1) * 4)),
    self: new Float64Array(sab(n * 8)),
    counters: new Int32Array(sab(8)),
    heapIds: new Int32Array(sab(n * (k + track.extra) * 4)).fill(EMPTY_ID),
    heapKeys: new Int32Array(sab(n * (k + track.extra) * 4)).fill(EMPTY_KEY),
    locks: new Int32Array(sab(n * 4)),
    need: new Uint8Array(sab(P * P)),
    strayChunks: new Int32Array(sab((maxChunks + 2) * 4)),
    strayGroup: new Int32Array(sab(maxChunks * 4)),
    strayGroupFrom: track.strayGroupFrom ?? STRAY_GROUP_FROM,
    farFirst: track.farFirst ?? FAR_FIRST,
    scanDots: new Float64Array(sab((P + 1) * 8)),
    indices: new Int32Array(sab(n * k1 * 4)),
    distances: new Float32Array(sab(n * k1 * 4)),
  };
}

/** The share of [0, length) that thread `slot` of `threads` handles. */
export function slice(length: number, slot: number, threads: number): [number, number] {
  return [Math.floor((length * slot) / threads), Math.floor((length * (slot + 1)) / threads)];
}

function centroidIds(s: SearchShared): Int32Array {
  const ids = new Int32Array(s.P);
  for (let c = 0; c < s.P; c++) ids[c] = s.n + c;
  return ids;
}

/** Points scored against all centroids at once (one tile-kernel block). */
const ASSIGN_BLOCK = 64;
/**
 * Every point's cosines to every centroid are kept for the search when they take at most this.
 * Else they are kept as int16 up to COSINE_CACHE_16_BYTES (1M points × 1,024 cells: 2 GiB; a step
 * of 3e-5 in cosine moves a bound by ~4e-5 rad, far inside the slack), and beyond that computed
 * twice: recomputing n × P dots costs ~12 % of the search at 1M × 2,304.
 */
const COSINE_CACHE_BYTES = 2 ** 30;
const COSINE_CACHE_16_BYTES = 2 ** 31;
/** How the cosines to the centroids are kept: chosen by size, forced in tests. */
export type CosineCache = "float32" | "int16" | "none";

/** float32 cosines of each listed point to all P centroids, a block of points at a time. */
function centroidCosines(s: SearchShared, kernel: BlockKernel, points: Int32Array, onRow: (t: number, cos: Float32Array) => void): void {
  cosinesTo(kernel, points, centroidIds(s), onRow);
}

/** float32 cosines of each listed point to each listed centroid row, a block of points at a time. */
function cosinesTo(kernel: BlockKernel, points: Int32Array, centroids: Int32Array, onRow: (t: number, cos: Float32Array) => void): void {
  const P = centroids.length;
  const buf = new Float32Array(ASSIGN_BLOCK * P);
  for (let off = 0; off < points.length; off += ASSIGN_BLOCK) {
    const chunk = points.subarray(off, off + ASSIGN_BLOCK);
    forBlock(kernel, chunk, centroids, (x, c, dot) => {
      buf[x * P + c] = dot;
    });
    for (let x = 0; x < chunk.length; x++) onRow(off + x, buf.subarray(x * P, (x + 1) * P));
  }
}

/** Highest cosine, ties to the lower cell. */
function argmax(cos: Float32Array): number {
  let best = 0;
  for (let c = 1; c < cos.length; c++) if (cos[c]! > cos[best]!) best = c;
  return best;
}

/** Nearest centroid of this thread's sample points. */
export function assignSample(s: SearchShared, kernel: BlockKernel, slot: number, threads: number): void {
  const [lo, hi] = slice(s.sample.length, slot, threads);
  centroidCosines(s, kernel, s.sample.subarray(lo, hi), (t, cos) => {
    s.sampleAssign[lo + t] = argmax(cos);
  });
}

/** Cell of every alive point in this thread's id range (dead points get −1); keeps all cosines when cached. */
export function assignAll(s: SearchShared, kernel: BlockKernel, slot: number, threads: number): void {
  const [lo, hi] = slice(s.n, slot, threads);
  const points: number[] = [];
  for (let p = lo; p < hi; p++) {
    if (s.alive[p]) points.push(p);
    else s.assign[p] = -1;
  }
  const ids = Int32Array.from(points);
  const P = s.P;
  centroidCosines(s, kernel, ids, (t, cos) => {
    const p = ids[t]!;
    const best = argmax(cos);
    s.assign[p] = best;
    s.cosine[p] = cos[best]!;
    if (s.cosines.length) s.cosines.set(cos, p * P);
    else if (s.cosines16.length) {
      for (let c = 0; c < P; c++) s.cosines16[p * P + c] = Math.round((cos[c]! > 1 ? 1 : cos[c]! < -1 ? -1 : cos[c]!) * 32767);
    }
  });
}

export function selfDots(s: SearchShared, exact: ExactKernel, slot: number, threads: number): void {
  const [lo, hi] = slice(s.n, slot, threads);
  for (let p = lo; p < hi; p++) s.self[p] = exact.exactPair(p, p);
}

/** Stores centroid c (d values from `values` at `from`) where the kernels read it: spare row n + c. */
export type PutCentroid = (c: number, values: ArrayLike<number>, from: number) => void;

/**
 * Main thread: starting centroids (the first P sample points) written to the spare rows after the
 * data; `update` then moves each to the normalised sum of its sample members, summed in sample
 * order in float64, keeping the old centroid for an empty cell. `rows` are the float32 data rows.
 */
export function initCentroids(s: SearchShared, rows: Float32Array, put: PutCentroid): void {
  for (let c = 0; c < s.P; c++) put(c, rows, s.sample[c]! * s.d);
}

export function updateCentroids(s: SearchShared, rows: Float32Array, put: PutCentroid): number {
  return moveCentroids(rows, s.d, s.sample, s.sampleAssign, s.P, put);
}

/**
 * Each of `count` centroids moved to the normalised float64 sum (in list order) of the rows of the
 * points assigned to it; an empty one stays. Returns how many were empty.
 */
function moveCentroids(rows: Float32Array, d: number, points: Int32Array, assigned: Int32Array, count: number, put: PutCentroid): number {
  const sums = new Float64Array(count * d);
  const counts = new Int32Array(count);
  for (let t = 0; t < points.length; t++) {
    const c = assigned[t]!;
    const src = points[t]! * d;
    const dst = c * d;
    for (let j = 0; j < d; j++) sums[dst + j] = sums[dst + j]! + rows[src + j]!;
    counts[c]!++;
  }
  let empty = 0;
  for (let c = 0; c < count; c++) {
    if (!counts[c]) {
      empty++;
      continue;
    }
    let norm = 0;
    for (let j = 0; j < d; j++) norm += sums[c * d + j]! ** 2;
    norm = Math.sqrt(norm);
    if (!(norm > 0)) continue;
    for (let j = 0; j < d; j++) sums[c * d + j] = sums[c * d + j]! / norm;
    put(c, sums, c * d);
  }
  return empty;
}

/** A member is a stray when its angle to the centroid exceeds this multiple of the cell's 25th percentile. */
const STRAY_FACTOR = 1.5;

/**
 * Main thread, after `assignAll`: the cells' member lists, radii and hand-out order.
 *
 * Strays: a point far from every centroid (in the benchmark data, members of the many clusters too
 * small to get a centroid, ~8 % of points, at ~84° from any centroid against ~31° for a cell's
 * own members) would set its cell's radius to ~85°, and the triangle bound of a cell that wide
 * rules out nothing. So a cell keeps only members within STRAY_FACTOR × its 25th-percentile angle;
 * the rest go to one extra cell, number P, which has no centroid and no radius: strays are
 * compared with the others of their group (groupStrays: that finds a small cluster's own members) and each
 * still searches the real cells within its budgets, but other points never look in the stray cell.
 */
export function buildCells(s: SearchShared): void {
  const { n, P, assign, cosine, partStart, members, radius, order } = s;
  const angle = (p: number): number => Math.acos(Math.max(-1, Math.min(1, cosine[p]!)));
  const byCell: number[][] = Array.from({ length: P }, () => []);
  for (let p = 0; p < n; p++) if (assign[p]! >= 0) byCell[assign[p]!]!.push(angle(p));
  const limit = new Float64Array(P);
  for (let c = 0; c < P; c++) {
    const a = byCell[c]!.sort((x, y) => x - y);
    limit[c] = a.length ? STRAY_FACTOR * a[Math.floor(a.length / 4)]! : 0;
  }
  const cellOf = (p: number): number => {
    const c = assign[p]!;
    return c < 0 ? -1 : angle(p) <= limit[c]! ? c : P;
  };
  partStart.fill(0);
  radius.fill(0);
  for (let p = 0; p < n; p++) {
    const c = cellOf(p);
    if (c < 0) continue;
    partStart[c + 1]!++;
    if (c < P) radius[c] = Math.max(radius[c]!, angle(p));
  }
  radius[P] = Math.PI;
  for (let c = 0; c <= P; c++) partStart[c + 1]! += partStart[c]!;
  const fill = partStart.slice(0, P + 1);
  for (let p = 0; p < n; p++) {
    const c = cellOf(p);
    if (c >= 0) members[fill[c]!++] = p;
  }
  const cells = Array.from({ length: P + 1 }, (_, c) => c);
  const size = (c: number): number => partStart[c + 1]! - partStart[c]!;
  cells.sort((a, b) => size(b) - size(a) || a - b);
  order.set(cells);
  chunkStrays(s, [0, partStart[P + 1]! - partStart[P]!]);
  s.counters[0] = 0;
  s.counters[1] = 0;
}

/** Strays are grouped (groupStrays) only when there are more than this many: below, all their pairs cost < 1e7 dots. */
const STRAY_GROUP_FROM = 4096;
/** Sample points per stray group that its centroid is trained on, as for the cells. */
const STRAY_SAMPLE = 32;

/** Cuts the stray range into chunks of ≤ STRAY_CHUNK within each group [bounds[g], bounds[g + 1]). */
function chunkStrays(s: SearchShared, bounds: number[]): void {
  let chunks = 0;
  for (let g = 0; g + 1 < bounds.length; g++) {
    for (let at = bounds[g]!; at < bounds[g + 1]!; at += STRAY_CHUNK) {
      s.strayChunks[1 + chunks] = at;
      s.strayGroup[chunks++] = g;
    }
  }
  s.strayChunks[1 + chunks] = bounds.at(-1)!;
  s.strayChunks[0] = chunks;
}

/**
 * Main thread, after `buildCells`: the strays cut into groups by a k-means of their own, so that
 * they are compared with their own group only, not with every other stray. Why: strays grow with
 * n (members of the many clusters too small for a centroid: 13 % of the points at 131,072 × 2,304
 * and 14 % at 262,144, the bench's generator), and all their pairs cost strays² / 2 dots, as many
 * as all the clusters' own pairs at 262k (6.7e8 against 7.1e8) and more at 1M (146,919 strays:
 * 1.08e10 against 8.56e9). A small cluster lies near one group centroid (its members' mean
 * direction), so its members share a group; each stray still searches the real cells within its
 * budgets. The cost: stray pairs across groups had found real neighbours too (on flat clusters a
 * tiny cluster's nearest are nearly random points), so recall falls (1M: 0.927 → 0.905 before
 * refinement, docs/scale.md). Groups: ⌈√strays⌉ (at most
 * `maxGroups`, the spare centroid rows left), trained on a seeded sample of STRAY_SAMPLE a group
 * for `rounds` rounds, sequentially, then every stray assigned to its nearest (ties to the lower).
 * Within the stray range, members are reordered by (group, id). Rows n + P + g hold the groups'
 * centroids.
 */
export function groupStrays(s: SearchShared, kernel: BlockKernel, rows: Float32Array, put: PutCentroid, maxGroups: number, rounds: number, seed: number): void {
  const { P, partStart, members, n, d } = s;
  const from = partStart[P]!;
  const count = partStart[P + 1]! - from;
  const groups = Math.min(maxGroups, Math.ceil(Math.sqrt(count)));
  if (count <= s.strayGroupFrom || groups < 2) return;
  const strays = members.subarray(from, from + count);
  const ids = Array.from(strays);
  shuffle(ids, rng(seed, "knn-strays"));
  const sample = Int32Array.from(ids.slice(0, Math.min(count, STRAY_SAMPLE * groups)));
  const centroids = Int32Array.from({ length: groups }, (_, g) => n + P + g);
  const putGroup: PutCentroid = (g, values, at) => put(P + g, values, at);
  for (let g = 0; g < groups; g++) putGroup(g, rows, sample[g]! * d);
  const nearest = (points: Int32Array, out: Int32Array): void => cosinesTo(kernel, points, centroids, (t, cos) => {
    out[t] = argmax(cos);
  });
  const sampleGroup = new Int32Array(sample.length);
  for (let round = 0; round < rounds; round++) {
    nearest(sample, sampleGroup);
    moveCentroids(rows, d, sample, sampleGroup, groups, putGroup);
  }
  const group = new Int32Array(count);
  nearest(strays, group);
  const order = Array.from({ length: count }, (_, t) => t);
  order.sort((a, b) => group[a]! - group[b]! || strays[a]! - strays[b]!);
  const sorted = Int32Array.from(order, (t) => strays[t]!);
  strays.set(sorted);
  const bounds = [0];
  for (let t = 1; t < count; t++) if (group[order[t]!] !== group[order[t - 1]!]) bounds.push(t);
  bounds.push(count);
  chunkStrays(s, bounds);
}

const f32 = new Float32Array(1);
const f32Bits = new Int32Array(f32.buffer);

/**
 * Cosine distance 1 − cos as stored in the graph, from an exact dot product and the two rows'
 * exact self dots. Dividing by the self dots (not assuming 1) makes an exact duplicate come out at
 * distance exactly 0, since sqrt(s · s) = s in IEEE arithmetic; the clamp keeps rounding of
 * (near-)parallel rows inside [0, 2].
 */
export function cosineDistance(dot: number, selfA: number, selfB: number): number {
  const x = 1 - dot / Math.sqrt(selfA * selfB);
  return Math.fround(x < 0 ? 0 : x > 2 ? 2 : x);
}

/** float32 bits of the cosine distance for a float32 dot of unit rows, clamped at 0. */
function keyOf(dot: number): number {
  const dist = 1 - dot;
  f32[0] = dist > 0 ? dist : 0;
  return f32Bits[0]!;
}

function distanceOfKey(key: number): number {
  f32Bits[0] = key;
  return f32[0]!;
}

function lock(locks: Int32Array, p: number): void {
  while (Atomics.compareExchange(locks, p, 0, 1) !== 0) {
    // Held by another thread for the few hundred nanoseconds of one push.
  }
}

/**
 * Offer (key, id) to p's heap: a bounded max-heap by (key, id) with the worst at slot 0, which keeps
 * the K smallest distinct offers whatever their order. The first check reads the worst entry
 * without the lock: it only ever improves, so a stale value lets more offers through, and they
 * are checked again under the lock.
 */
function push(s: SearchShared, p: number, key: number, id: number, locked: boolean): void {
  const { K, heapIds: ids, heapKeys: keys } = s;
  const base = p * K;
  const worst0 = keys[base]!;
  if (key > worst0 || (key === worst0 && id >= ids[base]!)) return;
  if (locked) lock(s.locks, p);
  try {
    const worst = keys[base]!;
    if (key > worst || (key === worst && id >= ids[base]!)) return;
    for (let t = 0; t < K; t++) if (ids[base + t] === id) return;
    replaceWorst(ids, keys, base, K, key, id);
  } finally {
    if (locked) Atomics.store(s.locks, p, 0);
  }
}

/** Rows of `a` per tile call, and of `b`: 64 + 128 rows stay in cache while their 8,192 dots are made. */
const TILE_A = 64;
const TILE_B = 128;

/**
 * float32 dot of every row in `a` with every row in `b`, passed to `visit(x, y, dot)` with x, y
 * indices into a and b. Uses the 4 × 2 tile kernel when d is a multiple of 4, else one row at a
 * time. With `upper` (a and b the same list), at least every pair y > x is visited, and whole
 * tiles below the diagonal are not computed.
 */
export function forBlock(kernel: BlockKernel, a: Int32Array, b: Int32Array, visit: (x: number, y: number, dot: number) => void, upper = false): void {
  const ids = kernel.ids;
  if (kernel.d % 4 !== 0) {
    const cap = kernel.capacity;
    for (let x = 0; x < a.length; x++) {
      for (let off = upper ? x + 1 : 0; off < b.length; off += cap) {
        const m = Math.min(cap, b.length - off);
        ids.set(b.subarray(off, off + m));
        kernel.dots(a[x]!, m);
        const out = kernel.out32;
        for (let y = 0; y < m; y++) visit(x, off + y, out[y]!);
      }
    }
    return;
  }
  const out = kernel.outTile;
  forTiles(kernel, a, b, upper, (a0, na, b0, nb, stride) => {
    for (let x = 0; x < na; x++) {
      const row = x * stride;
      for (let y = 0; y < nb; y++) visit(a0 + x, b0 + y, out[row + y]!);
    }
  });
}

/**
 * The tile kernel over a × b in blocks of ≤ TILE_A × TILE_B rows; after each, onTile(a0, na, b0,
 * nb, stride) with kernel.outTile holding the dots of a[a0 …) × b[b0 …) as [na × stride]. With
 * `upper` (a and b the same list), tiles wholly on or below the diagonal are skipped.
 */
function forTiles(
  kernel: BlockKernel, a: Int32Array, b: Int32Array, upper: boolean,
  onTile: (a0: number, na: number, b0: number, nb: number, stride: number) => void,
): void {
  const ids = kernel.ids;
  for (let b0 = 0; b0 < b.length; b0 += TILE_B) {
    const nb = Math.min(TILE_B, b.length - b0);
    const nbPad = nb + (nb & 1);
    for (let a0 = 0; a0 < a.length; a0 += TILE_A) {
      // Only the upper triangle (y > x) is wanted: tiles wholly on or below the diagonal are skipped.
      if (upper && a0 >= b0 + nb - 1) break;
      const na = Math.min(TILE_A, a.length - a0);
      const naPad = (na + 3) & ~3;
      // Short tiles repeat their last row; the extra results are never read.
      for (let x = 0; x < naPad; x++) ids[x] = a[a0 + Math.min(x, na - 1)]!;
      for (let y = 0; y < nbPad; y++) ids[naPad + y] = b[b0 + Math.min(y, nb - 1)]!;
      kernel.tile(naPad, nbPad);
      onTile(a0, na, b0, nb, nbPad);
    }
  }
}

/**
 * Least float32 dot that p's heap could still take: below it, 1 − dot is larger than the K-th
 * distance (by more than 1e-6, far beyond float32 rounding of a distance ≤ 2), so `push` would
 * refuse it. −∞ while the heap has room. Read without the lock: the K-th distance only falls, so a
 * stale gate lets more dots through, never fewer, and `push` decides.
 */
function gateOf(s: SearchShared, p: number): number {
  const key = s.heapKeys[p * s.K]!;
  return key === EMPTY_KEY ? -Infinity : 1 - distanceOfKey(key) - 1e-6;
}

/** Options of `offerBlock`. */
interface OfferOptions {
  /** a and b are the same list: only pairs y > x. */
  upper: boolean;
  /** Other threads may be offering to the same points (phase 2). */
  locked: boolean;
  /** Offer each dot to a's point only (a one-sided scan). */
  oneSided: boolean;
}

/**
 * Every dot of a × b offered to the heaps, as `forBlock` + `push` would, but each side's gate
 * (gateOf, read once a tile) is checked before anything else is done with a dot. Measured at
 * 131,072 × 2,304: a closure call, a distance key and two heap reads for each of 4.7e8 dots was
 * ~20 % of the search's time, and nearly all of those dots are refused. The heaps end the same:
 * a dot the gate skips would have been refused then, and so by the final heap too.
 */
function offerBlock(s: SearchShared, kernel: BlockKernel, a: Int32Array, b: Int32Array, o: OfferOptions): void {
  if (kernel.d % 4 !== 0) {
    forBlock(
      kernel, a, b,
      (x, y, dot) => {
        if (o.upper && y <= x) return;
        const key = keyOf(dot);
        push(s, a[x]!, key, b[y]!, o.locked);
        if (!o.oneSided) push(s, b[y]!, key, a[x]!, o.locked);
      },
      o.upper,
    );
    return;
  }
  const out = kernel.outTile;
  const gateB = new Float64Array(TILE_B);
  forTiles(kernel, a, b, o.upper, (a0, na, b0, nb, stride) => {
    if (!o.oneSided) for (let y = 0; y < nb; y++) gateB[y] = gateOf(s, b[b0 + y]!);
    for (let x = 0; x < na; x++) {
      const p = a[a0 + x]!;
      const gateA = gateOf(s, p);
      const row = x * stride;
      // With `upper`, only y > x: columns from a0 + x + 1 − b0 on.
      const from = o.upper ? Math.max(0, a0 + x + 1 - b0) : 0;
      for (let y = from; y < nb; y++) {
        const dot = out[row + y]!;
        const toA = dot >= gateA;
        const toB = !o.oneSided && dot >= gateB[y]!;
        if (!toA && !toB) continue;
        const key = keyOf(dot);
        const q = b[b0 + y]!;
        if (toA) push(s, p, key, q, o.locked);
        if (toB) push(s, q, key, p, o.locked);
      }
    }
  });
}

/** Strays are compared with each other in blocks of this many, spread over the threads in phase 2. */
const STRAY_CHUNK = 512;

/** Members of cell c; from P up, the stray cell's chunks (chunk c − P, see chunkStrays). */
function cellMembers(s: SearchShared, c: number): Int32Array {
  if (c < s.P) return s.members.subarray(s.partStart[c]!, s.partStart[c + 1]!);
  const base = s.partStart[s.P]!;
  return s.members.subarray(base + s.strayChunks[1 + c - s.P]!, base + s.strayChunks[2 + c - s.P]!);
}

/** A cell is searched as a whole block against another when at least this share of its members need it. */
const BLOCK_SHARE = 0.25;

/**
 * Phase 1, cells handed out by the shared counter. For each cell: all pairs inside it; then each
 * member's plan — the other cells its bound cannot rule out, nearest bound first, within the
 * budgets. Cells the member lies inside of (bound ≤ 0: in a flat cluster, its sibling cells) that
 * enough members need are marked in `need` for phase 2, which scores the two cells as a block
 * once for both sides. The rest of the plan is scanned here, one-sided: only this cell's points
 * are offered anything, so this thread alone writes their heaps (no locks) and each plan depends
 * only on the cell's own pairs, whatever other threads are doing.
 */
export function searchCells(s: SearchShared, kernel: BlockKernel, onCell?: () => void): void {
  const { P, partStart, radius, need } = s;
  const bounds = new Float64Array(P);
  const nearCount = new Int32Array(P);
  const byBound: number[] = [];
  let cosines = new Float32Array(0);
  for (;;) {
    const t = Atomics.add(s.counters, 0, 1);
    if (t > P) break;
    const cell = s.order[t]!;
    const own = s.members.subarray(partStart[cell]!, partStart[cell + 1]!);
    const size = own.length;
    // The strays' comparisons with each other are phase-2 blocks (see listPairs).
    if (cell < P) offerBlock(s, kernel, own, own, { upper: true, locked: false, oneSided: false });
    // Cosines to the centroids: kept from the assignment, or computed again when too many to keep.
    const cached = s.cosines.length > 0 || s.cosines16.length > 0;
    if (!cached) {
      if (cosines.length < size * P) cosines = new Float32Array(size * P);
      const buf = cosines;
      centroidCosines(s, kernel, own, (x, row) => buf.set(row, x * P));
    }
    const cos: Float32Array | Int16Array = !cached ? cosines : s.cosines.length ? s.cosines : s.cosines16;
    const unitCos = cos instanceof Int16Array ? 1 / 32767 : 1;
    nearCount.fill(0);
    const planCell: number[] = [];
    const planPoint: number[] = [];
    const planNear: boolean[] = [];
    // Far scans are made in stages (see farStage); the bound is kept to re-check it at each stage.
    const planStage: number[] = [];
    const planBound: number[] = [];
    for (let x = 0; x < size; x++) {
      const theta = thetaOf(s, own[x]!);
      const row = (cached ? own[x]! : x) * P;
      byBound.length = 0;
      for (let c = 0; c < P; c++) {
        if (c === cell || partStart[c + 1] === partStart[c]) continue;
        const v = cos[row + c]! * unitCos;
        const lb = Math.acos(v > 1 ? 1 : v < -1 ? -1 : v) - radius[c]!;
        if (lb < theta) {
          bounds[c] = lb;
          byBound.push(c);
        }
      }
      byBound.sort((a, b) => bounds[a]! - bounds[b]! || a - b);
      let budget = s.maxCandidates - (cell < P ? size : Math.min(size, s.maxCandidates >> 1));
      let far = s.farCandidates;
      for (const c of byBound) {
        const m = partStart[c + 1]! - partStart[c]!;
        if (m > budget) break;
        const near = bounds[c]! <= 0 && cell < P;
        if (!near) {
          if (m > far) break;
          far -= m;
        }
        budget -= m;
        planCell.push(c);
        planPoint.push(x);
        planNear.push(near);
        planStage.push(near ? 1 : farStage(s.farCandidates - far, s.farFirst));
        planBound.push(bounds[c]!);
        if (near) nearCount[c]!++;
      }
    }
    const asBlock = (c: number): boolean => nearCount[c]! >= Math.max(1, BLOCK_SHARE * size);
    const byStage: number[][] = [];
    for (let i = 0; i < planCell.length; i++) {
      const c = planCell[i]!;
      if (planNear[i] && asBlock(c)) need[cell < c ? cell * P + c : c * P + cell] = 1;
      else (byStage[planStage[i]!] ??= []).push(i);
    }
    // One-sided scans, stage by stage. A point goes on to its next stage only if the last one
    // changed its heap, and only to cells its bound still cannot rule out.
    const active = new Uint8Array(size).fill(1);
    const worstKey = new Int32Array(size);
    const worstId = new Int32Array(size);
    // Stage 1: the near scans and the first FAR_FIRST far candidates, for every point.
    for (let stage = 1; stage < byStage.length; stage++) {
      const scans = (byStage[stage] ?? []).filter((i) => active[planPoint[i]!] && (stage === 1 || planBound[i]! < thetaOf(s, own[planPoint[i]!]!)));
      if (!scans.length) continue;
      // Only points scanned in this stage are judged by it: one large cell can carry a point's
      // far total over two stage limits at once, leaving it nothing in the stage between.
      const judged = new Uint8Array(size);
      for (const i of scans) judged[planPoint[i]!] = 1;
      for (let x = 0; x < size; x++) {
        worstKey[x] = s.heapKeys[own[x]! * s.K]!;
        worstId[x] = s.heapIds[own[x]! * s.K]!;
      }
      // Grouped by cell so each cell's rows are loaded once for all who need them.
      scans.sort((i, j) => planCell[i]! - planCell[j]! || planPoint[i]! - planPoint[j]!);
      for (let i = 0; i < scans.length; ) {
        const c = planCell[scans[i]!]!;
        let j = i;
        while (j < scans.length && planCell[scans[j]!] === c) j++;
        const who = Int32Array.from(scans.slice(i, j), (step) => own[planPoint[step]!]!);
        const members = cellMembers(s, c);
        offerBlock(s, kernel, who, members, { upper: false, locked: false, oneSided: true });
        s.scanDots[cell] = s.scanDots[cell]! + who.length * members.length;
        i = j;
      }
      // A heap with room left (its worst slot still empty) has not settled: it goes on.
      for (let x = 0; x < size; x++) {
        const base = own[x]! * s.K;
        if (judged[x] && s.heapKeys[base] !== EMPTY_KEY && s.heapKeys[base] === worstKey[x] && s.heapIds[base] === worstId[x]) active[x] = 0;
      }
    }
    Atomics.add(s.counters, 1, size);
    onCell?.();
  }
}

/**
 * Far candidates in a point's first stage of far scans; each later stage doubles the total. Why
 * stages: in flat clusters, cells that mix several small clusters are ~87° wide, so the triangle
 * bound rules them out for nobody and every point spent its whole far budget (n / 128: 8,192 at
 * 1M) scanning them, though almost none of those dots reach a heap of a point whose cluster is
 * in its own cell. A point that a stage did not improve is done; points far from every cluster
 * (strays, whose heaps fill only here) go on through the whole budget.
 */
const FAR_FIRST = 512;

/** The stage of a far candidate that brings the point's far total to `total`. */
function farStage(total: number, first: number): number {
  return total <= first ? 1 : 1 + Math.ceil(Math.log2(total / first));
}

/** Current pruning angle of point p: its K-th distance as an angle (+ slack), or ∞ while its heap is not full. */
function thetaOf(s: SearchShared, p: number): number {
  const key = s.heapKeys[p * s.K]!;
  if (key === EMPTY_KEY) return Infinity;
  const cos = 1 - distanceOfKey(key);
  return Math.acos(cos > 1 ? 1 : cos < -1 ? -1 : cos) + s.slack;
}

function cellSize(s: SearchShared, c: number): number {
  return cellMembers(s, c).length;
}

/** Main thread, between the phases: the needed cell pairs, most work first, as a flat [a, b, …] list. */
export function listPairs(s: SearchShared): Int32Array {
  const { P, need, partStart } = s;
  const size = (c: number): number => partStart[c + 1]! - partStart[c]!;
  const pairs: [number, number, number][] = [];
  for (let a = 0; a < P; a++) for (let b = a + 1; b < P; b++) if (need[a * P + b]) pairs.push([a, b, size(a) * size(b)]);
  // Strays: every pair of chunks of the same group (chunks of a group are consecutive).
  const chunks = s.strayChunks[0]!;
  for (let a = 0; a < chunks; a++) {
    for (let b = a; b < chunks && s.strayGroup[b] === s.strayGroup[a]; b++) {
      pairs.push([P + a, P + b, cellSize(s, P + a) * cellSize(s, P + b) / (a === b ? 2 : 1)]);
    }
  }
  pairs.sort((x, y) => y[2] - x[2] || x[0] - y[0] || x[1] - y[1]);
  const out = new Int32Array(new SharedArrayBuffer(Math.max(8, pairs.length * 8)));
  pairs.forEach(([a, b], i) => {
    out[2 * i] = a;
    out[2 * i + 1] = b;
  });
  s.counters[0] = 0;
  return out;
}

/**
 * Phase 2, pairs handed out by the shared counter: every member of one cell against every member
 * of the other, each dot offered to both points (under their locks: other threads may be offering
 * to the same points). Each pair of rows is scored once however many plans asked for it.
 */
export function searchPairs(s: SearchShared, kernel: BlockKernel, pairs: Int32Array, onPair?: () => void): void {
  const count = pairs.length / 2;
  for (;;) {
    const t = Atomics.add(s.counters, 0, 1);
    if (t >= count) break;
    const same = pairs[2 * t] === pairs[2 * t + 1];
    const a = cellMembers(s, pairs[2 * t]!);
    const b = cellMembers(s, pairs[2 * t + 1]!);
    offerBlock(s, kernel, a, b, { upper: same, locked: true, oneSided: false });
    // Work done, in units of 1,024 dots so that the counter cannot overflow.
    Atomics.add(s.counters, 1, Math.ceil((a.length * b.length) / 1024));
    onPair?.();
  }
}

/** Work of phase 2 in the units `searchPairs` counts. */
export function pairsWork(s: SearchShared, pairs: Int32Array): number {
  let total = 0;
  for (let t = 0; t < pairs.length; t += 2) total += Math.ceil((cellSize(s, pairs[t]!) * cellSize(s, pairs[t + 1]!)) / 1024);
  return total;
}

/**
 * Phase 3, this thread's share of the points: the tracked neighbours re-scored with the exact
 * kernel; the best k by (exact distance, id) go into the graph after the point itself. Points are
 * taken cell by cell (the members array), not by id: a point's candidates are mostly its cell's
 * members, so their float32 rows (9.7 GB at 1M, staged row by row) are read while in cache. Each
 * point writes only its own row, so the order changes no byte.
 */
export function finishRows(s: SearchShared, exact: ExactKernel, slot: number, threads: number): void {
  const { n, K, k, P, self, indices, distances, heapIds, assign, partStart, members } = s;
  const k1 = k + 1;
  // Dead points are in no cell: their rows are the point itself at distance 0.
  const [lo, hi] = slice(n, slot, threads);
  for (let p = lo; p < hi; p++) {
    if (assign[p]! >= 0) continue;
    indices.fill(p, p * k1, (p + 1) * k1);
    distances.fill(0, p * k1, (p + 1) * k1);
  }
  const [from, to] = slice(partStart[P + 1]!, slot, threads);
  const cand = new Int32Array(K);
  const dist = new Float32Array(K);
  const order: number[] = [];
  for (let at = from; at < to; at++) {
    const p = members[at]!;
    let m = 0;
    for (let t = 0; t < K; t++) {
      const j = heapIds[p * K + t]!;
      if (j !== EMPTY_ID) cand[m++] = j;
    }
    const base = p * k1;
    indices.fill(p, base, base + k1);
    distances.fill(0, base, base + k1);
    if (m === 0) continue;
    const dots = exact.exactMany(p, cand, m);
    for (let t = 0; t < m; t++) dist[t] = cosineDistance(dots[t]!, self[p]!, self[cand[t]!]!);
    order.length = m;
    for (let t = 0; t < m; t++) order[t] = t;
    order.sort((a, b) => dist[a]! - dist[b]! || cand[a]! - cand[b]!);
    const take = Math.min(m, k);
    for (let t = 0; t < take; t++) {
      indices[base + 1 + t] = cand[order[t]!]!;
      distances[base + 1 + t] = dist[order[t]!]!;
    }
  }
}
