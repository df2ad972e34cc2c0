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
import { layoutFromEntry } from "../precompute/cache/entries.ts";
import { readEntryFile } from "../precompute/cache/stage-cache.ts";
import { readMetadata } from "../precompute/read/detect.ts";
import { buildRegions } from "../precompute/regions/hierarchy.ts";
import { formatRegionQuality, measureRegions } from "../precompute/regions/quality.ts";
import { cachedGraph, rss, seconds, unitRows } from "./cached-inputs.ts";

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

let t = performance.now();
const { n, d, unit, alive } = unitRows(values.dict);
const graph = cachedGraph(values.graph, n);
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
process.stdout.write(`regions: ${seconds(t)}, ${counts.join(" → ")} per level, ${rss()}\n`);
t = performance.now();
const quality = measureRegions(regions, unit, d, xy, { seed: Number(values.seed) });
process.stdout.write(`quality measure: ${seconds(t)}\n${formatRegionQuality(quality)}\n`);
