/**
 * One benchmark build in its own process, so that its peak memory is its own. Prints the stage
 * timings as one JSON line on stdout for `bench/run.ts`.
 */
import { buildAtlas } from "../precompute/build.ts";

const [dictionary, out, id] = process.argv.slice(2);
if (!dictionary || !out || !id) throw new Error("usage: build-one <dictionary> <out> <id>");
const started = performance.now();
// No stage cache: a benchmark measures the work, and a cached graph from an earlier run would hide it.
const { manifest, timings } = await buildAtlas({ dictionary, out, id, quiet: !process.env.BENCH_LOG, cache: false });
process.stdout.write(
  JSON.stringify({
    timings,
    totalSeconds: (performance.now() - started) / 1000,
    peakRss: process.resourceUsage().maxRSS * 1024,
    recall: manifest.quality.knnRecall,
    // The listed files, their list and the manifest.
    files: manifest.files.count + 2,
    bytes: manifest.files.bytes,
  }) + "\n",
);
