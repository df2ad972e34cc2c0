/**
 * Brute-force k nearest neighbours of a list of query points, shared among threads by query.
 *
 * Every alive row is scored against each query with the fast float32 tile kernel, keeping the best
 * `k + POOL_EXTRA` per query; that pool is then re-scored with the exact float64 kernel and sorted
 * by (distance, id). The result is provably the exact answer: a float32 dot of unit rows is within
 * ε = d · 2⁻²⁴ · 1.05 + 2⁻²³ of the exact one (the standard bound for any order of summation), so when the pool's last float32 distance exceeds its
 * k-th by more than 2ε, nothing outside the pool can beat the exact k-th. A query whose pool is
 * that crowded (many near-ties, e.g. a large group of duplicates) is redone with the exact kernel
 * over all rows. This is 2–3 times faster than scoring every pair exactly, and the distances are
 * bit-identical to the graph's, which come from the same exact kernel.
 */
import type { ExactKernel, Kernel } from "./simd.ts";
import { cosineDistance, forBlock, slice } from "./partitions.ts";
import { replaceWorst } from "./heap.ts";

const POOL_EXTRA = 32;
/** Queries scored together, as one side of the tile kernel's blocks (partitions.ts `forBlock`). */
const BLOCK = 16;

export interface ExactShared {
  n: number;
  d: number;
  /** Neighbours per query (already capped by the alive points available). */
  k: number;
  alive: Uint8Array;
  queries: Int32Array;
  /**
   * Rows the neighbours are chosen from, ascending; empty means every alive row. A cross search
   * (splits/: the rows of two dictionaries in one memory) passes the other dictionary's rows here.
   */
  candidates: Int32Array;
  self: Float64Array;
  /** [queries × k] results. */
  indices: Int32Array;
  distances: Float32Array;
}

function sab(bytes: number): SharedArrayBuffer {
  return new SharedArrayBuffer(Math.max(8, bytes));
}

export function createExactShared(
  n: number,
  d: number,
  k: number,
  alive: Uint8Array,
  queries: ArrayLike<number>,
  candidates: ArrayLike<number> = [],
): ExactShared {
  const nq = queries.length;
  const s: ExactShared = {
    n, d, k,
    alive: new Uint8Array(sab(n)),
    queries: new Int32Array(sab(nq * 4)),
    candidates: new Int32Array(sab(candidates.length * 4), 0, candidates.length),
    self: new Float64Array(sab(n * 8)),
    indices: new Int32Array(sab(nq * k * 4)),
    distances: new Float32Array(sab(nq * k * 4)),
  };
  s.alive.set(alive);
  for (let q = 0; q < nq; q++) s.queries[q] = queries[q]!;
  for (let c = 0; c < candidates.length; c++) s.candidates[c] = candidates[c]!;
  return s;
}

/** Exact self dots of this thread's share of the rows. */
export function exactSelfDots(s: ExactShared, kernel: Kernel, slot: number, threads: number): void {
  const [lo, hi] = slice(s.n, slot, threads);
  for (let p = lo; p < hi; p++) s.self[p] = kernel.exactPair(p, p);
}

/** Bounded max-heap by (key, id): float32 distance keys, worst at slot 0. */
function push(ids: Int32Array, keys: Float32Array, base: number, size: number, key: number, id: number): void {
  const worst = keys[base]!;
  if (key > worst || (key === worst && id >= ids[base]!)) return;
  replaceWorst(ids, keys, base, size, key, id);
}

/** The exact k nearest of this thread's share of the queries. */
export function exactSearch(s: ExactShared, kernel: Kernel, slot: number, threads: number): void {
  const { n, d, k, alive, queries, self } = s;
  const [lo, hi] = slice(queries.length, slot, threads);
  let all = s.candidates;
  if (all.length === 0) {
    const alives: number[] = [];
    for (let i = 0; i < n; i++) if (alive[i]) alives.push(i);
    all = Int32Array.from(alives);
  }
  const pool = Math.min(k + POOL_EXTRA, all.length);
  const eps = d * 2 ** -24 * 1.05 + 2 ** -23;
  const poolIds = new Int32Array(BLOCK * pool);
  const poolKeys = new Float32Array(BLOCK * pool);
  const f32 = new Float32Array(1);
  for (let q0 = lo; q0 < hi; q0 += BLOCK) {
    const nb = Math.min(BLOCK, hi - q0);
    poolIds.fill(0x7fffffff);
    poolKeys.fill(Infinity);
    const block = queries.subarray(q0, q0 + nb);
    forBlock(kernel, block, all, (b, y, dot) => {
      const j = all[y]!;
      if (j === block[b]) return;
      f32[0] = 1 - dot;
      push(poolIds, poolKeys, b * pool, pool, f32[0]!, j);
    });
    for (let b = 0; b < nb; b++) finishQuery(s, kernel, q0 + b, poolIds.subarray(b * pool, (b + 1) * pool), poolKeys.subarray(b * pool, (b + 1) * pool), all, eps, self);
  }
}

function finishQuery(s: ExactShared, kernel: Kernel, r: number, ids: Int32Array, keys: Float32Array, all: Int32Array, eps: number, self: Float64Array): void {
  const { k } = s;
  rankQuery(s.queries[r]!, k, ids, keys, all, eps, self, kernel, s.indices.subarray(r * k, (r + 1) * k), s.distances.subarray(r * k, (r + 1) * k));
}

/** Whether the ascending list `sorted` holds `x`. */
function holds(sorted: Int32Array, x: number): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = sorted[mid]!;
    if (v === x) return true;
    if (v < x) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** A query's k nearest from its float32 pool: re-scored exactly, or all rows when the pool cannot prove it. */
function rankQuery(
  q: number, k: number, ids: Int32Array, keys: Float32Array, all: Int32Array, eps: number, self: Float64Array,
  exact: ExactKernel, outIds: Int32Array, outDist: Float32Array,
): void {
  const pooled = ids.filter((j) => j !== 0x7fffffff);
  let cand = pooled;
  // Every candidate but the query itself (a cross search's candidates do not hold it).
  const others = holds(all, q) ? all.length - 1 : all.length;
  if (pooled.length === ids.length && pooled.length < others) {
    // A full pool that is not everything: its float32 k-th and last decide whether it provably holds the answer.
    const sorted = Float32Array.from(keys).sort();
    if (!(sorted[ids.length - 1]! > sorted[k - 1]! + 2 * eps)) cand = all.filter((j) => j !== q);
  }
  const dist = new Float32Array(cand.length);
  const CHUNK = 4096;
  for (let off = 0; off < cand.length; off += CHUNK) {
    const c = Math.min(CHUNK, cand.length - off);
    const dots = exact.exactMany(q, cand.subarray(off, off + c), c);
    for (let t = 0; t < c; t++) dist[off + t] = cosineDistance(dots[t]!, self[q]!, self[cand[off + t]!]!);
  }
  const order = Array.from({ length: cand.length }, (_, t) => t);
  order.sort((a, b) => dist[a]! - dist[b]! || cand[a]! - cand[b]!);
  for (let t = 0; t < k; t++) {
    outIds[t] = cand[order[t]!]!;
    outDist[t] = dist[order[t]!]!;
  }
}

/**
 * The same search when the rows do not fit one WebAssembly memory (knn.ts `exactKnn`): the query
 * rows stay in a small shared memory and the alive rows pass through a window after them, a block
 * of `window` rows at a time, copied in by the main thread. Every thread scores its queries
 * against each window with the same float32 block kernel and keeps the same bounded pools, which
 * hold the smallest (distance, id) offers whatever order they come in; the pools are then
 * re-scored exactly from the rows where they are (`StagedExact`). So the answer is bit-identical
 * to `exactSearch`'s, at one extra read of the rows.
 */
export interface WindowShared {
  n: number;
  d: number;
  k: number;
  /** Queries; their rows are rows 0 … queries − 1 of the memory. */
  queries: Int32Array;
  /** Rows per window; the window's rows follow the queries'. */
  window: number;
  /** Global ids of the rows in the current window, and how many there are ([0]). */
  windowIds: Int32Array;
  windowCount: Int32Array;
  /** Exact self dot of every row (filled window by window). */
  self: Float64Array;
  /** Pool size per query, and the pools: [queries × pool] ids and float32 distances. */
  pool: number;
  poolIds: Int32Array;
  poolKeys: Float32Array;
}

export function createWindowShared(n: number, d: number, k: number, nAlive: number, queries: ArrayLike<number>, window: number): WindowShared {
  const nq = queries.length;
  const pool = Math.min(k + POOL_EXTRA, nAlive);
  const s: WindowShared = {
    n, d, k, window, pool,
    queries: new Int32Array(sab(nq * 4)),
    windowIds: new Int32Array(sab(window * 4)),
    windowCount: new Int32Array(sab(4)),
    self: new Float64Array(sab(n * 8)),
    poolIds: new Int32Array(sab(nq * pool * 4)).fill(0x7fffffff),
    poolKeys: new Float32Array(sab(nq * pool * 4)).fill(Infinity),
  };
  for (let q = 0; q < nq; q++) s.queries[q] = queries[q]!;
  return s;
}

/** This thread's share of one window: self dots of its rows, then its queries against all of them. */
export function windowScan(s: WindowShared, kernel: Kernel, slot: number, threads: number): void {
  const nq = s.queries.length;
  const count = s.windowCount[0]!;
  const [r0, r1] = slice(count, slot, threads);
  for (let r = r0; r < r1; r++) s.self[s.windowIds[r]!] = kernel.exactPair(nq + r, nq + r);
  const local = Int32Array.from({ length: count }, (_, r) => nq + r);
  const blocks = Math.ceil(nq / BLOCK);
  const [b0, b1] = slice(blocks, slot, threads);
  const f32 = new Float32Array(1);
  const { pool, poolIds, poolKeys, windowIds, queries } = s;
  for (let b = b0; b < b1; b++) {
    const q0 = b * BLOCK;
    const block = Int32Array.from({ length: Math.min(BLOCK, nq - q0) }, (_, t) => q0 + t);
    forBlock(kernel, block, local, (x, y, dot) => {
      const j = windowIds[y]!;
      const q = q0 + x;
      if (j === queries[q]) return;
      f32[0] = 1 - dot;
      push(poolIds, poolKeys, q * pool, pool, f32[0]!, j);
    });
  }
}

/** Main thread, after the last window: each query's pool re-scored exactly (see `finishQuery`). */
export function finishWindowed(s: WindowShared, exact: ExactKernel, alive: Uint8Array): { indices: Int32Array; distances: Float32Array } {
  const { k, d, pool, queries } = s;
  const nq = queries.length;
  const eps = d * 2 ** -24 * 1.05 + 2 ** -23;
  const out = { indices: new Int32Array(nq * k), distances: new Float32Array(nq * k) };
  let all: Int32Array | null = null;
  for (let r = 0; r < nq; r++) {
    const ids = s.poolIds.subarray(r * pool, (r + 1) * pool);
    const keys = s.poolKeys.subarray(r * pool, (r + 1) * pool);
    if (!all) {
      const list: number[] = [];
      for (let i = 0; i < s.n; i++) if (alive[i]) list.push(i);
      all = Int32Array.from(list);
    }
    rankQuery(queries[r]!, k, ids, keys, all, eps, s.self, exact, out.indices.subarray(r * k, (r + 1) * k), out.distances.subarray(r * k, (r + 1) * k));
  }
  return out;
}
