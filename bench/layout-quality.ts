/**
 * Benchmark only: the typed-array layout engine against a full umap-js fit, side by side, on a
 * synthetic dictionary with planted clusters.
 *
 *   npx tsx bench/layout-quality.ts                      65,536 × 768, both engines
 *   npx tsx bench/layout-quality.ts --n 16384 --d 256    smaller
 *   npx tsx bench/layout-quality.ts --engines typed      skip umap-js (~2.5 min and ~4 GB at 65k)
 *
 * The kNN graph is built once here; each engine then lays it out in its own process (so its peak
 * RSS is its own) and hands back the positions. Reported per engine:
 * - seconds and peak RSS of the layout process (which also holds the graph: ~n · 16 · 8 bytes);
 * - kNN preserved: mean fraction of a point's 15 graph neighbours among its 15 nearest in 2-D;
 * - 2-D kNN accuracy: planted cluster of a point predicted by majority vote of its 15 nearest in
 *   2-D (ties to the smaller cluster id), i.e. whether clusters stay together;
 * - same-cluster 2-D neighbours: fraction of the 15 nearest in 2-D from the point's own cluster.
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
  const engine = values.child as "typed" | "umap-js";
  const started = performance.now();
  const xy = layoutUmap(graph, { nNeighbors: K + 1, minDist: 0.1, spread: 1, nEpochs: 0, seed: 42, engine });
  const seconds = (performance.now() - started) / 1000;
  writeFileSync(join(dir, `${engine}.bin`), xy);
  writeFileSync(join(dir, `${engine}.json`), JSON.stringify({ seconds, peakRss: process.resourceUsage().maxRSS * 1024 }));
  process.exit(0);
}

const n = Number(values.n);
const d = Number(values.d);
const seed = Number(values.seed);
const dict = syntheticDictionary({ n, d, seed, duplicates: 0.01, ...(values.clusters ? { clusters: Number(values.clusters) } : {}) });
const { unit, alive } = normaliseRows(dict.decoder, n, d);
let t = performance.now();
const graph = buildKnnGraph(unit, n, d, alive, { k: K, m: 16, efConstruction: 200, efSearch: 64, seed: 42 });
process.stderr.write(`kNN graph ${n} × ${d}: ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
const dir = mkdtempSync(join(tmpdir(), "layout-quality-"));
saveGraph(dir, graph);

// A fixed, evenly spread sample of points to score.
const sampleSize = Math.min(n, Number(values.sample));
const sample = Array.from({ length: sampleSize }, (_, s) => Math.floor((s * n) / sampleSize));
const { cluster } = dict;

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

const rows: [string, string, string, string, string, string][] = [];
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
  rows.push([engine, seconds.toFixed(1), (peakRss / 2 ** 30).toFixed(2), s.preserved.toFixed(3), s.accuracy.toFixed(3), s.sameCluster.toFixed(3)]);
}
rmSync(dir, { recursive: true, force: true });

process.stdout.write(`\nlayout of ${n.toLocaleString("en-US")} points (synthetic ${n} × ${d}, seed ${seed}, ${new Set(cluster).size} planted clusters), scored on ${sampleSize} points\n`);
process.stdout.write(`graph neighbours in the same planted cluster: ${(graphSame / (K * sample.length)).toFixed(3)}\n\n`);
const header: [string, string, string, string, string, string] = ["engine", "seconds", "peak RSS GB", "kNN preserved@15", "2-D kNN accuracy", "same-cluster 2-D nbrs"];
const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
for (const r of [header, ...rows]) process.stdout.write(r.map((v, c) => v.padStart(widths[c]!)).join("  ") + "\n");
