/**
 * 2-D layout of the kNN graph with umap-js, normalised into the unit square.
 *
 * umap-js is fed the precomputed graph, so it never looks at the vectors: with precomputed kNN,
 * `initializeFit(X)` only reads `X.length` (to size its sparse matrices and to check there are
 * more points than neighbours) and keeps X for `transform()`, which we never call. Its initial
 * embedding is uniform random in [-10, 10]², not spectral, so it needs no data either. We pass an
 * array of n references to one empty vector.
 *
 * Two engines run the same algorithm (`UmapOptions.engine`): umap-js itself, and typed-umap.ts,
 * a typed-array port of umap-js' precomputed-kNN path. umap-js keeps its sparse matrices in Maps
 * keyed by "row:col" strings (~62 KB per point, a hard V8 limit past ~700k points; 65,536 points
 * took 143 s and 4.1 GB), so "auto" keeps it only for small graphs (up to UMAPJS_MAX_POINTS
 * connected points) and hands larger ones to the typed engine (65,536 points: ~35 CPU seconds on
 * two threads, 0.25 GB peak for the whole process, same quality; bench/layout-quality.ts).
 * umap-js' `initializeFit` is one long synchronous call that cannot report progress; only the
 * epochs can (both engines report once per epoch). With `subsetFit` (off by default), graphs from
 * `subsetFit.from` connected points get a subset fit on the typed engine (subset-fit.ts): a share
 * of the points first, the rest placed from their neighbours, then the schedule's last epochs on all.
 *
 * Points without edges ("isolated": dead features, or a graph row that lists only the point
 * itself) are kept out of UMAP. In umap-js they would never move from their random start (only
 * endpoints of edges are moved), scattering them across the map while still being drawn as
 * negative samples that push real points away. They are placed instead in a small
 * sunflower-pattern disc just beyond the bottom-right corner of the laid-out points, ordered by
 * id, so they are visibly apart and deterministic.
 *
 * Determinism: every draw comes from `rng(seed, "umap")`, and umap-js does the same floating-point
 * operations in the same order, so the same graph and seed give identical bytes (on the same
 * Node/V8 version, whose Math functions are fdlibm ports and platform independent).
 */
import { UMAP } from "umap-js";
import { rng } from "../random.ts";
import type { KnnGraph, Progress } from "../stages.ts";
import { subsetUmap } from "./subset-fit.ts";
import { typedUmap } from "./typed-umap.ts";

export interface UmapOptions {
  /** Neighbours UMAP uses including the point itself; at most the graph's k1 (the first columns are used). */
  nNeighbors: number;
  minDist: number;
  spread: number;
  /** Optimisation epochs; 0 means umap-js' default for the number of points (500 down to 200). */
  nEpochs: number;
  seed: number;
  /**
   * "umap-js" or "typed" (typed-umap.ts: the same algorithm on typed arrays); "auto" (default)
   * uses umap-js up to UMAPJS_MAX_POINTS connected points and the typed engine above.
   */
  engine?: "auto" | "umap-js" | "typed";
  /**
   * The subset fit (subset-fit.ts) for graphs of at least `from` connected points, on the typed
   * engine. Absent: every graph is fitted whole.
   */
  subsetFit?: { from: number; share: number; fineEpochs: number };
}

/**
 * Largest graph "auto" gives to umap-js. Below this it costs seconds at most, and small atlases
 * keep the reference implementation; above it umap-js' time and memory grow too fast (see
 * typed-umap.ts), e.g. 4,096 points: 14–35 s with umap-js against ~1 s typed.
 */
export const UMAPJS_MAX_POINTS = 2048;

/** Share of the unit square left empty on each side, so edge points are not cut by the frame. */
const MARGIN = 0.02;
const GOLDEN_ANGLE = Math.PI * (3 - Math.sqrt(5));

/**
 * Lay out the graph's n points in 2-D. Returns [n × 2] interleaved x, y in [0, 1]: centred, with
 * the aspect ratio kept, the longer side spanning [0.02, 0.98].
 */
export function layoutUmap(graph: KnnGraph, opts: UmapOptions, progress?: Progress): Float32Array {
  const { n, k1, indices, distances } = graph;
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(k1) || k1 < 1) throw new Error(`layout: bad graph shape ${n} × ${k1}`);
  if (indices.length !== n * k1 || distances.length !== n * k1) {
    throw new Error(`layout: graph arrays hold ${indices.length} ids and ${distances.length} distances, expected ${n} × ${k1}`);
  }
  if (!Number.isInteger(opts.nNeighbors) || opts.nNeighbors < 2) throw new Error(`layout: nNeighbors must be an integer ≥ 2, got ${opts.nNeighbors}`);
  if (opts.nNeighbors > k1) throw new Error(`layout: nNeighbors ${opts.nNeighbors} exceeds the graph's ${k1} neighbours per point`);
  if (!Number.isInteger(opts.nEpochs) || opts.nEpochs < 0) throw new Error(`layout: nEpochs must be a non-negative integer, got ${opts.nEpochs}`);
  if (!(opts.minDist >= 0) || !(opts.spread > 0)) throw new Error(`layout: need minDist ≥ 0 and spread > 0, got ${opts.minDist} and ${opts.spread}`);

  // A point is connected when it has an edge in either direction.
  const connected = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (indices[i * k1] !== i) throw new Error(`layout: graph row ${i} does not start with the point itself`);
    for (let t = 1; t < k1; t++) {
      const j = indices[i * k1 + t]!;
      if (j < 0 || j >= n) throw new Error(`layout: graph row ${i} names point ${j}, outside 0…${n - 1}`);
      if (!(distances[i * k1 + t]! >= 0)) throw new Error(`layout: graph row ${i} has distance ${distances[i * k1 + t]} to point ${j}`);
      if (j !== i) connected[i] = connected[j] = 1;
    }
  }
  const ids: number[] = [];
  const isolated: number[] = [];
  for (let i = 0; i < n; i++) (connected[i] ? ids : isolated).push(i);

  const xy = new Float64Array(n * 2);
  embedConnected(graph, ids, opts, xy, progress);
  placeIsolated(ids, isolated, xy);
  return normalise(xy, n);
}

/** UMAP on the connected points, ids compacted to 0 … m−1; writes their xy. */
function embedConnected(graph: KnnGraph, ids: number[], opts: UmapOptions, xy: Float64Array, progress?: Progress): void {
  const m = ids.length;
  const { k1, indices, distances } = graph;
  // umap-js needs more points than neighbours; tiny graphs lose their farthest columns.
  const kUse = Math.min(opts.nNeighbors, m - 1);
  if (kUse < 2) {
    // One or two points: nothing for UMAP to optimise. Put them side by side.
    for (let c = 0; c < m; c++) xy[ids[c]! * 2] = c;
    progress?.(1, 1);
    return;
  }

  const compact = new Int32Array(graph.n).fill(-1);
  for (let c = 0; c < m; c++) compact[ids[c]!] = c;
  const engine = opts.engine ?? "auto";
  if (engine === "typed" || (engine === "auto" && m > UMAPJS_MAX_POINTS)) {
    const rowIds = new Int32Array(m * kUse);
    const rowDist = new Float32Array(m * kUse);
    for (let c = 0; c < m; c++) {
      const base = ids[c]! * k1;
      for (let t = 0; t < kUse; t++) {
        rowIds[c * kUse + t] = compact[indices[base + t]!]!;
        rowDist[c * kUse + t] = distances[base + t]!;
      }
    }
    const input = { m, k: kUse, indices: rowIds, distances: rowDist };
    const typed = { minDist: opts.minDist, spread: opts.spread, nEpochs: opts.nEpochs, random: rng(opts.seed, "umap") };
    const sub = opts.subsetFit;
    const pos = sub && m >= sub.from ? subsetUmap(input, { ...typed, share: sub.share, fineEpochs: sub.fineEpochs }, progress) : typedUmap(input, typed, progress);
    for (let c = 0; c < m; c++) {
      const x = pos[2 * c]!;
      const y = pos[2 * c + 1]!;
      if (!Number.isFinite(x) || !Number.isFinite(y)) {
        throw new Error(`layout: UMAP produced a non-finite position (${x}, ${y}) for feature ${ids[c]}`);
      }
      xy[ids[c]! * 2] = x;
      xy[ids[c]! * 2 + 1] = y;
    }
    return;
  }
  const knnIndices: number[][] = new Array(m);
  const knnDistances: number[][] = new Array(m);
  for (let c = 0; c < m; c++) {
    const base = ids[c]! * k1;
    const rowIds = new Array<number>(kUse);
    const rowDist = new Array<number>(kUse);
    for (let t = 0; t < kUse; t++) {
      rowIds[t] = compact[indices[base + t]!]!;
      rowDist[t] = distances[base + t]!;
    }
    knnIndices[c] = rowIds;
    knnDistances[c] = rowDist;
  }

  const umap = new UMAP({
    nComponents: 2,
    nNeighbors: kUse,
    minDist: opts.minDist,
    spread: opts.spread,
    nEpochs: opts.nEpochs,
    random: rng(opts.seed, "umap"),
  });
  umap.setPrecomputedKNN(knnIndices, knnDistances);
  const none: number[] = [];
  const epochs = umap.initializeFit(new Array<number[]>(m).fill(none));
  progress?.(0, epochs);
  for (let epoch = 0; epoch < epochs; ) {
    epoch = umap.step();
    progress?.(epoch, epochs);
  }

  const embedding = umap.getEmbedding();
  for (let c = 0; c < m; c++) {
    const p = embedding[c]!;
    const x = p[0]!;
    const y = p[1]!;
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      throw new Error(`layout: UMAP produced a non-finite position (${x}, ${y}) for feature ${ids[c]}`);
    }
    xy[ids[c]! * 2] = x;
    xy[ids[c]! * 2 + 1] = y;
  }
}

/**
 * Isolated points go in a disc just past the bottom-right corner of the connected points, sized
 * with their count (up to a tenth of the layout) so a handful stays a small, separate speck.
 */
function placeIsolated(ids: number[], isolated: number[], xy: Float64Array): void {
  const count = isolated.length;
  if (count === 0) return;
  // With no connected points the disc is the whole layout, centred on the origin.
  let minX = 0;
  let minY = 0;
  let maxX = 0;
  let maxY = 0;
  if (ids.length) {
    minX = minY = Infinity;
    maxX = maxY = -Infinity;
    for (const i of ids) {
      minX = Math.min(minX, xy[i * 2]!);
      maxX = Math.max(maxX, xy[i * 2]!);
      minY = Math.min(minY, xy[i * 2 + 1]!);
      maxY = Math.max(maxY, xy[i * 2 + 1]!);
    }
  }
  const span = Math.max(maxX - minX, maxY - minY);
  const extent = span > 0 ? span : 1;
  const radius = extent * Math.min(0.1, 0.01 * Math.sqrt(count));
  const cx = ids.length ? maxX + 0.05 * extent + radius : 0;
  const cy = ids.length ? minY + radius : 0;
  for (let t = 0; t < count; t++) {
    const r = radius * Math.sqrt((t + 0.5) / count);
    const a = t * GOLDEN_ANGLE;
    const i = isolated[t]!;
    xy[i * 2] = cx + r * Math.cos(a);
    xy[i * 2 + 1] = cy + r * Math.sin(a);
  }
}

/** Centre and scale uniformly into [MARGIN, 1 − MARGIN] on the longer side, keeping the aspect ratio. */
function normalise(xy: Float64Array, n: number): Float32Array {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = xy[i * 2]!;
    const y = xy[i * 2 + 1]!;
    if (x < minX) minX = x;
    if (x > maxX) maxX = x;
    if (y < minY) minY = y;
    if (y > maxY) maxY = y;
  }
  const out = new Float32Array(n * 2);
  const extent = Math.max(maxX - minX, maxY - minY);
  const scale = extent > 0 ? (1 - 2 * MARGIN) / extent : 0;
  const cx = (minX + maxX) / 2;
  const cy = (minY + maxY) / 2;
  for (let i = 0; i < n; i++) {
    const x = 0.5 + (xy[i * 2]! - cx) * scale;
    const y = 0.5 + (xy[i * 2 + 1]! - cy) * scale;
    // The clamp only catches float rounding at the edges; the margin keeps real points inside.
    out[i * 2] = x < 0 ? 0 : x > 1 ? 1 : x;
    out[i * 2 + 1] = y < 0 ? 0 : y > 1 ? 1 : y;
  }
  return out;
}
