import { describe, expect, it } from "vitest";
import { UMAP as UmapJs } from "umap-js";
import { createLanes, fuzzyGraph, laneStep, PowTable, typedUmap, type LaneShared } from "../../precompute/layout/typed-umap.ts";
import { rng } from "../../precompute/random.ts";
import { layoutUmap, UMAPJS_MAX_POINTS, type UmapOptions } from "../../precompute/layout/umap.ts";
import { buildKnnGraph } from "../../precompute/neighbours/knn.ts";
import { normaliseRows } from "../../precompute/neighbours/normalise.ts";
import type { KnnGraph } from "../../precompute/stages.ts";
import { syntheticDictionary } from "../../scripts/synthetic-dictionary.ts";

// The typed-array engine, forced at small sizes; umap-js on the same graphs as the reference.
const TYPED: UmapOptions = { nNeighbors: 16, minDist: 0.1, spread: 1, nEpochs: 200, seed: 42, engine: "typed" };
const KNN = { k: 15, m: 16, efConstruction: 200, efSearch: 64, seed: 42 };

function planted(n: number, d: number, clusters: number, seed: number): { graph: KnnGraph; cluster: Int32Array } {
  const dict = syntheticDictionary({ n, d, clusters, seed, zipf: 0.5 });
  const { unit, alive } = normaliseRows(dict.decoder, n, d);
  return { graph: buildKnnGraph(unit, n, d, alive, KNN), cluster: dict.cluster };
}

/** The 15 nearest in 2-D of point i, brute force. */
function nearest(xy: Float32Array, i: number, k = 15): number[] {
  const n = xy.length / 2;
  const ids = Array.from({ length: n }, (_, j) => j).filter((j) => j !== i);
  const dist = (j: number): number => (xy[2 * i]! - xy[2 * j]!) ** 2 + (xy[2 * i + 1]! - xy[2 * j + 1]!) ** 2;
  return ids.sort((a, b) => dist(a) - dist(b) || a - b).slice(0, k);
}

/** Mean fraction of each point's 15 graph neighbours among its 15 nearest in 2-D, and of same-cluster 2-D neighbours. */
function quality(xy: Float32Array, graph: KnnGraph, cluster: Int32Array): { preserved: number; sameCluster: number } {
  let preserved = 0;
  let same = 0;
  let count = 0;
  for (let i = 0; i < graph.n; i += 3) {
    const graphN = new Set(Array.from(graph.indices.subarray(i * graph.k1 + 1, (i + 1) * graph.k1)));
    for (const j of nearest(xy, i)) {
      if (graphN.has(j)) preserved++;
      if (cluster[j] === cluster[i]) same++;
    }
    count += 15;
  }
  return { preserved: preserved / count, sameCluster: same / count };
}

describe("typed UMAP engine on planted clusters", () => {
  const n = 1500;
  const { graph, cluster } = planted(n, 48, 12, 5);
  const calls: [number, number][] = [];
  const xy = layoutUmap(graph, TYPED, (done, total) => calls.push([done, total]));
  const reference = layoutUmap(graph, { ...TYPED, engine: "umap-js" });

  it("returns finite coordinates in the unit square, the longer side spanning the margins", () => {
    expect(xy.length).toBe(2 * n);
    for (const v of xy) {
      expect(Number.isFinite(v)).toBe(true);
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    let [minX, maxX, minY, maxY] = [1, 0, 1, 0];
    for (let i = 0; i < n; i++) {
      minX = Math.min(minX, xy[2 * i]!);
      maxX = Math.max(maxX, xy[2 * i]!);
      minY = Math.min(minY, xy[2 * i + 1]!);
      maxY = Math.max(maxY, xy[2 * i + 1]!);
    }
    expect(Math.max(maxX - minX, maxY - minY)).toBeCloseTo(0.96, 6);
  });

  it("keeps planted clusters together and graph neighbours close, as well as umap-js does", () => {
    const typed = quality(xy, graph, cluster);
    const ref = quality(reference, graph, cluster);
    expect(typed.sameCluster).toBeGreaterThanOrEqual(0.95);
    expect(typed.sameCluster).toBeGreaterThanOrEqual(ref.sameCluster - 0.02);
    // Flat clusters: within a cluster the graph's neighbours are nearly arbitrary, so only part of
    // them can be the nearest in 2-D (umap-js keeps ~0.22 here; a random layout 15 / 1500 = 0.01);
    // what matters is keeping up with the reference.
    expect(typed.preserved).toBeGreaterThanOrEqual(0.15);
    expect(typed.preserved).toBeGreaterThanOrEqual(0.9 * ref.preserved);
  });

  it("reports progress once per epoch after fitting", () => {
    expect(calls.length).toBe(TYPED.nEpochs + 1);
    calls.forEach(([done, total], e) => expect([done, total]).toEqual([e, TYPED.nEpochs]));
  });

  it("gives identical bytes for a seed and a different layout for another", () => {
    expect(Buffer.from(layoutUmap(graph, TYPED).buffer).equals(Buffer.from(xy.buffer))).toBe(true);
    const other = layoutUmap(graph, { ...TYPED, seed: 43 });
    let moved = 0;
    for (let i = 0; i < 2 * n; i++) if (Math.abs(other[i]! - xy[i]!) > 0.01) moved++;
    expect(moved).toBeGreaterThan(n);
  });

  it("uses umap-js' default epochs for the graph size when nEpochs is 0", () => {
    let last: [number, number] = [0, 0];
    layoutUmap(graph, { ...TYPED, nEpochs: 0 }, (done, total) => (last = [done, total]));
    expect(last).toEqual([500, 500]);
  });
});

describe("two-lane SGD (two cores)", () => {
  const n = 1500;
  const { graph, cluster } = planted(n, 48, 12, 5);
  const input = { m: n, k: 16, indices: graph.indices, distances: graph.distances };
  const run = (threads: number, seed = 42): Float64Array =>
    typedUmap(input, { minDist: 0.1, spread: 1, nEpochs: 150, random: rng(seed, "umap"), lanes: 2, threads });
  const two = run(2);

  it("gives the same bytes on two threads as on one, and again", () => {
    expect(Buffer.from(run(1).buffer).equals(Buffer.from(two.buffer))).toBe(true);
    expect(Buffer.from(run(2).buffer).equals(Buffer.from(two.buffer))).toBe(true);
    expect(Buffer.from(run(2, 7).buffer).equals(Buffer.from(two.buffer))).toBe(false);
  });

  it("lays out as well as the sequential SGD", () => {
    const seq = typedUmap(input, { minDist: 0.1, spread: 1, nEpochs: 150, random: rng(42, "umap"), lanes: 1 });
    const toUnit = (xy: Float64Array): Float32Array => Float32Array.from(xy);
    const lanes = quality(toUnit(two), graph, cluster);
    const ref = quality(toUnit(seq), graph, cluster);
    expect(lanes.sameCluster).toBeGreaterThanOrEqual(0.95);
    expect(lanes.sameCluster).toBeGreaterThanOrEqual(ref.sameCluster - 0.02);
    expect(lanes.preserved).toBeGreaterThanOrEqual(0.9 * ref.preserved);
  });
});

/**
 * The two-lane step as it reads on paper, one edge at a time with each sample drawn and used in
 * turn: the reference for laneStep, which fetches a batch's positions before it updates them.
 */
function plainLaneStep(s: LaneShared, powB: PowTable, lane: number, n: number, step: number): void {
  const g = n * 4 + step;
  const read = s.buffers[g & 1]!;
  const live = s.buffers[(g + 1) & 1]!;
  const [lo, hi] = lane === 0 ? [0, s.half] : [s.half, s.m];
  live.set(read.subarray(2 * lo, 2 * hi), 2 * lo);
  const first = s.edgeStart[lane]!;
  const count = s.edgeStart[lane + 1]! - first;
  const alpha = 1 - n / s.nEpochs;
  const clip = (v: number): number => Math.max(-4, Math.min(4, v));
  const at = (i: number): Float64Array => (i >= lo && i < hi ? live : read);
  let state = s.rngState[lane]!;
  for (let e = first + Math.floor((count * step) / 4); e < first + Math.floor((count * (step + 1)) / 4); e++) {
    if (s.nextSample[e]! > n) continue;
    const j = s.head[e]!;
    const k = s.tail[e]!;
    let cx = live[2 * j]!;
    let cy = live[2 * j + 1]!;
    let dx = cx - at(k)[2 * k]!;
    let dy = cy - at(k)[2 * k + 1]!;
    let d2 = dx * dx + dy * dy;
    let coeff = 0;
    if (d2 > 0) {
      const p = powB.pow(d2);
      coeff = (-2 * s.a * s.b * (p / d2)) / (s.a * p + 1);
    }
    cx += 2 * clip(coeff * dx) * alpha;
    cy += 2 * clip(coeff * dy) * alpha;
    s.nextSample[e] = s.nextSample[e]! + s.epochsPerSample[e]!;
    const nNeg = Math.floor((n - s.nextNegative[e]!) / s.epochsPerNegative[e]!);
    for (let q = 0; q < nNeg; q++) {
      state = (state + 0x6d2b79f5) >>> 0;
      let r = state;
      r = Math.imul(r ^ (r >>> 15), r | 1);
      r ^= r + Math.imul(r ^ (r >>> 7), r | 61);
      const o = (((r ^ (r >>> 14)) >>> 0) * 2 ** -32 * s.m) | 0;
      if (o === j) continue;
      dx = cx - at(o)[2 * o]!;
      dy = cy - at(o)[2 * o + 1]!;
      d2 = dx * dx + dy * dy;
      let gx = 4;
      let gy = 4;
      if (d2 > 0) {
        const rc = (2 * s.b) / ((0.001 + d2) * (s.a * powB.pow(d2) + 1));
        gx = clip(rc * dx);
        gy = clip(rc * dy);
      }
      cx += gx * alpha;
      cy += gy * alpha;
    }
    live[2 * j] = cx;
    live[2 * j + 1] = cy;
    s.nextNegative[e] = s.nextNegative[e]! + nNeg * s.epochsPerNegative[e]!;
  }
  s.rngState[lane] = state;
}

describe("two-lane step", () => {
  it("gives the same bytes as the one-edge-at-a-time loop, samples that hit a batch's heads and long sample lists included", () => {
    // A small graph, so negative samples often land on heads the same batch moves earlier.
    const m = 300;
    const { graph } = planted(m, 16, 4, 3);
    const f = fuzzyGraph({ m, k: 16, indices: graph.indices, distances: graph.distances });
    const epochsPerSample = Float64Array.from(f.weight, (w) => 1 / w);
    const xy = Float64Array.from({ length: 2 * m }, (_, i) => ((i * 7919) % 2000) / 100 - 10);
    const make = (): LaneShared => {
      const s = createLanes({ m, nEpochs: 30, head: f.head, tail: f.tail, epochsPerSample, xy, seeds: [11, 12], spread: 1, minDist: 0.1 });
      // Some edges draw ~100 samples at a time, more than a batch's buffer starts with.
      for (let e = 0; e < s.head.length; e += 37) s.epochsPerNegative[e] = s.epochsPerSample[e]! / 100;
      return s;
    };
    const fast = make();
    const plain = make();
    const powB = new PowTable(fast.b);
    for (let n = 0; n < 30; n++) {
      for (let step = 0; step < 4; step++) {
        for (const lane of [0, 1]) {
          laneStep(fast, powB, lane, n, step);
          plainLaneStep(plain, powB, lane, n, step);
        }
      }
    }
    expect(Buffer.from(fast.buffers[0].buffer).equals(Buffer.from(plain.buffers[0].buffer))).toBe(true);
    expect(Buffer.from(fast.buffers[1].buffer).equals(Buffer.from(plain.buffers[1].buffer))).toBe(true);
    expect(fast.rngState[0]).toBe(plain.rngState[0]);
    // The layout moved: the comparison is not between two untouched buffers.
    expect(Buffer.from(fast.buffers[0].buffer).equals(Buffer.from(xy.buffer))).toBe(false);
  });
});

describe("typed UMAP engine pieces", () => {
  it("builds the same fuzzy graph as umap-js, edge for edge", () => {
    const { graph } = planted(300, 16, 6, 8);
    const k = 16;
    const ref = new UmapJs({ nNeighbors: k });
    const rows = (arr: Int32Array | Float32Array): number[][] => Array.from({ length: graph.n }, (_, i) => Array.from(arr.subarray(i * k, (i + 1) * k)));
    ref.setPrecomputedKNN(rows(graph.indices), rows(graph.distances));
    const fuzzy = (ref as unknown as { fuzzySimplicialSet(x: number[][], k: number): { getAll(): { row: number; col: number; value: number }[] } })
      .fuzzySimplicialSet(new Array<number[]>(graph.n).fill([]), k)
      .getAll()
      .filter((e) => e.value !== 0);
    const ours = fuzzyGraph({ m: graph.n, k, indices: graph.indices, distances: graph.distances });
    expect(ours.weight.length).toBe(fuzzy.length);
    fuzzy.forEach((e, t) => {
      expect([ours.tail[t], ours.head[t]]).toEqual([e.row, e.col]);
      expect(ours.weight[t]).toBe(e.value);
    });
  });

  it("interpolates powers to 2e-7 relative over the range UMAP needs", () => {
    const b = 0.8950608779109733;
    const table = new PowTable(b);
    for (let e = -30; e <= 30; e += 0.37) {
      const x = Math.exp(e);
      expect(Math.abs(table.pow(x) - Math.pow(x, b)) / Math.pow(x, b)).toBeLessThan(2e-7);
    }
    expect(table.pow(1e-40)).toBe(Math.pow(1e-40, b));
  });

  it("'auto' hands graphs above UMAPJS_MAX_POINTS to the typed engine", () => {
    const n = UMAPJS_MAX_POINTS + 100;
    const { graph } = planted(n, 16, 10, 12);
    const opts = { ...TYPED, nEpochs: 20 };
    const auto = layoutUmap(graph, { ...opts, engine: "auto" });
    expect(Buffer.from(auto.buffer).equals(Buffer.from(layoutUmap(graph, opts).buffer))).toBe(true);
    expect(Buffer.from(auto.buffer).equals(Buffer.from(layoutUmap(graph, { ...opts, engine: "umap-js" }).buffer))).toBe(false);
  });

  it("lays out connected points the same with dead points spliced in, and puts those apart", () => {
    const { graph } = planted(400, 16, 4, 9);
    const dead = [0, 3, 100, 403];
    const n = 400 + dead.length;
    const toNew: number[] = [];
    for (let i = 0; i < n; i++) if (!dead.includes(i)) toNew.push(i);
    const k1 = graph.k1;
    const withDead: KnnGraph = { n, k1, indices: new Int32Array(n * k1), distances: new Float32Array(n * k1) };
    for (const i of dead) withDead.indices.fill(i, i * k1, (i + 1) * k1);
    toNew.forEach((i, a) => {
      for (let t = 0; t < k1; t++) {
        withDead.indices[i * k1 + t] = toNew[graph.indices[a * k1 + t]!]!;
        withDead.distances[i * k1 + t] = graph.distances[a * k1 + t]!;
      }
    });
    const opts = { ...TYPED, nEpochs: 50 };
    const plain = layoutUmap(graph, opts);
    const xy = layoutUmap(withDead, opts);
    const [p, q] = [toNew[0]!, toNew[399]!];
    const s = (xy[2 * q]! - xy[2 * p]!) / (plain[2 * 399]! - plain[0]!);
    const tx = xy[2 * p]! - s * plain[0]!;
    const ty = xy[2 * p + 1]! - s * plain[1]!;
    toNew.forEach((i, a) => {
      expect(xy[2 * i]!).toBeCloseTo(s * plain[2 * a]! + tx, 5);
      expect(xy[2 * i + 1]!).toBeCloseTo(s * plain[2 * a + 1]! + ty, 5);
    });
    let maxLiveX = 0;
    for (const i of toNew) maxLiveX = Math.max(maxLiveX, xy[2 * i]!);
    for (const i of dead) expect(xy[2 * i]!).toBeGreaterThan(maxLiveX);
  });
});
