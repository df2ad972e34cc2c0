import { describe, expect, it } from "vitest";
import { buildKnnGraph, EXACT_MAX_WORK, HNSW_MAX_POINTS, knnEngine, measureRecall, type KnnOptions } from "../../precompute/neighbours/knn.ts";
import { normaliseRows } from "../../precompute/neighbours/normalise.ts";
import { gaussian, rng } from "../../precompute/random.ts";

const OPTS: KnnOptions = { k: 10, m: 16, efConstruction: 200, efSearch: 64, seed: 7 };

/** Points spread evenly over the sphere: no clusters, the case the partitioned search handles worst. */
function flat(n: number, d: number, seed: number): Float32Array {
  const r = rng(seed, "flat-rows");
  const x = new Float32Array(n * d);
  for (let i = 0; i < x.length; i++) x[i] = gaussian(r);
  return x;
}

describe("the exact kNN engine", () => {
  it("is what auto picks between HNSW's range and EXACT_MAX_WORK, and the partitioned search beyond", () => {
    expect(knnEngine(4000, 100, 4000, OPTS).name).toBe("hnsw");
    expect(knnEngine(16384, 100, 16384, OPTS).name).toBe("exact"); // the demo's wide dictionary
    const edge = Math.floor(Math.sqrt(EXACT_MAX_WORK / 64));
    expect(edge).toBeGreaterThan(HNSW_MAX_POINTS);
    expect(knnEngine(edge, 64, edge, OPTS).name).toBe("exact");
    expect(knnEngine(edge + 1, 64, edge + 1, OPTS).name).toBe("partitioned");
    expect(knnEngine(16384, 768, 16384, OPTS).name).toBe("partitioned");
    expect(knnEngine(300, 16, 300, { ...OPTS, engine: "exact" }).name).toBe("exact");
  });

  it("finds every true neighbour on flat data, self first, dead rows empty, same bytes on 1 and 2 threads", () => {
    const n = 600;
    const d = 24;
    const x = flat(n, d, 3);
    for (let t = 0; t < d; t++) x[17 * d + t] = 0; // a dead feature
    const { unit, alive } = normaliseRows(x, n, d);
    const one = buildKnnGraph(unit, n, d, alive, { ...OPTS, engine: "exact", threads: 1 });
    const two = buildKnnGraph(unit, n, d, alive, { ...OPTS, engine: "exact", threads: 2 });
    expect(Buffer.from(two.indices.buffer).equals(Buffer.from(one.indices.buffer))).toBe(true);
    expect(Buffer.from(two.distances.buffer).equals(Buffer.from(one.distances.buffer))).toBe(true);
    expect(measureRecall(unit, n, d, alive, one, { k: 10, seed: 1, sample: 200 }).recall).toBe(1);

    // Against a float64 brute force, for every alive point.
    for (let i = 0; i < n; i++) {
      const row = Array.from(one.indices.subarray(i * one.k1, (i + 1) * one.k1));
      if (!alive[i]) {
        expect(row.every((j) => j === i)).toBe(true);
        continue;
      }
      expect(row[0]).toBe(i);
      const others: { j: number; dist: number }[] = [];
      for (let j = 0; j < n; j++) {
        if (j === i || !alive[j]) continue;
        let dot = 0;
        for (let t = 0; t < d; t++) dot += unit[i * d + t]! * unit[j * d + t]!;
        others.push({ j, dist: 1 - dot });
      }
      others.sort((a, b) => a.dist - b.dist || a.j - b.j);
      expect(row.slice(1)).toEqual(others.slice(0, 10).map((o) => o.j));
      expect(row).not.toContain(17);
    }
  });
});
