/**
 * UMAP on typed arrays, from a precomputed kNN graph: umap-js 1.4's algorithm step for step
 * (smooth-kNN sigmas and rhos, fuzzy union A + Aᵀ − A∘Aᵀ, edges below max / nEpochs dropped,
 * epochs-per-sample schedule, uniform [−10, 10]² start, its SGD with 5 negative samples per
 * positive one, clip at 4, linearly decaying learning rate, and the a, b curve fit, which is
 * umap-js' own `findABParams`), without umap-js' data structures.
 *
 * Why umap-js is bypassed for large graphs (measured on this 2-core machine, Node 20): umap-js
 * keeps its sparse matrices in Maps keyed by "row:col" strings, ~62 KB per point; V8 caps a Map
 * at 2^24 entries, so it fails past ~700k points, and 65,536 points took 143 s and 4.1 GB. Here
 * the graph is a handful of typed arrays (~40 bytes per edge, ~1.5 k1 edges per point).
 *
 * Two deliberate differences from umap-js:
 * - `Math.pow(d², b)` is replaced by `PowTable`, a table interpolation accurate to 2e-7 relative
 *   (and pow(d², b − 1) by pow(d², b) / d²). V8's Math.pow with a fractional exponent costs ~55 ns,
 *   and the SGD makes ~10⁹ of them at 65k points. The gradients differ from umap-js' in the last
 *   bits, so the two engines do not give identical layouts, only equally good ones.
 * - Random numbers come from an inlined mulberry32 (the generator of random.ts) seeded once from
 *   the layout's stream, instead of a closure call per draw.
 * Everything is pure IEEE arithmetic in a fixed order, so the same graph and seed give the same
 * bytes on every machine.
 *
 * From LANES_MIN points on, the SGD runs as two lanes on two threads (see `LaneShared` for how that
 * stays deterministic and how it differs from the sequential loop). Quality is the same as
 * umap-js' (bench/layout-quality.ts); at 65,536 points: kNN preserved@15 0.199 against 0.198,
 * 2-D kNN accuracy on planted clusters 0.995 for both, in 0.25 GB against 3.65 GB.
 */
import { findABParams } from "umap-js/dist/umap.js";
import { ThreadPool } from "../neighbours/thread-pool.ts";
import type { Progress } from "../stages.ts";

const SMOOTH_K_TOLERANCE = 1e-5;
const MIN_K_DIST_SCALE = 1e-3;
const NEGATIVE_SAMPLE_RATE = 5;
const CLIP = 4;

export interface TypedUmapInput {
  /** Points (compact ids 0 … m − 1). */
  m: number;
  /** Columns per row; column 0 is the point itself. */
  k: number;
  /** [m × k] neighbour ids (compact). */
  indices: Int32Array;
  /** [m × k] distances. */
  distances: Float32Array;
}

export interface TypedUmapOptions {
  minDist: number;
  spread: number;
  /** Epochs; 0 means umap-js' default for the number of points (500 down to 200). */
  nEpochs: number;
  /** Source of the 32-bit seeds the optimiser's generators start from. */
  random: () => number;
  /** 1: umap-js' sequential SGD; 2: the two-lane variant below. Default: LANES_MIN decides. */
  lanes?: 1 | 2;
  /** Threads running the lanes (only matters for 2 lanes; results do not depend on it). Default 2. */
  threads?: number;
}

/** Graphs of at least this many points get the two-lane SGD (two cores) by default. */
export const LANES_MIN = 16384;
/** Snapshot refreshes per epoch in the two-lane SGD. */
const STEPS = 4;
/** Edges per batch in the two-lane SGD's fetch-then-update passes (see `laneStep`). */
const BATCH = 16;

/** umap-js' `getNEpochs` for a graph of m rows. */
export function defaultEpochs(m: number): number {
  return m <= 2500 ? 500 : m <= 5000 ? 400 : m <= 7500 ? 300 : 200;
}

/** umap-js' smoothKNNDistance with local connectivity 1 and bandwidth 1 (column 0 is skipped in the sum, as there). */
function smoothKnn(input: TypedUmapInput): { sigmas: Float64Array; rhos: Float64Array } {
  const { m, k, distances } = input;
  const target = Math.log(k) / Math.log(2);
  const sigmas = new Float64Array(m);
  const rhos = new Float64Array(m);
  const rowMean = new Float64Array(m);
  let meanOfMeans = 0;
  for (let i = 0; i < m; i++) {
    let s = 0;
    for (let j = 0; j < k; j++) s += distances[i * k + j]!;
    rowMean[i] = s / k;
    meanOfMeans += rowMean[i]!;
  }
  meanOfMeans /= m;
  for (let i = 0; i < m; i++) {
    const base = i * k;
    let rho = 0;
    for (let j = 0; j < k; j++) {
      const d = distances[base + j]!;
      if (d > 0) {
        rho = d;
        break;
      }
    }
    let lo = 0;
    let hi = Infinity;
    let mid = 1;
    for (let it = 0; it < 64; it++) {
      let psum = 0;
      for (let j = 1; j < k; j++) {
        const d = distances[base + j]! - rho;
        psum += d > 0 ? Math.exp(-(d / mid)) : 1;
      }
      if (Math.abs(psum - target) < SMOOTH_K_TOLERANCE) break;
      if (psum > target) {
        hi = mid;
        mid = (lo + hi) / 2;
      } else {
        lo = mid;
        mid = hi === Infinity ? mid * 2 : (lo + hi) / 2;
      }
    }
    const floor = MIN_K_DIST_SCALE * (rho > 0 ? rowMean[i]! : meanOfMeans);
    sigmas[i] = mid < floor ? floor : mid;
    rhos[i] = rho;
  }
  return { sigmas, rhos };
}

export interface FuzzyGraph {
  /** Edges in (row, col) order, both directions of each pair: head = col, tail = row as in umap-js. */
  head: Int32Array;
  tail: Int32Array;
  weight: Float64Array;
}

/** umap-js' fuzzySimplicialSet (set-op mix ratio 1) as a row-sorted edge list, zero weights dropped. */
export function fuzzyGraph(input: TypedUmapInput): FuzzyGraph {
  const { m, k, indices, distances } = input;
  const { sigmas, rhos } = smoothKnn(input);
  // A, the directed membership strengths: per row, neighbour ids and values (0 for the point itself).
  const val = new Float64Array(m * k);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < k; j++) {
      const id = indices[i * k + j]!;
      if (id === i) continue;
      const d = distances[i * k + j]! - rhos[i]!;
      val[i * k + j] = d <= 0 ? 1 : Math.exp(-(d / sigmas[i]!));
    }
  }
  return fuzzyUnion(m, k, indices, val);
}

/**
 * The fuzzy union (A + Aᵀ − A∘Aᵀ) of directed rows, as a row-sorted edge list without zero
 * weights: row i of A is columns indices[i·k … (i + 1)·k) with values val[…], 0 meaning no entry.
 */
export function fuzzyUnion(m: number, k: number, indices: Int32Array, val: Float64Array): FuzzyGraph {
  const lookup = (row: number, col: number): number => {
    for (let j = 0; j < k; j++) if (indices[row * k + j] === col) return val[row * k + j]!;
    return 0;
  };
  // Row sizes of the union: each A entry, plus its mirror where A has none.
  const count = new Int32Array(m + 1);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < k; j++) {
      const a = val[i * k + j]!;
      if (a === 0) continue;
      const col = indices[i * k + j]!;
      count[i + 1]!++;
      if (lookup(col, i) === 0) count[col + 1]!++;
    }
  }
  for (let i = 0; i < m; i++) count[i + 1]! += count[i]!;
  const total = count[m]!;
  const cols = new Int32Array(total);
  const weights = new Float64Array(total);
  const fill = count.slice(0, m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < k; j++) {
      const a = val[i * k + j]!;
      if (a === 0) continue;
      const col = indices[i * k + j]!;
      const b = lookup(col, i);
      // Written as umap-js computes it: (A + Aᵀ) − A∘Aᵀ.
      const w = a + b - a * b;
      cols[fill[i]!] = col;
      weights[fill[i]!++] = w;
      if (b === 0) {
        cols[fill[col]!] = i;
        weights[fill[col]!++] = a;
      }
    }
  }
  // Sort each row by column, as umap-js' getAll() does. Rows are short (~1.5 k1) and their
  // columns distinct, so an insertion sort in place gives the same order as a comparator sort,
  // without the index array and copies (at 1M points the whole fuzzy graph took 29 s with them,
  // 24 s without, the same bytes).
  for (let i = 0; i < m; i++) {
    const s = count[i]!;
    const e = count[i + 1]!;
    for (let t = s + 1; t < e; t++) {
      const c = cols[t]!;
      const w = weights[t]!;
      let u = t - 1;
      while (u >= s && cols[u]! > c) {
        cols[u + 1] = cols[u]!;
        weights[u + 1] = weights[u]!;
        u--;
      }
      cols[u + 1] = c;
      weights[u + 1] = w;
    }
  }
  const tail = new Int32Array(total);
  for (let i = 0; i < m; i++) tail.fill(i, count[i]!, count[i + 1]!);
  return { head: cols, tail, weight: weights };
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
/** Table cells: the top 8 mantissa bits (hi word >>> 12 keeps 11 exponent + 8 mantissa bits). */
const SHIFT = 12;
const CELL_BITS = 20 - SHIFT;
/** Exponents covered: x from 2^−40 to 2^40; UMAP's squared distances stay far inside. */
const EXP_LO = 1023 - 40;
const EXP_HI = 1023 + 40;
/** 2^−(32 + SHIFT): multiplying by a power of two is exact, and cheaper than dividing. */
const FRAC_SCALE = 2 ** -(32 + SHIFT);
/** 2^−32, the same for turning a 32-bit draw into [0, 1). */
const TO_UNIT = 2 ** -32;

/**
 * x^y for one fixed y, by linear interpolation in a table over the float64 bit pattern of x: 256
 * cells per power of two, so the relative error stays below 2e-7 for UMAP's b (≈ 0.9), and the
 * table (20,480 entries, 160 KB) stays in cache. Several times faster than Math.pow with a
 * fractional exponent in V8 (measured 11 ns against 55 ns here), with no Math call at all.
 * Outside the table's range it falls back to Math.pow.
 */
export class PowTable {
  private readonly table: Float64Array;
  private readonly base = EXP_LO << CELL_BITS;

  constructor(readonly y: number) {
    const size = (EXP_HI - EXP_LO) << CELL_BITS;
    this.table = new Float64Array(size + 1);
    for (let i = 0; i <= size; i++) {
      u32[0] = 0;
      u32[1] = (this.base + i) << SHIFT;
      this.table[i] = Math.pow(f64[0]!, y);
    }
  }

  pow(x: number): number {
    f64[0] = x;
    const hi = u32[1]!;
    const cell = (hi >>> SHIFT) - this.base;
    if (cell < 0 || cell >= this.table.length - 1) return Math.pow(x, this.y);
    // Position inside the cell: the low SHIFT bits of the hi word and the 32 of the lo word.
    const frac = ((hi & ((1 << SHIFT) - 1)) * 4294967296 + u32[0]!) * FRAC_SCALE;
    const lo = this.table[cell]!;
    return lo + (this.table[cell + 1]! - lo) * frac;
  }
}

/**
 * Lay out the graph's m points; returns [m × 2] float64 positions. `progress(epoch, epochs)` is
 * called after fitting and after each epoch.
 */
export function typedUmap(input: TypedUmapInput, opts: TypedUmapOptions, progress?: Progress): Float64Array {
  const { m } = input;
  const nEpochs = opts.nEpochs > 0 ? opts.nEpochs : defaultEpochs(m);
  const graph = fuzzyGraph(input);
  const { xy, state } = randomStart(m, opts.random);
  return optimise(m, scheduleEdges(graph, nEpochs), xy, state, { nEpochs, startEpoch: 0 }, opts, progress);
}

/** The edges the SGD samples, with their epochs-per-sample (umap-js' makeEpochsPerSample). */
export interface EdgeSchedule {
  head: Int32Array;
  tail: Int32Array;
  epochsPerSample: Float64Array;
}

/** Edges too weak to be sampled even once in nEpochs are dropped, as in umap-js. */
export function scheduleEdges(graph: FuzzyGraph, nEpochs: number): EdgeSchedule {
  let wMax = 0;
  for (let e = 0; e < graph.weight.length; e++) if (graph.weight[e]! > wMax) wMax = graph.weight[e]!;
  let kept = 0;
  for (let e = 0; e < graph.weight.length; e++) if (graph.weight[e]! >= wMax / nEpochs && graph.weight[e]! > 0) kept++;
  const head = new Int32Array(kept);
  const tail = new Int32Array(kept);
  const epochsPerSample = new Float64Array(kept);
  let c = 0;
  for (let e = 0; e < graph.weight.length; e++) {
    const w = graph.weight[e]!;
    if (!(w >= wMax / nEpochs && w > 0)) continue;
    head[c] = graph.head[e]!;
    tail[c] = graph.tail[e]!;
    epochsPerSample[c++] = nEpochs / ((w / wMax) * nEpochs);
  }
  return { head, tail, epochsPerSample };
}

/**
 * umap-js' start, uniform in [−10, 10]², from an inlined mulberry32 seeded by one draw of the
 * layout's stream. Its final state is handed on: the sequential SGD continues the same stream.
 */
export function randomStart(m: number, random: () => number): { xy: Float64Array; state: number } {
  let state = Math.floor(random() * 4294967296) >>> 0;
  const xy = new Float64Array(2 * m);
  for (let i = 0; i < 2 * m; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let r = state;
    r = Math.imul(r ^ (r >>> 15), r | 1);
    r ^= r + Math.imul(r ^ (r >>> 7), r | 61);
    xy[i] = ((r ^ (r >>> 14)) >>> 0) * TO_UNIT * 20 - 10;
  }
  return { xy, state };
}

/** Which epochs of a schedule to run: epochs startEpoch … nEpochs − 1 of an nEpochs-long one. */
export interface EpochRange {
  nEpochs: number;
  /**
   * First epoch run (0 for a whole fit). Later starts run the tail of the schedule: the learning
   * rate starts at 1 − startEpoch / nEpochs, and every edge is first due one period after the
   * start, as it would be after epoch 0 of a whole fit. Progress counts from 0 regardless.
   */
  startEpoch: number;
}

/**
 * The SGD over `edges` from positions `xy`; returns the positions it ends with (the sequential
 * loop moves `xy` itself, the lanes a copy). Two lanes on two threads from LANES_MIN points (or as
 * `opts.lanes` says), else umap-js' sequential loop, which draws on from mulberry32 state `state`.
 */
export function optimise(
  m: number, edges: EdgeSchedule, xy: Float64Array, state: number, range: EpochRange,
  opts: Pick<TypedUmapOptions, "random" | "lanes" | "threads" | "spread" | "minDist">, progress?: Progress,
): Float64Array {
  const { head, tail, epochsPerSample } = edges;
  const { nEpochs, startEpoch } = range;
  const lanes = opts.lanes ?? (m >= LANES_MIN ? 2 : 1);
  if (lanes === 2) {
    const seeds = [Math.floor(opts.random() * 4294967296) >>> 0, Math.floor(opts.random() * 4294967296) >>> 0];
    return runLanes({ m, nEpochs, startEpoch, head, tail, epochsPerSample, xy, seeds, spread: opts.spread, minDist: opts.minDist }, opts.threads ?? 2, progress);
  }
  const kept = head.length;
  const epochsPerNegative = new Float64Array(kept);
  for (let e = 0; e < kept; e++) epochsPerNegative[e] = epochsPerSample[e]! / NEGATIVE_SAMPLE_RATE;
  // startEpoch + x is x itself for a whole fit, so its bytes are those of umap-js' schedule.
  const nextSample = epochsPerSample.map((x) => startEpoch + x);
  const nextNegative = epochsPerNegative.map((x) => startEpoch + x);

  const { a, b } = findABParams(opts.spread, opts.minDist);
  const powB = new PowTable(b);
  const gamma = 1;
  const initialAlpha = 1;
  const repulse = 2 * gamma * b;
  progress?.(0, nEpochs - startEpoch);
  for (let n = startEpoch; n < nEpochs; n++) {
    const alpha = initialAlpha * (1 - n / nEpochs);
    for (let e = 0; e < kept; e++) {
      if (nextSample[e]! > n) continue;
      const j = head[e]!;
      const k = tail[e]!;
      const jx = 2 * j;
      const kx = 2 * k;
      // The head's position lives in locals while its edge is processed (written back below).
      let cx = xy[jx]!;
      let cy = xy[jx + 1]!;
      let dx = cx - xy[kx]!;
      let dy = cy - xy[kx + 1]!;
      let d2 = dx * dx + dy * dy;
      let coeff = 0;
      if (d2 > 0) {
        const p = powB.pow(d2);
        // pow(d², b − 1) = pow(d², b) / d².
        coeff = (-2 * a * b * (p / d2)) / (a * p + 1);
      }
      let g = coeff * dx;
      g = g > CLIP ? CLIP : g < -CLIP ? -CLIP : g;
      cx += g * alpha;
      xy[kx] = xy[kx]! - g * alpha;
      g = coeff * dy;
      g = g > CLIP ? CLIP : g < -CLIP ? -CLIP : g;
      cy += g * alpha;
      xy[kx + 1] = xy[kx + 1]! - g * alpha;
      nextSample[e] = nextSample[e]! + epochsPerSample[e]!;

      const nNeg = Math.floor((n - nextNegative[e]!) / epochsPerNegative[e]!);
      for (let q = 0; q < nNeg; q++) {
        state = (state + 0x6d2b79f5) >>> 0;
        let r = state;
        r = Math.imul(r ^ (r >>> 15), r | 1);
        r ^= r + Math.imul(r ^ (r >>> 7), r | 61);
        // floor(random · m), as umap-js' tauRandInt.
        const o = (((r ^ (r >>> 14)) >>> 0) * TO_UNIT * m) | 0;
        // The head itself is at distance 0 and skipped, as in umap-js.
        if (o === j) continue;
        const ox = 2 * o;
        dx = cx - xy[ox]!;
        dy = cy - xy[ox + 1]!;
        d2 = dx * dx + dy * dy;
        let gx = 4;
        let gy = 4;
        if (d2 > 0) {
          const rc = repulse / ((0.001 + d2) * (a * powB.pow(d2) + 1));
          gx = rc * dx;
          gx = gx > CLIP ? CLIP : gx < -CLIP ? -CLIP : gx;
          gy = rc * dy;
          gy = gy > CLIP ? CLIP : gy < -CLIP ? -CLIP : gy;
        }
        cx += gx * alpha;
        cy += gy * alpha;
      }
      xy[jx] = cx;
      xy[jx + 1] = cy;
      nextNegative[e] = nextNegative[e]! + nNeg * epochsPerNegative[e]!;
    }
    progress?.(n + 1 - startEpoch, nEpochs - startEpoch);
  }
  return xy;
}

/**
 * The two-lane SGD, for two cores. Points are split in two halves by id, and each lane processes,
 * in edge order, the edges whose head it owns, moving only its own points. It reads its own points
 * live and the other lane's from a snapshot refreshed STEPS times per epoch (two buffers in turn:
 * in each step a lane writes its points into one and reads the other lane's from the other), so
 * the result does not depend on thread timing, nor on running the lanes on one thread or two.
 *
 * Differences from umap-js' sequential loop, which cannot be split without races: an edge's
 * positive step moves only its head, by twice the clipped gradient — the graph is symmetric and
 * umap-js moves both ends of both directed copies of a pair, so each end still gets two pulls per
 * sampling — and the other half of the points is up to 1/STEPS of an epoch stale. Negative samples
 * and the schedule are unchanged; each lane draws from its own mulberry32 stream.
 */
export interface LaneShared {
  m: number;
  nEpochs: number;
  a: number;
  b: number;
  /** Points [0, half) belong to lane 0, [half, m) to lane 1. */
  half: number;
  /** Lane 0's edges, then lane 1's from edgeStart[1]; edgeStart[2] = total. */
  edgeStart: Int32Array;
  head: Int32Array;
  tail: Int32Array;
  epochsPerSample: Float64Array;
  nextSample: Float64Array;
  epochsPerNegative: Float64Array;
  nextNegative: Float64Array;
  /** The two position buffers ([2m] each). */
  buffers: [Float64Array, Float64Array];
  /** mulberry32 state of each lane. */
  rngState: Uint32Array;
}

function sab(bytes: number): SharedArrayBuffer {
  return new SharedArrayBuffer(Math.max(8, bytes));
}

interface LaneInput {
  m: number;
  nEpochs: number;
  /** First epoch run (see EpochRange); default 0. */
  startEpoch?: number;
  head: Int32Array;
  tail: Int32Array;
  epochsPerSample: Float64Array;
  xy: Float64Array;
  seeds: number[];
  spread: number;
  minDist: number;
}

export function createLanes(input: LaneInput): LaneShared {
  const { m, head, tail, epochsPerSample } = input;
  const start = input.startEpoch ?? 0;
  const half = m >> 1;
  const total = head.length;
  const laneOf = (e: number): number => (head[e]! < half ? 0 : 1);
  let n0 = 0;
  for (let e = 0; e < total; e++) if (laneOf(e) === 0) n0++;
  const s: LaneShared = {
    m,
    nEpochs: input.nEpochs,
    ...findABParams(input.spread, input.minDist),
    half,
    edgeStart: Int32Array.from([0, n0, total]),
    head: new Int32Array(sab(total * 4)),
    tail: new Int32Array(sab(total * 4)),
    epochsPerSample: new Float64Array(sab(total * 8)),
    nextSample: new Float64Array(sab(total * 8)),
    epochsPerNegative: new Float64Array(sab(total * 8)),
    nextNegative: new Float64Array(sab(total * 8)),
    buffers: [new Float64Array(sab(2 * m * 8)), new Float64Array(sab(2 * m * 8))],
    rngState: new Uint32Array(sab(8)),
  };
  const fill = [0, n0];
  for (let e = 0; e < total; e++) {
    const t = fill[laneOf(e)]!++;
    s.head[t] = head[e]!;
    s.tail[t] = tail[e]!;
    s.epochsPerSample[t] = epochsPerSample[e]!;
    s.nextSample[t] = start + epochsPerSample[e]!;
    s.epochsPerNegative[t] = epochsPerSample[e]! / NEGATIVE_SAMPLE_RATE;
    s.nextNegative[t] = start + s.epochsPerNegative[t]!;
  }
  s.buffers[0].set(input.xy);
  s.buffers[1].set(input.xy);
  s.rngState[0] = input.seeds[0]!;
  s.rngState[1] = input.seeds[1]!;
  return s;
}

/** One lane's share of step `step` (0 … STEPS − 1) of epoch n. */
export function laneStep(s: LaneShared, powB: PowTable, lane: number, n: number, step: number): void {
  const { m, a, b, half, nEpochs } = s;
  const g = n * STEPS + step;
  const read = s.buffers[g & 1]!;
  const live = s.buffers[(g + 1) & 1]!;
  const lo = lane === 0 ? 0 : half;
  const hi = lane === 0 ? half : m;
  // This lane's points continue from where the last step left them.
  live.set(read.subarray(2 * lo, 2 * hi), 2 * lo);
  const first = s.edgeStart[lane]!;
  const count = s.edgeStart[lane + 1]! - first;
  const from = first + Math.floor((count * step) / STEPS);
  const to = first + Math.floor((count * (step + 1)) / STEPS);
  const alpha = 1 - n / nEpochs;
  const repulse = 2 * b;
  const { head, tail, epochsPerSample, nextSample, epochsPerNegative, nextNegative } = s;
  let state = s.rngState[lane]!;
  // Each batch of edges is run twice. The first pass draws every due edge's negative samples (in
  // edge order, so the stream is the same) and loads each position the second pass will read;
  // those loads do not depend on one another, so they go out to memory together. The second pass
  // is the SGD as before, reading the same positions live, now from cache. At 1M points the
  // positions do not stay in cache, and waiting for them was a large part of an update's cost:
  // one load at a time, each behind the previous update's arithmetic. Nothing is read early, only
  // fetched, so the bytes are the same as without the first pass (a test checks that). At 1M
  // points, epochs 2–7 of both lanes on one thread, old and new interleaved: 40.7 → 33.4 s
  // (BATCH 64: 44.0 → 35.8 s).
  let samples = new Int32Array(BATCH * 8);
  // Where the first pass puts what it loads. Stored, not summed, so that no load waits for another.
  let fetched = new Float64Array(BATCH * 8);
  const ends = new Float64Array(2 * BATCH);
  for (let start = from; start < to; start += BATCH) {
    const end = start + BATCH < to ? start + BATCH : to;
    let drawn = 0;
    for (let e = start; e < end; e++) {
      if (nextSample[e]! > n) continue;
      const j = head[e]!;
      const k = tail[e]!;
      ends[2 * (e - start)] = live[2 * j]!;
      ends[2 * (e - start) + 1] = (k >= lo && k < hi ? live : read)[2 * k]!;
      const nNeg = Math.floor((n - nextNegative[e]!) / epochsPerNegative[e]!);
      if (drawn + nNeg > samples.length) {
        const grown = new Int32Array(2 * (drawn + nNeg));
        grown.set(samples.subarray(0, drawn));
        samples = grown;
        fetched = new Float64Array(grown.length);
      }
      for (let q = 0; q < nNeg; q++) {
        state = (state + 0x6d2b79f5) >>> 0;
        let r = state;
        r = Math.imul(r ^ (r >>> 15), r | 1);
        r ^= r + Math.imul(r ^ (r >>> 7), r | 61);
        const o = (((r ^ (r >>> 14)) >>> 0) * TO_UNIT * m) | 0;
        fetched[drawn] = (o >= lo && o < hi ? live : read)[2 * o]!;
        samples[drawn++] = o;
      }
    }
    let used = 0;
    for (let e = start; e < end; e++) {
      if (nextSample[e]! > n) continue;
      const j = head[e]!;
      const k = tail[e]!;
      const jx = 2 * j;
      const kx = 2 * k;
      const other = k >= lo && k < hi ? live : read;
      let cx = live[jx]!;
      let cy = live[jx + 1]!;
      let dx = cx - other[kx]!;
      let dy = cy - other[kx + 1]!;
      let d2 = dx * dx + dy * dy;
      let coeff = 0;
      if (d2 > 0) {
        const p = powB.pow(d2);
        coeff = (-2 * a * b * (p / d2)) / (a * p + 1);
      }
      let gr = coeff * dx;
      gr = gr > CLIP ? CLIP : gr < -CLIP ? -CLIP : gr;
      cx += 2 * gr * alpha;
      gr = coeff * dy;
      gr = gr > CLIP ? CLIP : gr < -CLIP ? -CLIP : gr;
      cy += 2 * gr * alpha;
      nextSample[e] = nextSample[e]! + epochsPerSample[e]!;

      const nNeg = Math.floor((n - nextNegative[e]!) / epochsPerNegative[e]!);
      for (let q = 0; q < nNeg; q++) {
        const o = samples[used++]!;
        if (o === j) continue;
        const ox = 2 * o;
        const src = o >= lo && o < hi ? live : read;
        dx = cx - src[ox]!;
        dy = cy - src[ox + 1]!;
        d2 = dx * dx + dy * dy;
        let gx = 4;
        let gy = 4;
        if (d2 > 0) {
          const rc = repulse / ((0.001 + d2) * (a * powB.pow(d2) + 1));
          gx = rc * dx;
          gx = gx > CLIP ? CLIP : gx < -CLIP ? -CLIP : gx;
          gy = rc * dy;
          gy = gy > CLIP ? CLIP : gy < -CLIP ? -CLIP : gy;
        }
        cx += gx * alpha;
        cy += gy * alpha;
      }
      live[jx] = cx;
      live[jx + 1] = cy;
      nextNegative[e] = nextNegative[e]! + nNeg * epochsPerNegative[e]!;
    }
  }
  s.rngState[lane] = state;
}

type LaneTask = { n: number; step: number };

function runLanes(input: LaneInput, threads: number, progress?: Progress): Float64Array {
  const s = createLanes(input);
  const start = input.startEpoch ?? 0;
  const powB = new PowTable(s.b);
  const pool = threads > 1 ? new ThreadPool<LaneTask>(new URL("./layout-worker.ts", import.meta.url), 2, s) : null;
  try {
    progress?.(0, s.nEpochs - start);
    for (let n = start; n < s.nEpochs; n++) {
      for (let step = 0; step < STEPS; step++) {
        if (pool) {
          pool.run({ n, step }, () => laneStep(s, powB, 0, n, step));
        } else {
          laneStep(s, powB, 0, n, step);
          laneStep(s, powB, 1, n, step);
        }
      }
      progress?.(n + 1 - start, s.nEpochs - start);
    }
  } finally {
    pool?.close();
  }
  // The last step wrote into buffer (nEpochs · STEPS) mod 2.
  return s.buffers[(s.nEpochs * STEPS) & 1]!.slice();
}
