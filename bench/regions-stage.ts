/**
 * The regions stage (precompute/regions/hierarchy.ts) and its quality measure on a real-size
 * graph and layout, without rebuilding them: the dictionary is read and normalised as the build
 * does, the graph and layout come from a build's stage cache, the labels from the build's file.
 * For the 1M case, where the stage takes minutes and everything before it an hour. Prints each
 * phase and each Louvain try on a large graph (FEATURE_ATLAS_PHASES=regions is set here).
 *
 *   npx tsx bench/regions-stage.ts --dict bench/out/dict/synthetic-1048576-2304-bf16 \
 *     --graph <cache>/refine-<key>.bin --layout <cache>/layout-<key>.bin --labels labels.json
 *
 * --seed: the build's seed (default 42).
 */
import { parseArgs } from "node:util";
import { knnFromEntry, layoutFromEntry } from "../precompute/cache/entries.ts";
import { readEntryFile } from "../precompute/cache/stage-cache.ts";
import { normaliseRows } from "../precompute/neighbours/normalise.ts";
import { rowsFit } from "../precompute/neighbours/simd.ts";
import { readDictionary, readMetadata } from "../precompute/read/detect.ts";
import { buildRegions } from "../precompute/regions/hierarchy.ts";
import { measureRegions } from "../precompute/regions/quality.ts";

const { values } = parseArgs({
  options: {
    dict: { type: "string" },
    graph: { type: "string" },
    layout: { type: "string" },
    labels: { type: "string" },
    seed: { type: "string", default: "42" },
  },
});
if (!values.dict || !values.graph || !values.layout) throw new Error("usage: bench/regions-stage.ts --dict <dictionary> --graph <knn-/refine-….bin> --layout <layout-….bin> [--labels <file>]");
process.env["FEATURE_ATLAS_PHASES"] = "regions";

const seconds = (from: number): string => `${((performance.now() - from) / 1000).toFixed(1)} s`;
const gb = (): string => `${(process.memoryUsage().rss / 2 ** 30).toFixed(1)} GB RSS`;
let t = performance.now();
const dict = readDictionary(values.dict);
const n = dict.info.dSae;
const d = dict.info.dIn;
const { unit, alive } = normaliseRows(dict.decoder, n, d, { inPlace: !rowsFit(n, d) });
process.stdout.write(`${n.toLocaleString("en-US")} × ${d}: read and normalised in ${seconds(t)}, ${gb()}\n`);

const graphEntry = readEntryFile(values.graph);
if (graphEntry.stage !== "knn" && graphEntry.stage !== "refine") throw new Error(`${values.graph}: a ${graphEntry.stage} entry, not a kNN graph`);
const graph = knnFromEntry(graphEntry.entry, n);
const layoutEntry = readEntryFile(values.layout);
if (layoutEntry.stage !== "layout") throw new Error(`${values.layout}: a ${layoutEntry.stage} entry, not a layout`);
const xy = layoutFromEntry(layoutEntry.entry, n);
t = performance.now();
const metadata = readMetadata({ labels: values.labels ? [values.labels] : [], activations: [], nFeatures: n, maxExamples: 20 });
const labels = Array.from({ length: n }, (_, i) => metadata.labels.get(i)?.label ?? null);
process.stdout.write(`labels read in ${seconds(t)}\n`);

t = performance.now();
const regions = buildRegions({ graph, xy, unit, d, alive, labels, seed: Number(values.seed) });
const counts = regions.levelStart.slice(1).map((s, l) => s - regions.levelStart[l]!);
process.stdout.write(`regions: ${seconds(t)}, ${counts.join(" → ")} per level, ${gb()}\n`);
t = performance.now();
measureRegions(regions, unit, d, xy, { seed: Number(values.seed) });
process.stdout.write(`quality measure: ${seconds(t)}\n`);
