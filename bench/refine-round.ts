/**
 * One neighbour-of-neighbour refinement round (precompute/neighbours/refine.ts) on a real-size
 * graph, without rebuilding it: the dictionary is read and normalised as the build does, the kNN
 * graph comes from a build's stage cache, and each listed visiting order runs one round, timed.
 * For the 1M case, where a round is minutes and the search before it over half an hour.
 *
 *   npx tsx bench/refine-round.ts --dict bench/out/dict/synthetic-1048576-2304-bf16 \
 *     --graph <out>/../.atlas-cache/knn-<key>.bin --orders visit,id
 *
 * --orders: "visit", the build's order (refine.ts `visitOrder`); "id", ids ascending, as before
 * it. Both give the same bytes, which the script checks. --recall: recall@15 before and after
 * (the build's sample of 200 and seed 42).
 */
import { parseArgs } from "node:util";
import { measureRecall, refineKnnGraph } from "../precompute/neighbours/knn.ts";
import { cachedGraph, rss, seconds, unitRows } from "./cached-inputs.ts";

const { values } = parseArgs({
  options: {
    dict: { type: "string" },
    graph: { type: "string" },
    orders: { type: "string", default: "visit,id" },
    recall: { type: "boolean", default: false },
  },
});
if (!values.dict || !values.graph) throw new Error("usage: bench/refine-round.ts --dict <dictionary> --graph <knn-….bin from a stage cache> [--orders visit,id]");

const { n, d, unit, alive } = unitRows(values.dict);
const graph = cachedGraph(values.graph, n);
let t = performance.now();

const recall = (g: typeof graph): string => measureRecall(unit, n, d, alive, g, { k: 15, seed: 42 }).recall.toFixed(4);
if (values.recall) process.stdout.write(`recall@15 before: ${recall(graph)}\n`);
let first: ReturnType<typeof refineKnnGraph> | null = null;
for (const order of values.orders!.split(",")) {
  if (order !== "visit" && order !== "id") throw new Error(`--orders: "${order}" is neither visit nor id`);
  t = performance.now();
  const refined = refineKnnGraph(unit, n, d, alive, graph, { order });
  process.stdout.write(`order ${order}: one round in ${seconds(t)}, ${rss()}\n`);
  if (first && !(Buffer.from(first.indices.buffer).equals(Buffer.from(refined.indices.buffer)) && Buffer.from(first.distances.buffer).equals(Buffer.from(refined.distances.buffer)))) {
    throw new Error(`order ${order} gave different bytes from the first order`);
  }
  if (!first && values.recall) process.stdout.write(`recall@15 after: ${recall(refined)}\n`);
  first ??= refined;
}
