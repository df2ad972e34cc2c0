/**
 * Benchmark only: the typed-array layout engine against a full umap-js fit, side by side, on a
 * synthetic dictionary with planted clusters.
 *
 *   npx tsx bench/layout-quality.ts                      65,536 × 768, both engines
 *   npx tsx bench/layout-quality.ts --n 16384 --d 256    smaller
 *   npx tsx bench/layout-quality.ts --engines typed      skip umap-js (~2.5 min and ~4 GB at 65k)
 *   npx tsx bench/layout-quality.ts --planted --n 1048576 --engines subset,typed:20
 *       a made-up graph instead of a dictionary's (see plantedGraph): the layout at 1M points
 *   npx tsx bench/layout-quality.ts --n 1048576 --d 64 --skip-regions --engines subset,typed
 *       a real kNN graph at 1M, of a narrow dictionary so that the search takes minutes
 *   npx tsx bench/layout-quality.ts --engines typed,subset,typed:100
 *       the subset fit (subset-fit.ts; "subset:<share>:<fine epochs>", default 0.25 and 30) beside
 *       a whole fit, and a whole fit of 100 epochs instead of 200 (about the subset fit's work)
 *   npx tsx bench/layout-quality.ts --engines typed,typed:0:43,subset
 *       "typed:0:43": a whole fit with seed 43, to see how far two whole fits' regions differ
 *
 * The kNN graph is built once here; each engine then lays it out in its own process (so its peak
 * RSS is its own) and hands back the positions. Reported per engine:
 * - seconds and peak RSS of the layout process (which also holds the graph: ~n · 16 · 8 bytes);
 * - kNN preserved: mean fraction of a point's 15 graph neighbours among its 15 nearest in 2-D;
 * - 2-D kNN accuracy: planted cluster of a point predicted by majority vote of its 15 nearest in
 *   2-D (ties to the smaller cluster id), i.e. whether clusters stay together;
 * - same-cluster 2-D neighbours: fraction of the 15 nearest in 2-D from the point's own cluster.
 * - regions (precompute/regions, not with --planted): each level's adjusted Rand index against the
 *   first engine's regions, and against the planted clusters.
 * Measured on a fixed sample of points (brute force in 2-D). For reference the script also prints
 * the same-cluster fraction of the graph's own neighbours, the best a layout could keep.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { layoutUmap } from "../precompute/layout/umap.ts";
import { buildKnnGraph } from "../precompute/neighbours/knn.ts";
import { normaliseRows } from "../precompute/neighbours/normalise.ts";
import type { KnnGraph } from "../precompute/stages.ts";
import { syntheticDictionary } from "../scripts/synthetic-dictionary.ts";
import { rng } from "../precompute/random.ts";
import { buildRegions } from "../precompute/regions/hierarchy.ts";

const { values } = parseArgs({
  options: {
    n: { type: "string", default: "65536" },
    d: { type: "string", default: "768" },
    clusters: { type: "string" },
    seed: { type: "string", default: "7" },
    engines: { type: "string", default: "typed,umap-js" },
    sample: { type: "string", default: "2000" },
    child: { type: "string" },
    dir: { type: "string" },
    planted: { type: "boolean", default: false },
    // Regions at 1M take minutes per layout; the other scores do not need them.
    "skip-regions": { type: "boolean", default: false },
  },
});

const K = 15;

function saveGraph(dir: string, g: KnnGraph): void {
  writeFileSync(join(dir, "graph.json"), JSON.stringify({ n: g.n, k1: g.k1 }));
  writeFileSync(join(dir, "indices.bin"), g.indices);
  writeFileSync(join(dir, "distances.bin"), g.distances);
}

function loadGraph(dir: string): KnnGraph {
  const { n, k1 } = JSON.parse(readFileSync(join(dir, "graph.json"), "utf8")) as { n: number; k1: number };
  const ib = readFileSync(join(dir, "indices.bin"));
  const db = readFileSync(join(dir, "distances.bin"));
  return {
    n, k1,
    indices: new Int32Array(ib.buffer.slice(ib.byteOffset, ib.byteOffset + ib.byteLength)),
    distances: new Float32Array(db.buffer.slice(db.byteOffset, db.byteOffset + db.byteLength)),
  };
}

if (values.child) {
  // Child: lay the saved graph out with one engine; positions and figures back through files.
  const dir = values.dir!;
  const graph = loadGraph(dir);
  // "umap-js", "typed[:<epochs>[:<seed>]]" or "subset[:<share>:<fine epochs>[:<seed>]]" (epochs 0:
  // the default for the size; seed 42). Another seed shows how far two whole fits disagree anyway.
  const [name, a, b, c] = values.child.split(":");
  const engine = name === "umap-js" ? "umap-js" : "typed";
  const subsetFit = name === "subset" ? { from: 0, share: Number(a ?? 0.25), fineEpochs: Number(b ?? 30) } : undefined;
  const nEpochs = name === "typed" && a ? Number(a) : 0;
  const seed = Number((name === "subset" ? c : b) ?? 42);
  const started = performance.now();
  const xy = layoutUmap(graph, { nNeighbors: K + 1, minDist: 0.1, spread: 1, nEpochs, seed, engine, ...(subsetFit && { subsetFit }) });
  const seconds = (performance.now() - started) / 1000;
  writeFileSync(join(dir, `${values.child}.bin`), xy);
  writeFileSync(join(dir, `${values.child}.json`), JSON.stringify({ seconds, peakRss: process.resourceUsage().maxRSS * 1024 }));
  process.exit(0);
}

/**
 * --planted: no dictionary and no search, a graph made up at once: Zipf-sized clusters of ~64
 * points (as syntheticDictionary plants them), each point's neighbours K random members of its own
 * cluster at distances 0.15–0.3. That is what the search finds in the synthetic dictionary's flat
 * clusters, where every member is about as near as any other; it lets the layout be timed at 1M
 * points without the hour the search takes there.
 */
function plantedGraph(n: number, seed: number): { graph: KnnGraph; cluster: Int32Array } {
  const random = rng(seed, "planted-graph");
  const k = Math.max(1, Math.round(n / 64));
  const cdf = new Float64Array(k);
  let total = 0;
  for (let c = 0; c < k; c++) cdf[c] = total += 1 / (c + 1);
  const cluster = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const u = random() * total;
    let lo = 0;
    let hi = k - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    cluster[i] = lo;
  }
  const byCluster = Array.from({ length: k }, () => [] as number[]);
  for (let i = 0; i < n; i++) byCluster[cluster[i]!]!.push(i);
  const k1 = K + 1;
  const indices = new Int32Array(n * k1);
  const distances = new Float32Array(n * k1);
  for (let i = 0; i < n; i++) {
    // Clusters too small for K neighbours borrow from the next ones.
    let pool = byCluster[cluster[i]!]!;
    for (let c = cluster[i]! + 1; pool.length <= K; c = (c + 1) % k) pool = pool.concat(byCluster[c]!);
    const picked = new Set<number>([i]);
    indices[i * k1] = i;
    const ds = Array.from({ length: K }, () => 0.15 + 0.15 * random()).sort((a, b) => a - b);
    for (let t = 1; t <= K; t++) {
      let j = i;
      while (picked.has(j)) j = pool[Math.floor(random() * pool.length)]!;
      picked.add(j);
      indices[i * k1 + t] = j;
      distances[i * k1 + t] = ds[t - 1]!;
    }
  }
  return { graph: { n, k1, indices, distances }, cluster };
}

const n = Number(values.n);
const d = Number(values.d);
const seed = Number(values.seed);
let t = performance.now();
let graph: KnnGraph;
let cluster: Int32Array;
// The decoder's unit rows, for the regions (not with --planted, which has no dictionary).
let rows: { unit: Float32Array; alive: Uint8Array } | null = null;
if (values.planted) {
  ({ graph, cluster } = plantedGraph(n, seed));
  process.stderr.write(`planted graph ${n}: ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
} else {
  const dict = syntheticDictionary({ n, d, seed, duplicates: 0.01, ...(values.clusters ? { clusters: Number(values.clusters) } : {}) });
  const { unit, alive } = normaliseRows(dict.decoder, n, d);
  t = performance.now();
  graph = buildKnnGraph(unit, n, d, alive, { k: K, m: 16, efConstruction: 200, efSearch: 64, seed: 42 });
  process.stderr.write(`kNN graph ${n} × ${d}: ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
  cluster = dict.cluster;
  rows = { unit, alive };
}
const dir = mkdtempSync(join(tmpdir(), "layout-quality-"));
saveGraph(dir, graph);

// A fixed, evenly spread sample of points to score.
const sampleSize = Math.min(n, Number(values.sample));
const sample = Array.from({ length: sampleSize }, (_, s) => Math.floor((s * n) / sampleSize));

function nearest2d(xy: Float32Array, i: number): number[] {
  const best: number[] = [];
  const bestD: number[] = [];
  const xi = xy[2 * i]!;
  const yi = xy[2 * i + 1]!;
  for (let j = 0; j < n; j++) {
    if (j === i) continue;
    const dd = (xy[2 * j]! - xi) ** 2 + (xy[2 * j + 1]! - yi) ** 2;
    if (best.length === K && dd >= bestD[K - 1]!) continue;
    let p = best.length === K ? K - 1 : best.length;
    while (p > 0 && bestD[p - 1]! > dd) {
      bestD[p] = bestD[p - 1]!;
      best[p] = best[p - 1]!;
      p--;
    }
    bestD[p] = dd;
    best[p] = j;
  }
  return best;
}

interface Scores {
  preserved: number;
  accuracy: number;
  sameCluster: number;
}

function score(xy: Float32Array): Scores {
  let preserved = 0;
  let correct = 0;
  let same = 0;
  for (const i of sample) {
    const near = nearest2d(xy, i);
    const graphN = new Set(Array.from(graph.indices.subarray(i * graph.k1 + 1, (i + 1) * graph.k1)));
    const votes = new Map<number, number>();
    for (const j of near) {
      if (graphN.has(j)) preserved++;
      if (cluster[j] === cluster[i]) same++;
      votes.set(cluster[j]!, (votes.get(cluster[j]!) ?? 0) + 1);
    }
    let winner = -1;
    let most = 0;
    for (const [c, v] of votes) if (v > most || (v === most && c < winner)) [winner, most] = [c, v];
    if (winner === cluster[i]) correct++;
  }
  return { preserved: preserved / (K * sample.length), accuracy: correct / sample.length, sameCluster: same / (K * sample.length) };
}

let graphSame = 0;
for (const i of sample) for (let t1 = 1; t1 <= K; t1++) if (cluster[graph.indices[i * graph.k1 + t1]!] === cluster[i]) graphSame++;

/** Adjusted Rand index of two partitions of the same points (1: the same; ~0: unrelated). */
function adjustedRand(a: Int32Array, b: Int32Array): number {
  const pairs = (x: number): number => (x * (x - 1)) / 2;
  const joint = new Map<number, number>();
  const ca = new Map<number, number>();
  const cb = new Map<number, number>();
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i]! < 0 || b[i]! < 0) continue;
    m++;
    const key = a[i]! * 4294967296 + b[i]!;
    joint.set(key, (joint.get(key) ?? 0) + 1);
    ca.set(a[i]!, (ca.get(a[i]!) ?? 0) + 1);
    cb.set(b[i]!, (cb.get(b[i]!) ?? 0) + 1);
  }
  let sj = 0, sa = 0, sb = 0;
  for (const v of joint.values()) sj += pairs(v);
  for (const v of ca.values()) sa += pairs(v);
  for (const v of cb.values()) sb += pairs(v);
  const expected = (sa * sb) / pairs(m);
  return (sj - expected) / ((sa + sb) / 2 - expected);
}

/** The regions (precompute/regions) of a layout: each point's region at every level, coarsest first. */
function regionLevels(xy: Float32Array): Int32Array[] {
  const h = buildRegions({ graph, xy, unit: rows!.unit, d, alive: rows!.alive, labels: new Array<null>(n).fill(null), seed: 42 });
  const levels = Array.from({ length: h.levels }, () => new Int32Array(n).fill(-1));
  for (let i = 0; i < n; i++) {
    for (let r = h.leafOf[i]!; r >= 0; r = h.regions[r]!.parent) levels[h.regions[r]!.level]![i] = r;
  }
  return levels;
}

const table: [string, string, string, string, string, string][] = [];
const agreement: string[] = [];
let firstRegions: Int32Array[] | null = null;
for (const engine of values.engines.split(",")) {
  process.stderr.write(`laying out with ${engine}…\n`);
  t = performance.now();
  const child = spawnSync(process.execPath, ["--import", "tsx", import.meta.filename, "--child", engine, "--dir", dir], {
    encoding: "utf8",
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, NODE_OPTIONS: `${process.env["NODE_OPTIONS"] ?? ""} --max-old-space-size=16384` },
  });
  if (child.status !== 0) throw new Error(`${engine} layout failed`);
  const { seconds, peakRss } = JSON.parse(readFileSync(join(dir, `${engine}.json`), "utf8")) as { seconds: number; peakRss: number };
  const b = readFileSync(join(dir, `${engine}.bin`));
  const xy = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  const s = score(xy);
  table.push([engine, seconds.toFixed(1), (peakRss / 2 ** 30).toFixed(2), s.preserved.toFixed(3), s.accuracy.toFixed(3), s.sameCluster.toFixed(3)]);
  if (rows && !values["skip-regions"]) {
    // Agreement of regions: this layout's regions against the first engine's, level by level
    // (adjusted Rand index), and each level against the planted clusters.
    const levels = regionLevels(xy);
    firstRegions ??= levels;
    const vsFirst = levels.map((l, i) => (firstRegions![i] ? adjustedRand(l, firstRegions![i]!).toFixed(3) : "–")).join(" ");
    const vsPlanted = levels.map((l) => adjustedRand(l, cluster).toFixed(3)).join(" ");
    agreement.push(`${engine.padEnd(16)} ${levels.length} levels; ARI with ${values.engines.split(",")[0]}: ${vsFirst}; with the planted clusters: ${vsPlanted}`);
  }
}
rmSync(dir, { recursive: true, force: true });

process.stdout.write(`\nlayout of ${n.toLocaleString("en-US")} points (${values.planted ? "planted graph" : `synthetic ${n} × ${d}`}, seed ${seed}, ${new Set(cluster).size} planted clusters), scored on ${sampleSize} points\n`);
process.stdout.write(`graph neighbours in the same planted cluster: ${(graphSame / (K * sample.length)).toFixed(3)}\n\n`);
const header: [string, string, string, string, string, string] = ["engine", "seconds", "peak RSS GB", "kNN preserved@15", "2-D kNN accuracy", "same-cluster 2-D nbrs"];
const widths = header.map((h, c) => Math.max(h.length, ...table.map((r) => r[c]!.length)));
for (const r of [header, ...table]) process.stdout.write(r.map((v, c) => v.padStart(widths[c]!)).join("  ") + "\n");
if (agreement.length) process.stdout.write(`\nregions, coarsest level first:\n${agreement.join("\n")}\n`);
