/**
 * Inputs of a single-stage benchmark at full size (bench/refine-round.ts, bench/regions-stage.ts):
 * the dictionary's unit rows, read and normalised as the build does, and entries of a build's
 * stage cache, so a late stage can be timed without rebuilding the hour of stages before it.
 */
import { knnFromEntry } from "../precompute/cache/entries.ts";
import { readEntryFile } from "../precompute/cache/stage-cache.ts";
import { normaliseRows } from "../precompute/neighbours/normalise.ts";
import { rowsFit } from "../precompute/neighbours/simd.ts";
import { readDictionary } from "../precompute/read/detect.ts";
import type { KnnGraph } from "../precompute/stages.ts";

export const seconds = (from: number): string => `${((performance.now() - from) / 1000).toFixed(1)} s`;
export const rss = (): string => `${(process.memoryUsage().rss / 2 ** 30).toFixed(1)} GB RSS`;

/** The dictionary's unit rows and alive mask, in place when the float32 rows do not fit a WebAssembly memory (as the build). */
export function unitRows(path: string): { n: number; d: number; unit: Float32Array; alive: Uint8Array } {
  const t = performance.now();
  const dict = readDictionary(path);
  const n = dict.info.dSae;
  const d = dict.info.dIn;
  const { unit, alive } = normaliseRows(dict.decoder, n, d, { inPlace: !rowsFit(n, d) });
  process.stdout.write(`${n.toLocaleString("en-US")} × ${d}: read and normalised in ${seconds(t)}, ${rss()}\n`);
  return { n, d, unit, alive };
}

/** A kNN graph from a stage-cache entry file (a "knn" or "refine" entry). */
export function cachedGraph(file: string, n: number): KnnGraph {
  const cached = readEntryFile(file);
  if (cached.stage !== "knn" && cached.stage !== "refine") throw new Error(`${file}: a ${cached.stage} entry, not a kNN graph`);
  return knnFromEntry(cached.entry, n);
}
