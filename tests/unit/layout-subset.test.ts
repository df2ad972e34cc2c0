import { describe, expect, it } from "vitest";
import { COARSE_K, placeRest, subsetFit, subsetGraph, subsetUmap } from "../../precompute/layout/subset-fit.ts";
import { fuzzyGraph, optimise, randomStart, scheduleEdges, typedUmap, type FuzzyGraph } from "../../precompute/layout/typed-umap.ts";
import { layoutUmap, type UmapOptions } from "../../precompute/layout/umap.ts";
import { rng } from "../../precompute/random.ts";
import { buildKnnGraph } from "../../precompute/neighbours/knn.ts";
import { normaliseRows } from "../../precompute/neighbours/normalise.ts";
import type { KnnGraph } from "../../precompute/stages.ts";
import { syntheticDictionary } from "../../scripts/synthetic-dictionary.ts";

const KNN = { k: 15, m: 16, efConstruction: 200, efSearch: 64, seed: 42 };

function planted(n: number, d: number, clusters: number, seed: number): { graph: KnnGraph; cluster: Int32Array } {
  const dict = syntheticDictionary({ n, d, clusters, seed, zipf: 0.5 });
  const { unit, alive } = normaliseRows(dict.decoder, n, d);
  return { graph: buildKnnGraph(unit, n, d, alive, KNN), cluster: dict.cluster };
}

/** Share of each sampled point's 15 nearest in 2-D that lie in its own planted cluster. */
function sameCluster(xy: ArrayLike<number>, cluster: Int32Array): number {
  const n = cluster.length;
  let same = 0;
  let count = 0;
  for (let i = 0; i < n; i += 7) {
    const dist = (j: number): number => (xy[2 * i]! - xy[2 * j]!) ** 2 + (xy[2 * i + 1]! - xy[2 * j + 1]!) ** 2;
    const near = Array.from({ length: n }, (_, j) => j).filter((j) => j !== i).sort((a, b) => dist(a) - dist(b) || a - b).slice(0, 15);
    for (const j of near) if (cluster[j] === cluster[i]) same++;
    count += 15;
  }
  return same / count;
}

/** The edges of a fuzzy graph as "row→col" → weight. */
function edges(g: FuzzyGraph): Map<string, number> {
  const out = new Map<string, number>();
  for (let e = 0; e < g.head.length; e++) out.set(`${g.tail[e]}→${g.head[e]}`, g.weight[e]!);
  return out;
}

describe("subset fit: the subset's graph", () => {
  // A path 0 – 1 – 2 – 3 – 4 with weights 0.9, 0.8, 0.7, 0.6, and a chord 0 – 4 of 0.1.
  const pairs: [number, number, number][] = [[0, 1, 0.9], [1, 2, 0.8], [2, 3, 0.7], [3, 4, 0.6], [0, 4, 0.1]];
  const rows: [number, number, number][] = [];
  for (const [a, b, w] of pairs) rows.push([a, b, w], [b, a, w]);
  rows.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const graph: FuzzyGraph = {
    tail: Int32Array.from(rows, (r) => r[0]),
    head: Int32Array.from(rows, (r) => r[1]),
    weight: Float64Array.from(rows, (r) => r[2]),
  };

  it("links members through one point outside the subset, by the product of the two weights", () => {
    // Members 0, 2, 4 (compact 0, 1, 2). 0 – 2 only through 1: 0.9 · 0.8 = 0.72, found from
    // both ends, so the union gives 0.72 + 0.72 − 0.72²; 2 – 4 through 3: 0.7 · 0.6 = 0.42, the
    // same way; 0 – 4 by the chord alone, 0.1 from both ends.
    const g = subsetGraph(5, graph, Int32Array.from([0, 2, 4]));
    const e = edges(g);
    const union = (w: number): number => w + w - w * w;
    for (const [a, b, w] of [[0, 1, 0.9 * 0.8], [1, 2, 0.7 * 0.6], [0, 2, 0.1]] as const) {
      expect(e.get(`${a}→${b}`)).toBe(union(w));
      expect(e.get(`${b}→${a}`)).toBe(union(w));
    }
    expect(e.size).toBe(6);
  });

  it("matches a plain reference: direct and two-step weights, the strongest COARSE_K, the union", () => {
    const { graph: knn } = planted(600, 24, 6, 3);
    const f = fuzzyGraph({ m: 600, k: 16, indices: knn.indices, distances: knn.distances });
    const members = Int32Array.from({ length: 150 }, (_, s) => 4 * s + (s % 3));
    const rows = new Map<number, [number, number][]>();
    for (let e = 0; e < f.head.length; e++) (rows.get(f.tail[e]!) ?? rows.set(f.tail[e]!, []).get(f.tail[e]!)!).push([f.head[e]!, f.weight[e]!]);
    const inS = new Map(Array.from(members, (v, s) => [v, s] as const));
    const directed: Map<number, number>[] = [];
    members.forEach((a, s) => {
      const best = new Map<number, number>();
      const offer = (c: number, w: number): void => void best.set(c, Math.max(best.get(c) ?? 0, w));
      for (const [b, w1] of rows.get(a) ?? []) {
        if (inS.has(b)) offer(inS.get(b)!, w1);
        else for (const [c, w2] of rows.get(b) ?? []) if (c !== a && inS.has(c)) offer(inS.get(c)!, w1 * w2);
      }
      directed[s] = new Map([...best].sort((x, y) => y[1] - x[1] || x[0] - y[0]).slice(0, COARSE_K));
    });
    const expected = new Map<string, number>();
    directed.forEach((top, s) => {
      for (const [c, x] of top) {
        const y = directed[c]!.get(s) ?? 0;
        expected.set(`${s}→${c}`, x + y - x * y);
        if (y === 0) expected.set(`${c}→${s}`, x);
      }
    });
    const got = edges(subsetGraph(600, f, members));
    expect(got.size).toBe(expected.size);
    for (const [key, w] of expected) expect(got.get(key)).toBe(w);
  });

  it("keeps rows in order, both directions of every pair, no loops", () => {
    const { graph: knn } = planted(600, 24, 6, 3);
    const f = fuzzyGraph({ m: 600, k: 16, indices: knn.indices, distances: knn.distances });
    const members = Int32Array.from({ length: 150 }, (_, s) => 4 * s);
    const g = subsetGraph(600, f, members);
    const e = edges(g);
    for (let t = 0; t < g.head.length; t++) {
      expect(g.head[t]).not.toBe(g.tail[t]);
      expect(e.get(`${g.head[t]}→${g.tail[t]}`)).toBe(g.weight[t]);
      expect(g.weight[t]).toBeGreaterThan(0);
      expect(g.weight[t]).toBeLessThanOrEqual(1);
      if (t > 0 && g.tail[t] === g.tail[t - 1]) expect(g.head[t]!).toBeGreaterThan(g.head[t - 1]!);
      if (t > 0) expect(g.tail[t]!).toBeGreaterThanOrEqual(g.tail[t - 1]!);
    }
    // With a quarter of the points kept, direct edges alone would leave members isolated.
    const degree = new Int32Array(150);
    for (const r of g.tail) degree[r]!++;
    expect(Math.min(...degree)).toBeGreaterThanOrEqual(5);
  });
});

describe("subset fit: placing the rest", () => {
  // Points 0 and 1 are the subset; 2 hangs off both (weights 1 and 3); 3 hangs off 2 only; 4 has no edge.
  const rows: [number, number, number][] = [[0, 2, 1], [1, 2, 3], [2, 0, 1], [2, 1, 3], [2, 3, 1], [3, 2, 1]];
  const graph: FuzzyGraph = {
    tail: Int32Array.from(rows, (r) => r[0]),
    head: Int32Array.from(rows, (r) => r[1]),
    weight: Float64Array.from(rows, (r) => r[2]),
  };
  const xy = placeRest(5, graph, Int32Array.from([0, 1]), Float64Array.from([0, 0, 4, 8]), rng(1, "t"));

  it("keeps the subset where it was and puts each other point at its placed neighbours' weighted mean, round by round", () => {
    expect([xy[0], xy[1], xy[2], xy[3]]).toEqual([0, 0, 4, 8]);
    // 2: (1 · (0, 0) + 3 · (4, 8)) / 4 = (3, 6), within the jitter.
    expect(Math.abs(xy[4]! - 3)).toBeLessThanOrEqual(0.025);
    expect(Math.abs(xy[5]! - 6)).toBeLessThanOrEqual(0.025);
    expect(xy[4]).not.toBe(3);
    // 3 had no placed neighbour in round 1; in round 2 it goes where 2 went, within the jitter.
    expect(Math.abs(xy[6]! - xy[4]!)).toBeLessThanOrEqual(0.025);
    expect(Math.abs(xy[7]! - xy[5]!)).toBeLessThanOrEqual(0.025);
  });

  it("starts a point no placed point reaches somewhere in the subset's extent", () => {
    expect(xy[8]).toBeGreaterThanOrEqual(0);
    expect(xy[8]).toBeLessThanOrEqual(4);
    expect(xy[9]).toBeGreaterThanOrEqual(0);
    expect(xy[9]).toBeLessThanOrEqual(8);
  });
});

describe("subset fit on planted clusters", () => {
  const n = 2400;
  const { graph, cluster } = planted(n, 48, 12, 5);
  const input = { m: n, k: 16, indices: graph.indices, distances: graph.distances };
  const opts = { minDist: 0.1, spread: 1, nEpochs: 120, random: rng(42, "umap"), share: 0.25, fineEpochs: 30 };
  const calls: [number, number][] = [];
  const xy = subsetUmap(input, { ...opts, random: rng(42, "umap") }, (done, total) => calls.push([done, total]));

  it("keeps planted clusters together as well as a whole fit", () => {
    const whole = typedUmap(input, { ...opts, random: rng(42, "umap") });
    const ours = sameCluster(xy, cluster);
    expect(ours).toBeGreaterThanOrEqual(0.95);
    expect(ours).toBeGreaterThanOrEqual(sameCluster(whole, cluster) - 0.02);
  });

  it("runs the whole schedule on the subset, then its last epochs on every point", () => {
    expect(calls.at(-1)).toEqual([150, 150]);
    expect(calls.filter(([, total]) => total !== 150)).toEqual([]);
    // Progress never goes back.
    for (let c = 1; c < calls.length; c++) expect(calls[c]![0]).toBeGreaterThanOrEqual(calls[c - 1]![0]);
  });

  it("gives the same bytes again, on one thread or two, and others for another seed", () => {
    const again = subsetUmap(input, { ...opts, random: rng(42, "umap"), threads: 1 });
    expect(Buffer.from(again.buffer).equals(Buffer.from(xy.buffer))).toBe(true);
    const other = subsetUmap(input, { ...opts, random: rng(43, "umap") });
    expect(Buffer.from(other.buffer).equals(Buffer.from(xy.buffer))).toBe(false);
  });

  it("refuses a share or a number of fine epochs it cannot run", () => {
    const f = fuzzyGraph(input);
    expect(() => subsetFit(n, f, 100, { ...opts, share: 1 })).toThrow(/share must be in \(0, 1\)/);
    expect(() => subsetFit(n, f, 100, { ...opts, fineEpochs: 101 })).toThrow(/fineEpochs must be an integer in \[1, 100\]/);
  });

  it("is what layoutUmap runs from `subsetFit.from` connected points on, and only then", () => {
    const base: UmapOptions = { nNeighbors: 16, minDist: 0.1, spread: 1, nEpochs: 60, seed: 42, engine: "typed" };
    const whole = layoutUmap(graph, base);
    const below = layoutUmap(graph, { ...base, subsetFit: { from: n + 1, share: 0.25, fineEpochs: 20 } });
    const from = layoutUmap(graph, { ...base, subsetFit: { from: n, share: 0.25, fineEpochs: 20 } });
    expect(Buffer.from(below.buffer).equals(Buffer.from(whole.buffer))).toBe(true);
    expect(Buffer.from(from.buffer).equals(Buffer.from(whole.buffer))).toBe(false);
    expect(sameCluster(from, cluster)).toBeGreaterThanOrEqual(0.95);
  });
});

describe("epoch ranges", () => {
  it("runs the tail of a schedule: every edge first due one period after the start, at the tail's learning rate", () => {
    const { graph } = planted(400, 24, 4, 9);
    const f = fuzzyGraph({ m: 400, k: 16, indices: graph.indices, distances: graph.distances });
    const sched = scheduleEdges(f, 50);
    const displacement = (lanes: 1 | 2, range: { nEpochs: number; startEpoch: number }): { moved: number; total: number; calls: number[] } => {
      const start = randomStart(400, rng(1, "t"));
      const before = start.xy.slice();
      const calls: number[] = [];
      const xy = optimise(400, sched, start.xy, start.state, range, { random: rng(2, "t"), lanes, threads: 1, spread: 1, minDist: 0.1 }, (done, total) => calls.push(done, total));
      let moved = 0;
      let total = 0;
      for (let i = 0; i < 800; i++) {
        if (xy[i] !== before[i]) moved++;
        total += Math.abs(xy[i]! - before[i]!);
      }
      return { moved, total, calls };
    };
    for (const lanes of [1, 2] as const) {
      // As in a whole fit, whose epoch 0 samples nothing: the last epoch alone moves no point.
      const last = displacement(lanes, { nEpochs: 50, startEpoch: 49 });
      expect(last.calls).toEqual([0, 1, 1, 1]);
      expect(last.moved).toBe(0);
      // The last two: the strongest edges are due once, at learning rate 1/50; the first two
      // epochs of a whole fit sample the same edges at 49/50, and move the points far more.
      const tail = displacement(lanes, { nEpochs: 50, startEpoch: 48 });
      const head = displacement(lanes, { nEpochs: 2, startEpoch: 0 });
      expect(tail.moved).toBeGreaterThan(400);
      expect(tail.total).toBeLessThan(head.total / 10);
    }
  });
});
