/**
 * The cosine kNN graph over decoder directions, an exact brute-force search, and recall.
 *
 * Three engines choose the neighbours (`KnnOptions.engine`):
 * - "exact": every alive pair (`exactKnn`), used by "auto" between HNSW's range and EXACT_MAX_WORK,
 *   because the partitioned search keeps its recall only on clustered rows (see EXACT_MAX_WORK).
 * - "partitioned" (partitions.ts): spherical k-means cells searched with exact angular pruning,
 *   on every core through worker threads sharing the rows (thread-pool.ts). It is the one that
 *   scales; partitions.ts says why it beat NN-descent and HNSW on the benchmark data.
 * - "hnsw": hnswlib-node on one thread, points inserted in id order. Kept for small inputs
 *   ("auto" uses it up to HNSW_MAX_POINTS alive points), where it needs no worker start-up (~0.3 s
 *   per worker, mostly loading TypeScript) and is as fast.
 *
 * Either engine only chooses *which* points are neighbours. Every stored distance is recomputed by
 * the exact float64 WebAssembly kernel (simd.ts: float32 rows widened, products summed in a fixed
 * order, IEEE-exact on every machine) and divided by the rows' own exact self dots, and rows are
 * sorted by (distance, id). So exact duplicates are at distance exactly 0, and `exactKnn` produces
 * bit-identical distances for the same pairs.
 *
 * Determinism: the partitioned engine gives the same graph for the same input and seed whatever
 * the number of threads or their timing (see partitions.ts). hnswlib draws node levels from its own
 * generator, seeded here from the build seed; across machines its neighbour *choice* can in rare
 * cases differ (run-time SSE/AVX kernel choice, implementation-defined C++ random distributions).
 */
import hnswlib from "hnswlib-node";
import { rng, shuffle } from "../random.ts";
import type { KnnGraph, Progress } from "../stages.ts";
import { createExactShared, createWindowShared, exactSearch, exactSelfDots, finishWindowed, windowScan, type ExactShared } from "./exact.ts";
import { phaseTimer } from "../phases.ts";
import { allocateQuantised, Int8Kernel, int8KernelName, quantiseRow, quantiseRows, type QuantisedRows } from "./int8.ts";
import type { KnnTask, KnnWorkerInit } from "./knn-worker.ts";
import { createRefineShared, refineRows } from "./refine.ts";
import {
  assignAll, assignSample, buildCells, cosineDistance, createShared, defaultCells, finishRows, groupStrays, initCentroids,
  listPairs, pairsWork, searchCells, searchPairs, selfDots, updateCentroids, type CosineCache,
} from "./partitions.ts";
import { allocateRows, existingMemory, Kernel, rowsFit, rowsMemory, spareRows, StagedExact, type BlockKernel, type ExactKernel } from "./simd.ts";
import { defaultThreads, sharedRows, ThreadPool } from "./thread-pool.ts";

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
  /** Build seed; the HNSW level generator and the partitioned search's sample get their own streams of it. */
  seed: number;
  /**
   * Which engine chooses the neighbours. "auto" (default): HNSW up to HNSW_MAX_POINTS alive points,
   * then brute force while alive² × d ≤ EXACT_MAX_WORK, then the partitioned search.
   */
  engine?: "auto" | "hnsw" | "exact" | "partitioned";
  /** Threads of the partitioned engine, the main one included; default: the machine's cores (≤ 8). */
  threads?: number;
  /** Partitioned engine: k-means cells; default ⌈√(alive points)⌉. */
  cells?: number;
  /** Partitioned engine: most points one point is compared with; default max(16,384, alive / 8). */
  maxCandidates?: number;
  /** Partitioned engine: most of those from cells the point lies outside of; default max(512, alive / 128). */
  farCandidates?: number;
  /**
   * Partitioned engine: the dots that choose the candidates. "float32" (exact up to float32
   * rounding) or "int8" (int8.ts: quantised rows, INT8_EXTRA more candidates tracked, all
   * re-ranked exactly). Default "auto": int8 from INT8_FROM values (n × d) up, and whenever the
   * float32 rows do not fit one WebAssembly memory.
   */
  precision?: "auto" | "float32" | "int8";
  /** Partitioned engine, for tests: how points' cosines to the centroids are kept (default: by size, partitions.ts). */
  cosineCache?: CosineCache;
  /** Partitioned engine, for tests: strays are grouped by k-means when more than this many (default 4,096, partitions.ts `groupStrays`). */
  strayGroupFrom?: number;
  /** Partitioned engine, for tests: far candidates in a point's first stage of far scans (default 512, partitions.ts `FAR_FIRST`). */
  farFirst?: number;
  /**
   * Partitioned engine on int8 rows: receives those rows, for a refinement of the graph over the
   * same rows and alive mask to rank on (`RefineOptions.carry`) instead of quantising them again
   * (~30 s at 1M). Holding them keeps their memory (n × d bytes) until the carry is dropped.
   */
  carry?: RefineCarry;
}

/**
 * The engine that chose the neighbours and its real parameters, as `buildKnnGraph` runs it for
 * these options: what the manifest records (contract `params.knn.engine`).
 */
export type KnnEngine =
  | { name: "hnsw"; m: number; efConstruction: number; efSearch: number }
  | { name: "exact" }
  | { name: "partitioned"; precision: "float32" | "int8"; cells: number; maxCandidates: number; farCandidates: number; tracked: number };

/**
 * From this many values (n × d) the partitioned search ranks candidates by int8 dots. Measured at
 * d = 2,304 on the 2-core build machine: the int8 block kernel makes a pair's dot in ~0.6 of the
 * float32 kernel's time (923 against 1,565 ns a pair, one thread, load 22), and the rows take a
 * quarter of the memory. Whole kNN stage on a quiet machine (buildKnnGraph with each precision on
 * the bench dictionaries, wall time over 2 threads, recall@15 on 1,000 sampled points):
 *   16,384 × 768 (1.3e7):   float32 1.86 s, 0.985;  int8 1.99 s, 0.986 — float32 stays here;
 *   65,536 × 768 (5.0e7):   float32 10.6 s, 0.969;  int8 9.1 s, 0.968;
 *   65,536 × 2,304 (1.5e8): float32 21.2 s, 0.977;  int8 18.8 s, 0.980;
 *   262,144 × 2,304 (6.0e8, BF16, load ~20): 634 against ~400 CPU s, recall 0.960 and 0.964.
 * 2^25 (3.4e7) sits between the sizes where int8 stopped losing and started winning.
 */
export const INT8_FROM = 2 ** 25;
/** Extra candidates tracked per point with int8 dots, re-ranked exactly (int8.ts says why 16). */
export const INT8_EXTRA = 16;
/** Extra candidates tracked with float32 dots: only float32 rounding can misorder them. */
const F32_EXTRA = 4;
/** Pruning slack (radians) with int8 dots: ~3σ of their error at cosine 0.7, where clusters sit. */
const INT8_SLACK = 3e-3;
/** Pruning slack with float32 dots: far more than their rounding can move an angle. */
const F32_SLACK = 1e-3;

/**
 * Largest brute-force job (alive² × d multiply-adds) the "auto" engine runs instead of the
 * partitioned search. Why: the partitioned search keeps recall only where the rows form clusters.
 * On the demo's 16,384-latent GloVe SAE (d = 100, flat: the 1st and 15th neighbours' cosines are
 * 0.42 and 0.33) it reached recall@15 0.36 in 1.6 s, while brute force over every pair took 4.9 s
 * (2 threads, load ~4) at recall 1. 2^35 is that job's size rounded up (16,384² × 100 = 2.7e10);
 * 16,384 × 768 (2.1e11, ~37 s brute force) stays with the partitioned search, which reaches
 * 0.985 there in 2.5 s.
 */
export const EXACT_MAX_WORK = 2 ** 35;

/** Largest input the "auto" engine gives to HNSW. */
export const HNSW_MAX_POINTS = 5000;
/** k-means rounds on the sample: the cells only need to be compact, not optimal. */
const KMEANS_ROUNDS = 6;

/** How often (in points) the long loops report progress. */
const PROGRESS_EVERY = 1000;

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

function threadCount(opts: { threads?: number }): number {
  const threads = opts.threads ?? defaultThreads();
  if (!Number.isInteger(threads) || threads < 1 || threads > 8) throw new Error(`kNN: threads must be an integer from 1 to 8, got ${threads}`);
  return threads;
}

const WORKER = new URL("./knn-worker.ts", import.meta.url);

/**
 * Run `task` on every thread: the main thread's share via `main`, the workers' through the pool
 * (none when threads is 1).
 */
function runAll(pool: ThreadPool<KnnTask> | null, task: KnnTask, main: () => void, onWait?: () => void): void {
  if (pool) pool.run(task, main, onWait);
  else main();
}

/**
 * Build the kNN graph (see `KnnGraph`): row i is [i, its k nearest alive points by cosine
 * distance ascending, ties by id]. Only alive points take part and appear as neighbours.
 *
 * - Point i is always at slot 0 with distance 0 (exact duplicates of i are also at distance 0 but
 *   come after it): UMAP skips slot 0 as "self".
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
  const threads = threadCount(opts);
  if (opts.cells !== undefined) positiveInt("cells", opts.cells);
  if (opts.maxCandidates !== undefined) positiveInt("maxCandidates", opts.maxCandidates);
  if (opts.farCandidates !== undefined) positiveInt("farCandidates", opts.farCandidates);

  let nAlive = 0;
  for (let i = 0; i < n; i++) nAlive += alive[i]!;
  const engine = knnEngine(n, d, nAlive, opts);
  if (engine.name === "hnsw") return buildHnsw(unit, n, d, alive, opts, progress);
  if (engine.name === "exact") return buildExact(unit, n, d, alive, opts.k, threads, progress);
  return buildPartitioned(unit, n, d, alive, opts, engine, threads, nAlive, progress);
}

/** Which engine `buildKnnGraph` runs for n points (nAlive of them alive) of d values, with what parameters. */
export function knnEngine(n: number, d: number, nAlive: number, opts: KnnOptions): KnnEngine {
  const engine = opts.engine ?? "auto";
  if (engine === "hnsw" || (engine === "auto" && nAlive <= HNSW_MAX_POINTS)) {
    return { name: "hnsw", m: opts.m, efConstruction: opts.efConstruction, efSearch: Math.max(opts.efSearch, Math.min(opts.k + 1, nAlive)) };
  }
  if (engine === "exact" || (engine === "auto" && nAlive * nAlive * d <= EXACT_MAX_WORK)) return { name: "exact" };
  const asked = opts.precision ?? "auto";
  const precision = asked !== "auto" ? asked : n * d >= INT8_FROM || !rowsFit(n, d) ? "int8" : "float32";
  return {
    name: "partitioned",
    precision,
    cells: Math.min(opts.cells ?? defaultCells(nAlive), spareRows(n), Math.max(1, nAlive)),
    maxCandidates: opts.maxCandidates ?? Math.max(16384, Math.ceil(nAlive / 8)),
    // Points far from every cell (members of small clusters) find their cross-cluster neighbours
    // only here; keeping the budget a fixed share of the points keeps their recall as n grows.
    farCandidates: opts.farCandidates ?? Math.max(512, Math.ceil(nAlive / 128)),
    tracked: opts.k + (precision === "int8" ? INT8_EXTRA : F32_EXTRA),
  };
}

/**
 * Where the exact kernel finds the float32 rows: in their own WebAssembly memory when they are
 * in one (every thread), else staged from a SharedArrayBuffer (every thread) or from a plain
 * array (the main thread alone: workers cannot see it).
 */
function exactRows(unit: Float32Array, n: number, d: number): { memory: WebAssembly.Memory | null; shared: Float32Array | null } {
  const memory = existingMemory(unit, n, d);
  if (memory) return { memory, shared: null };
  return { memory: null, shared: unit.buffer instanceof SharedArrayBuffer ? unit : null };
}

function exactKernelFor(memory: WebAssembly.Memory | null, rows: Float32Array, d: number, slot: number): ExactKernel {
  return memory ? new Kernel(memory, d, slot) : new StagedExact(rows, d);
}

function buildPartitioned(
  unit: Float32Array,
  n: number,
  d: number,
  alive: Uint8Array,
  opts: KnnOptions,
  engine: Extract<KnnEngine, { name: "partitioned" }>,
  threads: number,
  nAlive: number,
  progress?: Progress,
): KnnGraph {
  const k = opts.k;
  const k1 = k + 1;
  if (nAlive < 2) {
    const indices = new Int32Array(n * k1);
    for (let i = 0; i < n; i++) indices.fill(i, i * k1, (i + 1) * k1);
    progress?.(nAlive, nAlive);
    return { n, k1, indices, distances: new Float32Array(n * k1) };
  }
  const int8 = engine.precision === "int8";
  const { cells, maxCandidates, farCandidates } = engine;
  const s = createShared(n, d, k, alive, cells, maxCandidates, farCandidates, opts.seed, {
    extra: engine.tracked - k,
    slack: int8 ? INT8_SLACK : F32_SLACK,
    ...(opts.cosineCache ? { cosineCache: opts.cosineCache } : {}),
    ...(opts.strayGroupFrom !== undefined ? { strayGroupFrom: opts.strayGroupFrom } : {}),
    ...(opts.farFirst !== undefined ? { farFirst: opts.farFirst } : {}),
  });
  // The rows the candidates are ranked on: float32 in one memory, or int8 (int8.ts), each with
  // spare rows for the centroids; and where the exact kernel reads the float32 rows.
  const phase = phaseTimer("knn");
  let memory: WebAssembly.Memory | null = null;
  let quant: QuantisedRows | null = null;
  let exact: { memory: WebAssembly.Memory | null; shared: Float32Array | null };
  let put: (c: number, values: ArrayLike<number>, from: number) => void;
  if (int8) {
    quant = allocateQuantised(n + spareRows(n), d);
    quantiseRows(quant, unit, alive);
    const q = quant;
    put = (c, values, from) => quantiseRow(q, n + c, values, from);
    exact = exactRows(unit, n, d);
  } else {
    memory = rowsMemory(unit, n, d).memory;
    const all = new Float32Array(memory.buffer, 0, (n + spareRows(n)) * d);
    put = (c, values, from) => {
      for (let j = 0; j < d; j++) all[(n + c) * d + j] = values[from + j]!;
    };
    exact = { memory, shared: null };
  }
  // Exact phases run on every thread when the workers can read the float32 rows.
  const exactThreads = exact.memory || exact.shared ? threads : 1;
  const init: KnnWorkerInit = { memory, quant, exactMemory: exact.memory, exactShared: sharedRows(exact.shared), d, threads, search: s };
  const pool = threads > 1 ? new ThreadPool<KnnTask>(WORKER, threads, init) : null;
  try {
    const kernel: BlockKernel = quant ? new Int8Kernel(quant, 0) : new Kernel(memory!, d, 0);
    const exactKernel = exactKernelFor(exact.memory, unit, d, 0);
    const runExact = (task: KnnTask, main: (slot: number, of: number) => void): void => {
      if (exactThreads > 1) runAll(pool, task, () => main(0, exactThreads));
      else main(0, 1);
    };
    phase("rows and workers", quant ? ` (${int8KernelName()} int8 kernel)` : "");
    initCentroids(s, unit, put);
    for (let round = 0; round < KMEANS_ROUNDS; round++) {
      runAll(pool, { kind: "assign-sample" }, () => assignSample(s, kernel, 0, threads));
      updateCentroids(s, unit, put);
    }
    runAll(pool, { kind: "assign-all" }, () => assignAll(s, kernel, 0, threads));
    buildCells(s);
    phase("k-means and assignment");
    groupStrays(s, kernel, unit, put, spareRows(n) - s.P, KMEANS_ROUNDS, opts.seed);
    phase("stray groups", ` (${s.partStart[s.P + 1]! - s.partStart[s.P]!} strays in ${s.strayChunks[0]} chunks)`);
    runExact({ kind: "self" }, (slot, of) => selfDots(s, exactKernel, slot, of));
    // Progress out of 2 × alive points: the cells phase counts points, the pairs phase its share
    // of work done, scaled into the second half (its size is only known once the cells are done).
    const total = 2 * nAlive;
    const reportCells = (): void => progress?.(Math.min(nAlive, Atomics.load(s.counters, 1)), total);
    progress?.(0, total);
    runAll(pool, { kind: "cells" }, () => searchCells(s, kernel, reportCells), reportCells);
    phase("own cells and scans", ` (${s.scanDots.reduce((a, b) => a + b, 0).toExponential(2)} scan dots)`);
    const pairs = listPairs(s);
    const work = Math.max(1, pairsWork(s, pairs));
    s.counters[1] = 0;
    const report = (): void => progress?.(nAlive + Math.floor((nAlive * Math.min(work, Atomics.load(s.counters, 1))) / work), total);
    runAll(pool, { kind: "pairs", pairs }, () => searchPairs(s, kernel, pairs, report), report);
    phase("blocks", ` (${pairs.length / 2} pairs, ${(work * 1024).toExponential(2)} dots)`);
    runExact({ kind: "finish" }, (slot, of) => finishRows(s, exactKernel, slot, of));
    phase("exact re-rank");
    progress?.(total, total);
    if (quant && opts.carry) opts.carry.quant = quant;
  } finally {
    pool?.close();
  }
  // Copy out of the shared buffers so callers get ordinary arrays and the search state can go.
  return { n, k1, indices: s.indices.slice(), distances: s.distances.slice() };
}

/** Options of `refineKnnGraph`. */
export interface RefineOptions {
  /** Threads, the main one included; default: the machine's cores (≤ 8). */
  threads?: number;
  /** Reverse neighbours searched per point (those holding it nearest); default k. */
  reverse?: number;
  /**
   * "int8": new candidates are ranked on int8 rows and the best k + INT8_EXTRA scored exactly
   * (refine.ts says why); "exact": all scored exactly. Default "auto": int8 when the float32
   * rows are not in a WebAssembly memory (too big for one) and n × d ≥ INT8_FROM.
   */
  precision?: "auto" | "exact" | "int8";
  /**
   * The order threads visit the points in: "visit", breadth-first over the graph (refine.ts
   * `visitOrder`), or "id". The same bytes either way; "id" is for benchmarks. Default "visit".
   */
  order?: "visit" | "id";
  /**
   * Rows kept from one round to the next: pass the same (initially empty) object to every round
   * of one refinement, over the same rows and alive mask, and to the search that built the graph
   * (`KnnOptions.carry`). At 1M the int8 rows take ~30–40 s to quantise, once instead of every
   * round and again after the search.
   */
  carry?: RefineCarry;
}

/** What `refineKnnGraph` keeps between the rounds it is handed the same object in. */
export interface RefineCarry {
  quant?: QuantisedRows;
}

/**
 * One round of neighbour-of-neighbour refinement (refine.ts): a new graph in which every alive
 * point's row is the k nearest among its old neighbours and the neighbours of its neighbours and
 * reverse neighbours, by exact distance (with int8 ranking, among the old ones and the best
 * k + INT8_EXTRA new ones by int8 dot). Rows never get worse; dead rows are unchanged.
 */
export function refineKnnGraph(unit: Float32Array, n: number, d: number, alive: Uint8Array, graph: KnnGraph, opts: RefineOptions = {}): KnnGraph {
  checkShape(unit, n, d, alive);
  if (graph.n !== n) throw new Error(`refineKnnGraph: graph has ${graph.n} points, data has ${n}`);
  const phase = phaseTimer("refine");
  const exact = exactRows(unit, n, d);
  const exactKernel = exactKernelFor(exact.memory, unit, d, 0);
  const self = new Float64Array(n);
  for (let i = 0; i < n; i++) if (alive[i]) self[i] = exactKernel.exactPair(i, i);
  phase("self dots");
  // Measured at 131,072 × 2,304 (2 threads): with the float32 rows in a WebAssembly memory a round
  // took 14–16 s either way; with them staged from a SharedArrayBuffer (as at 1M, where they do
  // not fit one), 36 s exact and 31–33 s ranked on int8.
  const int8 = opts.precision === "int8" || (opts.precision !== "exact" && !exact.memory && n * d >= INT8_FROM);
  let quant: QuantisedRows | null = null;
  if (int8) {
    quant = opts.carry?.quant ?? null;
    // The search's rows have its centroids after the n data rows; the refinement reads rows < n only.
    if (!quant || quant.rows < n || quant.d !== d) {
      quant = allocateQuantised(n, d);
      quantiseRows(quant, unit, alive);
      if (opts.carry) opts.carry.quant = quant;
    }
  }
  phase("int8 rows");
  const s = createRefineShared(graph, alive, self, opts.reverse ?? graph.k1 - 1, int8 ? graph.k1 - 1 + INT8_EXTRA : 0, opts.order ?? "visit");
  phase("reverse lists and order");
  // Workers need the float32 rows where they can read them (a WebAssembly memory or a SharedArrayBuffer).
  // About (k + reverse) · k candidates a point; small graphs are not worth the workers' start-up.
  const work = n * (graph.k1 - 1 + (opts.reverse ?? graph.k1 - 1)) * (graph.k1 - 1) * d;
  const threads = !(exact.memory || exact.shared) ? 1 : opts.threads !== undefined ? threadCount(opts) : work >= PARALLEL_WORK ? defaultThreads() : 1;
  const init: KnnWorkerInit = { memory: null, quant, exactMemory: exact.memory, exactShared: sharedRows(exact.shared), d, threads, refine: s };
  const pool = threads > 1 ? new ThreadPool<KnnTask>(WORKER, threads, init) : null;
  try {
    const rank = quant ? new Int8Kernel(quant, 0) : null;
    runAll(pool, { kind: "refine" }, () => refineRows(s, exactKernel, 0, threads, rank));
    phase("rows", ` (${threads} threads)`);
  } finally {
    pool?.close();
  }
  return { n, k1: graph.k1, indices: s.indices.slice(), distances: s.distances.slice() };
}

/** Every alive point against every other (exactKnn), laid out as a graph: self at slot 0, then k by (distance, id). */
function buildExact(unit: Float32Array, n: number, d: number, alive: Uint8Array, k: number, threads: number, progress?: Progress): KnnGraph {
  const { k1, indices, distances, ids } = selfOnlyGraph(n, k, alive);
  if (ids.length >= 2) {
    const found = exactKnn(unit, n, d, alive, ids, k, { threads });
    for (let q = 0; q < ids.length; q++) {
      const base = ids[q]! * k1;
      for (let t = 0; t < found.k; t++) {
        indices[base + 1 + t] = found.indices[q * found.k + t]!;
        distances[base + 1 + t] = found.distances[q * found.k + t]!;
      }
    }
  }
  progress?.(ids.length, ids.length);
  return { n, k1, indices, distances };
}

/** A graph whose every row is [i, i, …] at distance 0 (what a dead point keeps), and the alive ids ascending. */
function selfOnlyGraph(n: number, k: number, alive: Uint8Array): { k1: number; indices: Int32Array; distances: Float32Array; ids: number[] } {
  const k1 = k + 1;
  const indices = new Int32Array(n * k1);
  for (let i = 0; i < n; i++) indices.fill(i, i * k1, (i + 1) * k1);
  const ids: number[] = [];
  for (let i = 0; i < n; i++) if (alive[i]) ids.push(i);
  return { k1, indices, distances: new Float32Array(n * k1), ids };
}

function buildHnsw(unit: Float32Array, n: number, d: number, alive: Uint8Array, opts: KnnOptions, progress?: Progress): KnnGraph {
  const k = opts.k;
  const { k1, indices, distances, ids } = selfOnlyGraph(n, k, alive);
  const nAlive = ids.length;
  const total = 2 * nAlive;
  if (nAlive < 2) {
    progress?.(total, total);
    return { n, k1, indices, distances };
  }

  const { memory } = rowsMemory(unit, n, d);
  const kernel = new Kernel(memory, d, 0);
  const self = new Float64Array(n);
  for (const i of ids) self[i] = kernel.exactPair(i, i);
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
    for (const j of found) if (j !== i) kernel.ids[c++] = j;
    kernel.exact(i, c);
    for (let t = 0; t < c; t++) {
      candIds[t] = kernel.ids[t]!;
      candDist[t] = cosineDistance(kernel.out64[t]!, self[i]!, self[candIds[t]!]!);
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

export interface ExactOptions {
  /** Threads, the main one included; default: the machine's cores, or 1 when the work is small. */
  threads?: number;
  /**
   * Rows per window when the rows are scanned through a window (exact.ts `WindowShared`); default
   * 8,192. The window is used when the rows do not fit one WebAssembly memory, or always when set.
   */
  window?: number;
  /**
   * Alive rows to choose the neighbours from, ascending (default: every alive row). The query is
   * never its own neighbour either way; splits/ passes the rows of another dictionary here.
   */
  candidates?: ArrayLike<number>;
}

const DEFAULT_WINDOW = 8192;

/** Below this many float multiplies (queries × alive × d) the worker start-up is not worth it. */
const PARALLEL_WORK = 2e9;

/**
 * Brute-force k nearest alive neighbours of each query point (which must be alive), excluding the
 * query itself. O(queries × candidates × d): meant for samples, tests and the cross-width matches
 * of splits/ (whose cost is one dictionary's width times the other's), not a whole graph.
 */
export function exactKnn(
  unit: Float32Array,
  n: number,
  d: number,
  alive: Uint8Array,
  queries: ArrayLike<number>,
  k: number,
  opts: ExactOptions = {},
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
  const candidates = opts.candidates ?? [];
  for (let c = 0; c < candidates.length; c++) {
    const j = candidates[c]!;
    if (!Number.isInteger(j) || j < 0 || j >= n || !alive[j] || (c > 0 && j <= candidates[c - 1]!)) {
      throw new Error(`exactKnn: candidate ${j} is not an alive point in ascending order`);
    }
  }
  const others = candidates.length > 0 ? candidates.length : nAlive - 1;
  const kk = Math.min(k, others);
  if (kk <= 0) return { k: 0, indices: new Int32Array(0), distances: new Float32Array(0) };

  const threads = opts.threads !== undefined ? threadCount(opts) : nq * others * d >= PARALLEL_WORK ? defaultThreads() : 1;
  if (opts.window !== undefined || !rowsFit(n, d)) {
    if (candidates.length > 0) throw new Error(`exactKnn: candidates need the rows in one WebAssembly memory (${n} × ${d} do not fit, or a window was asked for)`);
    return exactWindowed(unit, n, d, alive, nAlive, queries, kk, threads, opts.window ?? DEFAULT_WINDOW);
  }
  const { memory } = rowsMemory(unit, n, d);
  const s: ExactShared = createExactShared(n, d, kk, alive, queries, candidates);
  const init: KnnWorkerInit = { memory, quant: null, exactMemory: memory, exactShared: null, d, threads, exact: s };
  const pool = threads > 1 ? new ThreadPool<KnnTask>(WORKER, threads, init) : null;
  try {
    const kernel = new Kernel(memory, d, 0);
    runAll(pool, { kind: "exact-self" }, () => exactSelfDots(s, kernel, 0, threads));
    runAll(pool, { kind: "exact" }, () => exactSearch(s, kernel, 0, threads));
  } finally {
    pool?.close();
  }
  return { k: kk, indices: s.indices.slice(), distances: s.distances.slice() };
}

function exactWindowed(
  unit: Float32Array, n: number, d: number, alive: Uint8Array, nAlive: number, queries: ArrayLike<number>, k: number, threads: number, window: number,
): ExactKnn {
  positiveInt("window", window);
  const nq = queries.length;
  const rows = allocateRows(nq + window, d);
  const memory = existingMemory(rows, nq + window, d)!;
  for (let q = 0; q < nq; q++) rows.set(unit.subarray(queries[q]! * d, (queries[q]! + 1) * d), q * d);
  const s = createWindowShared(n, d, k, nAlive, queries, window);
  const init: KnnWorkerInit = { memory, quant: null, exactMemory: null, exactShared: null, d, threads, window: s };
  const pool = threads > 1 ? new ThreadPool<KnnTask>(WORKER, threads, init) : null;
  try {
    const kernel = new Kernel(memory, d, 0);
    let count = 0;
    const flush = (): void => {
      s.windowCount[0] = count;
      runAll(pool, { kind: "window" }, () => windowScan(s, kernel, 0, threads));
      count = 0;
    };
    for (let i = 0; i < n; i++) {
      if (!alive[i]) continue;
      rows.set(unit.subarray(i * d, (i + 1) * d), (nq + count) * d);
      s.windowIds[count++] = i;
      if (count === window) flush();
    }
    if (count) flush();
  } finally {
    pool?.close();
  }
  const { indices, distances } = finishWindowed(s, new StagedExact(unit, d), alive);
  return { k, indices, distances };
}

export interface RecallOptions {
  /** Neighbours compared per point; default the graph's k, capped by the alive points available. */
  k?: number;
  /** Points sampled; default `defaultRecallSample(alive points)`. */
  sample?: number;
  seed: number;
  /** Threads for the exact search; see `ExactOptions`. */
  threads?: number;
}

export interface Recall {
  k: number;
  sample: number;
  /** Mean over the sample of the fraction of the exact k nearest that the graph found. */
  recall: number;
}

/**
 * Default recall sample: 1,000 points up to 16,384 alive points, then shrinking so the exact
 * search (sample × n rows) costs about the same as at 16k, but never below 200. With k = 15, 200
 * points give 3,000 neighbour checks: per-point recalls on the benchmark data spread with a
 * standard deviation of about 0.05, so the mean's standard error stays under 0.004.
 */
export function defaultRecallSample(nAlive: number): number {
  return Math.min(nAlive, Math.max(200, Math.floor((1000 * 16384) / Math.max(nAlive, 1))), 1000);
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
  const sample = Math.min(opts.sample ?? defaultRecallSample(ids.length), ids.length);
  // Nothing to compare (fewer than two alive points): report the k asked for, an empty sample and
  // the vacuous recall of 1, which the manifest schema accepts.
  if (k < 1 || sample < 1) return { k: Math.max(1, opts.k ?? graph.k1 - 1), sample: 0, recall: 1 };

  shuffle(ids, rng(opts.seed, "recall"));
  const picked = Int32Array.from(ids.slice(0, sample)).sort();
  const exact = exactKnn(unit, n, d, alive, picked, k, opts.threads === undefined ? {} : { threads: opts.threads });
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
