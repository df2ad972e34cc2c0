import { describe, expect, it } from "vitest";
import { buildKnnGraph, measureRecall, type KnnOptions } from "../../precompute/neighbours/knn.ts";
import {
  assignAll, assignSample, buildCells, createShared, groupStrays, initCentroids, listPairs, searchCells, updateCentroids,
} from "../../precompute/neighbours/partitions.ts";
import { normaliseRows } from "../../precompute/neighbours/normalise.ts";
import { Kernel, rowsMemory, spareRows } from "../../precompute/neighbours/simd.ts";
import { syntheticDictionary } from "../../scripts/synthetic-dictionary.ts";
import type { KnnGraph } from "../../precompute/stages.ts";

// Rows with many clusters too small for a centroid, so that many points are strays
// (partitions.ts `buildCells`) and many cells mix several clusters.
const n = 6000;
const d = 64;
const dict = syntheticDictionary({ n, d, clusters: 600, seed: 5 });
const { unit, alive } = normaliseRows(dict.decoder, n, d);

/** The partitioned search's cells over those rows, up to `groupStrays`, on the main thread. */
function cells(strayGroupFrom: number, farFirst = 512) {
  const { memory } = rowsMemory(unit, n, d);
  const rows = new Float32Array(memory.buffer, 0, (n + spareRows(n)) * d);
  const put = (c: number, values: ArrayLike<number>, from: number): void => {
    for (let j = 0; j < d; j++) rows[(n + c) * d + j] = values[from + j]!;
  };
  const s = createShared(n, d, 15, alive, 40, 4000, 500, 42, { extra: 4, slack: 1e-3, strayGroupFrom, farFirst });
  const kernel = new Kernel(memory, d, 0);
  initCentroids(s, unit, put);
  for (let r = 0; r < 6; r++) {
    assignSample(s, kernel, 0, 1);
    updateCentroids(s, unit, put);
  }
  assignAll(s, kernel, 0, 1);
  buildCells(s);
  const before = Array.from(s.members.subarray(s.partStart[s.P]!, s.partStart[s.P + 1]!));
  groupStrays(s, kernel, unit, put, spareRows(n) - s.P, 6, 42);
  return { s, kernel, before, cluster: dict.cluster };
}

/** Stray chunks as [start, end) offsets into members, with their groups. */
function chunks(s: ReturnType<typeof cells>["s"]): { start: number; end: number; group: number }[] {
  const base = s.partStart[s.P]!;
  return Array.from({ length: s.strayChunks[0]! }, (_, j) => ({
    start: base + s.strayChunks[1 + j]!,
    end: base + s.strayChunks[2 + j]!,
    group: s.strayGroup[j]!,
  }));
}

describe("strays grouped by their own k-means", () => {
  const grouped = cells(0);
  const whole = cells(Infinity);

  it("has many strays here, and the same ones either way", () => {
    expect(grouped.before.length).toBeGreaterThan(1000);
    expect(grouped.before).toEqual(whole.before);
  });

  it("reorders the strays into contiguous groups of ≤ 512-point chunks covering them all once", () => {
    const { s, before } = grouped;
    const after = Array.from(s.members.subarray(s.partStart[s.P]!, s.partStart[s.P + 1]!));
    expect([...after].sort((a, b) => a - b)).toEqual([...before].sort((a, b) => a - b));
    const list = chunks(s);
    expect(list[0]!.start).toBe(s.partStart[s.P]);
    expect(list.at(-1)!.end).toBe(s.partStart[s.P + 1]);
    for (let j = 0; j < list.length; j++) {
      expect(list[j]!.end - list[j]!.start).toBeGreaterThan(0);
      expect(list[j]!.end - list[j]!.start).toBeLessThanOrEqual(512);
      if (j > 0) {
        expect(list[j]!.start).toBe(list[j - 1]!.end);
        expect(list[j]!.group).toBeGreaterThanOrEqual(list[j - 1]!.group);
      }
    }
    expect(new Set(list.map((c) => c.group)).size).toBe(Math.ceil(Math.sqrt(before.length)));
  });

  it("keeps a small cluster's strays together: most pairs of strays from one planted cluster share a group", () => {
    const { s, cluster } = grouped;
    const groupOf = new Map<number, number>();
    for (const c of chunks(s)) for (let t = c.start; t < c.end; t++) groupOf.set(s.members[t]!, c.group);
    let pairs = 0;
    let together = 0;
    const byCluster = new Map<number, number[]>();
    for (const p of groupOf.keys()) byCluster.set(cluster[p]!, [...(byCluster.get(cluster[p]!) ?? []), p]);
    for (const members of byCluster.values()) {
      for (let i = 0; i < members.length; i++) {
        for (let j = i + 1; j < members.length; j++) {
          pairs++;
          if (groupOf.get(members[i]!) === groupOf.get(members[j]!)) together++;
        }
      }
    }
    expect(pairs).toBeGreaterThan(1000);
    expect(together / pairs).toBeGreaterThan(0.9);
  });

  it("pairs only chunks of one group, so the strays cost far fewer dots than all their pairs", () => {
    const strayDots = (r: ReturnType<typeof cells>): number => {
      const { s } = r;
      const pairs = listPairs(s);
      const list = chunks(s);
      let dots = 0;
      for (let t = 0; t < pairs.length; t += 2) {
        if (pairs[t]! < s.P) continue;
        const a = list[pairs[t]! - s.P]!;
        const b = list[pairs[t + 1]! - s.P]!;
        expect(a.group).toBe(b.group);
        dots += (a.end - a.start) * (b.end - b.start);
      }
      return dots;
    };
    const all = grouped.before.length ** 2;
    expect(strayDots(whole)).toBeGreaterThanOrEqual(all / 2);
    expect(strayDots(grouped)).toBeLessThan(all / 10);
  });
});

describe("far scans in stages", () => {
  const OPTS: KnnOptions = { k: 15, m: 16, efConstruction: 200, efSearch: 64, seed: 42, engine: "partitioned", threads: 2, cells: 40, maxCandidates: 4000, farCandidates: 500 };
  const scanDots = (farFirst: number): number => {
    const { s, kernel } = cells(4096, farFirst);
    searchCells(s, kernel);
    return s.scanDots.reduce((a, b) => a + b, 0);
  };
  const same = (a: KnnGraph, b: KnnGraph): boolean =>
    Buffer.from(a.indices.buffer).equals(Buffer.from(b.indices.buffer)) && Buffer.from(a.distances.buffer).equals(Buffer.from(b.distances.buffer));
  const staged = buildKnnGraph(unit, n, d, alive, { ...OPTS, farFirst: 128 });

  it("scan far fewer dots than one stage of the whole far budget: points that stop gaining stop scanning", () => {
    const whole = scanDots(1e9);
    expect(whole).toBeGreaterThan(0);
    expect(scanDots(128)).toBeLessThan(0.7 * whole);
  });

  it("keep the recall of one stage within 0.01, and the same bytes on one thread as on two", () => {
    const oneStage = buildKnnGraph(unit, n, d, alive, { ...OPTS, farFirst: 1e9 });
    const recall = (g: KnnGraph): number => measureRecall(unit, n, d, alive, g, { k: 15, sample: n, seed: 1 }).recall;
    expect(recall(staged)).toBeGreaterThanOrEqual(recall(oneStage) - 0.01);
    expect(same(buildKnnGraph(unit, n, d, alive, { ...OPTS, farFirst: 128, threads: 1 }), staged)).toBe(true);
  });
});
