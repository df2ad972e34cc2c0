import { describe, expect, it } from "vitest";
import { layoutUmap, type UmapOptions } from "../../precompute/layout/umap.ts";
import { buildKnnGraph } from "../../precompute/neighbours/knn.ts";
import { normaliseRows } from "../../precompute/neighbours/normalise.ts";
import { gaussian, rng } from "../../precompute/random.ts";
import type { KnnGraph } from "../../precompute/stages.ts";

const UMAP: UmapOptions = { nNeighbors: 16, minDist: 0.1, spread: 1, nEpochs: 200, seed: 42 };
const KNN = { k: 15, m: 16, efConstruction: 200, efSearch: 64, seed: 42 };

/** n points around c random centres; point i belongs to cluster i % c. */
function clusters(n: number, d: number, c: number, noise: number, seed: number): Float32Array {
  const r = rng(seed, "test-clusters");
  const centres = Array.from({ length: c }, () => Array.from({ length: d }, () => gaussian(r)));
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) x[i * d + t] = centres[i % c]![t]! + noise * gaussian(r);
  return x;
}

function graphOf(x: Float32Array, n: number, d: number): KnnGraph {
  const { unit, alive } = normaliseRows(x, n, d);
  return buildKnnGraph(unit, n, d, alive, KNN);
}

function bounds(xy: Float32Array, ids: Iterable<number>): { minX: number; maxX: number; minY: number; maxY: number } {
  let minX = Infinity;
  let maxX = -Infinity;
  let minY = Infinity;
  let maxY = -Infinity;
  for (const i of ids) {
    minX = Math.min(minX, xy[2 * i]!);
    maxX = Math.max(maxX, xy[2 * i]!);
    minY = Math.min(minY, xy[2 * i + 1]!);
    maxY = Math.max(maxY, xy[2 * i + 1]!);
  }
  return { minX, maxX, minY, maxY };
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function expectInUnitSquare(xy: Float32Array): void {
  for (const v of xy) {
    expect(Number.isFinite(v)).toBe(true);
    expect(v).toBeGreaterThanOrEqual(0);
    expect(v).toBeLessThanOrEqual(1);
  }
}

describe("layoutUmap on planted clusters", () => {
  const n = 1500;
  const c = 10;
  const graph = graphOf(clusters(n, 32, c, 1, 5), n, 32);
  const calls: [number, number][] = [];
  const xy = layoutUmap(graph, UMAP, (done, total) => calls.push([done, total]));

  it("returns finite coordinates in the unit square, centred, the longer side spanning the margins", () => {
    expect(xy.length).toBe(2 * n);
    expectInUnitSquare(xy);
    const b = bounds(xy, range(n));
    expect((b.minX + b.maxX) / 2).toBeCloseTo(0.5, 6);
    expect((b.minY + b.maxY) / 2).toBeCloseTo(0.5, 6);
    const long = Math.max(b.maxX - b.minX, b.maxY - b.minY);
    expect(long).toBeCloseTo(0.96, 6);
  });

  it("keeps clusters together and apart from each other", () => {
    let within = 0;
    let nWithin = 0;
    let between = 0;
    let nBetween = 0;
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const dist = Math.hypot(xy[2 * i]! - xy[2 * j]!, xy[2 * i + 1]! - xy[2 * j + 1]!);
        if (i % c === j % c) {
          within += dist;
          nWithin++;
        } else {
          between += dist;
          nBetween++;
        }
      }
    }
    expect(within / nWithin).toBeLessThan(0.2 * (between / nBetween));
  });

  it("gives each point 2-D neighbours from its own cluster", () => {
    // For every point, its 10 nearest in the layout, by brute force.
    let same = 0;
    const dist = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) dist[j] = Math.hypot(xy[2 * i]! - xy[2 * j]!, xy[2 * i + 1]! - xy[2 * j + 1]!);
      dist[i] = Infinity;
      const nearest = range(n).sort((a, b) => dist[a]! - dist[b]!).slice(0, 10);
      for (const j of nearest) if (j % c === i % c) same++;
    }
    expect(same / (10 * n)).toBeGreaterThanOrEqual(0.95);
  });

  it("reports progress once per epoch after initialising", () => {
    expect(calls.length).toBe(UMAP.nEpochs + 1);
    calls.forEach(([done, total], e) => expect([done, total]).toEqual([e, UMAP.nEpochs]));
  });

  it("is deterministic for a seed and changes with it", () => {
    const again = layoutUmap(graph, UMAP);
    expect(Buffer.from(again.buffer).equals(Buffer.from(xy.buffer))).toBe(true);
    const other = layoutUmap(graph, { ...UMAP, seed: 43 });
    expect(Buffer.from(other.buffer).equals(Buffer.from(xy.buffer))).toBe(false);
    let moved = 0;
    for (let i = 0; i < 2 * n; i++) if (Math.abs(other[i]! - xy[i]!) > 0.01) moved++;
    expect(moved).toBeGreaterThan(n);
  });
});

describe("layoutUmap with isolated points", () => {
  const m = 400;
  const alive = graphOf(clusters(m, 16, 4, 1, 9), m, 16);
  // The same graph with dead points spliced in at these ids (rows of only themselves).
  const dead = [0, 3, 100, 101, 250, 403];
  const n = m + dead.length;
  const toNew: number[] = [];
  for (let i = 0; i < n; i++) if (!dead.includes(i)) toNew.push(i);
  const k1 = alive.k1;
  const withDead: KnnGraph = { n, k1, indices: new Int32Array(n * k1), distances: new Float32Array(n * k1) };
  for (const i of dead) withDead.indices.fill(i, i * k1, (i + 1) * k1);
  toNew.forEach((i, a) => {
    for (let t = 0; t < k1; t++) {
      withDead.indices[i * k1 + t] = toNew[alive.indices[a * k1 + t]!]!;
      withDead.distances[i * k1 + t] = alive.distances[a * k1 + t]!;
    }
  });
  const opts = { ...UMAP, nEpochs: 100 };
  const plain = layoutUmap(alive, opts);
  const xy = layoutUmap(withDead, opts);

  it("lays out the connected points exactly as without the dead ones, up to scale and shift", () => {
    expectInUnitSquare(xy);
    // Fit x_new = s · x_old + t on two points, then check every point against the fit.
    const [p, q] = [toNew[0]!, toNew[m - 1]!];
    const s = (xy[2 * q]! - xy[2 * p]!) / (plain[2 * (m - 1)]! - plain[0]!);
    const tx = xy[2 * p]! - s * plain[0]!;
    const ty = xy[2 * p + 1]! - s * plain[1]!;
    expect(s).toBeGreaterThan(0);
    expect(s).toBeLessThan(1);
    toNew.forEach((i, a) => {
      expect(xy[2 * i]!).toBeCloseTo(s * plain[2 * a]! + tx, 5);
      expect(xy[2 * i + 1]!).toBeCloseTo(s * plain[2 * a + 1]! + ty, 5);
    });
  });

  it("puts the dead points in a small group to the right of the rest", () => {
    const live = bounds(xy, toNew);
    const group = bounds(xy, dead);
    expect(group.minX).toBeGreaterThan(live.maxX);
    const liveSize = Math.max(live.maxX - live.minX, live.maxY - live.minY);
    expect(Math.max(group.maxX - group.minX, group.maxY - group.minY)).toBeLessThan(0.1 * liveSize);
    const spots = new Set(dead.map((i) => `${xy[2 * i]},${xy[2 * i + 1]}`));
    expect(spots.size).toBe(dead.length);
  });
});

describe("layoutUmap on tiny and degenerate graphs", () => {
  function selfOnly(n: number, k1: number): KnnGraph {
    const indices = new Int32Array(n * k1);
    for (let i = 0; i < n; i++) indices.fill(i, i * k1, (i + 1) * k1);
    return { n, k1, indices, distances: new Float32Array(n * k1) };
  }

  it("handles empty, single and all-dead graphs", () => {
    expect(layoutUmap(selfOnly(0, 16), UMAP).length).toBe(0);
    expect(Array.from(layoutUmap(selfOnly(1, 16), UMAP))).toEqual([0.5, 0.5]);
    const xy = layoutUmap(selfOnly(7, 16), UMAP);
    expectInUnitSquare(xy);
    expect(new Set(range(7).map((i) => `${xy[2 * i]},${xy[2 * i + 1]}`)).size).toBe(7);
  });

  it("lays out fewer points than neighbours", () => {
    for (const n of [2, 3, 6]) {
      const x = clusters(n, 8, 2, 0.5, n);
      const graph = graphOf(x, n, 8);
      const xy = layoutUmap(graph, UMAP);
      expect(xy.length).toBe(2 * n);
      expectInUnitSquare(xy);
      expect(new Set(range(n).map((i) => `${xy[2 * i]},${xy[2 * i + 1]}`)).size).toBe(n);
    }
  });

  it("uses umap-js' default epochs when nEpochs is 0", () => {
    const n = 60;
    const graph = graphOf(clusters(n, 8, 3, 0.5, 2), n, 8);
    let last: [number, number] = [0, 0];
    layoutUmap(graph, { ...UMAP, nEpochs: 0 }, (done, total) => (last = [done, total]));
    expect(last).toEqual([500, 500]);
  });

  it("rejects inconsistent options and graphs", () => {
    const graph = graphOf(clusters(40, 8, 2, 0.5, 4), 40, 8);
    expect(() => layoutUmap(graph, { ...UMAP, nNeighbors: 17 })).toThrow(/nNeighbors 17 exceeds the graph's 16/);
    const broken = { ...graph, indices: graph.indices.slice() };
    broken.indices[5 * graph.k1] = 6;
    expect(() => layoutUmap(broken, UMAP)).toThrow(/row 5 does not start with the point itself/);
  });
});
