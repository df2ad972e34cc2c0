/**
 * The pipeline, in the order the folders name it: read → neighbours → layout → tiles → search →
 * write. Each stage is a function of the previous stages' outputs and the seed, so the atlas is
 * byte-identical for the same input, options and seed.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { BuildParams, Manifest } from "../contract/atlas.ts";
import { FORMAT_VERSION, knnRecallSchema, slugSchema } from "../contract/atlas.ts";
import { readDictionary, readMetadata } from "./read/detect.ts";
import { int8KernelName } from "./neighbours/int8.ts";
import { buildKnnGraph, knnEngine, measureRecall, refineKnnGraph, type RefineCarry } from "./neighbours/knn.ts";
import { rowsFit } from "./neighbours/simd.ts";
import { normaliseRows } from "./neighbours/normalise.ts";
import { layoutUmap } from "./layout/umap.ts";
import { buildTiles } from "./tiles/quadtree.ts";
import { buildSearchIndex } from "./search/chunks.ts";
import { AtlasWriter, stableJson } from "./write/atlas-writer.ts";
import { featureShards, resolveDensity, type RecordInputs } from "./write/feature-records.ts";
import { BuildLog, formatBytes, type StageTiming } from "./log.ts";
import { keyToFileStem, parseKey } from "../contract/tile-keys.ts";
import { buildRegions } from "./regions/hierarchy.ts";
import { measureRegions, formatRegionQuality } from "./regions/quality.ts";
import { NAMES_FILE, readNamesFile } from "./regions/names-file.ts";
import { readPreviousRedirects, readPreviousRegions, regionFiles } from "./regions/files.ts";
import { regionRedirects } from "./regions/redirects.ts";
import { describeInput } from "./read/hash.ts";
import { neuronpediaExportPaths } from "./read/activations.ts";
import { checkFiniteRows } from "./read/checks.ts";
import { describeEstimate, estimateMemory, memoryLimits, asResourceError } from "./resources.ts";
import { cacheKey, StageCache, stageCodeVersion } from "./cache/stage-cache.ts";
import { knnFromEntry, knnToEntry, layoutFromEntry, layoutToEntry, regionsFromEntry, regionsToEntry } from "./cache/entries.ts";

export interface BuildOptions {
  /** Dictionary folder or file. */
  dictionary: string;
  /** Output atlas folder. */
  out: string;
  /** Atlas id (URL slug); default: the output folder's name. */
  id?: string;
  title?: string;
  description?: string;
  /** Label files; default: `labels.{json,jsonl,csv}` beside the dictionary, if present. */
  labels?: string[];
  /** Activation (top examples) files; default: `activations.json[.gz]` beside the dictionary, if present. */
  activations?: string[];
  /**
   * A Neuronpedia export folder (`features/`, `explanations/`, `activations/`): its explanations
   * are labels after any `labels` (the best-scored explanation of a feature is its label, the
   * others are kept in `otherLabels`), its features and activations are evidence beside any
   * `activations`. When set, the files beside the dictionary are not looked for.
   */
  neuronpedia?: string;
  seed?: number;
  k?: number;
  minDist?: number;
  epochs?: number;
  /**
   * Lay out graphs of at least `from` connected points by a subset fit (layout/subset-fit.ts; only
   * on the typed engine, which lays out graphs above 2,048 points). Off by default: on a real 1M
   * kNN graph it lost 4.7 points of 2-D kNN accuracy (docs/scale.md).
   */
  subsetFit?: { from: number; share: number; fineEpochs: number };
  tileCapacity?: number;
  shardSize?: number;
  recallSample?: number;
  /** kNN engine (neighbours/knn.ts `KnnOptions.engine`); default "auto". */
  knnEngine?: "auto" | "hnsw" | "exact" | "partitioned";
  quiet?: boolean;
  /** Model width, for dictionaries with no config (bare .npy / .npz matrices). */
  dModel?: number;
  /** Keep decoder rows holding NaN or ±Infinity as dead features instead of refusing the dictionary. */
  dropNonFinite?: boolean;
  /**
   * Folder caching the kNN graph, layout and regions between builds (see cache/stage-cache.ts);
   * false disables it. Default: `.atlas-cache` beside the output folder.
   */
  cache?: string | false;
}

/** The default cache folder for an output folder: beside it, so all atlases of one root share it. */
export function defaultCacheDir(out: string): string {
  return join(dirname(resolve(out)), ".atlas-cache");
}

/**
 * Below this recall@k the partitioned graph is refined (neighbours/refine.ts), and if it stays
 * below, the build warns: the map and the regions are built on the graph. The issue's target.
 */
const RECALL_TARGET = 0.95;
/**
 * Most refinement rounds, and the least gain in measured recall that earns another. Measured on
 * the first 50,000 GloVe words (d = 100, partitioned search at 0.898): rounds reach 0.960, 0.972,
 * 0.975, each costing about a third of the partitioned search.
 */
const REFINE_ROUNDS = 3;
const REFINE_MIN_GAIN = 0.005;

export const DEFAULTS = {
  seed: 42,
  k: 15,
  m: 16,
  efConstruction: 200,
  efSearch: 64,
  minDist: 0.1,
  spread: 1,
  epochs: 0,
  tileCapacity: 4096,
  shardSize: 256,
  storedNeighbours: 12,
  storedExamples: 20,
} as const;

export function generatorVersion(): string {
  const pkg = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), "..", "package.json"), "utf8")) as { version: string };
  return `feature-atlas ${pkg.version}`;
}

/** Metadata files conventionally kept beside a dictionary (the demo does this). */
function besideDictionary(dictionary: string, names: string[]): string[] {
  const dir = /\.(safetensors|npy|npz)$/i.test(dictionary) ? dirname(dictionary) : dictionary;
  for (const name of names) {
    const p = join(dir, name);
    if (existsSync(p)) return [p];
  }
  return [];
}

/** The label and activation paths a build reads: the options', the Neuronpedia export's, or the files beside the dictionary. */
export function metadataPaths(opts: Pick<BuildOptions, "dictionary" | "labels" | "activations" | "neuronpedia">): { labels: string[]; activations: string[] } {
  const neuronpedia = opts.neuronpedia === undefined ? null : neuronpediaExportPaths(opts.neuronpedia);
  return {
    labels: [...(opts.labels ?? (neuronpedia ? [] : besideDictionary(opts.dictionary, ["labels.json", "labels.jsonl", "labels.csv"]))), ...(neuronpedia?.labels ?? [])],
    activations: [...(neuronpedia?.activations ?? []), ...(opts.activations ?? (neuronpedia ? [] : besideDictionary(opts.dictionary, ["activations.json", "activations.json.gz"])))],
  };
}

export interface BuildResult {
  manifest: Manifest;
  /** Seconds and peak RSS per stage, in order. */
  timings: StageTiming[];
}

export async function buildAtlas(opts: BuildOptions): Promise<BuildResult> {
  const log = new BuildLog({ quiet: opts.quiet ?? false });
  const id = opts.id ?? basename(resolve(opts.out));
  const idCheck = slugSchema.safeParse(id);
  if (!idCheck.success) throw new Error(`atlas id ${JSON.stringify(id)} ${idCheck.error.issues[0]?.message}; pass --id`);

  // Opened first: it takes the atlas's lock and puts back an atlas a killed build left moved
  // aside, before anything (the previous regions below) reads the output folder.
  const writer = new AtlasWriter(opts.out);
  for (const m of writer.recovered) log.info(`  ${m}`);
  try {
    return await runBuild(opts, id, log, writer);
  } catch (e) {
    writer.abort();
    const stage = log.timings.at(-1)?.name;
    throw asResourceError(e, stage ? `building the atlas (in or after "${stage}")` : "building the atlas") ?? e;
  }
}

async function runBuild(opts: BuildOptions, id: string, log: BuildLog, writer: AtlasWriter): Promise<BuildResult> {
  const params: BuildParams = {
    seed: opts.seed ?? DEFAULTS.seed,
    knn: { k: opts.k ?? DEFAULTS.k, m: DEFAULTS.m, efConstruction: DEFAULTS.efConstruction, efSearch: DEFAULTS.efSearch },
    umap: { nNeighbors: (opts.k ?? DEFAULTS.k) + 1, minDist: opts.minDist ?? DEFAULTS.minDist, spread: DEFAULTS.spread, nEpochs: opts.epochs ?? DEFAULTS.epochs, ...(opts.subsetFit && { subsetFit: { ...opts.subsetFit } }) },
    tileCapacity: opts.tileCapacity ?? DEFAULTS.tileCapacity,
    shardSize: opts.shardSize ?? DEFAULTS.shardSize,
    storedNeighbours: Math.min(DEFAULTS.storedNeighbours, opts.k ?? DEFAULTS.k),
    storedExamples: DEFAULTS.storedExamples,
  };
  params.knn.efSearch = Math.max(params.knn.efSearch!, params.knn.k + 1);
  const knnOptions = { k: params.knn.k, m: DEFAULTS.m, efConstruction: DEFAULTS.efConstruction, efSearch: params.knn.efSearch, seed: params.seed, engine: opts.knnEngine ?? "auto" };

  const { labels: labelFiles, activations: activationFiles } = metadataPaths(opts);

  const dict = await log.stage("Reading dictionary", () => readDictionary(opts.dictionary, { warn: (m) => log.warn(m), ...(opts.dModel === undefined ? {} : { dModel: opts.dModel }) }));
  const n = dict.info.dSae;
  const d = dict.info.dIn;
  checkFiniteRows(dict, { drop: opts.dropNonFinite ?? false, warn: (m) => log.warn(m) });
  const cache = new StageCache(opts.cache === false ? null : (opts.cache ?? defaultCacheDir(opts.out)), (m) => log.warn(m));
  log.info(`  ${dict.info.format} ${dict.info.architecture}: ${n.toLocaleString("en-US")} features × d_in ${d} (${dict.info.dtype})${dict.info.model ? `, ${dict.info.model}` : ""}${dict.info.hookName ? ` @ ${dict.info.hookName}` : ""}`);

  const metadata = await log.stage("Reading metadata", () => readMetadata({ labels: labelFiles, activations: activationFiles, nFeatures: n, maxExamples: params.storedExamples, warn: (m) => log.warn(m) }));
  log.info(`  ${metadata.labels.size.toLocaleString("en-US")} labels from ${labelFiles.map((f) => basename(f)).join(", ") || "no file"}; examples for ${metadata.activations.size.toLocaleString("en-US")} features from ${activationFiles.map((f) => basename(f)).join(", ") || "no file"}`);

  let labelChars = 0;
  for (const l of metadata.labels.values()) labelChars += l.label.length;
  // The engine's choice needs the alive count, known after normalising; all rows alive is the
  // larger estimate, and the same engine unless dead rows bring the count under a threshold.
  const unitInPlace = !rowsFit(n, d);
  const estimate = estimateMemory({ n, d, k: params.knn.k, m: DEFAULTS.m, labelChars, usage: process.memoryUsage(), engine: knnEngine(n, d, n, knnOptions), unitInPlace });
  const memory = describeEstimate(estimate, memoryLimits());
  log.info(memory.line);
  if (memory.warning) log.warn(memory.warning);

  // Hashed before normalising: rows too big for one WebAssembly memory are normalised in place.
  const inputKey = cache.dir === null ? "" : cacheKey(dict.decoder, n, d);
  const { unit, norms, alive } = await log.stage("Normalising decoder rows", () => normaliseRows(dict.decoder, n, d, { inPlace: unitInPlace }));
  let deadCount = 0;
  for (let i = 0; i < n; i++) if (!alive[i]) deadCount++;
  if (deadCount) log.info(`  ${deadCount} dead features (all-zero or non-finite rows) are kept but left out of the graph`);
  // The manifest names the engine that runs and only its parameters (HNSW's only when it runs).
  const engine = knnEngine(n, d, n - deadCount, knnOptions);
  params.knn = engine.name === "hnsw"
    ? { k: params.knn.k, m: engine.m, efConstruction: engine.efConstruction, efSearch: engine.efSearch, engine }
    : { k: params.knn.k, engine };
  log.info(`  kNN engine: ${engine.name === "hnsw" ? `HNSW (m ${engine.m}, efConstruction ${engine.efConstruction}, ef ${engine.efSearch})` : engine.name === "exact" ? "exact (every pair)" : `partitioned, ${engine.precision} candidates${engine.precision === "int8" ? ` (${int8KernelName()} kernel)` : ""}, ${engine.cells} cells, ${engine.tracked} tracked per point`}`);

  // Cache keys: each stage's output is named by everything it depends on (see cache/stage-cache.ts).
  const knnKey = cacheKey("knn", stageCodeVersion("neighbours", ["hnswlib-node"]), inputKey, params.knn, params.seed);
  const recallKey = cacheKey("recall", knnKey, opts.recallSample ?? null);
  const fromCache = (what: string) => log.info(`  ${what} from the cache (${cache.dir})`);

  // The search's int8 rows, kept for the refinement rounds (dropped once they are done or not needed).
  const carry: RefineCarry = {};
  let graph = await log.stage("Building kNN graph", (p) => {
    const hit = cache.load("knn", knnKey, (e) => knnFromEntry(e, n));
    if (hit) return (fromCache("graph"), hit);
    const built = buildKnnGraph(unit, n, d, alive, { ...knnOptions, carry }, p);
    cache.store("knn", knnKey, knnToEntry(built));
    return built;
  });
  let recall = await log.stage("Measuring kNN recall", () => {
    const hit = cache.load("recall", recallKey, (e) => knnRecallSchema.parse(e.meta));
    if (hit) return (fromCache("recall"), hit);
    const measured = measureRecall(unit, n, d, alive, graph, { k: params.knn.k, seed: params.seed, ...(opts.recallSample !== undefined ? { sample: opts.recallSample } : {}) });
    cache.store("recall", recallKey, { meta: measured, arrays: {} });
    return measured;
  });
  log.info(`  recall@${recall.k} = ${recall.recall.toFixed(4)} on ${recall.sample} sampled features`);

  // The partitioned search is only as good as the rows' cluster structure: on flat data its
  // budgets run out before the true neighbours are found. Neighbour-of-neighbour rounds then find
  // most of the rest (refine.ts); measured recall decides whether they run and when they stop.
  let graphKey = knnKey;
  if (engine.name === "partitioned" && recall.sample > 0 && recall.recall < RECALL_TARGET) {
    const refineKey = cacheKey("refine", stageCodeVersion("neighbours"), recallKey, RECALL_TARGET, REFINE_ROUNDS, REFINE_MIN_GAIN);
    const refined = await log.stage("Refining kNN graph", (p) => {
      const hit = cache.load("refine", refineKey, (e) => ({ graph: knnFromEntry(e, n), ...(e.meta as { rounds: number; recall: typeof recall }) }));
      if (hit) return (fromCache("refined graph"), { ...hit, recall: knnRecallSchema.parse(hit.recall) });
      let current = { graph, recall, rounds: 0 };
      p(0, REFINE_ROUNDS);
      for (let round = 1; round <= REFINE_ROUNDS; round++) {
        const next = refineKnnGraph(unit, n, d, alive, current.graph, { carry });
        const measured = measureRecall(unit, n, d, alive, next, { k: params.knn.k, seed: params.seed, ...(opts.recallSample !== undefined ? { sample: opts.recallSample } : {}) });
        log.info(`  round ${round}: recall@${measured.k} ${current.recall.recall.toFixed(4)} → ${measured.recall.toFixed(4)}`);
        const gain = measured.recall - current.recall.recall;
        current = { graph: next, recall: measured, rounds: round };
        p(round, REFINE_ROUNDS);
        if (measured.recall >= RECALL_TARGET || gain < REFINE_MIN_GAIN) break;
      }
      const { graph: g, ...meta } = current;
      cache.store("refine", refineKey, { ...knnToEntry(g), meta: { ...knnToEntry(g).meta as object, ...meta } });
      return current;
    });
    graph = refined.graph;
    recall = refined.recall;
    graphKey = refineKey;
    params.knn = { ...params.knn, engine: { ...engine, refineRounds: refined.rounds } };
  }
  delete carry.quant;
  if (recall.sample > 0 && recall.recall < RECALL_TARGET) {
    log.warn(`kNN recall@${recall.k} is ${recall.recall.toFixed(3)} (below ${RECALL_TARGET}) with the ${engine.name} engine: the map and regions rest on this graph. The rows may have little cluster structure; --knn-engine exact searches every pair (cost grows with features² × d).`);
  }
  const layoutKey = cacheKey("layout", stageCodeVersion("layout", ["umap-js"]), graphKey, params.umap, params.seed);

  const xy = await log.stage("Laying out (UMAP)", (p) => {
    const hit = cache.load("layout", layoutKey, (e) => layoutFromEntry(e, n));
    if (hit) return (fromCache("layout"), hit);
    const laid = layoutUmap(graph, { ...params.umap, seed: params.seed }, p);
    cache.store("layout", layoutKey, layoutToEntry(laid));
    return laid;
  });

  // Hand-written region names live beside the dictionary; the previous build's regions (if any)
  // let slugs survive a rebuild. The writer has not touched the output folder (it writes beside it).
  const namesPath = besideDictionary(opts.dictionary, [NAMES_FILE])[0];
  const names = namesPath ? readNamesFile(namesPath, n) : undefined;
  const previous = readPreviousRegions(opts.out);
  const previousRedirects = readPreviousRedirects(opts.out);
  const regions = await log.stage("Finding regions", (p) => {
    const labels = Array.from({ length: n }, (_, i) => metadata.labels.get(i)?.label ?? null);
    const key = cacheKey("regions", stageCodeVersion("regions"), graphKey, layoutKey, labels, previous, names ?? null, params.seed);
    const hit = cache.load("regions", key, (e) => regionsFromEntry(e, n));
    if (hit) return (fromCache("regions"), hit);
    // The key holds the previous atlas's regions (so that their slugs carry over), so the first
    // rebuild into a folder that holds an atlas misses a cache that the same build filled before.
    if (previous.length > 0) log.info(`  keeping the slugs of the ${previous.length.toLocaleString("en-US")} regions already in ${opts.out}: the regions are computed afresh, matched to them`);
    const found = buildRegions({ graph, xy, unit, d, alive, labels, seed: params.seed }, { previous, ...(names && { names }) }, p);
    cache.store("regions", key, regionsToEntry(found));
    return found;
  });
  for (const w of regions.warnings) log.warn(w);
  // Outside the cached stage: cheap, and it depends on the previous atlas's redirects too.
  const redirects = regionRedirects(previous, regions, previousRedirects);
  if (redirects.length) log.info(`  ${redirects.length} old region ${redirects.length === 1 ? "slug leads" : "slugs lead"} to a new one (the previous build had ${previousRedirects.length})`);
  const regionQuality = measureRegions(regions, unit, d, xy, { seed: params.seed });
  log.info(formatRegionQuality(regionQuality).replace(/^/gm, "  "));

  const density = resolveDensity(n, dict.log10Density, metadata);
  const records: RecordInputs = {
    n, norms, alive, graph, xy, density, metadata,
    storedNeighbours: params.storedNeighbours,
    storedExamples: params.storedExamples,
  };

  try {
    const tiles = await log.stage("Writing tiles", () => {
      const ids = new Uint32Array(n);
      const log10 = new Float32Array(n);
      const labels: (string | null)[] = new Array(n);
      for (let i = 0; i < n; i++) {
        ids[i] = i;
        log10[i] = Number.isFinite(density[i]!) && density[i]! > 0 ? Math.log10(density[i]!) : NaN;
        labels[i] = metadata.labels.get(i)?.label ?? null;
      }
      return buildTiles({ ids, xy, log10Density: log10, labels }, { capacity: params.tileCapacity, seed: params.seed }).map((t) => ({
        key: t.key,
        rows: t.rows,
        totalRows: t.totalRows,
        extent: t.extent,
        path: writer.add("tiles", keyToFileStem(parseKey(t.key)), "arrow", t.bytes),
      }));
    });
    log.info(`  ${tiles.length} tiles, root holds ${tiles[0]?.rows ?? 0} points`);

    const shards = await log.stage("Writing feature shards", (p) => {
      const out: Manifest["shards"] = [];
      for (const shard of featureShards(records, params.shardSize)) {
        const path = writer.add("features", String(shard.first), "json", stableJson(shard));
        out.push({ first: shard.first, count: shard.features.length, path });
        p(shard.first + shard.features.length, n);
      }
      return out;
    });

    const search = await log.stage("Building search index", () => {
      const entries: { id: number; label: string; density: number }[] = [];
      for (let i = 0; i < n; i++) {
        const l = metadata.labels.get(i)?.label;
        if (l) entries.push({ id: i, label: l, density: density[i]! });
      }
      return buildSearchIndex(entries, {
        chunk: (i, json) => writer.add("search", String(i), "json", json),
        more: (c, k, json) => writer.add("search", `${c}-more-${k}`, "json", json),
        directory: (json) => writer.add("search", "directory", "json", json),
      });
    });
    log.info(
      `  ${search.chunks.toLocaleString("en-US")} search chunks (largest ${formatBytes(search.largestChunk)}), ` +
        `directory ${formatBytes(search.bytes.directory)}, ${search.terms.toLocaleString("en-US")} terms`,
    );

    const regionsInfo = await log.stage("Writing regions", () => {
      const files = regionFiles(regions);
      if (!files) return null;
      return {
        levels: files.levels.map((f) => ({ level: f.level, count: f.regions.length, path: writer.add("regions", String(f.level), "json", stableJson(f)) })),
        members: writer.add("regions", "members", "json", stableJson(files.members)),
        ...(redirects.length && {
          redirects: writer.add("regions", "redirects", "json", stableJson({ formatVersion: FORMAT_VERSION, redirects })),
        }),
      };
    });

    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    for (let i = 0; i < n; i++) {
      const x = xy[2 * i]!, y = xy[2 * i + 1]!;
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
    }
    let withExamples = 0;
    for (const a of metadata.activations.values()) if (a.examples.length) withExamples++;
    let withDensity = 0;
    for (let i = 0; i < n; i++) if (Number.isFinite(density[i]!)) withDensity++;

    const known = Array.from(density).filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
    const round6 = (v: number) => Number(v.toPrecision(6));
    const activity = {
      meanL0: known.length === n && n > 0 ? round6(known.reduce((a, v) => a + v, 0)) : null,
      medianDensity: known.length ? round6(known.length % 2 ? known[(known.length - 1) / 2]! : (known[known.length / 2 - 1]! + known[known.length / 2]!) / 2) : null,
    };

    const defaultTitle = `${dict.info.model ?? "Dictionary"}${dict.info.hookName ? ` · ${dict.info.hookName}` : ""} · ${n.toLocaleString("en-US")} features`;
    const manifest = writer.commit({
      id,
      title: opts.title ?? defaultTitle,
      description: opts.description ?? "",
      generator: generatorVersion(),
      dictionary: dict.info,
      counts: { features: n, dead: deadCount, labelled: metadata.labels.size, withExamples, withDensity },
      params,
      inputs: [...dict.inputs, ...metadata.inputs, ...(namesPath ? [describeInput("other", namesPath)] : [])].sort((a, b) => (a.role + a.name < b.role + b.name ? -1 : 1)),
      quality: { knnRecall: recall, regions: regionQuality },
      activity,
      bounds: [minX, minY, maxX, maxY],
      tiles,
      shards,
      regions: regionsInfo,
      search: { engine: "terms", directory: search.directory, chunks: search.chunks, terms: search.terms, features: search.features },
    });
    log.info(
      log.summary([
        ["atlas", `${resolve(opts.out)} (id ${id})`],
        ["features", `${n.toLocaleString("en-US")} (${deadCount} dead, ${metadata.labels.size.toLocaleString("en-US")} labelled)`],
        ["kNN recall", `${recall.recall.toFixed(4)} @${recall.k} (sample ${recall.sample})`],
        ["regions", regionQuality.map((q) => `${q.regions}`).join(" → ") + " per level"],
        ["files", `${writer.fileCount + 1} (${tiles.length} tiles, ${shards.length} shards, ${search.chunks} search chunks)`],
        ["size", formatBytes(writer.bytesWritten)],
      ]),
    );
    return { manifest, timings: log.timings };
  } catch (e) {
    writer.abort();
    throw e;
  }
}
