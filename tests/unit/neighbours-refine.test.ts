/**
 * Neighbour-of-neighbour refinement (precompute/neighbours/refine.ts): on flat data, where the
 * partitioned search runs out of budget, it must raise recall, never make a row worse, keep the
 * graph's invariants and bytes across thread counts; and the build must run it when, and only
 * when, measured recall is below the target.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildAtlas } from "../../precompute/build.ts";
import { type RefineCarry, buildKnnGraph, measureRecall, refineKnnGraph, type KnnOptions } from "../../precompute/neighbours/knn.ts";
import { allocateQuantised, Int8Kernel, quantiseRow } from "../../precompute/neighbours/int8.ts";
import { normaliseRows } from "../../precompute/neighbours/normalise.ts";
import { createRefineShared, refineRows, visitOrder } from "../../precompute/neighbours/refine.ts";
import { StagedExact } from "../../precompute/neighbours/simd.ts";
import { gaussian, rng } from "../../precompute/random.ts";
import { syntheticDictionary, writeSaeLensFolder } from "../../scripts/synthetic-dictionary.ts";

const OPTS: KnnOptions = { k: 15, m: 16, efConstruction: 200, efSearch: 64, seed: 7, engine: "partitioned" };

/** Gaussian rows: no clusters, where the partitioned search's far budget runs out first. */
function flat(n: number, d: number, seed: number): Float32Array {
  const r = rng(seed, "flat-rows");
  const x = new Float32Array(n * d);
  for (let i = 0; i < x.length; i++) x[i] = gaussian(r);
  return x;
}

const same = (a: ArrayBufferView, b: ArrayBufferView): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe("kNN refinement on flat data", () => {
  const n = 6000;
  const d = 16;
  const x = flat(n, d, 5);
  for (const dead of [11, 4000]) x.fill(0, dead * d, (dead + 1) * d);
  const { unit, alive } = normaliseRows(x, n, d);
  const before = buildKnnGraph(unit, n, d, alive, { ...OPTS, threads: 1 });
  const after = refineKnnGraph(unit, n, d, alive, before, { threads: 1 });
  const recall = (g: typeof before) => measureRecall(unit, n, d, alive, g, { k: 15, seed: 3, sample: 1500 }).recall;

  it("raises recall well above the partitioned search's", () => {
    const r0 = recall(before);
    const r1 = recall(after);
    expect(r0).toBeLessThan(0.9); // the case refinement is for
    expect(r1).toBeGreaterThan(r0 + 0.1);
  });

  it("never makes a row worse, keeps self first, (distance, id) order and exact distances, and leaves dead rows alone", () => {
    const k1 = after.k1;
    // Violations are counted, not asserted one by one (90,000 expects would dominate the run).
    const bad = { self: 0, dead: 0, worse: 0, neighbour: 0, order: 0, distance: 0 };
    for (let i = 0; i < n; i++) {
      const base = i * k1;
      if (after.indices[base] !== i) bad.self++;
      if (!alive[i]) {
        if (!same(after.indices.subarray(base, base + k1), before.indices.subarray(base, base + k1))) bad.dead++;
        continue;
      }
      for (let t = 1; t < k1; t++) {
        const j = after.indices[base + t]!;
        const cur = after.distances[base + t]!;
        if (cur > before.distances[base + t]!) bad.worse++;
        if (!alive[j] || j === i) bad.neighbour++;
        if (t > 1) {
          const prev = after.distances[base + t - 1]!;
          if (!(prev < cur || (prev === cur && after.indices[base + t - 1]! < j))) bad.order++;
        }
        let dot = 0;
        for (let c = 0; c < d; c++) dot += unit[i * d + c]! * unit[j * d + c]!;
        if (Math.abs(cur - (1 - dot)) > 1e-6) bad.distance++;
      }
    }
    expect(bad).toEqual({ self: 0, dead: 0, worse: 0, neighbour: 0, order: 0, distance: 0 });
  });

  it("gives the same bytes on one thread and on two", () => {
    const two = refineKnnGraph(unit, n, d, alive, before, { threads: 2 });
    expect(same(two.indices, after.indices)).toBe(true);
    expect(same(two.distances, after.distances)).toBe(true);
  });
});

describe("kNN refinement ranked on int8 rows (forced at a small size; 'auto' picks it when the float32 rows are staged)", () => {
  const n = 6000;
  const d = 40;
  const x = flat(n, d, 8);
  x.fill(0, 17 * d, 18 * d);
  const { unit, alive } = normaliseRows(x, n, d);
  const before = buildKnnGraph(unit, n, d, alive, { ...OPTS, threads: 1 });
  const exactRound = refineKnnGraph(unit, n, d, alive, before, { threads: 1, precision: "exact" });
  const int8Round = refineKnnGraph(unit, n, d, alive, before, { threads: 1, precision: "int8" });
  const recall = (g: typeof before) => measureRecall(unit, n, d, alive, g, { k: 15, seed: 3, sample: 1500 }).recall;

  it("raises recall about as much as scoring every candidate exactly", () => {
    const r0 = recall(before);
    expect(recall(int8Round)).toBeGreaterThan(r0 + 0.05);
    expect(recall(int8Round)).toBeGreaterThan(recall(exactRound) - 0.01);
  });

  it("scores exactly only the best `ranked` new candidates by int8 dot", () => {
    // With ranked = 2 a row can take at most two neighbours it did not have; scoring every
    // candidate exactly gives many rows more than two.
    const k1 = before.k1;
    const self = new Float64Array(n);
    const exactSelf = new StagedExact(unit, d);
    for (let i = 0; i < n; i++) if (alive[i]) self[i] = exactSelf.exactPair(i, i);
    const q = allocateQuantised(n, d);
    for (let i = 0; i < n; i++) if (alive[i]) quantiseRow(q, i, unit, i * d);
    const shared = createRefineShared(before, alive, self, 15, 2);
    refineRows(shared, new StagedExact(unit, d), 0, 1, new Int8Kernel(q, 0));
    const gained = (g: { indices: Int32Array }, i: number): number => {
      const old = new Set(before.indices.subarray(i * k1 + 1, (i + 1) * k1));
      return Array.from(g.indices.subarray(i * k1 + 1, (i + 1) * k1)).filter((j) => !old.has(j)).length;
    };
    let over = 0;
    let overExact = 0;
    for (let i = 0; i < n; i++) {
      if (gained(shared, i) > 2) over++;
      if (gained(exactRound, i) > 2) overExact++;
    }
    expect(over).toBe(0);
    expect(overExact).toBeGreaterThan(n / 10);
  });

  it("stores only exact distances, never makes a row worse, and keeps (distance, id) order", () => {
    const k1 = int8Round.k1;
    const bad = { worse: 0, order: 0, distance: 0 };
    for (let i = 0; i < n; i++) {
      if (!alive[i]) continue;
      const base = i * k1;
      for (let t = 1; t < k1; t++) {
        const j = int8Round.indices[base + t]!;
        const cur = int8Round.distances[base + t]!;
        if (cur > before.distances[base + t]!) bad.worse++;
        if (t > 1 && !(int8Round.distances[base + t - 1]! < cur || (int8Round.distances[base + t - 1] === cur && int8Round.indices[base + t - 1]! < j))) bad.order++;
        let dot = 0;
        for (let c = 0; c < d; c++) dot += unit[i * d + c]! * unit[j * d + c]!;
        if (Math.abs(cur - (1 - dot)) > 1e-6) bad.distance++;
      }
    }
    expect(bad).toEqual({ worse: 0, order: 0, distance: 0 });
  });

  it("quantises the rows once for all rounds handed the same carry, with the same bytes as quantising each round", () => {
    const carry: RefineCarry = {};
    const first = refineKnnGraph(unit, n, d, alive, before, { threads: 1, precision: "int8", carry });
    expect(same(first.indices, int8Round.indices) && same(first.distances, int8Round.distances)).toBe(true);
    const kept = carry.quant;
    expect(kept).toBeDefined();
    const second = refineKnnGraph(unit, n, d, alive, first, { threads: 2, precision: "int8", carry });
    expect(carry.quant).toBe(kept);
    const fresh = refineKnnGraph(unit, n, d, alive, first, { threads: 1, precision: "int8" });
    expect(same(second.indices, fresh.indices) && same(second.distances, fresh.distances)).toBe(true);
  });

  it("ranks on the int8 rows the search hands over (centroids after them), with the same bytes as quantising its own", () => {
    const carry: RefineCarry = {};
    const searched = buildKnnGraph(unit, n, d, alive, { ...OPTS, threads: 1, precision: "int8", carry });
    const handed = carry.quant;
    expect(handed).toBeDefined();
    expect(handed!.rows).toBeGreaterThan(n);
    const reused = refineKnnGraph(unit, n, d, alive, searched, { threads: 1, precision: "int8", carry });
    expect(carry.quant).toBe(handed);
    const own = refineKnnGraph(unit, n, d, alive, searched, { threads: 1, precision: "int8" });
    expect(same(reused.indices, own.indices) && same(reused.distances, own.distances)).toBe(true);
  });

  it("gives the same bytes on one thread and on two, and with the float32 rows staged from a SharedArrayBuffer", () => {
    const two = refineKnnGraph(unit, n, d, alive, before, { threads: 2, precision: "int8" });
    expect(same(two.indices, int8Round.indices) && same(two.distances, int8Round.distances)).toBe(true);
    const staged = new Float32Array(new SharedArrayBuffer(unit.byteLength));
    staged.set(unit);
    const fromStaged = refineKnnGraph(staged, n, d, alive, before, { threads: 2, precision: "int8" });
    expect(same(fromStaged.indices, int8Round.indices) && same(fromStaged.distances, int8Round.distances)).toBe(true);
  });
});

describe("the refinement's visiting order", () => {
  const n = 5000;
  const d = 24;
  const planted = syntheticDictionary({ n, d, seed: 12, dead: 0.001 });
  const { unit, alive } = normaliseRows(planted.decoder, n, d);
  const before = buildKnnGraph(unit, n, d, alive, { ...OPTS, threads: 1 });
  const order = visitOrder(before);

  it("visits every point once, a planted cluster at a time", () => {
    expect(Array.from(order).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    // Consecutive points of one planted cluster: the fraction in this order and in id order.
    const together = (at: (t: number) => number): number => {
      let same = 0;
      for (let t = 1; t < n; t++) if (planted.cluster[at(t)] === planted.cluster[at(t - 1)]) same++;
      return same / (n - 1);
    };
    const byId = together((t) => t);
    expect(byId).toBeLessThan(0.2);
    expect(together((t) => order[t]!)).toBeGreaterThan(0.9);
  });

  it("does not change the result: visiting in id order gives the same bytes", () => {
    const self = new Float64Array(n);
    const exactSelf = new StagedExact(unit, d);
    for (let i = 0; i < n; i++) if (alive[i]) self[i] = exactSelf.exactPair(i, i);
    const byBfs = createRefineShared(before, alive, self, 15);
    const byId = createRefineShared(before, alive, self, 15, 0, "id");
    expect(same(byBfs.order, byId.order)).toBe(false);
    refineRows(byBfs, new StagedExact(unit, d), 0, 1);
    refineRows(byId, new StagedExact(unit, d), 0, 1);
    expect(same(byBfs.indices, byId.indices) && same(byBfs.distances, byId.distances)).toBe(true);
    expect(same(byBfs.indices, before.indices)).toBe(false);
  });
});

describe("the build and refinement", () => {
  const root = mkdtempSync(join(tmpdir(), "atlas-refine-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const n = 3000;
  const d = 16;
  const dict = join(root, "flat");
  writeSaeLensFolder(dict, { decoder: flat(n, d, 9), cluster: new Int32Array(n), n, d });

  it("refines a partitioned graph whose measured recall is below 0.95, records the rounds, and reports the higher recall", async () => {
    const { manifest } = await buildAtlas({ dictionary: dict, out: join(root, "atlas"), quiet: true, cache: false, knnEngine: "partitioned" });
    const engine = manifest.params.knn.engine;
    expect(engine?.name).toBe("partitioned");
    const rounds = engine?.name === "partitioned" ? engine.refineRounds : undefined;
    expect(rounds).toBeGreaterThanOrEqual(1);

    // The unrefined graph, measured on the same sample the build used, was below the target.
    const { unit, alive } = normaliseRows(flat(n, d, 9), n, d);
    const raw = buildKnnGraph(unit, n, d, alive, { ...OPTS, seed: manifest.params.seed });
    const r0 = measureRecall(unit, n, d, alive, raw, { k: 15, seed: manifest.params.seed });
    expect(r0.recall).toBeLessThan(0.95);
    expect(manifest.quality.knnRecall.recall).toBeGreaterThan(r0.recall);
  });

  it("does not refine when recall is already above the target (the exact engine)", async () => {
    const { manifest } = await buildAtlas({ dictionary: dict, out: join(root, "exact"), quiet: true, cache: false, knnEngine: "exact" });
    expect(manifest.params.knn.engine).toEqual({ name: "exact" });
    expect(manifest.quality.knnRecall.recall).toBe(1);
  });
});
