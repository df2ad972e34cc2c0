/**
 * "One site, many atlases": build every atlas a site config lists (contract/site.ts), one after
 * another, into `<atlasRoot>/<id>`, then write `<atlasRoot>/site.json` and run the post-build steps.
 *
 * Steps that need every atlas at once (e.g. matching features across dictionaries) belong in
 * POST_BUILD_STEPS below, or are passed per call as `options.postBuild`: they run after the last
 * atlas is built, with the full SiteBuildResult, in list order.
 */
import { existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { parseManifest, type Manifest } from "../contract/atlas.ts";
import { parseSiteConfig, type SiteAtlas, type SiteConfig, type SiteFile } from "../contract/site.ts";
import { buildAtlas, DEFAULTS, generatorVersion, metadataPaths, type BuildOptions } from "./build.ts";
import type { StageTiming } from "./log.ts";
import { hashFile } from "./read/hash.ts";
import { InputError } from "./read/safetensors.ts";
import { splitsPostBuildStep } from "./splits/post-build.ts";

/** File the site reads for its title (siteFileSchema), written into the atlas root. */
export const SITE_FILE = "site.json";

export interface SiteBuildOptions {
  /** Atlas root; overrides the config's `atlasRoot` (which is relative to the config file). */
  out?: string;
  /** Only these atlas ids, in config order (the others are left as they are). Default: all. */
  only?: string[];
  /**
   * Skip an atlas whose manifest shows it was built from the same inputs (by sha256), title,
   * description and build options by this generator version (`npm run demo` does this). Default false.
   * Code changes that keep the package version are not noticed: pass --rebuild (demo) or leave this off.
   */
  skipUpToDate?: boolean;
  /** Stage cache folder, or false for none; default `.atlas-cache` in the atlas root (see build.ts). */
  cache?: string | false;
  quiet?: boolean;
  /** Extra steps after POST_BUILD_STEPS. */
  postBuild?: PostBuildStep[];
  /** Progress lines (default: stderr, unless quiet). */
  log?: (message: string) => void;
}

export interface BuiltAtlas {
  /** The config entry, paths as written in the config. */
  entry: SiteAtlas;
  /** Absolute atlas folder, `<atlasRoot>/<id>`. */
  dir: string;
  manifest: Manifest;
  /** True when the atlas was up to date and not rebuilt (skipUpToDate). */
  skipped: boolean;
  /** Wall-clock seconds spent on this atlas (building or checking it). */
  seconds: number;
  /** Per-stage timings of the build; empty when skipped. */
  timings: StageTiming[];
}

export interface SiteBuildResult {
  /** Absolute path of the config file. */
  configPath: string;
  config: SiteConfig;
  /** Absolute atlas root. */
  atlasRoot: string;
  /** What was built (or found up to date), in config order. */
  atlases: BuiltAtlas[];
}

/** A step run once all atlases are built, e.g. one that relates features across atlases. */
export interface PostBuildStep {
  /** Printed as the step's header. */
  name: string;
  run(site: SiteBuildResult, log: (message: string) => void): void | Promise<void>;
}

/**
 * Steps run after every `build --config`, in order, before `options.postBuild`. Add a
 * cross-atlas stage here (import it above); it receives every built atlas and its folder.
 */
export const POST_BUILD_STEPS: PostBuildStep[] = [splitsPostBuildStep];

/** Read and validate a config file; errors name the file (and the entry and field). */
export function readSiteConfig(configPath: string): SiteConfig {
  const where = configPath;
  if (!existsSync(configPath)) throw new InputError(`${where}: site config not found`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(configPath, "utf8"));
  } catch (e) {
    throw new InputError(`${where}: not valid JSON (${(e as Error).message})`);
  }
  try {
    return parseSiteConfig(json, where);
  } catch (e) {
    throw new InputError((e as Error).message);
  }
}

/** How an entry is named in messages: `atlas.config.json: atlases.1 ("demo-16k")`. */
function entryName(configPath: string, index: number, entry: SiteAtlas): string {
  return `${configPath}: atlases.${index} (${JSON.stringify(entry.id)})`;
}

/** The buildAtlas options of one config entry, with its paths resolved against the config's folder. */
export function atlasBuildOptions(entry: SiteAtlas, configDir: string, atlasRoot: string): BuildOptions {
  const at = (p: string) => resolve(configDir, p);
  const b = entry.build;
  const opts: BuildOptions = {
    dictionary: at(entry.dictionary),
    out: join(atlasRoot, entry.id),
    id: entry.id,
    title: entry.title,
    description: entry.description,
  };
  if (entry.labels) opts.labels = entry.labels.map(at);
  if (entry.activations) opts.activations = entry.activations.map(at);
  if (entry.neuronpedia) opts.neuronpedia = at(entry.neuronpedia);
  for (const key of ["seed", "k", "minDist", "epochs", "tileCapacity", "shardSize", "recallSample", "dModel", "dropNonFinite"] as const) {
    if (b[key] !== undefined) (opts as unknown as Record<string, unknown>)[key] = b[key];
  }
  return opts;
}

/** Every path an entry names must exist before anything is built, so a typo in the last entry does not wait for the first to build. */
function checkPaths(configPath: string, index: number, entry: SiteAtlas, opts: BuildOptions): void {
  const named: [string, string | undefined][] = [
    ["dictionary", opts.dictionary],
    ["neuronpedia", opts.neuronpedia],
    ...(opts.labels ?? []).map((p, i): [string, string] => [`labels.${i}`, p]),
    ...(opts.activations ?? []).map((p, i): [string, string] => [`activations.${i}`, p]),
  ];
  for (const [field, p] of named) {
    // A label path may end in a `#group` selector (see read/labels.ts): then the file before it must exist.
    if (p === undefined || existsSync(p) || (field.startsWith("labels") && existsSync(p.replace(/#[^/#]*$/, "")))) continue;
    throw new InputError(`${entryName(configPath, index, entry)}.${field}: ${p} does not exist (paths are relative to the config file's folder)`);
  }
}

/**
 * Files under a path (down to maxDepth folders), by the names an atlas manifest may record for
 * them: the base name, and the path relative to `path` (`explanations/batch-0.jsonl.gz`).
 */
function candidateFiles(path: string, into: Map<string, string[]>, maxDepth: number): void {
  const add = (name: string, file: string) => {
    const list = into.get(name);
    if (list) list.push(file);
    else into.set(name, [file]);
  };
  const isDir = (p: string) => {
    try {
      return statSync(p).isDirectory();
    } catch {
      return null;
    }
  };
  const kind = isDir(path);
  if (kind === null) return;
  if (!kind) return add(basename(path), path);
  const walk = (dir: string, depth: number) => {
    for (const name of readdirSync(dir)) {
      const file = join(dir, name);
      const sub = isDir(file);
      if (sub === null) continue;
      if (sub) {
        if (depth < maxDepth) walk(file, depth + 1);
      } else {
        add(relative(path, file).split("\\").join("/"), file);
        add(name, file);
      }
    }
  };
  walk(path, 0);
}

/** Whether the atlas in opts.out was built from these inputs and options (see SiteBuildOptions.skipUpToDate). */
export function atlasUpToDate(opts: BuildOptions): Manifest | null {
  const manifestPath = join(opts.out, "manifest.json");
  if (!existsSync(manifestPath)) return null;
  let manifest: Manifest;
  try {
    manifest = parseManifest(JSON.parse(readFileSync(manifestPath, "utf8")), manifestPath);
  } catch {
    return null;
  }
  const p = manifest.params;
  const same =
    manifest.id === opts.id &&
    manifest.title === opts.title &&
    manifest.description === (opts.description ?? "") &&
    manifest.generator === generatorVersion() &&
    p.seed === (opts.seed ?? DEFAULTS.seed) &&
    p.knn.k === (opts.k ?? DEFAULTS.k) &&
    p.umap.minDist === (opts.minDist ?? DEFAULTS.minDist) &&
    p.umap.nEpochs === (opts.epochs ?? DEFAULTS.epochs) &&
    JSON.stringify(p.umap.subsetFit ?? null) === JSON.stringify(opts.subsetFit ?? null) &&
    p.tileCapacity === (opts.tileCapacity ?? DEFAULTS.tileCapacity) &&
    p.shardSize === (opts.shardSize ?? DEFAULTS.shardSize) &&
    (opts.recallSample === undefined || manifest.quality.knnRecall.sample === Math.min(opts.recallSample, manifest.counts.features - manifest.counts.dead));
  if (!same) return null;
  // A label or activation file the previous build did not read (say a labels.json put beside the
  // dictionary since) changes the atlas as surely as an edited one.
  let meta: { labels: string[]; activations: string[] };
  try {
    meta = metadataPaths(opts);
  } catch {
    return null;
  }
  for (const role of ["labels", "activations"] as const) {
    if ((meta[role].length > 0) !== manifest.inputs.some((f) => f.role === role)) return null;
  }
  const candidates = new Map<string, string[]>();
  const dict = opts.dictionary;
  // The dictionary's own folder and its parent: sparsify keeps the run's config.json one level up.
  const dictDir = existsSync(dict) && statSync(dict).isDirectory() ? dict : dirname(dict);
  candidateFiles(dictDir, candidates, 0);
  candidateFiles(dirname(dictDir), candidates, 0);
  for (const p of [...meta.labels, ...meta.activations]) {
    candidateFiles(p.replace(/#[^/#]*$/, ""), candidates, 2);
  }
  const hashes = new Map<string, string>();
  const sha = (file: string) => {
    let h = hashes.get(file);
    if (h === undefined) hashes.set(file, (h = hashFile(file).sha256));
    return h;
  };
  const allFound = manifest.inputs.every((input) => (candidates.get(input.name) ?? []).some((file) => statSync(file).size === input.bytes && sha(file) === input.sha256));
  return allFound ? manifest : null;
}

/** Write a small file so that a reader sees the old or the new one, never a part. */
function writeAtomically(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/**
 * Build every atlas of the config at `configPath` (one after another), write `site.json`, then
 * run POST_BUILD_STEPS and `options.postBuild`. Throws on the first failing atlas, with the
 * config file and entry in the message; atlases built before it stay (each is swapped in whole).
 */
export async function buildSite(configPath: string, options: SiteBuildOptions = {}): Promise<SiteBuildResult> {
  const log = options.log ?? ((m: string) => (options.quiet ? undefined : process.stderr.write(`${m}\n`)));
  const absConfig = resolve(configPath);
  const config = readSiteConfig(configPath);
  const configDir = dirname(absConfig);
  const atlasRoot = resolve(options.out ?? resolve(configDir, config.atlasRoot));

  const only = options.only ? new Set(options.only) : null;
  if (only) {
    const unknown = [...only].filter((id) => !config.atlases.some((a) => a.id === id));
    if (unknown.length) throw new InputError(`${configPath}: lists no atlas ${unknown.map((u) => JSON.stringify(u)).join(", ")}; it has ${config.atlases.map((a) => a.id).join(", ")}`);
  }
  const chosen = config.atlases.map((entry, index) => ({ entry, index })).filter(({ entry }) => !only || only.has(entry.id));
  const plans = chosen.map(({ entry, index }) => {
    const opts = atlasBuildOptions(entry, configDir, atlasRoot);
    checkPaths(configPath, index, entry, opts);
    if (options.quiet) opts.quiet = true;
    if (options.cache !== undefined) opts.cache = options.cache;
    return { entry, index, opts };
  });

  log(`${configPath}: ${plans.length} ${plans.length === 1 ? "atlas" : "atlases"} → ${atlasRoot}`);
  const built: BuiltAtlas[] = [];
  for (const [i, { entry, index, opts }] of plans.entries()) {
    log(`\n=== ${i + 1}/${plans.length}: ${entry.id} (${entry.dictionary}) ===`);
    const start = performance.now();
    const current = options.skipUpToDate ? atlasUpToDate(opts) : null;
    if (current) {
      log(`  ${opts.out} is up to date (same inputs and options); not rebuilt`);
      built.push({ entry, dir: opts.out, manifest: current, skipped: true, seconds: (performance.now() - start) / 1000, timings: [] });
      continue;
    }
    try {
      const result = await buildAtlas(opts);
      built.push({ entry, dir: opts.out, manifest: result.manifest, skipped: false, seconds: (performance.now() - start) / 1000, timings: result.timings });
    } catch (e) {
      if (e instanceof Error) e.message = `${entryName(configPath, index, entry)}: ${e.message}`;
      throw e;
    }
  }

  const site: SiteFile = { title: config.title, description: config.description ?? null, atlases: config.atlases.map((a) => a.id) };
  writeAtomically(join(atlasRoot, SITE_FILE), `${JSON.stringify(site, null, 2)}\n`);
  const result: SiteBuildResult = { configPath: absConfig, config, atlasRoot, atlases: built };

  for (const step of [...POST_BUILD_STEPS, ...(options.postBuild ?? [])]) {
    log(`\n[${step.name}]`);
    await step.run(result, log);
  }

  const w = Math.max(...built.map((b) => b.entry.id.length), 2);
  log(
    [
      "",
      `[Site] ${built.length} ${built.length === 1 ? "atlas" : "atlases"} in ${atlasRoot}`,
      ...built.map((b) => `  ${b.entry.id.padEnd(w)}  ${b.manifest.counts.features.toLocaleString("en-US").padStart(9)} features  ${b.skipped ? "up to date" : `built in ${b.seconds.toFixed(1)} s`}`),
    ].join("\n"),
  );
  return result;
}
