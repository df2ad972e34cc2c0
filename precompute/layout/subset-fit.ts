/**
 * The layout of a very large graph as a subset fit: UMAP on a seeded share of the points first,
 * the rest placed from their neighbours, then the tail of the schedule on the whole graph.
 *
 * Why: the SGD's cost is epochs × sampled edges. A whole fit of 1,048,576 points took 748 s of a
 * 52-minute build on the slower host (docs/scale-history.md), over a target of 45 minutes for the whole build. A quarter of
 * the points fitted for the whole schedule costs about a quarter of that; the whole graph then
 * needs only the schedule's last epochs, at the small learning rates that refine a layout rather
 * than untangle it. This is the "fit a well-chosen subset and place the rest from their
 * kNN before more optimisation", with umap-js' algorithm (typed-umap.ts) doing every fit.
 *
 * Measured with bench/layout-quality.ts on this 2-core machine (one afternoon, a slow host):
 * - 1,048,576 points (--planted graph): whole fit 842 s, subset fit 294 s; kNN preserved@15
 *   0.156 / 0.152, 2-D kNN accuracy on the planted clusters 0.956 / 0.956. In a separate run of
 *   the phases: fuzzy graph 31 s, S's 200 epochs 225 s, placing 2 s; an epoch of all points
 *   3.6–4.4 s, so the whole fit's 200 epochs are most of its time.
 * - 65,536 × 768 (a real kNN graph): whole fit 42.9–45.8 s, subset fit 20.9–22.6 s; kNN preserved
 *   0.196 / 0.196, accuracy 0.988 / 0.986; regions (adjusted Rand index with the whole fit's, per
 *   level, coarsest first) 0.43 0.32 0.93 0.81 0.32, where a whole fit with another seed gives
 *   0.43 0.39 0.95 0.81 0.32: the subset fit's regions differ from the whole fit's as much as
 *   another seed's do. A whole fit of 100 epochs instead of 200 scores the same for the same time
 *   at 65k; the subset fit was measured further as the method, and because its cost falls
 *   with the share while the epochs' cannot fall much further.
 * - 1,048,576 × 64 (a real kNN graph whose neighbours are only 0.905 in their planted cluster):
 *   whole fit 633 s, subset fit 326 s, but kNN preserved 0.116 → 0.090, accuracy 0.957 → 0.910,
 *   same-cluster neighbours 0.937 → 0.886. On a noisier graph the two-step edges and the short
 *   tail lose structure the whole fit keeps, so the build does not use the subset fit unless
 *   asked (BuildOptions.subsetFit). More tail epochs close under half of the gap (60: accuracy
 *   0.925 in 196 s; 100: 0.930 in 269 s, against the whole fit's 369 s on a faster host); a better
 *   subset or S's graph from its own search is open.
 *
 * 1. The subset S: each point with probability `share`, from a seeded stream.
 * 2. S's graph: each member's neighbours in S, direct or through one point outside S (weight
 *    w(a, b) · w(b, c); a pair reached several ways keeps its largest), the COARSE_K strongest per
 *    member, joined as UMAP's fuzzy union (a + b − ab). Without the two-step edges a member would
 *    keep only ~share of its neighbours and S's layout would fall apart into specks.
 * 3. UMAP on S, the whole schedule.
 * 4. Every other point at the weighted mean of its placed neighbours, in rounds outward from S (a
 *    round uses only points placed before it, so the order inside a round does not matter), plus
 *    a seeded jitter so that points placed from the same neighbours do not coincide.
 * 5. The whole graph's SGD from there, epochs nEpochs − fineEpochs … nEpochs − 1 of its schedule.
 *
 * Deterministic: every draw comes from the layout's stream in a fixed order, and every step is
 * sequential or the two-lane SGD, whose bytes do not depend on threads.
 */
import { mulberry32 } from "../random.ts";
import type { Progress } from "../stages.ts";
import { defaultEpochs, fuzzyGraph, fuzzyUnion, optimise, randomStart, scheduleEdges, type FuzzyGraph, type TypedUmapInput, type TypedUmapOptions } from "./typed-umap.ts";

/** Suggested size from which to use it (BuildOptions.subsetFit; off by default, see above). */
export const SUBSET_MIN = 524_288;
/** Suggested share of the points in the subset. */
export const SUBSET_SHARE = 0.25;
/** Suggested epochs of the whole graph after the subset's fit. */
export const FINE_EPOCHS = 30;
/** Neighbours in S kept per member of S before the union. */
export const COARSE_K = 15;
/** Rounds of placement outward from S; points still unplaced after them start at random. */
const PLACE_ROUNDS = 32;
/** Jitter of a placed point, in layout units (UMAP's minDist is 0.1). */
const JITTER = 0.05;

export interface SubsetFitOptions extends TypedUmapOptions {
  /** Share of the points fitted first, in (0, 1). */
  share: number;
  /** Epochs of the whole graph afterwards, in [1, nEpochs]. */
  fineEpochs: number;
}

/** One mulberry32 stream, seeded by a draw of the layout's stream. */
function stream(random: () => number): () => number {
  return mulberry32(Math.floor(random() * 4294967296) >>> 0);
}

/** Row offsets of a fuzzy graph, whose edges are in row (tail) order. */
function rowStarts(m: number, graph: FuzzyGraph): Int32Array {
  const start = new Int32Array(m + 1);
  for (let e = 0; e < graph.tail.length; e++) start[graph.tail[e]! + 1]!++;
  for (let i = 0; i < m; i++) start[i + 1]! += start[i]!;
  return start;
}

/**
 * S's graph (step 2) over compact ids 0 … |S| − 1, as a fuzzy graph: edges in row order, each
 * row sorted by column, both directions of every pair.
 */
export function subsetGraph(m: number, graph: FuzzyGraph, members: Int32Array): FuzzyGraph {
  const { head, weight } = graph;
  const start = rowStarts(m, graph);
  const mS = members.length;
  const compact = new Int32Array(m).fill(-1);
  for (let s = 0; s < mS; s++) compact[members[s]!] = s;
  // Directed lists: the COARSE_K strongest neighbours in S of each member.
  const outCol = new Int32Array(mS * COARSE_K);
  const outW = new Float64Array(mS * COARSE_K);
  const best = new Float64Array(mS);
  const touched: number[] = [];
  const offer = (c: number, w: number): void => {
    if (best[c] === 0) touched.push(c);
    if (w > best[c]!) best[c] = w;
  };
  for (let s = 0; s < mS; s++) {
    const a = members[s]!;
    for (let e = start[a]!; e < start[a + 1]!; e++) {
      const b = head[e]!;
      const w1 = weight[e]!;
      if (compact[b]! >= 0) {
        offer(compact[b]!, w1);
        continue;
      }
      for (let f = start[b]!; f < start[b + 1]!; f++) {
        const c = head[f]!;
        if (c !== a && compact[c]! >= 0) offer(compact[c]!, w1 * weight[f]!);
      }
    }
    // The strongest COARSE_K, ties to the smaller id, by insertion into the row's slots: a row
    // has hundreds of candidates, and sorting them all took 28 s of the 1M layout.
    const base = s * COARSE_K;
    let keep = 0;
    for (const c of touched) {
      const w = best[c]!;
      const last = base + keep - 1;
      if (keep === COARSE_K && !(w > outW[last]! || (w === outW[last]! && c < outCol[last]!))) continue;
      let t = base + (keep < COARSE_K ? keep++ : COARSE_K - 1);
      while (t > base && (w > outW[t - 1]! || (w === outW[t - 1]! && c < outCol[t - 1]!))) {
        outW[t] = outW[t - 1]!;
        outCol[t] = outCol[t - 1]!;
        t--;
      }
      outW[t] = w;
      outCol[t] = c;
    }
    for (const c of touched) best[c] = 0;
    touched.length = 0;
  }
  // Unused slots hold weight 0, which the union reads as no entry.
  return fuzzyUnion(mS, COARSE_K, outCol, outW);
}

/**
 * Step 4: positions of all m points, S's from `subsetXy`, the others at the weighted mean of their
 * placed neighbours, round by round, each with a jitter from `random`.
 */
export function placeRest(m: number, graph: FuzzyGraph, members: Int32Array, subsetXy: Float64Array, random: () => number): Float64Array {
  const { head, weight } = graph;
  const start = rowStarts(m, graph);
  const xy = new Float64Array(2 * m);
  // Round in which a point was placed: 0 for S, −1 while unplaced.
  const round = new Int32Array(m).fill(-1);
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (let s = 0; s < members.length; s++) {
    const i = members[s]!;
    const x = subsetXy[2 * s]!;
    const y = subsetXy[2 * s + 1]!;
    xy[2 * i] = x;
    xy[2 * i + 1] = y;
    round[i] = 0;
    if (x < minX) minX = x;
    if (x > maxX) maxX = x;
    if (y < minY) minY = y;
    if (y > maxY) maxY = y;
  }
  let left = m - members.length;
  for (let r = 1; r <= PLACE_ROUNDS && left > 0; r++) {
    let placed = 0;
    for (let i = 0; i < m; i++) {
      if (round[i] !== -1) continue;
      let sw = 0, sx = 0, sy = 0;
      for (let e = start[i]!; e < start[i + 1]!; e++) {
        const j = head[e]!;
        const rj = round[j]!;
        if (rj < 0 || rj >= r) continue;
        const w = weight[e]!;
        sw += w;
        sx += w * xy[2 * j]!;
        sy += w * xy[2 * j + 1]!;
      }
      if (sw === 0) continue;
      xy[2 * i] = sx / sw + (random() - 0.5) * JITTER;
      xy[2 * i + 1] = sy / sw + (random() - 0.5) * JITTER;
      round[i] = r;
      placed++;
    }
    left -= placed;
    if (placed === 0) break;
  }
  // Components without a member of S: anywhere in S's extent, as a whole fit would start them.
  if (!(minX <= maxX)) minX = minY = -10, maxX = maxY = 10;
  for (let i = 0; i < m; i++) {
    if (round[i] !== -1) continue;
    xy[2 * i] = minX + random() * (maxX - minX);
    xy[2 * i + 1] = minY + random() * (maxY - minY);
  }
  return xy;
}

/**
 * Lay out a fuzzy graph of m points by a subset fit; returns [m × 2] float64 positions.
 * `progress(epoch, epochs)` counts the subset's epochs, then the whole graph's.
 */
export function subsetFit(m: number, graph: FuzzyGraph, nEpochs: number, opts: SubsetFitOptions, progress?: Progress): Float64Array {
  if (!(opts.share > 0 && opts.share < 1)) throw new Error(`layout: the subset share must be in (0, 1), got ${opts.share}`);
  if (!Number.isInteger(opts.fineEpochs) || opts.fineEpochs < 1 || opts.fineEpochs > nEpochs) {
    throw new Error(`layout: fineEpochs must be an integer in [1, ${nEpochs}], got ${opts.fineEpochs}`);
  }
  const pick = stream(opts.random);
  const chosen: number[] = [];
  for (let i = 0; i < m; i++) if (pick() < opts.share) chosen.push(i);
  const members = Int32Array.from(chosen);
  const total = nEpochs + opts.fineEpochs;
  const coarse = subsetGraph(m, graph, members);
  const start = randomStart(members.length, opts.random);
  const subsetXy = optimise(members.length, scheduleEdges(coarse, nEpochs), start.xy, start.state, { nEpochs, startEpoch: 0 }, opts, (e) => progress?.(e, total));
  const xy = placeRest(m, graph, members, subsetXy, stream(opts.random));
  const state = Math.floor(opts.random() * 4294967296) >>> 0;
  return optimise(m, scheduleEdges(graph, nEpochs), xy, state, { nEpochs, startEpoch: nEpochs - opts.fineEpochs }, opts, (e) => progress?.(nEpochs + e, total));
}

/** `typedUmap`'s counterpart: the kNN rows' fuzzy graph laid out by `subsetFit`. */
export function subsetUmap(input: TypedUmapInput, opts: SubsetFitOptions, progress?: Progress): Float64Array {
  const nEpochs = opts.nEpochs > 0 ? opts.nEpochs : defaultEpochs(input.m);
  // A short schedule (--epochs) is run whole after the subset's fit.
  return subsetFit(input.m, fuzzyGraph(input), nEpochs, { ...opts, fineEpochs: Math.min(opts.fineEpochs, nEpochs) }, progress);
}
