import { describe, expect, it } from "vitest";
import { allocateQuantised, Int8Kernel, quantiseRow } from "../../precompute/neighbours/int8.ts";
import { buildKnnGraph, exactKnn, knnEngine, measureRecall, type KnnOptions } from "../../precompute/neighbours/knn.ts";
import { forBlock } from "../../precompute/neighbours/partitions.ts";
import { gaussian, rng } from "../../precompute/random.ts";
import { normaliseRows } from "../../precompute/neighbours/normalise.ts";
import { ThreadPool } from "../../precompute/neighbours/thread-pool.ts";
import { syntheticDictionary } from "../../scripts/synthetic-dictionary.ts";
import type { KnnGraph } from "../../precompute/stages.ts";

// The int8 first pass (int8.ts), forced at a small size; d = 200 is not a multiple of 16, so the
// rows are zero padded to the kernel's stride.
const OPTS: KnnOptions = { k: 15, m: 16, efConstruction: 200, efSearch: 64, seed: 42, engine: "partitioned", precision: "int8", threads: 2 };

function bytes(a: Int32Array | Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function same(a: KnnGraph, b: KnnGraph): boolean {
  return bytes(a.indices).equals(bytes(b.indices)) && bytes(a.distances).equals(bytes(b.distances));
}

describe("partitioned kNN with int8 candidates", () => {
  const n = 3000;
  const d = 200;
  const dict = syntheticDictionary({ n, d, clusters: 40, seed: 5, duplicates: 0.02, dead: 0.01 });
  // In one shared WebAssembly memory (normaliseRows puts them there when they fit).
  const { unit, alive } = normaliseRows(dict.decoder, n, d);
  const graph = buildKnnGraph(unit, n, d, alive, OPTS);

  it("finds at least 95 % of the exact 15 nearest neighbours, with exact distances", () => {
    const recall = measureRecall(unit, n, d, alive, graph, { k: 15, sample: n, seed: 1 });
    expect(recall.recall).toBeGreaterThanOrEqual(0.95);
    const queries = [0, 7, 1500, 2999].filter((q) => alive[q]);
    const exact = exactKnn(unit, n, d, alive, queries, 15);
    let compared = 0;
    queries.forEach((q, r) => {
      const byId = new Map<number, number>();
      for (let t = 0; t < 15; t++) byId.set(exact.indices[r * 15 + t]!, exact.distances[r * 15 + t]!);
      for (let t = 1; t <= 15; t++) {
        const j = graph.indices[q * 16 + t]!;
        if (byId.has(j)) {
          expect(graph.distances[q * 16 + t]).toBe(byId.get(j));
          compared++;
        }
      }
    });
    expect(compared).toBeGreaterThan(40);
  });

  it("differs from the float32 pass only where int8 misranks (it is a real second path)", () => {
    const f32 = buildKnnGraph(unit, n, d, alive, { ...OPTS, precision: "float32" });
    expect(same(graph, f32)).toBe(false);
    let agree = 0;
    for (let i = 0; i < n * 16; i++) agree += graph.indices[i] === f32.indices[i] ? 1 : 0;
    expect(agree / (n * 16)).toBeGreaterThan(0.95);
  });

  it("keeps its recall with the cosines to the centroids kept as int16 or recomputed (the 1M sizes), on one thread as on two", () => {
    for (const cosineCache of ["int16", "none"] as const) {
      const g = buildKnnGraph(unit, n, d, alive, { ...OPTS, cosineCache });
      expect(measureRecall(unit, n, d, alive, g, { k: 15, sample: 1000, seed: 1 }).recall).toBeGreaterThanOrEqual(0.95);
      expect(same(buildKnnGraph(unit, n, d, alive, { ...OPTS, cosineCache, threads: 1 }), g)).toBe(true);
    }
  });

  it("gives identical bytes on one thread and on two", () => {
    expect(same(buildKnnGraph(unit, n, d, alive, { ...OPTS, threads: 1 }), graph)).toBe(true);
  });

  it("gives identical bytes whether the float32 rows are in a WebAssembly memory, a SharedArrayBuffer or a plain array", () => {
    // Rows too big for one memory arrive as a plain array (normaliseRows in place) and the exact
    // re-ranking stages them into small memories; workers cannot see a plain array, so only the
    // main thread re-ranks there. Same bits either way.
    const plain = Float32Array.from(unit);
    const shared = new Float32Array(new SharedArrayBuffer(unit.byteLength));
    shared.set(unit);
    expect(same(buildKnnGraph(plain, n, d, alive, OPTS), graph)).toBe(true);
    expect(same(buildKnnGraph(shared, n, d, alive, OPTS), graph)).toBe(true);
  });

  it("is what 'auto' picks past INT8_FROM values or when float32 rows do not fit a WebAssembly memory, and the engine says so", () => {
    expect(knnEngine(16384, 768, 16384, { ...OPTS, precision: "auto" })).toMatchObject({ name: "partitioned", precision: "float32", tracked: 19 });
    expect(knnEngine(65536, 768, 65536, { ...OPTS, precision: "auto" })).toMatchObject({ precision: "int8", tracked: 31 });
    expect(knnEngine(262144, 2304, 262144, { ...OPTS, precision: "auto" })).toMatchObject({ precision: "int8", tracked: 31 });
    expect(knnEngine(1048576, 2304, 1048576, { ...OPTS, precision: "auto", cells: undefined })).toMatchObject({ precision: "int8", cells: 1024 });
    expect(knnEngine(4000, 64, 4000, { ...OPTS, engine: "auto" })).toEqual({ name: "hnsw", m: 16, efConstruction: 200, efSearch: 64 });
  });
});

describe("the int8 row kernel", () => {
  it("gives each pair the tile kernel's bits, for lists longer than a tile and rows padded to the stride", () => {
    const n = 600;
    const d = 200;
    const q = allocateQuantised(n, d);
    const r = rng(9, "int8-row");
    const row = new Float32Array(d);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) row[j] = gaussian(r);
      quantiseRow(q, i, row);
    }
    const kernel = new Int8Kernel(q, 0);
    const list = Int32Array.from({ length: 300 }, (_, t) => (t * 37 + 11) % n);
    const fromTile = new Float32Array(list.length);
    forBlock(kernel, Int32Array.of(5), list, (_, y, dot) => {
      fromTile[y] = dot;
    });
    kernel.ids.set(list);
    kernel.row(5, list.length);
    expect(bytes(kernel.out32.subarray(0, list.length))).toEqual(bytes(fromTile));
    // And it is a dot product: q·q against the float64 sum of the quantised values.
    kernel.ids[0] = 5;
    kernel.row(5, 1);
    const bytesOf = new Int8Array(q.memory.buffer, 5 * q.stride, d);
    const scale = new Float32Array(q.memory.buffer, q.scalesAt, n)[5]!;
    let sum = 0;
    for (let j = 0; j < d; j++) sum += bytesOf[j]! * bytesOf[j]!;
    expect(kernel.out32[0]).toBe(Math.fround(Math.fround(sum) * Math.fround(scale * scale)));
  });
});

describe("exact search through a window of rows", () => {
  const n = 2500;
  const d = 48;
  const dict = syntheticDictionary({ n, d, clusters: 30, seed: 9, duplicates: 0.03, dead: 0.02 });
  const { unit, alive } = normaliseRows(dict.decoder, n, d);
  const queries = Array.from({ length: n }, (_, i) => i).filter((i) => alive[i] && i % 7 === 0);

  it("gives the in-memory answer bit for bit, for windows that do not divide the rows, on one thread and two", () => {
    const whole = exactKnn(unit, n, d, alive, queries, 15, { threads: 1 });
    for (const [window, threads] of [[1000, 1], [333, 2], [n, 2]] as const) {
      const plain = Float32Array.from(unit);
      const windowed = exactKnn(plain, n, d, alive, queries, 15, { threads, window });
      expect(windowed.k).toBe(whole.k);
      expect(bytes(windowed.indices).equals(bytes(whole.indices))).toBe(true);
      expect(bytes(windowed.distances).equals(bytes(whole.distances))).toBe(true);
    }
  });
});

describe("a worker thread that dies", () => {
  const entry = new URL("./helpers/dying-worker.ts", import.meta.url);

  it("fails the task with the exit code instead of blocking the main thread", () => {
    const pool = new ThreadPool<string>(entry, 2, null);
    expect(() => pool.run("exit", () => {})).toThrow(/worker thread 1 died: it exited with code 3/);
  });

  it("fails the task with an exception thrown outside it (from a timer)", () => {
    const pool = new ThreadPool<string>(entry, 3, null);
    expect(() => pool.run("throw-later", () => {})).toThrow(/worker thread 1 died: .*thrown from a timer/s);
  });

  it("is closed after a death: later tasks are refused, not sent to a dead worker", () => {
    const pool = new ThreadPool<string>(entry, 2, null);
    pool.run("ok", () => {});
    expect(() => pool.run("exit", () => {})).toThrow(/died/);
    expect(() => pool.run("ok", () => {})).toThrow(/closed/);
  });

  it("fails the kNN build with a clear error (test hook: the worker exits in the cells phase)", () => {
    const dict = syntheticDictionary({ n: 2000, d: 32, seed: 1 });
    const { unit, alive } = normaliseRows(dict.decoder, 2000, 32);
    process.env["FEATURE_ATLAS_TEST_WORKER_EXIT"] = "cells";
    try {
      expect(() => buildKnnGraph(unit, 2000, 32, alive, { ...OPTS, precision: "float32" })).toThrow(/worker thread 1 died: it exited with code 70/);
    } finally {
      delete process.env["FEATURE_ATLAS_TEST_WORKER_EXIT"];
    }
  });
});
