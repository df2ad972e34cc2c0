import { describe, expect, it } from "vitest";
import { buildKnnGraph, defaultRecallSample, exactKnn, measureRecall, type KnnOptions } from "../../precompute/neighbours/knn.ts";
import { normaliseRows } from "../../precompute/neighbours/normalise.ts";
import { syntheticDictionary } from "../../scripts/synthetic-dictionary.ts";
import type { KnnGraph } from "../../precompute/stages.ts";

// The partitioned engine, forced at small sizes, with a worker thread (threads: 2) where it matters.
const OPTS: KnnOptions = { k: 15, m: 16, efConstruction: 200, efSearch: 64, seed: 42, engine: "partitioned", threads: 2 };

function same(a: KnnGraph, b: KnnGraph): boolean {
  return (
    Buffer.from(a.indices.buffer, a.indices.byteOffset, a.indices.byteLength).equals(Buffer.from(b.indices.buffer, b.indices.byteOffset, b.indices.byteLength)) &&
    Buffer.from(a.distances.buffer, a.distances.byteOffset, a.distances.byteLength).equals(Buffer.from(b.distances.buffer, b.distances.byteOffset, b.distances.byteLength))
  );
}

describe("partitioned kNN on planted clusters (flat, Zipf-sized, with near-duplicates and dead rows)", () => {
  const n = 4000;
  const d = 64;
  const dict = syntheticDictionary({ n, d, clusters: 60, seed: 3, duplicates: 0.02, dead: 0.01 });
  const { unit, alive } = normaliseRows(dict.decoder, n, d);
  const calls: [number, number][] = [];
  const graph = buildKnnGraph(unit, n, d, alive, OPTS, (done, total) => calls.push([done, total]));

  it("finds at least 95 % of the exact 15 nearest neighbours of every alive point", () => {
    const recall = measureRecall(unit, n, d, alive, graph, { k: 15, sample: n, seed: 1 });
    expect(recall.sample).toBe(alive.reduce((a, b) => a + b, 0));
    expect(recall.recall).toBeGreaterThanOrEqual(0.95);
  });

  it("keeps the graph's row invariants: self first, then alive others by (distance, id), exact distances", () => {
    const k1 = graph.k1;
    for (let i = 0; i < n; i++) {
      const ids = Array.from(graph.indices.subarray(i * k1, (i + 1) * k1));
      const dist = Array.from(graph.distances.subarray(i * k1, (i + 1) * k1));
      expect(ids[0]).toBe(i);
      expect(dist[0]).toBe(0);
      if (!alive[i]) {
        expect(ids).toEqual(new Array(k1).fill(i));
        continue;
      }
      expect(new Set(ids).size).toBe(k1);
      for (let t = 1; t < k1; t++) {
        expect(alive[ids[t]!]).toBe(1);
        expect(dist[t - 1]! < dist[t]! || (dist[t - 1] === dist[t] && ids[t - 1]! < ids[t]!)).toBe(true);
      }
    }
    // Same pairs, same bits as the exact search.
    const queries = [0, 1, 2, 1234, 3999].filter((q) => alive[q]);
    const exact = exactKnn(unit, n, d, alive, queries, 15);
    queries.forEach((q, r) => {
      const byId = new Map<number, number>();
      for (let t = 0; t < 15; t++) byId.set(exact.indices[r * 15 + t]!, exact.distances[r * 15 + t]!);
      for (let t = 1; t < k1; t++) {
        const j = graph.indices[q * k1 + t]!;
        if (byId.has(j)) expect(graph.distances[q * k1 + t]).toBe(byId.get(j));
      }
    });
  });

  it("reports progress that only grows and ends at its total", () => {
    expect(calls.length).toBeGreaterThan(1);
    for (let c = 1; c < calls.length; c++) expect(calls[c]![0] >= calls[c - 1]![0] || calls[c]![1] !== calls[c - 1]![1]).toBe(true);
    const [done, total] = calls.at(-1)!;
    expect(done).toBe(total);
  });

  it("gives identical bytes twice, and with one thread as with two", () => {
    expect(same(buildKnnGraph(unit, n, d, alive, OPTS), graph)).toBe(true);
    expect(same(buildKnnGraph(unit, n, d, alive, { ...OPTS, threads: 1 }), graph)).toBe(true);
  });

  it("keeps its recall and its bytes on one thread or two when the strays are grouped by their own k-means", () => {
    const grouped = buildKnnGraph(unit, n, d, alive, { ...OPTS, cells: 120, strayGroupFrom: 0 });
    expect(measureRecall(unit, n, d, alive, grouped, { k: 15, sample: n, seed: 1 }).recall).toBeGreaterThanOrEqual(0.95);
    expect(same(buildKnnGraph(unit, n, d, alive, { ...OPTS, cells: 120, strayGroupFrom: 0, threads: 1 }), grouped)).toBe(true);
  });

  it("still reaches the recall with tight budgets and many cells (the pruning, not the budget, does the work)", () => {
    const tight = buildKnnGraph(unit, n, d, alive, { ...OPTS, cells: 120, maxCandidates: 1500, farCandidates: 200 });
    expect(measureRecall(unit, n, d, alive, tight, { k: 15, sample: 1000, seed: 2 }).recall).toBeGreaterThanOrEqual(0.95);
  });

  it("falls short when the budgets starve it (the recall measure can fail)", () => {
    const starved = buildKnnGraph(unit, n, d, alive, { ...OPTS, cells: 200, maxCandidates: 30, farCandidates: 1 });
    expect(measureRecall(unit, n, d, alive, starved, { k: 15, sample: 1000, seed: 2 }).recall).toBeLessThan(0.9);
  });
});

describe("partitioned kNN edge cases", () => {
  it("handles rows whose length is not a multiple of 4 (the one-row kernel) like the HNSW engine", () => {
    const n = 900;
    const d = 17;
    const dict = syntheticDictionary({ n, d, clusters: 12, seed: 5 });
    const { unit, alive } = normaliseRows(dict.decoder, n, d);
    const part = buildKnnGraph(unit, n, d, alive, { ...OPTS, k: 10 });
    const hnsw = buildKnnGraph(unit, n, d, alive, { ...OPTS, k: 10, engine: "hnsw" });
    const recall = measureRecall(unit, n, d, alive, part, { sample: n, seed: 4 });
    expect(recall.recall).toBeGreaterThanOrEqual(0.95);
    // Where both engines found the same pair, they stored the same bits.
    let shared = 0;
    for (let i = 0; i < n; i++) {
      const h = new Map<number, number>();
      for (let t = 1; t < 11; t++) h.set(hnsw.indices[i * 11 + t]!, hnsw.distances[i * 11 + t]!);
      for (let t = 1; t < 11; t++) {
        const j = part.indices[i * 11 + t]!;
        if (h.has(j)) {
          shared++;
          expect(part.distances[i * 11 + t]).toBe(h.get(j));
        }
      }
    }
    expect(shared).toBeGreaterThan(0.9 * n * 10);
  });

  it("puts exact duplicates at distance 0 after the point itself, and pads tiny inputs with self", () => {
    const d = 8;
    const n = 40;
    const x = new Float32Array(n * d);
    const dict = syntheticDictionary({ n: 30, d, clusters: 3, seed: 9 });
    x.set(dict.decoder);
    for (let c = 30; c < 40; c++) x.copyWithin(c * d, 0, d);
    const { unit, alive } = normaliseRows(x, n, d);
    const graph = buildKnnGraph(unit, n, d, alive, { ...OPTS, k: 12 });
    for (const i of [0, 30, 39]) {
      const row = Array.from(graph.indices.subarray(i * 13, i * 13 + 13));
      const dist = Array.from(graph.distances.subarray(i * 13, i * 13 + 13));
      expect(row[0]).toBe(i);
      expect(dist.slice(0, 11)).toEqual(new Array(11).fill(0));
      expect(new Set(row.slice(0, 11))).toEqual(new Set([0, ...Array.from({ length: 10 }, (_, t) => 30 + t)]));
    }
    const small = normaliseRows(Float32Array.from([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]), 3, 4);
    const tiny = buildKnnGraph(small.unit, 3, 4, small.alive, { ...OPTS, k: 3 });
    expect(Array.from(tiny.indices)).toEqual([0, 1, 0, 0, 1, 0, 1, 1, 2, 2, 2, 2]);
  });

  it("exactKnn gives the same answer on two threads as on one", () => {
    const n = 1500;
    const d = 32;
    const dict = syntheticDictionary({ n, d, clusters: 10, seed: 11, duplicates: 0.05 });
    const { unit, alive } = normaliseRows(dict.decoder, n, d);
    const queries = Array.from({ length: 300 }, (_, i) => i * 5);
    const one = exactKnn(unit, n, d, alive, queries, 15, { threads: 1 });
    const two = exactKnn(unit, n, d, alive, queries, 15, { threads: 2 });
    expect(Array.from(two.indices)).toEqual(Array.from(one.indices));
    expect(Array.from(two.distances)).toEqual(Array.from(one.distances));
  });

  it("samples 1,000 points for recall up to 16k points, then fewer, never under 200", () => {
    expect(defaultRecallSample(500)).toBe(500);
    expect(defaultRecallSample(16384)).toBe(1000);
    expect(defaultRecallSample(65536)).toBe(250);
    expect(defaultRecallSample(1 << 20)).toBe(200);
  });
});
