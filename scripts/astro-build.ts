/**
 * `npm run site:build`: `astro build` of the atlases in ATLAS_DIR into an output folder, split over
 * several processes for big sites. Astro renders pages on one thread (~2.4 ms a feature page at
 * 1M features, 57 min for the whole site on one core); each process renders a contiguous share of
 * every route (src/lib/site-part.ts) into its own folder, and the parts are then moved into part
 * 0's folder. Files that two parts both write (the home page, scripts, public/) must be
 * byte-identical, or the build fails naming the file.
 *
 *   npm run site:build [-- --parts <n>|auto] [--out-dir dist]
 *
 * `auto` (the default) uses one process below PARALLEL_FROM features or with a page budget, else
 * one per core, at most MAX_AUTO_PARTS and one per PART_MEMORY of RAM.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { availableParallelism, totalmem } from "node:os";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { scanAtlases } from "../src/lib/atlas-dir.ts";
import { pageOptions } from "../src/lib/build-options.ts";

const root = resolve(import.meta.dirname, "..");
/** Where each build makes the working folders of its processes (see astroBuild). */
export const SCRATCH_ROOT = join(root, "node_modules", ".cache", "astro-build");

/** Below this many features (all atlases together) one process: a second one's bundling costs more than it saves. */
export const PARALLEL_FROM = 50_000;
/** Most processes `auto` starts. */
export const MAX_AUTO_PARTS = 4;
/** RAM set aside per process by `auto`: the 1M site peaked at 3.8 GB in one process. */
const PART_MEMORY = 4 * 2 ** 30;

export interface AstroBuildOptions {
  /** Output folder (absolute or relative to the repository). */
  outDir: string;
  /** Processes, or "auto" (see the file comment). */
  parts?: number | "auto";
  /** Environment of the builds (ATLAS_DIR, PAGES, …); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Pass the processes' output through (default true); else it is kept and shown on failure. */
  inherit?: boolean;
}

export function autoParts(env: NodeJS.ProcessEnv = process.env, cores = availableParallelism(), memory = totalmem()): number {
  if (pageOptions(env).mode === "budget") return 1;
  const features = scanAtlases(resolve(root, env["ATLAS_DIR"] ?? "atlases"), () => {}).reduce((n, a) => n + a.manifest.counts.features, 0);
  if (features < PARALLEL_FROM) return 1;
  return Math.max(1, Math.min(cores, MAX_AUTO_PARTS, Math.floor(memory / PART_MEMORY)));
}

/**
 * Moves everything under `from` into `to`. A folder missing from `to` is moved whole (one rename:
 * a part's feature pages are whole folders); files in both must have the same bytes.
 */
export function mergeInto(from: string, to: string, top: string = to): void {
  for (const e of readdirSync(from, { withFileTypes: true })) {
    const src = join(from, e.name);
    const dst = join(to, e.name);
    const there = lstatSync(dst, { throwIfNoEntry: false });
    if (!there) {
      renameSync(src, dst);
    } else if (e.isDirectory() && there.isDirectory()) {
      mergeInto(src, dst, top);
    } else if (e.isFile() && there.isFile()) {
      if (!readFileSync(src).equals(readFileSync(dst))) {
        throw new Error(`site build: two parts wrote different bytes to ${relative(top, dst)} (a page must not depend on which process renders it)`);
      }
    } else {
      throw new Error(`site build: ${relative(top, dst)} is a file in one part and a folder in another`);
    }
  }
}

function run(args: string[], cwd: string, env: NodeJS.ProcessEnv, inherit: boolean): { child: ChildProcess; done: Promise<void> } {
  const child = spawn(process.execPath, args, { cwd, env, stdio: inherit ? "inherit" : ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (b: Buffer) => (output += b.toString()));
  child.stderr?.on("data", (b: Buffer) => (output += b.toString()));
  const done = new Promise<void>((ok, fail) => {
    child.on("error", fail);
    child.on("close", (code, signal) => {
      if (code === 0) ok();
      else fail(new Error(`astro build ${env["SITE_PART"] ? `(part ${env["SITE_PART"]}) ` : ""}failed (${signal ?? `exit ${code}`})${output ? `:\n${output}` : ""}`));
    });
  });
  return { child, done };
}

export async function astroBuild(opts: AstroBuildOptions): Promise<{ parts: number; seconds: number }> {
  const started = performance.now();
  const env = opts.env ?? process.env;
  const inherit = opts.inherit ?? true;
  const out = resolve(root, opts.outDir);
  const parts = opts.parts === undefined || opts.parts === "auto" ? autoParts(env) : opts.parts;
  if (!Number.isSafeInteger(parts) || parts < 1) throw new Error(`parts must be a positive integer or "auto"; got ${JSON.stringify(opts.parts)}`);
  if (parts > 1 && pageOptions(env).mode === "budget") throw new Error("a page-budget site is built in one process: drop --parts (the budget is checked on one build's files)");
  const astro = join(root, "node_modules", "astro", "astro.js");
  const dirs = Array.from({ length: parts }, (_, i) => (i === 0 ? out : `${out}.part-${i}`));
  for (const d of dirs.slice(1)) rmSync(d, { recursive: true, force: true });
  const atlasDir = resolve(root, env["ATLAS_DIR"] ?? "atlases");
  // Astro writes its server chunks into <cwd>/.astro/ when the output folder is outside the
  // working directory. Run from the project root, that is the folder of its generated types, and
  // two of those (content-assets.mjs, content-modules.mjs) end up in the site; run in parallel,
  // the parts would overwrite each other's chunks. So each part runs in its own scratch folder,
  // inside the project so that the chunks' imports still resolve.
  mkdirSync(SCRATCH_ROOT, { recursive: true });
  const scratchDir = mkdtempSync(join(SCRATCH_ROOT, "run-"));
  const scratch = (i: number): string => join(scratchDir, String(i));
  for (let i = 0; i < parts; i++) mkdirSync(scratch(i), { recursive: true });
  const runs = dirs.map((d, i) =>
    run(
      [astro, "build", "--silent", "--root", root, "--outDir", d],
      scratch(i),
      { ...env, ATLAS_DIR: atlasDir, ...(parts > 1 ? { SITE_PART: `${i}/${parts}` } : {}) },
      inherit,
    ),
  );
  try {
    await Promise.all(runs.map((r) => r.done));
  } catch (error) {
    for (const r of runs) if (r.child.exitCode === null) r.child.kill();
    await Promise.allSettled(runs.map((r) => r.done));
    for (const d of dirs.slice(1)) rmSync(d, { recursive: true, force: true });
    throw error;
  } finally {
    rmSync(scratchDir, { recursive: true, force: true });
  }
  for (const d of dirs.slice(1)) {
    mergeInto(d, out);
    // Only folders that part 0 also had, now empty, and files it already had are left.
    rmSync(d, { recursive: true, force: true });
  }
  return { parts, seconds: (performance.now() - started) / 1000 };
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const { values } = parseArgs({ options: { parts: { type: "string", default: "auto" }, "out-dir": { type: "string", default: "dist" } } });
  const raw = values.parts!.trim();
  const parts = raw === "auto" ? "auto" : Number(raw);
  if (parts !== "auto" && !(Number.isSafeInteger(parts) && parts >= 1)) {
    process.stderr.write(`error: --parts must be a positive integer or "auto"; got ${JSON.stringify(raw)}\n`);
    process.exit(2);
  }
  try {
    const r = await astroBuild({ outDir: values["out-dir"]!, parts });
    process.stderr.write(`site built into ${values["out-dir"]} in ${r.seconds.toFixed(1)} s (${r.parts} process${r.parts > 1 ? "es" : ""})\n`);
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    process.exit(1);
  }
}
