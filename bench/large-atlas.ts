/**
 * A large synthetic atlas for SITE builds (feature pages at 1M, page budgets, host file caps):
 * realistic records — labels, densities, neighbour lists, token windows, logits, histograms —
 * written through the real precompute code (`AtlasWriter`, `buildTiles`, `buildSearchChunks`,
 * `featureRecord`), with cheap synthetic GEOMETRY.
 *
 * What it skips, and so what it does not measure: there is no dictionary, no kNN search, no UMAP
 * and no regions (`regions: null`). Positions are seeded Gaussian blobs in the unit square;
 * "neighbours" are other members of the same blob with made-up, decreasing cosines; the kNN
 * recall in the manifest is a placeholder (sample 0). The real 1M precompute is a separate piece
 * of work (bench/run.ts); this script exists so that the site can be built at 1M in minutes.
 *
 *   npx tsx bench/large-atlas.ts --out bench/out/large/big --features 1048576
 *   npx tsx bench/large-atlas.ts --out … --shard-size 1024 --tile-capacity 16384 --search-chunk-kb 192
 *
 * The last three options trade bytes per request for fewer files, which a host with a file cap
 * needs (docs/hosting.md): 1M features in 256-feature shards alone are 4,096 files.
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import type { BuildParams, Example, FeatureRecord } from "../contract/atlas.ts";
import { FORMAT_VERSION } from "../contract/atlas.ts";
import { keyToFileStem, parseKey } from "../contract/tile-keys.ts";
import { gaussian, rng } from "../precompute/random.ts";
import { buildSearchIndex, DEFAULT_MAX_CHUNK_BYTES } from "../precompute/search/chunks.ts";
import type { ActivationEntry, KnnGraph, LabelEntry, Metadata } from "../precompute/stages.ts";
import { buildTiles } from "../precompute/tiles/quadtree.ts";
import { AtlasWriter, stableJson } from "../precompute/write/atlas-writer.ts";
import { featureRecord, type RecordInputs } from "../precompute/write/feature-records.ts";
import { DEFAULTS, generatorVersion } from "../precompute/build.ts";
import { themedLabel, wordPicker } from "./synthetic-labels.ts";

export interface LargeAtlasOptions {
  out: string;
  id?: string;
  features: number;
  seed?: number;
  shardSize?: number;
  tileCapacity?: number;
  /** Largest search chunk in bytes (default the precompute default). */
  searchChunkBytes?: number;
  /** Token windows per feature (default 8, 16 tokens each). */
  examples?: number;
  /** Share of features with a label, in [0, 1] (default 0.9). */
  labelled?: number;
  log?: (line: string) => void;
}

const NEIGHBOURS = 12;
const WINDOW = 16;

export async function writeLargeAtlas(opts: LargeAtlasOptions): Promise<{ files: number; bytes: number; seconds: Record<string, number> }> {
  const n = opts.features;
  const seed = opts.seed ?? 42;
  const shardSize = opts.shardSize ?? DEFAULTS.shardSize;
  const tileCapacity = opts.tileCapacity ?? DEFAULTS.tileCapacity;
  const nExamples = opts.examples ?? 8;
  const labelledShare = opts.labelled ?? 0.9;
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const seconds: Record<string, number> = {};
  let t0 = performance.now();
  const lap = (name: string): void => {
    seconds[name] = (performance.now() - t0) / 1000;
    log(`  ${name}: ${seconds[name]!.toFixed(1)} s`);
    t0 = performance.now();
  };

  const random = rng(seed, "large-atlas");
  const word = wordPicker(random);

  // Geometry: blobs of ~500 features, each with three theme words its labels lean on.
  const clusters = Math.max(1, Math.round(n / 500));
  const centres = new Float32Array(clusters * 2);
  const spread = new Float32Array(clusters);
  const themes: string[][] = [];
  for (let c = 0; c < clusters; c++) {
    centres[2 * c] = 0.05 + 0.9 * random();
    centres[2 * c + 1] = 0.05 + 0.9 * random();
    spread[c] = (0.2 + random()) / Math.sqrt(clusters) / 2;
    themes.push([word(), word(), word()]);
  }
  const cluster = new Uint32Array(n);
  const xy = new Float32Array(n * 2);
  const log10 = new Float32Array(n);
  const density = new Float64Array(n);
  const norms = new Float32Array(n);
  const alive = new Uint8Array(n).fill(1);
  const labels = new Map<number, LabelEntry>();
  for (let i = 0; i < n; i++) {
    const c = Math.floor(random() * clusters);
    cluster[i] = c;
    xy[2 * i] = Math.min(1, Math.max(0, centres[2 * c]! + spread[c]! * gaussian(random)));
    xy[2 * i + 1] = Math.min(1, Math.max(0, centres[2 * c + 1]! + spread[c]! * gaussian(random)));
    const l = Math.min(-0.3, Math.max(-7, -3.5 + 0.9 * gaussian(random)));
    log10[i] = l;
    density[i] = 10 ** l;
    norms[i] = 0.5 + random();
    if (random() < labelledShare) {
      labels.set(i, { label: themedLabel(themes[c]!, word, random), source: "synthetic", others: [] });
    }
  }
  // Dead features exist in real dictionaries; a few here too (no neighbours, no examples).
  for (let i = 0; i < n; i += 997) alive[i] = 0;

  // Neighbours: the next members of the same blob, in a seeded order, with decreasing cosines.
  const order = Uint32Array.from({ length: n }, (_, i) => i).sort((a, b) => cluster[a]! - cluster[b]! || a - b);
  const k1 = NEIGHBOURS + 1;
  const indices = new Int32Array(n * k1);
  const distances = new Float32Array(n * k1);
  for (let r = 0; r < n; r++) {
    const i = order[r]!;
    indices[i * k1] = i;
    let s = 1;
    for (let step = 1; s < k1 && step < 64; step++) {
      for (const rr of [r + step, r - step]) {
        if (s >= k1 || rr < 0 || rr >= n) continue;
        const j = order[rr]!;
        if (cluster[j] !== cluster[i] && step > 8) continue;
        indices[i * k1 + s] = j;
        distances[i * k1 + s] = Math.min(1.9, 0.15 + 0.04 * s + 0.05 * random());
        s++;
      }
    }
    for (; s < k1; s++) indices[i * k1 + s] = i;
  }
  const graph: KnnGraph = { n, k1, indices, distances };
  lap("geometry, labels and neighbours");

  const writer = new AtlasWriter(opts.out);
  try {
    const tiles = buildTiles(
      { ids: Uint32Array.from({ length: n }, (_, i) => i), xy, log10Density: log10, labels: Array.from({ length: n }, (_, i) => labels.get(i)?.label ?? null) },
      { capacity: tileCapacity, seed },
    ).map((t) => ({ key: t.key, rows: t.rows, totalRows: t.totalRows, extent: t.extent, path: writer.add("tiles", keyToFileStem(parseKey(t.key)), "arrow", t.bytes) }));
    lap(`tiles (${tiles.length})`);

    const shards: { first: number; count: number; path: string }[] = [];
    let withExamples = 0;
    for (let first = 0; first < n; first += shardSize) {
      const last = Math.min(n, first + shardSize);
      // Evidence for this shard only: a million features' token windows would not fit in a heap.
      const activations = new Map<number, ActivationEntry>();
      for (let i = first; i < last; i++) if (alive[i]) activations.set(i, evidence(i, cluster[i]!, themes, word, random, nExamples));
      const metadata: Metadata = { labels, activations, inputs: [] };
      const inputs: RecordInputs = { n, norms, alive, graph, xy, density, metadata, storedNeighbours: NEIGHBOURS, storedExamples: nExamples };
      const features: FeatureRecord[] = [];
      for (let i = first; i < last; i++) {
        const record = featureRecord(i, inputs);
        if (record.examples.length) withExamples++;
        features.push(record);
      }
      shards.push({ first, count: last - first, path: writer.add("features", String(first), "json", stableJson({ formatVersion: FORMAT_VERSION, first, features })) });
    }
    lap(`shards (${shards.length})`);

    const entries: { id: number; label: string; density: number }[] = [];
    for (let i = 0; i < n; i++) {
      const l = labels.get(i)?.label;
      if (l) entries.push({ id: i, label: l, density: density[i]! });
    }
    const search = buildSearchIndex(
      entries,
      {
        chunk: (i, json) => writer.add("search", String(i), "json", json),
        more: (c, k, json) => writer.add("search", `${c}-more-${k}`, "json", json),
        directory: (json) => writer.add("search", "directory", "json", json),
      },
      { maxChunkBytes: opts.searchChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES },
    );
    lap(`search (${search.chunks} chunks)`);

    const params: BuildParams = {
      seed,
      knn: { k: NEIGHBOURS, m: DEFAULTS.m, efConstruction: DEFAULTS.efConstruction, efSearch: DEFAULTS.efSearch },
      umap: { nNeighbors: NEIGHBOURS + 1, minDist: DEFAULTS.minDist, spread: DEFAULTS.spread, nEpochs: 0 },
      tileCapacity,
      shardSize,
      storedNeighbours: NEIGHBOURS,
      storedExamples: nExamples,
    };
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    for (let i = 0; i < n; i++) {
      minX = Math.min(minX, xy[2 * i]!);
      maxX = Math.max(maxX, xy[2 * i]!);
      minY = Math.min(minY, xy[2 * i + 1]!);
      maxY = Math.max(maxY, xy[2 * i + 1]!);
    }
    const dead = n - alive.reduce((a, v) => a + v, 0);
    // The listed files, plus their list and the manifest, which commit() writes.
    const files = writer.fileCount + 2;
    const bytes = writer.bytesWritten;
    writer.commit({
      id: opts.id ?? "large",
      title: `Synthetic atlas · ${n.toLocaleString("en-US")} features`,
      description: "Synthetic records (labels, windows, logits, histograms) on a synthetic map, for measuring site builds at scale; neighbours and positions mean nothing.",
      generator: generatorVersion(),
      dictionary: { format: "npy", architecture: "standard", model: "synthetic", hookName: null, dIn: 768, dSae: n, dtype: "F32", k: null, neuronpediaId: null, rawConfig: {} },
      counts: { features: n, dead, labelled: labels.size, withExamples, withDensity: n },
      params,
      inputs: [],
      quality: { knnRecall: { k: NEIGHBOURS, sample: 0, recall: 0 }, regions: [] },
      bounds: [minX, minY, maxX, maxY],
      tiles,
      shards,
      regions: null,
      search: { engine: "terms", directory: search.directory, chunks: search.chunks, terms: search.terms, features: search.features },
    });
    lap("manifest");
    return { files, bytes, seconds };
  } catch (e) {
    writer.abort();
    throw e;
  }
}

/** Token windows, logits and a histogram for one feature, leaning on its blob's theme words. */
function evidence(i: number, c: number, themes: string[][], word: () => string, random: () => number, count: number): ActivationEntry {
  const theme = themes[c]!;
  const examples: Example[] = [];
  let top = 2 + 10 * random();
  for (let e = 0; e < count; e++) {
    const tokens: string[] = [];
    const values: number[] = [];
    const peak = Math.floor(random() * WINDOW);
    for (let t = 0; t < WINDOW; t++) {
      const near = Math.abs(t - peak);
      tokens.push(t === peak ? ` ${theme[e % 3]}` : ` ${word()}`);
      values.push(near === 0 ? Number(top.toFixed(3)) : near < 3 && random() < 0.5 ? Number((top * random() * 0.5).toFixed(3)) : 0);
    }
    examples.push({ tokens, values, maxIndex: peak, maxValue: values[peak]!, bin: null });
    top *= 0.9 + 0.08 * random();
  }
  const logit = (sign: number) => Array.from({ length: 5 }, (_, k) => ({ token: ` ${word()}`, value: Number((sign * (1.5 - 0.2 * k) * (0.5 + random())).toFixed(4)) }));
  const bars = 32;
  const histogram = { heights: Array.from({ length: bars }, (_, b) => Math.round(1000 * Math.exp(-b / 6) * (0.5 + random()))), values: Array.from({ length: bars }, (_, b) => Number(((b + 0.5) * (examples[0]?.maxValue ?? 1) / bars).toFixed(4))) };
  return { examples, density: null, logits: { positive: logit(1), negative: logit(-1) }, histogram: i % 4 === 0 ? histogram : null };
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const { values } = parseArgs({
    options: {
      out: { type: "string" },
      id: { type: "string" },
      features: { type: "string", default: "1048576" },
      "shard-size": { type: "string" },
      "tile-capacity": { type: "string" },
      "search-chunk-kb": { type: "string" },
      examples: { type: "string" },
    },
  });
  if (!values.out) throw new Error("usage: large-atlas --out <folder> [--features N] [--shard-size N] [--tile-capacity N] [--search-chunk-kb N]");
  const int = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
  const started = performance.now();
  const r = await writeLargeAtlas({
    out: values.out,
    ...(values.id ? { id: values.id } : {}),
    features: Number(values.features),
    ...(values["shard-size"] ? { shardSize: int(values["shard-size"])! } : {}),
    ...(values["tile-capacity"] ? { tileCapacity: int(values["tile-capacity"])! } : {}),
    ...(values["search-chunk-kb"] ? { searchChunkBytes: int(values["search-chunk-kb"])! * 1024 } : {}),
    ...(values.examples ? { examples: int(values.examples)! } : {}),
  });
  process.stderr.write(`wrote ${values.out}: ${r.files} files, ${(r.bytes / 1e6).toFixed(1)} MB in ${((performance.now() - started) / 1000).toFixed(1)} s, peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB\n`);
}
