/**
 * The regions stage's building blocks against slow, obvious versions: the layout kNN (a packed
 * R-tree) against sorting every pair, and CSR construction against a Map of summed pairs.
 */
import { describe, expect, it } from "vitest";
import { layoutKnn, visitOrder } from "../../precompute/regions/geometry.ts";
import { aggregate, symmetricGraph } from "../../precompute/regions/louvain.ts";
import { rng } from "../../precompute/random.ts";

function bruteLayoutKnn(xy: Float32Array, ids: number[], q: number, k: number): { id: number; d: number }[] {
  return ids
    .filter((j) => j !== q)
    .map((j) => ({ id: j, d: Math.hypot(xy[j * 2]! - xy[q * 2]!, xy[j * 2 + 1]! - xy[q * 2 + 1]!) }))
    .sort((a, b) => a.d - b.d || a.id - b.id)
    .slice(0, k);
}

describe("layout kNN", () => {
  it("matches sorting every pair, ties by id, on clustered points with exact duplicates", () => {
    const random = rng(3, "layout-knn");
    const n = 900;
    const xy = new Float32Array(n * 2);
    for (let i = 0; i < n; i++) {
      // Dense clusters (what a UMAP layout looks like), a sparse background, and points stacked
      // on one spot so that ties decide who is in the k.
      const c = i % 5;
      const spread = c === 4 ? 0.5 : 0.01;
      xy[i * 2] = c === 3 ? 0.25 : 0.2 * c + 0.1 + spread * (random() - 0.5);
      xy[i * 2 + 1] = c === 3 ? 0.75 : 0.5 + spread * (random() - 0.5);
    }
    const ids = Array.from({ length: n }, (_, i) => i).filter((i) => i % 7 !== 0);
    const queries = ids.filter((i) => i % 3 === 0);
    const k = 10;
    const got = layoutKnn(xy, ids, queries, k);
    queries.forEach((q, r) => {
      const want = bruteLayoutKnn(xy, ids, q, k);
      expect(Array.from(got.indices.subarray(r * k, r * k + k))).toEqual(want.map((w) => w.id));
      expect(Array.from(got.distances.subarray(r * k, r * k + k))).toEqual(want.map((w) => w.d));
    });
  });

  it("pads with −1 and Infinity when fewer than k other points exist", () => {
    const xy = new Float32Array([0.1, 0.1, 0.2, 0.2, 0.9, 0.9]);
    const got = layoutKnn(xy, [0, 1, 2], [1], 4);
    expect(Array.from(got.indices)).toEqual([0, 2, -1, -1]);
    expect(got.distances[2]).toBe(Infinity);
  });
});

describe("layout kNN visit order", () => {
  it("visits every query once, nearby queries one after another, and survives points off the map", () => {
    const random = rng(5, "visit-order");
    const n = 4000;
    const xy = Float32Array.from({ length: n * 2 }, () => random());
    xy[0] = -3;
    xy[3] = Number.NaN;
    xy[4] = 7;
    const queries = Array.from({ length: n }, (_, i) => n - 1 - i);
    const order = visitOrder(xy, queries);
    expect(Array.from(order).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, q) => q));
    // Mean step between consecutive queries: random order on the unit square gives ~0.52.
    const step = (seq: ArrayLike<number>): number => {
      let sum = 0;
      for (let t = 1; t < seq.length; t++) {
        const a = queries[seq[t - 1]!]!;
        const b = queries[seq[t]!]!;
        const d = Math.hypot(xy[a * 2]! - xy[b * 2]!, xy[a * 2 + 1]! - xy[b * 2 + 1]!);
        if (Number.isFinite(d)) sum += d;
      }
      return sum / (seq.length - 1);
    };
    expect(step(Array.from({ length: n }, (_, q) => q))).toBeGreaterThan(0.4);
    expect(step(order)).toBeLessThan(0.05);
    // Queries in one grid cell keep their given order.
    const same = new Float32Array([0.5, 0.5, 0.5, 0.5, 0.1, 0.1, 0.5, 0.5]);
    expect(Array.from(visitOrder(same, [3, 0, 1]))).toEqual([0, 1, 2]);
    expect(Array.from(visitOrder(same, [0, 2, 1]))).toEqual([1, 0, 2]);
  });
});

describe("CSR graphs", () => {
  function pairSums(edges: [number, number, number][]): Map<string, number> {
    const m = new Map<string, number>();
    for (const [a, b, w] of edges) {
      if (a === b) continue;
      m.set(`${a},${b}`, (m.get(`${a},${b}`) ?? 0) + w);
      m.set(`${b},${a}`, (m.get(`${b},${a}`) ?? 0) + w);
    }
    return m;
  }

  it("sum duplicate pairs in both directions, with rows sorted by target", () => {
    const random = rng(5, "csr");
    const n = 60;
    const edges: [number, number, number][] = [];
    for (let e = 0; e < 700; e++) edges.push([Math.floor(random() * n), Math.floor(random() * n), Math.round(random() * 100) / 10]);
    const g = symmetricGraph(n, Int32Array.from(edges, (e) => e[0]), Int32Array.from(edges, (e) => e[1]), Float64Array.from(edges, (e) => e[2]), edges.length);
    const want = pairSums(edges);
    const got = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      for (let e = g.offsets[i]!; e < g.offsets[i + 1]!; e++) {
        if (e > g.offsets[i]!) expect(g.targets[e]!).toBeGreaterThan(g.targets[e - 1]!);
        got.set(`${i},${g.targets[e]}`, g.weights[e]!);
      }
    }
    expect(got.size).toBe(want.size);
    for (const [key, w] of want) expect(got.get(key)).toBeCloseTo(w, 9);

    // Aggregating keeps the total weight, and the self-loop holds a community's internal weight.
    const community = Int32Array.from({ length: n }, (_, i) => i % 4);
    const h = aggregate(g, community, 4);
    const total = (x: typeof g) => x.weights.reduce((s, w) => s + w, 0);
    expect(total(h)).toBeCloseTo(total(g), 6);
    let inside0 = 0;
    for (const [key, w] of want) {
      const [a, b] = key.split(",").map(Number);
      if (a! % 4 === 0 && b! % 4 === 0) inside0 += w;
    }
    const self0 = Array.from(h.targets.subarray(h.offsets[0]!, h.offsets[1]!)).indexOf(0);
    expect(h.weights[h.offsets[0]! + self0]).toBeCloseTo(inside0, 6);
  });
});
