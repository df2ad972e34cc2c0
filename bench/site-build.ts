/**
 * Site-build benchmark: `astro build` of a folder of atlases, in its own process, measuring wall
 * time, peak memory (the largest process, from /usr/bin/time, and the whole process tree, polled
 * from /proc), and what it wrote: files and bytes in dist, and per feature page.
 *
 *   npx tsx bench/site-build.ts --atlases bench/out/large/all --name all-1m [--env EMBED_PAGES=none …] [--parts <n>|auto] [--keep]
 *   npm run bench -- --site            both 1M cases (writes the synthetic atlases first; see below)
 *
 * The 1M cases use bench/large-atlas.ts (real writer, tiles, search and shards; synthetic
 * geometry, no regions): (a) every feature page static, (b) PAGES=budget with 20,000 files, the
 * atlas written with larger shards, tiles and search chunks so that its data fits.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const root = resolve(import.meta.dirname, "..");

export interface SiteBuildResult {
  name: string;
  seconds: number;
  /** Build processes (scripts/astro-build.ts). */
  parts: number;
  /** Largest single process (ru_maxrss via /usr/bin/time), bytes; null without GNU time. */
  peakRss: number | null;
  /** Largest sum of RSS over the process tree, sampled every 250 ms, bytes. */
  peakTreeRss: number;
  files: number;
  bytes: number;
  /** Feature pages written (`<atlas>/feature/<id>/index.html`) and their total bytes. */
  featurePages: number;
  featurePageBytes: number;
  /** Files and bytes under `<atlas>/data/` (the atlases copied in). */
  dataFiles: number;
  dataBytes: number;
  features: number;
  load: string;
}

function treeRss(pid: number): number {
  // Children of every process, from /proc/<pid>/stat's ppid field.
  const children = new Map<number, number[]>();
  const rss = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ppid = Number(fields[1]);
      const pages = Number(fields[21]);
      const p = Number(entry);
      rss.set(p, pages * 4096);
      const list = children.get(ppid) ?? [];
      list.push(p);
      children.set(ppid, list);
    } catch {
      /* exited meanwhile */
    }
  }
  let total = 0;
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    total += rss.get(p) ?? 0;
    stack.push(...(children.get(p) ?? []));
  }
  return total;
}

function walk(dir: string, visit: (path: string, bytes: number) => void): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, visit);
    else if (e.isFile()) visit(p, statSync(p).size);
  }
}

export async function siteBuild(opts: { name: string; atlases: string; env?: Record<string, string>; keep?: boolean; parts?: string }): Promise<SiteBuildResult> {
  const out = join(root, "bench", "out", "site", opts.name);
  rmSync(out, { recursive: true, force: true });
  // What `npm run site:build` runs: one `astro build`, or several in parallel (scripts/astro-build.ts).
  const astro = ["--import", "tsx", join(root, "scripts", "astro-build.ts"), "--out-dir", out, "--parts", opts.parts ?? "auto"];
  const gnuTime = existsSync("/usr/bin/time");
  const [cmd, args] = gnuTime ? ["/usr/bin/time", ["-f", "maxrss_kb=%M", process.execPath, ...astro]] : [process.execPath, astro];
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  const started = performance.now();
  const child = spawn(cmd, args as string[], {
    cwd: root,
    env: { ...process.env, NODE_OPTIONS: `${process.env["NODE_OPTIONS"] ?? ""} --max-old-space-size=16384`, ATLAS_DIR: resolve(opts.atlases), ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
    if (stderr.length > 1 << 20) stderr = stderr.slice(-(1 << 19));
  });
  child.stdout.on("data", () => {});
  let peakTreeRss = 0;
  const poll = setInterval(() => {
    peakTreeRss = Math.max(peakTreeRss, treeRss(child.pid!));
  }, 250);
  const code = await new Promise<number | null>((r) => child.on("close", r));
  clearInterval(poll);
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`${opts.name}: astro build exited with ${code}\n${stderr.slice(-4000)}`);
  const m = /maxrss_kb=(\d+)/.exec(stderr);
  const parts = Number(/\((\d+) process/.exec(stderr)?.[1] ?? 1);

  let files = 0, bytes = 0, featurePages = 0, featurePageBytes = 0, dataFiles = 0, dataBytes = 0;
  walk(out, (p, b) => {
    files++;
    bytes += b;
    const rel = p.slice(out.length + 1);
    if (/^[^/]+\/feature\/\d+\/index\.html$/.test(rel)) {
      featurePages++;
      featurePageBytes += b;
    } else if (/^[^/]+\/data\//.test(rel)) {
      dataFiles++;
      dataBytes += b;
    }
  });
  let features = 0;
  for (const id of readdirSync(opts.atlases)) {
    const manifest = join(opts.atlases, id, "manifest.json");
    if (existsSync(manifest)) features += (JSON.parse(readFileSync(manifest, "utf8")) as { counts: { features: number } }).counts.features;
  }
  if (!opts.keep) rmSync(out, { recursive: true, force: true });
  return { name: opts.name, seconds, parts, peakRss: m ? Number(m[1]) * 1024 : null, peakTreeRss, files, bytes, featurePages, featurePageBytes, dataFiles, dataBytes, features, load };
}

const mb = (b: number): string => `${(b / 1e6).toFixed(1)} MB`;

export function formatSiteBuild(r: SiteBuildResult): string {
  return [
    `${r.name}: ${r.features.toLocaleString("en-US")} features, ${r.parts} build process${r.parts > 1 ? "es" : ""}, load at start ${r.load}`,
    `  wall ${r.seconds.toFixed(1)} s (${(r.featurePages / r.seconds).toFixed(0)} feature pages/s); peak RSS ${r.peakRss === null ? "?" : mb(r.peakRss)} (largest process), ${mb(r.peakTreeRss)} (process tree)`,
    `  dist: ${r.files.toLocaleString("en-US")} files, ${mb(r.bytes)}; atlas data ${r.dataFiles.toLocaleString("en-US")} files, ${mb(r.dataBytes)}`,
    `  feature pages: ${r.featurePages.toLocaleString("en-US")}, ${mb(r.featurePageBytes)}, ${r.featurePages ? (r.featurePageBytes / r.featurePages / 1024).toFixed(1) : "–"} KB each`,
    `  per feature: ${(r.files / r.features).toFixed(3)} files, ${(r.bytes / r.features / 1024).toFixed(1)} KB of dist`,
  ].join("\n");
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const { values } = parseArgs({
    options: {
      atlases: { type: "string" },
      name: { type: "string" },
      env: { type: "string", multiple: true },
      keep: { type: "boolean", default: false },
      parts: { type: "string", default: "auto" },
    },
  });
  if (!values.atlases || !values.name) throw new Error("usage: site-build --atlases <folder> --name <case> [--env K=V …] [--parts <n>|auto] [--keep]");
  const env = Object.fromEntries((values.env ?? []).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
  const r = await siteBuild({ name: values.name, atlases: values.atlases, env, keep: values.keep, parts: values.parts });
  process.stdout.write(`${formatSiteBuild(r)}\n${JSON.stringify(r)}\n`);
}
