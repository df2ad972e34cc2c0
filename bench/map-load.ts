/**
 * `npm run bench:map`: how fast the map of an atlas shows its first points, and how many bytes
 * the browser fetched until then. Opens the map in headless Chromium (/usr/bin/chromium, or
 * CHROMIUM_PATH) on localhost, a fresh browser context (empty cache) per run.
 *
 *   npm run bench:map -- <atlas dir> [<atlas dir> …] [--runs 5]
 *   npm run bench:map -- --site dist <atlas id> …   a site you built yourself, served as it is
 *
 * The map page depends on an atlas only through its id, title and feature count; everything else
 * it fetches at run time from `/<id>/data/`. A site with a page per feature takes hours to build at
 * 1M features, so by default the bench builds the site once for a tiny stand-in atlas (cached in
 * bench/out/map-site/) and serves each measured atlas's folder as that stand-in's `/<id>/data/`,
 * as `astro dev` serves atlas folders. So the HTML, scripts and styles are the site's own, and the
 * manifest, tiles and regions are the measured atlas's, byte for byte.
 *
 * "First points drawn" is when the map's `ready` promise resolves (the first frame with a tile in
 * it), in ms since navigation start. Bytes are Resource Timing `transferSize` (headers + body as
 * sent; the local server does not compress) of the page and of every resource whose response ended
 * before that moment. Targets (issue 4, at 1M features): ≤ 1.5 s and ≤ 3 MB.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "@playwright/test";
import sirv from "sirv";
import { buildAtlas } from "../precompute/build.ts";
import { formatBytes } from "../precompute/log.ts";
import { syntheticDictionary, writeSaeLensFolder } from "../scripts/synthetic-dictionary.ts";
import { astroBuild } from "../scripts/astro-build.ts";

const root = resolve(import.meta.dirname, "..");
const STAND_IN = "map-bench";
const TARGET_MS = 1500;
const TARGET_BYTES = 3_000_000; // decimal MB, the stricter reading

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: "string", default: "3" },
    site: { type: "string" },
    rebuild: { type: "boolean", default: false },
    width: { type: "string", default: "1280" },
    height: { type: "string", default: "720" },
  },
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got ${values.runs}`);
if (positionals.length === 0) throw new Error("usage: npm run bench:map -- <atlas dir> [<atlas dir> …] [--runs n] [--site dist]");

/** Build (once) the site for a tiny stand-in atlas; returns its dist folder. */
async function standInSite(): Promise<string> {
  const work = join(root, "bench", "out", "map-site");
  const dist = join(work, "dist");
  if (existsSync(join(dist, STAND_IN, "index.html")) && !values.rebuild) return dist;
  rmSync(work, { recursive: true, force: true });
  const dict = join(work, "dictionary");
  writeSaeLensFolder(dict, syntheticDictionary({ n: 64, d: 16, seed: 1 }));
  await buildAtlas({ dictionary: dict, out: join(work, "atlases", STAND_IN), id: STAND_IN, title: "Map benchmark stand-in", quiet: true, cache: false });
  process.stderr.write("building the site for the stand-in atlas …\n");
  await astroBuild({ outDir: dist, env: { ...process.env, ATLAS_DIR: join(work, "atlases") }, inherit: false });
  return dist;
}

interface Case {
  /** Page path, e.g. `/map-bench/`. */
  path: string;
  name: string;
  /** Atlas folder served as the stand-in's data, or null to serve the site as it is. */
  dataDir: string | null;
  manifest: { counts: { features: number }; tiles: { rows: number }[] };
  manifestBytes: number;
}

const site = values.site ? resolve(values.site) : await standInSite();
const cases: Case[] = positionals.map((arg) => {
  if (values.site) {
    const file = join(site, arg, "data", "manifest.json");
    if (!existsSync(file)) throw new Error(`${file} does not exist: with --site, name atlas ids of that site`);
    const text = readFileSync(file);
    return { path: `/${arg}/`, name: arg, dataDir: null, manifest: JSON.parse(text.toString("utf8")), manifestBytes: text.length };
  }
  const dir = resolve(arg);
  const file = join(dir, "manifest.json");
  if (!existsSync(file)) throw new Error(`${file} does not exist: name atlas folders (the ones holding manifest.json)`);
  const text = readFileSync(file);
  const manifest = JSON.parse(text.toString("utf8")) as Case["manifest"] & { id: string };
  return { path: `/${STAND_IN}/`, name: manifest.id, dataDir: dir, manifest, manifestBytes: text.length };
});

let current: Case | null = null;
const serveSite = sirv(site, { dev: true, etag: false, extensions: ["html"] });
const serveData = new Map<string, ReturnType<typeof sirv>>();
const server = createServer((req, res) => {
  const notFound = (): void => {
    res.statusCode = 404;
    res.end("not found");
  };
  const match = /^\/([a-z0-9-]+)\/data(\/.*)$/.exec(req.url ?? "");
  if (current?.dataDir && match && match[1] === STAND_IN) {
    let serve = serveData.get(current.dataDir);
    if (!serve) serveData.set(current.dataDir, (serve = sirv(current.dataDir, { dev: true, etag: false })));
    req.url = match[2]!;
    return serve(req, res, notFound);
  }
  serveSite(req, res, notFound);
});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const browser = await chromium.launch({
  executablePath: process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});

interface Run {
  firstDrawMs: number;
  bytes: number;
  requests: number;
  byKind: Record<string, number>;
  drawn: number;
}

/**
 * In the page, before any script: when the map's `ready` resolves, note the time and the bytes so
 * far. A string, not a function, because tsx would wrap a function's inner names in a helper
 * (`__name`) that the page does not have.
 */
const INSTRUMENT = `(() => {
  let api;
  Object.defineProperty(window, "__atlas", {
    configurable: true,
    get: () => api,
    set: (value) => {
      api = value;
      value.ready.then(() => {
        const t = performance.now();
        const nav = performance.getEntriesByType("navigation")[0];
        const resources = performance.getEntriesByType("resource").filter((e) => e.responseEnd <= t);
        window.__firstDraw = {
          t,
          drawn: value.drawnCount(),
          entries: [{ name: nav.name, bytes: nav.transferSize }, ...resources.map((e) => ({ name: e.name, bytes: e.transferSize }))],
        };
      });
    },
  });
})();`;

function kind(url: string): string {
  const path = new URL(url).pathname;
  if (/\/data\/manifest\.json$/.test(path)) return "manifest";
  if (/\/data\/tiles\//.test(path)) return "tiles";
  if (/\/data\/regions\//.test(path)) return "regions";
  if (/\/data\//.test(path)) return "other data";
  if (/\.js$/.test(path)) return "js";
  if (/\.css$/.test(path)) return "css";
  if (/\.(woff2?|ttf)$/.test(path)) return "fonts";
  return path.endsWith("/") ? "html" : "other";
}

async function measure(c: Case): Promise<Run> {
  const context = await browser.newContext({ viewport: { width: Number(values.width), height: Number(values.height) } });
  await context.addInitScript({ content: INSTRUMENT });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  await page.goto(`${origin}${c.path}`, { waitUntil: "commit" });
  const handle = await page
    .waitForFunction(
      () => {
        if (document.querySelector("[data-map-status].error")) throw new Error("the map reported an error");
        return (window as unknown as { __firstDraw?: unknown }).__firstDraw;
      },
      undefined,
      { timeout: 120_000 },
    )
    .catch(async (error: unknown) => {
      const status = await page.locator("[data-map-status]").textContent().catch(() => "");
      throw new Error(`${c.name}: no points drawn (${(error as Error).message}); map status "${status?.trim()}"; errors: ${errors.join("; ") || "none"}`);
    });
  const first = (await handle.jsonValue()) as { t: number; drawn: number; entries: { name: string; bytes: number }[] };
  await context.close();
  if (errors.length) throw new Error(`${c.name}: page errors: ${errors.join("; ")}`);
  const byKind: Record<string, number> = {};
  for (const e of first.entries) byKind[kind(e.name)] = (byKind[kind(e.name)] ?? 0) + e.bytes;
  return { firstDrawMs: first.t, bytes: first.entries.reduce((a, e) => a + e.bytes, 0), requests: first.entries.length, byKind, drawn: first.drawn };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

process.stdout.write(`load average ${loadavg().map((l) => l.toFixed(2)).join(" ")} (${runs} runs per atlas, viewport ${values.width}×${values.height})\n`);
try {
  for (const c of cases) {
    current = c;
    const results: Run[] = [];
    for (let i = 0; i < runs; i++) results.push(await measure(c));
    const ms = results.map((r) => r.firstDrawMs);
    const bytes = results.map((r) => r.bytes);
    const last = results.at(-1)!;
    const kinds = Object.entries(last.byKind)
      .sort((a, b) => b[1] - a[1])
      .map(([k, b]) => `${k} ${formatBytes(b)}`)
      .join(", ");
    const okMs = median(ms) <= TARGET_MS ? "ok" : "OVER";
    const okBytes = median(bytes) <= TARGET_BYTES ? "ok" : "OVER";
    process.stdout.write(
      `${c.name}: ${c.manifest.counts.features.toLocaleString("en-US")} features, ${c.manifest.tiles.length} tiles (root ${c.manifest.tiles[0]!.rows} rows), manifest ${formatBytes(c.manifestBytes)}\n` +
        `  first points drawn  ${median(ms).toFixed(0)} ms median (${ms.map((m) => m.toFixed(0)).join(", ")})   target ≤ ${TARGET_MS} ms: ${okMs}\n` +
        `  bytes before draw   ${formatBytes(median(bytes))} median in ${last.requests} requests (${kinds})   target ≤ ${(TARGET_BYTES / 1e6).toFixed(0)} MB (10^6 B): ${okBytes}\n` +
        `  points in the first frame ${last.drawn.toLocaleString("en-US")}\n`,
    );
  }
} finally {
  await browser.close();
  await new Promise((r) => server.close(r));
}
process.stdout.write(`load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}\n`);
