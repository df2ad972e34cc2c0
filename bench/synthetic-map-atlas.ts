/**
 * A map-only atlas of any size, in seconds: for `npm run bench:map` at sizes whose real build
 * (kNN graph, UMAP) takes hours. The tiles are real (the build's own tiler, format and seed) over a
 * synthetic layout: Gaussian clusters with Zipf sizes, a log-uniform density and a 3–5 word label
 * per feature (real labels are 20–60 characters; the label column is most of a tile's bytes).
 * The manifest lists one shard per 256 features as a real build does, so it has a real build's
 * size; the shard files themselves, the search index and the regions are not written (the map
 * does not need them before its first draw). Not a site-worthy atlas: do not publish it.
 *
 *   npx tsx bench/synthetic-map-atlas.ts --n 1000000 --out bench/out/atlases/map-1m
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { FORMAT_VERSION, manifestSchema, parseWithFriendlyErrors, type AtlasFile, type Manifest } from "../contract/atlas.ts";
import { keyToFileStem, parseKey } from "../contract/tile-keys.ts";
import { gaussian, rng } from "../precompute/random.ts";
import { buildTiles } from "../precompute/tiles/quadtree.ts";
import { sha256, stableJson } from "../precompute/write/atlas-writer.ts";

const { values } = parseArgs({
  options: {
    n: { type: "string", default: "1000000" },
    out: { type: "string" },
    capacity: { type: "string", default: "4096" },
    seed: { type: "string", default: "42" },
  },
});
const n = Number(values.n);
const capacity = Number(values.capacity);
const seed = Number(values.seed);
if (!values.out || !Number.isInteger(n) || n < 1) throw new Error("usage: synthetic-map-atlas --n <features> --out <dir> [--capacity 4096] [--seed 42]");
const out = resolve(values.out);
const id = out.split("/").at(-1)!.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");

const started = performance.now();
const random = rng(seed, "synthetic-map");
const clusters = Math.max(1, Math.round(n / 256));
const centres = Array.from({ length: clusters }, () => [0.08 + 0.84 * random(), 0.08 + 0.84 * random(), 0.004 + 0.03 * random()] as const);
// Zipf(1) cluster sizes, as cumulative weights.
const cumulative = new Float64Array(clusters);
for (let c = 0, sum = 0; c < clusters; c++) cumulative[c] = sum += 1 / (c + 1);
const total = cumulative[clusters - 1]!;
const words = "signal token context memory syntax number place person time code music water colour motion family science legal money food story city sport body market".split(" ");

const ids = new Uint32Array(n);
const xy = new Float32Array(2 * n);
const log10Density = new Float32Array(n);
const labels: string[] = new Array(n);
for (let i = 0; i < n; i++) {
  const u = random() * total;
  let lo = 0, hi = clusters - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid]! < u) lo = mid + 1;
    else hi = mid;
  }
  const [cx, cy, s] = centres[lo]!;
  ids[i] = i;
  xy[2 * i] = Math.min(1, Math.max(0, cx + s * gaussian(random)));
  xy[2 * i + 1] = Math.min(1, Math.max(0, cy + s * gaussian(random)));
  log10Density[i] = -6 + 5 * random();
  const count = 3 + Math.floor(random() * 3);
  labels[i] = Array.from({ length: count }, () => words[Math.floor(random() * words.length)]!).join(" ");
}

const tiles = buildTiles({ ids, xy, log10Density, labels }, { capacity, seed });
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "tiles"), { recursive: true });
const files: AtlasFile[] = [];
const tileInfos: Manifest["tiles"] = tiles.map((t) => {
  const hash = sha256(t.bytes);
  const path = `tiles/${keyToFileStem(parseKey(t.key))}.${hash.slice(0, 12)}.arrow`;
  writeFileSync(join(out, path), t.bytes);
  files.push({ path, bytes: t.bytes.length, sha256: hash });
  return { key: t.key, path, rows: t.rows, totalRows: t.totalRows, extent: t.extent };
});
const shards: Manifest["shards"] = [];
for (let first = 0; first < n; first += 256) {
  // Listed as a real build lists them (a 12-hex-digit hash in the name, size and sha256 in
  // `files`), but not written.
  const hash = sha256(`shard ${first}`);
  const path = `features/${first}.${hash.slice(0, 12)}.json`;
  shards.push({ first, count: Math.min(256, n - first), path });
  files.push({ path, bytes: 180_000, sha256: hash });
}
files.sort((a, b) => (a.path < b.path ? -1 : 1));
const listText = stableJson({ formatVersion: FORMAT_VERSION, files });
const listPath = `files.${sha256(listText).slice(0, 12)}.json`;
writeFileSync(join(out, listPath), listText);

let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
for (const t of tileInfos) {
  minX = Math.min(minX, t.extent[0]); minY = Math.min(minY, t.extent[1]);
  maxX = Math.max(maxX, t.extent[2]); maxY = Math.max(maxY, t.extent[3]);
}
const manifest = parseWithFriendlyErrors(
  manifestSchema,
  {
    formatVersion: FORMAT_VERSION,
    id,
    title: `Synthetic map-only atlas, ${n.toLocaleString("en-US")} features`,
    description: "Tiles over a synthetic layout, for the map-load benchmark.",
    generator: "bench/synthetic-map-atlas.ts",
    dictionary: { format: "npy", architecture: "standard", model: null, hookName: null, dIn: 16, dSae: n, dtype: "F32", k: null, neuronpediaId: null, rawConfig: {} },
    counts: { features: n, dead: 0, labelled: n, withExamples: 0, withDensity: n },
    params: {
      seed,
      knn: { k: 15, m: 16, efConstruction: 200, efSearch: 64 },
      umap: { nNeighbors: 16, minDist: 0.1, spread: 1, nEpochs: 0 },
      tileCapacity: capacity,
      shardSize: 256,
      storedNeighbours: 12,
      storedExamples: 20,
    },
    inputs: [],
    quality: { knnRecall: { k: 15, sample: 0, recall: 0 }, regions: [] },
    bounds: [minX, minY, maxX, maxY],
    tiles: tileInfos,
    shards,
    regions: null,
    // No index is written: the map page fetches the directory only when the search box is used.
    search: { engine: "terms", directory: "search/directory.json", chunks: 0, terms: 0, features: 0 },
    files: { path: listPath, count: files.length, bytes: files.reduce((a, f) => a + f.bytes, 0) },
  },
  "synthetic manifest",
);
writeFileSync(join(out, "manifest.json"), stableJson(manifest));
const tileBytes = tiles.reduce((a, t) => a + t.bytes.length, 0);
process.stdout.write(
  `${out}: ${n.toLocaleString("en-US")} points in ${tiles.length} tiles, ${(tileBytes / 1e6).toFixed(1)} MB of tiles (${(tileBytes / n).toFixed(1)} B/point), ` +
    `root ${tiles[0]!.bytes.length} B, in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
);
