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
import type { Kernel } from "./simd.ts";
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
  self: Float64Array;
  /** [queries × k] results. */
  indices: Int32Array;
  distances: Float32Array;
}

function sab(bytes: number): SharedArrayBuffer {
  return new SharedArrayBuffer(Math.max(8, bytes));
}

export function createExactShared(n: number, d: number, k: number, alive: Uint8Array, queries: ArrayLike<number>): ExactShared {
  const nq = queries.length;
  const s: ExactShared = {
    n, d, k,
    alive: new Uint8Array(sab(n)),
    queries: new Int32Array(sab(nq * 4)),
    self: new Float64Array(sab(n * 8)),
    indices: new Int32Array(sab(nq * k * 4)),
    distances: new Float32Array(sab(nq * k * 4)),
  };
  s.alive.set(alive);
  for (let q = 0; q < nq; q++) s.queries[q] = queries[q]!;
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
  const alives: number[] = [];
  for (let i = 0; i < n; i++) if (alive[i]) alives.push(i);
  const all = Int32Array.from(alives);
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
  const q = s.queries[r]!;
  const pooled = ids.filter((j) => j !== 0x7fffffff);
  let cand = pooled;
  if (pooled.length === ids.length && pooled.length < all.length - 1) {
    // A full pool that is not everything: its float32 k-th and last decide whether it provably holds the answer.
    const sorted = Float32Array.from(keys).sort();
    if (!(sorted[ids.length - 1]! > sorted[k - 1]! + 2 * eps)) cand = all.filter((j) => j !== q);
  }
  const dist = new Float32Array(cand.length);
  const cap = kernel.capacity;
  for (let off = 0; off < cand.length; off += cap) {
    const c = Math.min(cap, cand.length - off);
    kernel.ids.set(cand.subarray(off, off + c));
    kernel.exact(q, c);
    for (let t = 0; t < c; t++) dist[off + t] = cosineDistance(kernel.out64[t]!, self[q]!, self[cand[off + t]!]!);
  }
  const order = Array.from({ length: cand.length }, (_, t) => t);
  order.sort((a, b) => dist[a]! - dist[b]! || cand[a]! - cand[b]!);
  for (let t = 0; t < k; t++) {
    s.indices[r * k + t] = cand[order[t]!]!;
    s.distances[r * k + t] = dist[order[t]!]!;
  }
}
