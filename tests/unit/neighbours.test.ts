import { describe, expect, it } from "vitest";
import { buildKnnGraph, exactKnn, measureRecall, type KnnOptions } from "../../precompute/neighbours/knn.ts";
import { normaliseRows } from "../../precompute/neighbours/normalise.ts";
import { gaussian, rng } from "../../precompute/random.ts";
import type { KnnGraph } from "../../precompute/stages.ts";

const DEFAULTS: KnnOptions = { k: 15, m: 16, efConstruction: 200, efSearch: 64, seed: 42 };

/** n points around c random centres; point i belongs to cluster i % c. */
function clusters(n: number, d: number, c: number, noise: number, seed: number): Float32Array {
  const r = rng(seed, "test-clusters");
  const centres = Array.from({ length: c }, () => Array.from({ length: d }, () => gaussian(r)));
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) x[i * d + t] = centres[i % c]![t]! + noise * gaussian(r);
  return x;
}

/** Cosine distance the slow, obvious way: both norms recomputed, float64 throughout. */
function naiveDistance(x: Float32Array, d: number, a: number, b: number): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let t = 0; t < d; t++) {
    ab += x[a * d + t]! * x[b * d + t]!;
    aa += x[a * d + t]! ** 2;
    bb += x[b * d + t]! ** 2;
  }
  return 1 - ab / Math.sqrt(aa * bb);
}

function row(graph: KnnGraph, i: number): { ids: number[]; dist: number[] } {
  const s = i * graph.k1;
  return {
    ids: Array.from(graph.indices.subarray(s, s + graph.k1)),
    dist: Array.from(graph.distances.subarray(s, s + graph.k1)),
  };
}

describe("normaliseRows", () => {
  it("scales live rows to unit length and marks zero and non-finite rows dead", () => {
    const d = 3;
    const x = Float32Array.from([3, 4, 0, 0, 0, 0, 1, Number.NaN, 2, 1, 1, Number.POSITIVE_INFINITY, -2, 0, 0, 1e-30, 0, 0]);
    const { unit, norms, alive } = normaliseRows(x, 6, d);
    expect(Array.from(alive)).toEqual([1, 0, 0, 0, 1, 1]);
    expect(Array.from(unit.subarray(0, 3))).toEqual([Math.fround(0.6), Math.fround(0.8), 0]);
    expect(Array.from(unit.subarray(3, 12))).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(unit.subarray(12, 18))).toEqual([-1, 0, 0, 1, 0, 0]);
    expect(norms[0]).toBeCloseTo(5, 6);
    expect(norms[1]).toBe(0);
    expect(norms[2]).toBeNaN();
    expect(norms[3]).toBeNaN();
    expect(norms[4]).toBe(2);
    expect(norms[5]).toBeCloseTo(1e-30, 36);
  });

  it("gives rows of length 1 for random data", () => {
    const n = 50;
    const d = 17;
    const { unit, alive } = normaliseRows(clusters(n, d, 3, 1, 7), n, d);
    expect(alive.every((a) => a === 1)).toBe(true);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += unit[i * d + t]! ** 2;
      expect(Math.abs(Math.sqrt(s) - 1)).toBeLessThan(1e-6);
    }
  });

  it("rejects a buffer of the wrong size", () => {
    expect(() => normaliseRows(new Float32Array(10), 3, 3)).toThrow(/3 × 3 = 9 values, got 10/);
  });
});

describe("exactKnn", () => {
  it("matches a sort of all distances, ties broken by id", () => {
    const n = 120;
    const d = 8;
    const x = clusters(n, d, 4, 0.7, 3);
    // Exact duplicates create ties that the (distance, id) order must settle.
    for (const [dst, src] of [[10, 20], [30, 20], [55, 54]] as const) x.copyWithin(dst * d, src * d, src * d + d);
    x.fill(0, 70 * d, 71 * d);
    const { unit, alive } = normaliseRows(x, n, d);
    const queries = [0, 20, 30, 54, 69, 119];
    const k = 9;
    const got = exactKnn(unit, n, d, alive, queries, k);
    expect(got.k).toBe(k);
    queries.forEach((q, r) => {
      const all = [];
      for (let j = 0; j < n; j++) if (j !== q && alive[j]) all.push({ j, dist: naiveDistance(x, d, q, j) });
      all.sort((a, b) => a.dist - b.dist || a.j - b.j);
      const ids = Array.from(got.indices.subarray(r * k, r * k + k));
      // Near-ties can round either way between the two computations, so compare as sets of
      // distances and require the duplicates' exact ties to come in id order.
      for (let t = 0; t < k; t++) expect(got.distances[r * k + t]).toBeCloseTo(all[t]!.dist, 6);
      expect(ids).not.toContain(q);
      expect(ids).not.toContain(70);
      expect(ids.slice().sort((a, b) => a - b)).toEqual(all.slice(0, k).map((e) => e.j).sort((a, b) => a - b));
    });
    const row20 = Array.from(got.indices.subarray(k, 2 * k));
    expect(row20.slice(0, 2)).toEqual([10, 30]);
    expect(got.distances[k]).toBe(0);
  });

  it("refuses a dead query point", () => {
    const { unit, alive } = normaliseRows(new Float32Array([1, 0, 0, 0, 0, 1]), 3, 2);
    expect(() => exactKnn(unit, 3, 2, alive, [1], 1)).toThrow(/query 1 is not an alive point/);
  });
});

describe("buildKnnGraph", () => {
  const n = 2000;
  const d = 64;
  const x = clusters(n, d, 20, 1, 11);
  const { unit, alive } = normaliseRows(x, n, d);
  const calls: [number, number][] = [];
  const graph = buildKnnGraph(unit, n, d, alive, DEFAULTS, (done, total) => calls.push([done, total]));

  it("finds at least 95 % of the exact 15 nearest neighbours", () => {
    expect(graph.n).toBe(n);
    expect(graph.k1).toBe(16);
    const recall = measureRecall(unit, n, d, alive, graph, { k: 15, sample: n, seed: 1 });
    expect(recall.k).toBe(15);
    expect(recall.sample).toBe(n);
    expect(recall.recall).toBeGreaterThanOrEqual(0.95);
  });

  it("puts each point first at distance 0, then others by (distance, id) with exact cosine distances", () => {
    for (let i = 0; i < n; i++) {
      const { ids, dist } = row(graph, i);
      expect(ids[0]).toBe(i);
      expect(dist[0]).toBe(0);
      expect(new Set(ids).size).toBe(graph.k1);
      for (let t = 1; t < graph.k1; t++) {
        expect(dist[t - 1]! < dist[t]! || (dist[t - 1] === dist[t] && ids[t - 1]! < ids[t]!)).toBe(true);
      }
    }
    // Spot-check the stored values against an independent float64 computation.
    for (let i = 0; i < n; i += 97) {
      const { ids, dist } = row(graph, i);
      for (let t = 1; t < graph.k1; t++) expect(dist[t]).toBeCloseTo(naiveDistance(x, d, i, ids[t]!), 6);
    }
  });

  it("stores the same distances as exact search for the same pairs", () => {
    const queries = [0, 1, 500, 1999];
    const exact = exactKnn(unit, n, d, alive, queries, 15);
    queries.forEach((q, r) => {
      const byId = new Map<number, number>();
      for (let t = 0; t < 15; t++) byId.set(exact.indices[r * 15 + t]!, exact.distances[r * 15 + t]!);
      const { ids, dist } = row(graph, q);
      for (let t = 1; t < graph.k1; t++) if (byId.has(ids[t]!)) expect(dist[t]).toBe(byId.get(ids[t]!));
    });
  });

  it("reports progress about every 1000 points, adds then queries, ending at the total", () => {
    expect(calls).toEqual([
      [1000, 4000],
      [2000, 4000],
      [3000, 4000],
      [4000, 4000],
    ]);
  });

  it("is deterministic for a seed", () => {
    const again = buildKnnGraph(unit, n, d, alive, DEFAULTS);
    expect(Buffer.from(again.indices.buffer).equals(Buffer.from(graph.indices.buffer))).toBe(true);
    expect(Buffer.from(again.distances.buffer).equals(Buffer.from(graph.distances.buffer))).toBe(true);
  });

  it("gives a low recall for a graph of wrong neighbours (the measure can fail)", () => {
    const r = rng(5, "test-shuffle");
    const bad: KnnGraph = { ...graph, indices: graph.indices.slice(), distances: graph.distances.slice() };
    for (let i = 0; i < n; i++) {
      for (let t = 1; t < bad.k1; t++) {
        const j = (i + 1 + Math.floor(r() * (n - 1))) % n;
        bad.indices[i * bad.k1 + t] = j;
        bad.distances[i * bad.k1 + t] = Math.fround(naiveDistance(x, d, i, j));
      }
    }
    expect(measureRecall(unit, n, d, alive, bad, { seed: 1, sample: 300 }).recall).toBeLessThan(0.2);
  });
});

describe("buildKnnGraph edge cases", () => {
  it("keeps self at slot 0 among many exact duplicates", () => {
    // 40 copies of row 0 (more than k + 1, so HNSW cannot return the whole group) and 5 of row 1.
    const d = 16;
    const n = 245;
    const x = new Float32Array(n * d);
    x.set(clusters(200, d, 5, 1, 21));
    for (let c = 200; c < 240; c++) x.copyWithin(c * d, 0, d);
    for (let c = 240; c < 245; c++) x.copyWithin(c * d, d, 2 * d);
    const { unit, alive } = normaliseRows(x, n, d);
    const graph = buildKnnGraph(unit, n, d, alive, { ...DEFAULTS, k: 10 });
    for (let i = 0; i < n; i++) {
      const { ids, dist } = row(graph, i);
      expect(ids[0]).toBe(i);
      expect(dist[0]).toBe(0);
      expect(ids.slice(1)).not.toContain(i);
    }
    // A member of the big group sees only its copies (point 0 included), all at distance exactly 0.
    for (const i of [0, 200, 239]) {
      const { ids, dist } = row(graph, i);
      expect(dist).toEqual(new Array(11).fill(0));
      for (const j of ids) expect(j === 0 || (j >= 200 && j < 240)).toBe(true);
    }
    // The small group: its other 5 members come first, at 0, in id order; then real distances.
    const { ids, dist } = row(graph, 242);
    expect(ids.slice(0, 6)).toEqual([242, 1, 240, 241, 243, 244]);
    expect(dist.slice(0, 6)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(dist[6]).toBeGreaterThan(0);
  });

  it("gives dead rows only themselves and never lists them as neighbours", () => {
    const n = 300;
    const d = 12;
    const x = clusters(n, d, 4, 1, 31);
    const dead = [0, 17, 150, 299];
    x.fill(0, 0, d);
    x.fill(0, 17 * d, 18 * d);
    x[150 * d + 3] = Number.NaN;
    x[299 * d] = Number.NEGATIVE_INFINITY;
    const { unit, alive } = normaliseRows(x, n, d);
    const graph = buildKnnGraph(unit, n, d, alive, DEFAULTS);
    for (const i of dead) {
      expect(row(graph, i)).toEqual({ ids: new Array(16).fill(i), dist: new Array(16).fill(0) });
    }
    for (let i = 0; i < n; i++) {
      if (dead.includes(i)) continue;
      const { ids, dist } = row(graph, i);
      expect(ids[0]).toBe(i);
      for (const j of ids.slice(1)) expect(dead).not.toContain(j);
      expect(dist.slice(1).every((v) => v > 0)).toBe(true);
    }
    const recall = measureRecall(unit, n, d, alive, graph, { seed: 2 });
    expect(recall.sample).toBe(n - dead.length);
    expect(recall.recall).toBeGreaterThanOrEqual(0.95);
  });

  it("pads with the point itself when fewer than k others are alive", () => {
    const d = 4;
    const x = Float32Array.from([1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0]);
    const { unit, alive } = normaliseRows(x, 6, d);
    const graph = buildKnnGraph(unit, 6, d, alive, { ...DEFAULTS, k: 6 });
    expect(graph.k1).toBe(7);
    // Alive: 0, 2, 3, 4. Point 2 = (1,1,0,0)/√2 is nearest to 4 = (1,1,1,0)/√3, then to 0 and 3
    // at the same distance, which the id order settles.
    const r2 = row(graph, 2);
    expect(r2.ids).toEqual([2, 4, 0, 3, 2, 2, 2]);
    expect(r2.dist[1]).toBeCloseTo(1 - Math.sqrt(2 / 3), 6);
    expect(r2.dist[2]).toBe(r2.dist[3]);
    expect(r2.dist[2]).toBeCloseTo(1 - Math.SQRT1_2, 6);
    expect(r2.dist.slice(4)).toEqual([0, 0, 0]);
    expect(row(graph, 1).ids).toEqual(new Array(7).fill(1));
    const recall = measureRecall(unit, 6, d, alive, graph, { seed: 3 });
    expect(recall).toEqual({ k: 3, sample: 4, recall: 1 });
  });

  it("handles no or one alive point", () => {
    for (const x of [new Float32Array(6), Float32Array.from([0, 0, 1, 0, 0, 0])]) {
      const { unit, alive } = normaliseRows(x, 3, 2);
      const calls: number[][] = [];
      const graph = buildKnnGraph(unit, 3, 2, alive, { ...DEFAULTS, k: 2 }, (a, b) => calls.push([a, b]));
      expect(Array.from(graph.indices)).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2]);
      expect(Array.from(graph.distances)).toEqual(new Array(9).fill(0));
      const total = 2 * alive.reduce((s, a) => s + a, 0);
      expect(calls).toEqual([[total, total]]);
      expect(measureRecall(unit, 3, 2, alive, graph, { seed: 1 }).sample).toBe(0);
    }
  });

  it("rejects bad options", () => {
    const { unit, alive } = normaliseRows(new Float32Array(8).fill(1), 4, 2);
    expect(() => buildKnnGraph(unit, 4, 2, alive, { ...DEFAULTS, k: 0 })).toThrow(/k must be a positive integer/);
    expect(() => buildKnnGraph(unit, 4, 2, alive.subarray(1), DEFAULTS)).toThrow(/alive mask has 3 entries for 4 points/);
  });
});
