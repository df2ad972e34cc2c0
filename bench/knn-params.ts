/**
 * kNN parameter study for the partitioned engine: on one synthetic dictionary (the bench's
 * generator and seed), builds the graph with each listed setting of cells and candidate budget,
 * then runs one refinement round, printing wall time and recall@15 after each step. For choosing
 * the 1M defaults (docs/scale-history.md, "The first builds") on a size that
 * takes minutes, not an hour.
 *
 *   npx tsx bench/knn-params.ts --n 262144 --d 2304 --cells 1,2 --candidates 8,16
 *
 * FEATURE_ATLAS_INT8_KERNEL=wasm runs the WebAssembly int8 kernel instead of the native one; the
 * printed graph hash is the same either way.
 *
 * --cells: multiples of the default ⌈√n⌉ cells; --candidates: maxCandidates = n / value (the
 * default is n / 8, at least 16,384); --far: farCandidates, "n/128" (the default rule, at least
 * 512) or a count; --far-first: far candidates in the first stage of far scans (default 512; a
 * value ≥ the far budget scans it all in one stage, as before the stages). Every combination of the lists is run.
 */
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { int8KernelName } from "../precompute/neighbours/int8.ts";
import { buildKnnGraph, measureRecall, refineKnnGraph } from "../precompute/neighbours/knn.ts";
import { normaliseRows } from "../precompute/neighbours/normalise.ts";
import { defaultCells } from "../precompute/neighbours/partitions.ts";
import { syntheticDictionary } from "../scripts/synthetic-dictionary.ts";

const { values } = parseArgs({
  options: {
    n: { type: "string", default: "262144" },
    d: { type: "string", default: "2304" },
    cells: { type: "string", default: "1,2" },
    candidates: { type: "string", default: "8" },
    seed: { type: "string", default: "7" },
    far: { type: "string", default: "n/128" },
    "far-first": { type: "string", default: "512" },
  },
});
const n = Number(values.n);
const d = Number(values.d);
const list = (s: string): number[] => s.split(",").map(Number);
/** "n/128": the default rule, max(512, alive / 128); a plain number: that many. */
const farBudget = (v: string, alive: number): number => (v.startsWith("n/") ? Math.max(512, Math.ceil(alive / Number(v.slice(2)))) : Number(v));

const t0 = performance.now();
const dict = syntheticDictionary({ n, d, seed: Number(values.seed), duplicates: 0.01 });
const { unit, alive } = normaliseRows(dict.decoder, n, d, { inPlace: true });
let nAlive = 0;
for (let i = 0; i < n; i++) nAlive += alive[i]!;
process.stdout.write(`${n.toLocaleString("en-US")} × ${d}: generated in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${nAlive.toLocaleString("en-US")} alive\n`);

const seconds = (from: number): string => `${((performance.now() - from) / 1000).toFixed(1)} s`;
for (const c of list(values.cells!)) {
  for (const div of list(values.candidates!)) for (const far of values.far!.split(",")) for (const farFirst of list(values["far-first"]!)) {
    const cells = Math.round(c * defaultCells(nAlive));
    const maxCandidates = Math.max(16384, Math.ceil(nAlive / div));
    const opts = { k: 15, m: 16, efConstruction: 200, efSearch: 64, seed: 42, engine: "partitioned" as const, cells, maxCandidates, farCandidates: farBudget(far, nAlive), farFirst };
    const started = performance.now();
    const graph = buildKnnGraph(unit, n, d, alive, opts);
    const knnTime = seconds(started);
    const r0 = measureRecall(unit, n, d, alive, graph, { k: 15, seed: 42 });
    const refineStart = performance.now();
    const refined = refineKnnGraph(unit, n, d, alive, graph);
    const refineTime = seconds(refineStart);
    const r1 = measureRecall(unit, n, d, alive, refined, { k: 15, seed: 42 });
    // The graph's bytes, so runs with different int8 kernels (FEATURE_ATLAS_INT8_KERNEL=wasm) can be compared.
    const sha = createHash("sha256").update(new Uint8Array(graph.indices.buffer)).update(new Uint8Array(graph.distances.buffer)).digest("hex").slice(0, 12);
    process.stdout.write(
      `cells ${cells} (${c}×), maxCandidates ${maxCandidates} (n/${div}), far ${opts.farCandidates} (first stage ${farFirst}): kNN ${knnTime} (int8 kernel: ${int8KernelName()}), recall ${r0.recall.toFixed(4)}, graph ${sha}; one refinement round ${refineTime}, recall ${r1.recall.toFixed(4)} (sample ${r1.sample})\n`,
    );
  }
}
