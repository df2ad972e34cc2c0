/**
 * The cosine kNN graph over decoder directions, built with HNSW (hnswlib-node), plus an exact
 * brute-force search used to measure how much the approximation loses.
 *
 * HNSW only chooses *which* points are neighbours. Every distance in the graph is recomputed here
 * from the unit vectors (float64 dot product of float32 rows, summed in index order, divided by
 * the rows' own float64 lengths) and the rows are re-sorted by (distance, id), so the stored
 * values do not depend on hnswlib's SIMD kernel, exact duplicates are at distance exactly 0, and
 * the exact search below produces bit-identical distances for the same pairs.
 *
 * Determinism: hnswlib draws node levels from its own generator, seeded here from the build seed,
 * and points are inserted one at a time in id order on one thread, so the same input and seed give
 * the same graph on the same machine. Across machines the neighbour *choice* can in rare cases
 * differ: hnswlib picks an SSE/AVX/AVX-512 distance kernel at run time, and its level draws use the
 * C++ standard library's engine and distribution, which are implementation-defined.
 */
import hnswlib from "hnswlib-node";
import { rng, shuffle } from "../random.ts";
import type { KnnGraph, Progress } from "../stages.ts";

const { HierarchicalNSW } = hnswlib;

export interface KnnOptions {
  /** Neighbours per point, not counting itself. */
  k: number;
  /** HNSW `M`. */
  m: number;
  /** HNSW `efConstruction`. */
  efConstruction: number;
  /** HNSW `ef` at query time; raised to the number of results asked for when smaller. */
  efSearch: number;
  /** Build seed; the HNSW level generator gets its own stream of it. */
  seed: number;
}

/** How often (in points) the long loops report progress. */
const PROGRESS_EVERY = 1000;

/**
 * Squared length of each unit row, summed in float64 exactly like `dotRows`. Rounding the rows to
 * float32 leaves these a few ulps off 1; dividing by them makes an exact duplicate come out at
 * distance exactly 0, since sqrt(s · s) = s in IEEE arithmetic.
 */
function selfDots(unit: Float32Array, n: number, d: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = dotRows(unit, i, i, d);
  return out;
}

/**
 * Cosine distance 1 − cos as stored in the graph, from a dot product and the two rows' self dots.
 * The clamp keeps rounding of (near-)parallel rows inside the metric's range [0, 2].
 */
function cosineDistance(dot: number, selfA: number, selfB: number): number {
  const x = 1 - dot / Math.sqrt(selfA * selfB);
  return Math.fround(x < 0 ? 0 : x > 2 ? 2 : x);
}

function dotRows(unit: Float32Array, a: number, b: number, d: number): number {
  const ia = a * d;
  const ib = b * d;
  let s = 0;
  for (let t = 0; t < d; t++) s += unit[ia + t]! * unit[ib + t]!;
  return s;
}

function checkShape(unit: Float32Array, n: number, d: number, alive: Uint8Array): void {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(d) || d <= 0) {
    throw new Error(`kNN: bad shape ${n} × ${d}`);
  }
  if (unit.length !== n * d) throw new Error(`kNN: expected ${n} × ${d} = ${n * d} values, got ${unit.length}`);
  if (alive.length !== n) throw new Error(`kNN: alive mask has ${alive.length} entries for ${n} points`);
}

function positiveInt(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new Error(`kNN: ${name} must be a positive integer, got ${value}`);
}

/**
 * Build the kNN graph (see `KnnGraph`): row i is [i, its k nearest alive points by cosine
 * distance ascending, ties by id]. Only alive points enter the index and appear as neighbours.
 *
 * - Point i is always at slot 0 with distance 0, even when HNSW does not return it first (exact
 *   duplicates of i are also at distance 0 and may crowd it out): UMAP skips slot 0 as "self".
 * - A dead point's row is [i, i, …] with distance 0: it has no neighbours.
 * - When there are fewer than k other alive points, the row holds all of them and the remaining
 *   slots are padded with i at distance 0, so every row keeps k + 1 slots; UMAP gives self
 *   entries no weight.
 */
export function buildKnnGraph(
  unit: Float32Array,
  n: number,
  d: number,
  alive: Uint8Array,
  opts: KnnOptions,
  progress?: Progress,
): KnnGraph {
  checkShape(unit, n, d, alive);
  positiveInt("k", opts.k);
  positiveInt("m", opts.m);
  positiveInt("efConstruction", opts.efConstruction);
  positiveInt("efSearch", opts.efSearch);
  if (!Number.isInteger(opts.seed) || opts.seed < 0) throw new Error(`kNN: seed must be a non-negative integer, got ${opts.seed}`);

  const k = opts.k;
  const k1 = k + 1;
  const indices = new Int32Array(n * k1);
  const distances = new Float32Array(n * k1);
  for (let i = 0; i < n; i++) indices.fill(i, i * k1, (i + 1) * k1);

  const ids: number[] = [];
  for (let i = 0; i < n; i++) if (alive[i]) ids.push(i);
  const nAlive = ids.length;
  const total = 2 * nAlive;
  if (nAlive < 2) {
    progress?.(total, total);
    return { n, k1, indices, distances };
  }

  const self = selfDots(unit, n, d);
  const index = new HierarchicalNSW("ip", d);
  const hnswSeed = Math.floor(rng(opts.seed, "hnsw")() * 4294967296);
  index.initIndex(nAlive, opts.m, opts.efConstruction, hnswSeed);

  // One reusable JS array: the binding copies it into a float vector on every call.
  const row: number[] = new Array<number>(d).fill(0);
  const load = (i: number): number[] => {
    const base = i * d;
    for (let t = 0; t < d; t++) row[t] = unit[base + t]!;
    return row;
  };

  let done = 0;
  for (const i of ids) {
    index.addPoint(load(i), i);
    if (++done % PROGRESS_EVERY === 0) progress?.(done, total);
  }

  // k + 1 results leave k others whether or not HNSW returns the point itself.
  const ask = Math.min(k1, nAlive);
  index.setEf(Math.max(opts.efSearch, ask));
  const candIds = new Int32Array(ask);
  const candDist = new Float32Array(ask);
  const order: number[] = [];
  for (const i of ids) {
    const found = index.searchKnn(load(i), ask).neighbors;
    let c = 0;
    for (const j of found) {
      if (j === i) continue;
      candIds[c] = j;
      candDist[c] = cosineDistance(dotRows(unit, i, j, d), self[i]!, self[j]!);
      c++;
    }
    order.length = c;
    for (let t = 0; t < c; t++) order[t] = t;
    order.sort((a, b) => candDist[a]! - candDist[b]! || candIds[a]! - candIds[b]!);
    const base = i * k1;
    const take = Math.min(c, k);
    for (let t = 0; t < take; t++) {
      indices[base + 1 + t] = candIds[order[t]!]!;
      distances[base + 1 + t] = candDist[order[t]!]!;
    }
    if (++done % PROGRESS_EVERY === 0) progress?.(done, total);
  }
  if (done % PROGRESS_EVERY !== 0) progress?.(done, total);
  return { n, k1, indices, distances };
}

export interface ExactKnn {
  /** Neighbours per query actually found: min(k, alive points other than the query). */
  k: number;
  /** [queries × k] neighbour ids, by (distance, id) ascending. */
  indices: Int32Array;
  /** [queries × k] cosine distances, computed exactly as in `buildKnnGraph`. */
  distances: Float32Array;
}

/** Queries per pass over the data: each candidate row is read once for this many dot products. */
const BLOCK = 4;

/**
 * Brute-force k nearest alive neighbours of each query point (which must be alive), excluding the
 * query itself. O(queries × n × d): meant for samples and tests, not whole dictionaries.
 */
export function exactKnn(
  unit: Float32Array,
  n: number,
  d: number,
  alive: Uint8Array,
  queries: ArrayLike<number>,
  k: number,
): ExactKnn {
  checkShape(unit, n, d, alive);
  positiveInt("k", k);
  let nAlive = 0;
  for (let i = 0; i < n; i++) nAlive += alive[i]!;
  const nq = queries.length;
  for (let q = 0; q < nq; q++) {
    const i = queries[q]!;
    if (!Number.isInteger(i) || i < 0 || i >= n || !alive[i]) throw new Error(`exactKnn: query ${i} is not an alive point`);
  }
  const kk = Math.min(k, nAlive - 1);
  const indices = new Int32Array(nq * kk);
  const distances = new Float32Array(nq * kk);
  if (kk <= 0) return { k: 0, indices, distances };

  const self = selfDots(unit, n, d);
  const dots = new Float64Array(BLOCK);
  const filled = new Int32Array(BLOCK);
  for (let q0 = 0; q0 < nq; q0 += BLOCK) {
    const nb = Math.min(BLOCK, nq - q0);
    filled.fill(0);
    // Unused lanes of a short final block repeat the first query and are never stored.
    const b0 = queries[q0]! * d;
    const b1 = queries[q0 + Math.min(1, nb - 1)]! * d;
    const b2 = queries[q0 + Math.min(2, nb - 1)]! * d;
    const b3 = queries[q0 + Math.min(3, nb - 1)]! * d;
    for (let j = 0; j < n; j++) {
      if (!alive[j]) continue;
      const bj = j * d;
      // Four independent sums, each in index order, so each equals `dotRows` bit for bit.
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let t = 0; t < d; t++) {
        const x = unit[bj + t]!;
        s0 += x * unit[b0 + t]!;
        s1 += x * unit[b1 + t]!;
        s2 += x * unit[b2 + t]!;
        s3 += x * unit[b3 + t]!;
      }
      dots[0] = s0;
      dots[1] = s1;
      dots[2] = s2;
      dots[3] = s3;
      for (let b = 0; b < nb; b++) {
        const q = queries[q0 + b]!;
        if (q === j) continue;
        const dist = cosineDistance(dots[b]!, self[q]!, self[j]!);
        const base = (q0 + b) * kk;
        let m = filled[b]!;
        // Candidates arrive in id order, so an equal distance never displaces a kept one.
        if (m === kk && dist >= distances[base + kk - 1]!) continue;
        if (m < kk) filled[b] = ++m;
        let p = m - 1;
        while (p > 0 && distances[base + p - 1]! > dist) {
          distances[base + p] = distances[base + p - 1]!;
          indices[base + p] = indices[base + p - 1]!;
          p--;
        }
        distances[base + p] = dist;
        indices[base + p] = j;
      }
    }
  }
  return { k: kk, indices, distances };
}

export interface RecallOptions {
  /** Neighbours compared per point; default the graph's k, capped by the alive points available. */
  k?: number;
  /** Points sampled; default min(1000, alive points). */
  sample?: number;
  seed: number;
}

export interface Recall {
  k: number;
  sample: number;
  /** Mean over the sample of the fraction of the exact k nearest that the graph found. */
  recall: number;
}

/**
 * recall@k of the graph against exact search on a seeded sample of alive points, the point itself
 * excluded on both sides. A graph neighbour counts as found when it is no farther than the exact
 * k-th neighbour, so a different pick among exactly tied points (duplicates) is not a miss; with
 * no ties this is |approx ∩ exact| / k.
 */
export function measureRecall(
  unit: Float32Array,
  n: number,
  d: number,
  alive: Uint8Array,
  graph: KnnGraph,
  opts: RecallOptions,
): Recall {
  checkShape(unit, n, d, alive);
  if (graph.n !== n) throw new Error(`measureRecall: graph has ${graph.n} points, data has ${n}`);
  const ids: number[] = [];
  for (let i = 0; i < n; i++) if (alive[i]) ids.push(i);
  const k = Math.min(opts.k ?? graph.k1 - 1, graph.k1 - 1, ids.length - 1);
  const sample = Math.min(opts.sample ?? 1000, ids.length);
  // Nothing to compare (fewer than two alive points): report the k asked for, an empty sample and
  // the vacuous recall of 1, which the manifest schema accepts.
  if (k < 1 || sample < 1) return { k: Math.max(1, opts.k ?? graph.k1 - 1), sample: 0, recall: 1 };

  shuffle(ids, rng(opts.seed, "recall"));
  const picked = Int32Array.from(ids.slice(0, sample)).sort();
  const exact = exactKnn(unit, n, d, alive, picked, k);
  const k1 = graph.k1;
  let sum = 0;
  for (let q = 0; q < sample; q++) {
    const i = picked[q]!;
    const kth = exact.distances[q * k + k - 1]!;
    let hits = 0;
    for (let t = 1; t <= k; t++) {
      const j = graph.indices[i * k1 + t]!;
      if (j !== i && graph.distances[i * k1 + t]! <= kth) hits++;
    }
    sum += hits / k;
  }
  return { k, sample, recall: sum / sample };
}
