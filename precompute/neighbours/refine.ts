/**
 * One round of neighbour-of-neighbour refinement of a kNN graph (the "local join" of NN-descent,
 * Dong et al. 2011, run in a Jacobi sweep): every point is compared exactly with the neighbours of
 * its neighbours and of its reverse neighbours, and keeps the k nearest of those and its own.
 *
 * Why: the partitioned search (partitions.ts) finds a point's neighbours by scanning the cells
 * whose angular bound allows them, within candidate budgets. On data with little cluster structure
 * (the 341,479 GloVe word vectors, d = 100) the true neighbours are spread over many cells, the
 * budgets run out, and recall@15 was 0.899. Neighbour-of-neighbour search is weak from scratch on
 * such data (NN-descent alone converged at 0.76 on the synthetic 65k set, see partitions.ts) but
 * strong from a graph that is already mostly right: the missing neighbours are usually neighbours
 * of found ones. A round costs about n · (k + r) · k exact dots (r reverse neighbours kept per
 * point), against the n² / 8 the budgets allow the partitioned search.
 *
 * A row only ever improves: its old neighbours are candidates again, with the exact float64
 * distances the graph already holds (the search wrote them with the same kernel and the same
 * `cosineDistance`), and the best k of (distance, id) are kept.
 *
 * Why the new candidates may be ranked on int8 rows first: at 1,048,576 × 2,304 a round scored
 * ~250 candidates a point exactly from float32 rows that are 9.7 GB and do not fit a WebAssembly
 * memory, so every candidate's row was read from RAM and copied (554 s for one round). With
 * `ranked` > 0 they are first scored on the int8 rows (a quarter of the bytes, int8.ts) and only
 * the best `ranked` by (int8 dot, id) are scored exactly, as the search does with its tracked
 * candidates; the int8 error (~2.5e-4 in a dot) is far below the gap between a point's k-th
 * and (k + 16)-th neighbour there. Measured: 31–33 s against 36 s a round at 131,072 × 2,304 with
 * staged rows, but 578 s against 554 s at 1M — no gain there, so the copying was not what bound
 * the 1M round; profile it before building more on this path.
 * Determinism: each point reads only the snapshot graph of the previous round and writes only its
 * own row, so the result does not depend on the number of threads or their timing.
 */
import type { Int8Kernel } from "./int8.ts";
import { cosineDistance, slice } from "./partitions.ts";
import type { ExactKernel } from "./simd.ts";

/** The state every thread of a refinement round shares (SharedArrayBuffer-backed). */
export interface RefineShared {
  n: number;
  k1: number;
  alive: Uint8Array;
  /** Exact self dot of every row (cosineDistance divides by them). */
  self: Float64Array;
  /** The graph before this round, [n × k1], self first. */
  oldIndices: Int32Array;
  oldDistances: Float32Array;
  /** Reverse neighbours: the points listing p are revTargets[revStart[p] … revStart[p+1]), at most `reverse` each, nearest first. */
  revStart: Int32Array;
  revTargets: Int32Array;
  /** The graph after this round. */
  indices: Int32Array;
  distances: Float32Array;
  /** New candidates a point keeps by int8 dot for exact scoring (0: all are scored exactly; needs an Int8Kernel). */
  ranked: number;
  /** Every point once, in the order threads visit them (`visitOrder`); thread t takes slice t of it. */
  order: Int32Array;
}

const sab = (bytes: number): SharedArrayBuffer => new SharedArrayBuffer(Math.max(8, bytes));

/**
 * The shared state for a round on `graph`, with at most `reverse` reverse neighbours per point:
 * those that hold p nearest (by their distance to p, then id), so that hubs listed by thousands of
 * points cost no more than anyone else.
 */
export function createRefineShared(
  graph: { n: number; k1: number; indices: Int32Array; distances: Float32Array },
  alive: Uint8Array,
  self: Float64Array,
  reverse: number,
  ranked = 0,
  visit: "visit" | "id" = "visit",
): RefineShared {
  const { n, k1 } = graph;
  const count = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    for (let t = 1; t < k1; t++) {
      const j = graph.indices[i * k1 + t]!;
      if (j !== i) count[j + 1]!++;
    }
  }
  for (let i = 0; i < n; i++) count[i + 1]! += count[i]!;
  const from = new Int32Array(count[n]!);
  const dist = new Float32Array(count[n]!);
  const fill = count.slice(0, n);
  for (let i = 0; i < n; i++) {
    for (let t = 1; t < k1; t++) {
      const j = graph.indices[i * k1 + t]!;
      if (j === i) continue;
      from[fill[j]!] = i;
      dist[fill[j]!++] = graph.distances[i * k1 + t]!;
    }
  }
  const revStart = new Int32Array(sab((n + 1) * 4));
  const kept: number[] = [];
  const order: number[] = [];
  for (let p = 0; p < n; p++) {
    const lo = count[p]!;
    const hi = count[p + 1]!;
    order.length = hi - lo;
    for (let e = lo; e < hi; e++) order[e - lo] = e;
    if (order.length > reverse) order.sort((a, b) => dist[a]! - dist[b]! || from[a]! - from[b]!);
    const take = Math.min(reverse, order.length);
    for (let t = 0; t < take; t++) kept.push(from[order[t]!]!);
    revStart[p + 1] = kept.length;
  }
  const revTargets = new Int32Array(sab(kept.length * 4));
  revTargets.set(kept);
  const shared = <T extends Int32Array | Float32Array | Float64Array | Uint8Array>(a: T, Ctor: new (b: SharedArrayBuffer) => T): T => {
    const out = new Ctor(sab(a.byteLength));
    out.set(a as never);
    return out;
  };
  return {
    n,
    k1,
    alive: shared(alive, Uint8Array),
    self: shared(self, Float64Array),
    oldIndices: shared(graph.indices, Int32Array),
    oldDistances: shared(graph.distances, Float32Array),
    revStart,
    revTargets,
    indices: shared(graph.indices, Int32Array),
    distances: shared(graph.distances, Float32Array),
    ranked,
    order: shared(visit === "visit" ? visitOrder(graph) : Int32Array.from({ length: n }, (_, i) => i), Int32Array),
  };
}

/**
 * The points in breadth-first order over the graph (from the lowest unvisited id, neighbours in
 * list order), so that consecutive points share most of their candidates. Why: ids carry no
 * geometry (a trained dictionary's are shuffled), so visiting them in id order reads each point's
 * few hundred candidate rows from anywhere in the 2.4 GB of int8 rows and 9.7 GB of float32 rows
 * at 1M; in this order a cluster's rows are read while they are still in cache. The result does
 * not depend on the order: every point reads only the previous round's graph and writes only its
 * own row.
 */
export function visitOrder(graph: { n: number; k1: number; indices: Int32Array }): Int32Array {
  const { n, k1, indices } = graph;
  const order = new Int32Array(n);
  const seen = new Uint8Array(n);
  let tail = 0;
  for (let start = 0; start < n; start++) {
    if (seen[start]) continue;
    seen[start] = 1;
    order[tail++] = start;
    for (let head = tail - 1; head < tail; head++) {
      const p = order[head]!;
      for (let t = 1; t < k1; t++) {
        const j = indices[p * k1 + t]!;
        if (!seen[j]) {
          seen[j] = 1;
          order[tail++] = j;
        }
      }
    }
  }
  return order;
}

/**
 * This thread's share of a round: the points at s.order[slice(n, slot, threads)]. `rank` (the int8 rows' kernel) is
 * required when `s.ranked` > 0.
 */
export function refineRows(s: RefineShared, exact: ExactKernel, slot: number, threads: number, rank: Int8Kernel | null = null): void {
  const { n, k1, alive, self, oldIndices, oldDistances, revStart, revTargets, indices, distances, ranked, order } = s;
  if (ranked > 0 && !rank) throw new Error("refineRows: ranking on int8 rows needs their kernel");
  const k = k1 - 1;
  const [lo, hi] = slice(n, slot, threads);
  // stamp[j] === p marks j as already a candidate of p.
  const stamp = new Int32Array(n).fill(-1);
  let cand = new Int32Array(4 * k * k + k);
  const topI = new Int32Array(k);
  const topD = new Float32Array(k);
  const keepI = new Int32Array(Math.max(1, ranked));
  const keepV = new Float32Array(Math.max(1, ranked));
  let size = 0;
  // The k best by (distance, id), by insertion: sorting all few hundred candidates was most of
  // a round's time.
  const offer = (dt: number, id: number): void => {
    size = insertSmallest(topD, topI, size, k, dt, id);
  };
  for (let at = lo; at < hi; at++) {
    const p = order[at]!;
    if (!alive[p]) continue;
    let m = 0;
    size = 0;
    stamp[p] = p;
    const add = (j: number): void => {
      if (stamp[j] === p || !alive[j]) return;
      stamp[j] = p;
      if (m === cand.length) {
        const grown = new Int32Array(2 * cand.length);
        grown.set(cand);
        cand = grown;
      }
      cand[m++] = j;
    };
    const spread = (r: number): void => {
      for (let t = 1; t < k1; t++) add(oldIndices[r * k1 + t]!);
    };
    // The old neighbours keep their exact distances; only new candidates are scored.
    for (let t = 1; t < k1; t++) {
      const r = oldIndices[p * k1 + t]!;
      if (r === p || stamp[r] === p) continue;
      stamp[r] = p;
      offer(oldDistances[p * k1 + t]!, r);
    }
    for (let t = 1; t < k1; t++) {
      const r = oldIndices[p * k1 + t]!;
      if (r !== p) spread(r);
    }
    for (let e = revStart[p]!; e < revStart[p + 1]!; e++) {
      const r = revTargets[e]!;
      add(r);
      spread(r);
    }
    if (ranked > 0 && m > ranked) m = keepBest(rank!, p, cand, m, ranked, keepI, keepV);
    if (m > 0) {
      const dots = exact.exactMany(p, cand, m);
      for (let t = 0; t < m; t++) offer(cosineDistance(dots[t]!, self[p]!, self[cand[t]!]!), cand[t]!);
    }
    const base = p * k1;
    for (let t = 0; t < size; t++) {
      indices[base + 1 + t] = topI[t]!;
      distances[base + 1 + t] = topD[t]!;
    }
  }
}

/**
 * The `ranked` best of cand[0 … m) by (int8 dot descending, id ascending), written back to the
 * front of cand; returns their count. Insertion into a list of `ranked`: most candidates fail the
 * first comparison.
 */
function keepBest(rank: Int8Kernel, p: number, cand: Int32Array, m: number, ranked: number, keepI: Int32Array, keepV: Float32Array): number {
  let size = 0;
  for (let off = 0; off < m; off += rank.capacity) {
    const len = Math.min(rank.capacity, m - off);
    rank.ids.set(cand.subarray(off, off + len));
    rank.row(p, len);
    const out = rank.out32;
    // Largest dot first is smallest −dot first (negation is exact).
    for (let t = 0; t < len; t++) size = insertSmallest(keepV, keepI, size, ranked, -out[t]!, cand[off + t]!);
  }
  cand.set(keepI.subarray(0, size));
  return size;
}

/**
 * Offers (key, id) to the list keys/ids[0 … size), kept sorted by (key, id) ascending and at most
 * `cap` long; returns its new size. Most offers fail the first comparison with the last entry.
 */
function insertSmallest(keys: Float32Array, ids: Int32Array, size: number, cap: number, key: number, id: number): number {
  if (size === cap && (key > keys[cap - 1]! || (key === keys[cap - 1]! && id > ids[cap - 1]!))) return size;
  let q = size < cap ? size : cap - 1;
  const grown = size < cap ? size + 1 : size;
  while (q > 0 && (keys[q - 1]! > key || (keys[q - 1]! === key && ids[q - 1]! > id))) {
    keys[q] = keys[q - 1]!;
    ids[q] = ids[q - 1]!;
    q--;
  }
  keys[q] = key;
  ids[q] = id;
  return grown;
}
