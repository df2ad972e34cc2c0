/**
 * Does a big atlas browse smoothly? A smoke test and a benchmark of a site you have built: it
 * serves the `dist/` folder as GitHub Pages does and browses one atlas in headless Chromium the
 * way a reader would, timing each step and failing (exit 1) when a step does not happen.
 *
 *   npm run bench:browse -- --site dist --atlas demo [--runs 3] [--query <text>]… [--timeout 60000]
 *
 * Why a separate bench from bench/map-load.ts: that one measures the map's first draw for atlas
 * folders through a stand-in site, because building a million feature pages takes hours. Issue 4
 * is done when the big sites themselves browse well (map, search, pages), with their page budget
 * and fallback page, so this one takes a real built site and touches every kind of page in it.
 *
 * Each run opens fresh browser contexts (empty cache) and measures:
 *   map      navigation → first points drawn (`window.__atlas.ready`), bytes until then, points drawn
 *   zoom     two wheel zooms (+1 level each) around the centre of a deepest tile: ms from the wheel
 *            event until every tile the new view needs is loaded and drawn (the tiles are predicted
 *            with the map's own selectTiles), new tiles, and points inside the zoomed view before
 *            and after. Fails if wanted tiles never arrive or no more points are drawn there.
 *            Skipped for an atlas of a single tile (nothing deeper to load).
 *   search   each query typed (one input event, as a paste) into the map page's header search: ms
 *            from that input event to the first result in the list (including the box's 120 ms
 *            debounce), bytes fetched since the box was focused (the index loads on focus), the
 *            first result. Without --query: a word of one label, and another feature's whole
 *            label, which must list that feature. Fails on "no matching" or "unavailable".
 *   page     a feature with a static page (the id nearest the middle of the atlas): ms to
 *            DOMContentLoaded and the bytes fetched by then, its heading equal to the shard's
 *            label, with JavaScript off too (first run).
 *   fallback on a page-budget site, a feature without a static file: the host answers 404.html
 *            (status 404) and the page draws the feature from its shard; ms from navigation until
 *            the heading shows the shard's label, and bytes until then (the whole shard).
 *   region   the largest coarsest region with a page: ms to DOMContentLoaded, its name as heading.
 * Console errors, page errors, warnings and failed requests are printed at the end; console and
 * page errors fail the run (except the 404 status of the fallback document itself, which is how
 * it is served). Exit status: 0 all passed, 1 a check failed, 2 bad arguments or not a site.
 *
 * Bytes are Resource Timing `transferSize` (headers + body; this server does not compress, so a
 * host that gzips sends less). Times are wall clock on a shared machine: the load average is
 * printed before and after, and a number is only worth comparing beside it. The site must be
 * built for the root path (the default `base`).
 */
import { existsSync, readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { chromium, type Browser, type BrowserContext, type Page } from "@playwright/test";
import { featureShardSchema, parseManifest, regionLevelFileSchema, shardFor, type Manifest, type Region, type TileInfo } from "../contract/atlas.ts";
import { formatBytes } from "../precompute/log.ts";
import { serveStatic } from "../scripts/serve-static.ts";
import { featureName } from "../src/lib/format.ts";
import { selectTiles } from "../src/client/tile-selection.ts";
import {
  pickFeatures,
  pixelsPerUnit,
  rowsOf,
  shrinkRect,
  spread,
  staticFeatureIds,
  toScreen,
  viewRect,
  wheelScale,
  zoomAround,
  zoomTargets,
  type View,
} from "./browse-plan.ts";

const USAGE = "usage: npx tsx bench/browse.ts --site <dist dir> --atlas <atlas id> [--runs 3] [--query <text>]… [--timeout ms] [--width 1280] [--height 720]";
const { values } = parseArgs({
  options: {
    site: { type: "string" },
    atlas: { type: "string" },
    runs: { type: "string", default: "3" },
    query: { type: "string", multiple: true },
    timeout: { type: "string", default: "60000" },
    width: { type: "string", default: "1280" },
    height: { type: "string", default: "720" },
  },
});
function die(message: string): never {
  process.stderr.write(`browse: ${message}\n`);
  process.exit(2);
}
if (!values.site || !values.atlas) die(`--site and --atlas are required\n${USAGE}`);
const runs = Number(values.runs);
const timeout = Number(values.timeout);
const viewport = { width: Number(values.width), height: Number(values.height) };
if (!Number.isInteger(runs) || runs < 1) die(`--runs must be a positive integer, got ${values.runs}`);
if (!(timeout > 0)) die(`--timeout must be a positive number of ms, got ${values.timeout}`);
const site = resolve(values.site);
const atlas = values.atlas;
const dataDir = join(site, atlas, "data");
const manifestFile = join(dataDir, "manifest.json");
if (!existsSync(join(site, "404.html"))) die(`${site} has no 404.html: is it a built site (astro build's dist/)?`);
if (!existsSync(manifestFile)) die(`${manifestFile} does not exist: --atlas must be an atlas id of that site`);

// ---- what to browse, from the site's own files ----

const manifest: Manifest = parseManifest(JSON.parse(readFileSync(manifestFile, "utf8")), manifestFile);
const count = manifest.counts.features;
const tileInfos = new Map<string, TileInfo>(manifest.tiles.map((t) => [t.key, t]));
const shards = new Map<string, ReturnType<typeof featureShardSchema.parse>>();
function label(id: number): string | null {
  const info = shardFor(manifest, id);
  if (!info) die(`${manifestFile}: no shard holds feature ${id}`);
  let shard = shards.get(info.path);
  if (!shard) {
    const file = join(dataDir, info.path);
    shard = featureShardSchema.parse(JSON.parse(readFileSync(file, "utf8")));
    shards.set(info.path, shard);
  }
  const f = shard.features[id - shard.first];
  if (!f || f.id !== id) die(`${join(dataDir, info.path)}: feature ${id} is not at its place in the shard`);
  return f.label;
}

const withPages = staticFeatureIds(site, atlas);
const picked = pickFeatures(count, withPages);
const staticId = picked.withPage !== null && existsSync(join(site, atlas, "feature", String(picked.withPage), "index.html")) ? picked.withPage : null;
const fallbackId = picked.withoutPage;

let region: Region | null = null;
let regionPages = 0;
if (manifest.regions) {
  const file = join(dataDir, manifest.regions.levels[0]!.path);
  const level = regionLevelFileSchema.parse(JSON.parse(readFileSync(file, "utf8")));
  const withPage = level.regions.filter((r) => existsSync(join(site, atlas, "region", r.slug, "index.html")));
  regionPages = withPage.length;
  region = withPage.sort((a, b) => b.members - a.members || a.index - b.index)[0] ?? null;
}

interface Query {
  text: string;
  /** A feature the results must list. */
  expect: number | null;
}
const queries: Query[] = (values.query ?? []).map((text) => ({ text, expect: null }));
if (queries.length === 0) {
  // A single word, then a whole label: the cheap and the precise way readers search.
  const a = staticId ?? Math.floor(count / 3);
  const b = fallbackId ?? Math.min(count - 1, a + 1);
  const word = label(a)
    ?.split(/\s+/)
    .find((w) => /^\p{L}{3,}$/u.test(w));
  if (word) queries.push({ text: word, expect: null });
  const whole = label(b);
  if (whole) queries.push({ text: whole, expect: b });
  if (queries.length === 0) process.stderr.write(`browse: features ${a} and ${b} have no labels and no --query was given: search is not measured\n`);
}

// ---- the page side: a string, because tsx would wrap inner function names in a helper (`__name`) the page does not have ----

const INSTRUMENT = `(() => {
  performance.setResourceTimingBufferSize(1000000);
  const bench = (window.__bench = { wheel: null, firstDraw: null, search: null });
  addEventListener("wheel", (e) => { bench.wheel = e.timeStamp; }, { capture: true, passive: true });
  let api;
  Object.defineProperty(window, "__atlas", {
    configurable: true,
    get: () => api,
    set: (value) => {
      api = value;
      value.ready.then(() => { bench.firstDraw = { t: performance.now(), drawn: value.drawnCount() }; });
    },
  });
  // Bytes of the document and resources that started at or after \`from\` and ended by \`to\` (ms since navigation).
  bench.bytes = (from, to) => {
    let bytes = 0, requests = 0;
    const kinds = {};
    for (const e of [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")]) {
      if (e.startTime < from || e.responseEnd > to) continue;
      bytes += e.transferSize;
      requests++;
      const path = new URL(e.name).pathname;
      const kind = path.includes("/data/tiles/") ? "tiles" : path.includes("/data/features/") ? "shards" : path.includes("/data/search/") ? "search"
        : path.includes("/data/") || path.endsWith("regions.json") ? "other data" : path.endsWith(".js") ? "js" : path.endsWith(".css") ? "css"
        : /[.](woff2?|ttf)$/.test(path) ? "fonts" : "html, other";
      kinds[kind] = (kinds[kind] || 0) + e.transferSize;
    }
    return { bytes, requests, kinds };
  };
  // Watch the header search's list until it shows a result (or a status line instead).
  bench.watchSearch = () => {
    const input = document.querySelector('[data-search] input[role="combobox"]');
    const list = document.getElementById(input.getAttribute("aria-controls"));
    const s = (bench.search = { t0: null, t1: null, first: null, ids: [], count: 0, status: null });
    input.addEventListener("input", (e) => { if (s.t0 === null) s.t0 = e.timeStamp; }, { once: true });
    const observer = new MutationObserver(() => {
      if (s.t1 !== null || list.hidden) return;
      const options = [...list.querySelectorAll("li[role=option][data-index]")];
      const status = list.querySelector("li.result-status");
      if (options.length === 0 && !status) return;
      s.t1 = performance.now();
      observer.disconnect();
      if (options.length === 0) { s.status = status.textContent; return; }
      const o = options[0];
      const describe = (x) => ({ label: x.querySelector(".result-label")?.textContent ?? "", id: x.dataset.id ? Number(x.dataset.id) : null, region: x.dataset.region ?? null });
      s.first = describe(o);
      const features = options.filter((x) => x.dataset.id);
      s.firstFeature = features.length > 0 ? describe(features[0]) : null;
      s.ids = features.map((x) => Number(x.dataset.id));
      s.count = options.length;
    });
    observer.observe(list, { childList: true, subtree: true, attributes: true, attributeFilter: ["hidden"] });
  };
})();`;

interface Bytes {
  bytes: number;
  requests: number;
  /** Bytes by kind of file: tiles, shards, search, other data, js, css, fonts, html. */
  kinds: Record<string, number>;
}
const kinds = (b: Bytes): string =>
  Object.entries(b.kinds)
    .filter(([, n]) => n > 0)
    .sort((x, y) => y[1] - x[1])
    .map(([k, n]) => `${k} ${formatBytes(n)}`)
    .join(", ");
/** One measured step of one run: a time, the bytes it fetched, and a line of detail. */
interface Measure {
  ms: number;
  bytes: number;
  requests: number;
  detail: string;
}
type Steps = Map<string, Measure>;

const failures: string[] = [];
const errors: string[] = [];
const warnings: string[] = [];

class CheckFailed extends Error {}
function check(ok: boolean, message: string): asserts ok {
  if (!ok) throw new CheckFailed(message);
}

const evaluate = <T>(page: Page, expression: string): Promise<T> => page.evaluate(expression) as Promise<T>;
/** Wait until `expression` is truthy in the page (checked every frame) and return its value. */
async function until<T>(page: Page, expression: string, what: string): Promise<T> {
  try {
    const handle = await page.waitForFunction(expression, undefined, { timeout, polling: "raf" });
    return (await handle.jsonValue()) as T;
  } catch (error) {
    throw new CheckFailed(`${what} (${(error as Error).message.split("\n")[0]})`);
  }
}

async function newContext(browser: Browser, step: string, javaScriptEnabled = true): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport, javaScriptEnabled });
  await context.addInitScript({ content: INSTRUMENT });
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(`${step}: page error: ${e.message}`));
  page.on("console", (m) => {
    const text = `${step}: console.${m.type()}: ${m.text()}`;
    // The fallback document itself comes with status 404: that is how a static host serves it.
    if (m.type() === "error" && /status of 404/.test(m.text()) && m.location().url === page.url() && step.startsWith("fallback")) return;
    if (m.type() === "error") errors.push(text);
    else if (m.type() === "warning") warnings.push(text);
  });
  page.on("requestfailed", (r) => warnings.push(`${step}: request failed: ${r.url()} (${r.failure()?.errorText ?? "?"})`));
  return { context, page };
}

const origin = { url: "" };

type Attempt = (what: string, f: () => Promise<void>) => Promise<void>;

/** The map page: first draw, two zooms, then every search query (each failing on its own). */
async function mapPage(browser: Browser, run: number, steps: Steps, attempt: Attempt): Promise<void> {
  const { context, page } = await newContext(browser, `run ${run} map`);
  try {
    await page.goto(`${origin.url}/${atlas}/`, { waitUntil: "commit" });
    const first = await until<{ t: number; drawn: number }>(
      page,
      `(() => { if (document.querySelector("[data-map-status].error")) throw new Error("the map reported: " + document.querySelector("[data-map-status]").textContent.trim()); return window.__bench.firstDraw; })()`,
      "no points drawn on the map",
    );
    check(first.drawn > 0, "the map's first frame has no points");
    const b = await evaluate<Bytes>(page, `window.__bench.bytes(0, ${first.t})`);
    steps.set("map: first points drawn", { ms: first.t, ...b, detail: `${first.drawn.toLocaleString("en-US")} points; ${b.requests} requests: ${kinds(b)}` });

    const targets = zoomTargets(manifest.tiles, manifest.bounds);
    if (targets.length > 0) await attempt("zoom", () => zoom(page, targets, steps));
    for (const [i, q] of queries.entries()) await attempt(`search ${JSON.stringify(q.text)}`, () => search(page, q, i, steps));
  } finally {
    await context.close();
  }
}

const WHEEL_DELTA = 1000;

async function zoom(page: Page, targets: [number, number][], steps: Steps): Promise<void> {
  const box = await page.locator("[data-map]").boundingBox();
  check(box !== null, "the map element has no box");
  let v = await evaluate<View>(page, "window.__atlas.viewState()");
  // The first target whose point is on the map itself, not under the legend or the zoom buttons.
  let target: [number, number] | null = null;
  for (const p of targets) {
    const s = toScreen(v, p);
    const onMap = await evaluate<boolean>(page, `(() => { const el = document.elementFromPoint(${box.x + s.x}, ${box.y + s.y}); return !!el && el.tagName === "CANVAS" && !!el.closest("[data-map]"); })()`);
    if (onMap) {
      target = p;
      break;
    }
  }
  check(target !== null, "no deepest tile's centre is on the visible map to zoom around");
  const scale = wheelScale(WHEEL_DELTA);
  for (const n of [1, 2]) {
    const name = `zoom ${n}: +1 level`;
    const predicted = zoomAround(v, target, scale);
    // Points inside the zoomed view (a little inside its edges), before and after.
    const rect = shrinkRect(viewRect(predicted), 0.02);
    const beforeTiles = await evaluate<string[]>(page, "window.__atlas.loadedTiles()");
    const beforeIn = await evaluate<number>(page, `window.__atlas.drawnCount(${JSON.stringify(rect)})`);
    const s = toScreen(v, target);
    await page.mouse.move(box.x + s.x, box.y + s.y);
    await evaluate(page, "window.__bench.wheel = null");
    await page.mouse.wheel(0, -WHEEL_DELTA);
    const zoomed = v.zoom + 0.5;
    await until(page, `window.__bench.wheel !== null && window.__atlas.viewState().zoom > ${zoomed}`, `${name}: the map did not zoom in on a wheel event`);
    const after = await evaluate<View>(page, "window.__atlas.viewState()");
    const off = Math.hypot(after.x - predicted.x, after.y - predicted.y) * pixelsPerUnit(after.zoom);
    check(
      Math.abs(after.zoom - predicted.zoom) < 0.01 && off < 2,
      `${name}: the wheel zoomed to ${after.zoom.toFixed(3)} at (${after.x.toFixed(4)}, ${after.y.toFixed(4)}), not to ${predicted.zoom.toFixed(3)} at (${predicted.x.toFixed(4)}, ${predicted.y.toFixed(4)}) as predicted (browse-plan.ts mirrors map.ts)`,
    );
    const wanted = selectTiles(tileInfos, viewRect(after), pixelsPerUnit(after.zoom));
    const expected = rowsOf(tileInfos, wanted);
    const fresh = wanted.filter((k) => !beforeTiles.includes(k));
    const done = await until<{ t: number; wheel: number }>(
      page,
      `(() => { const a = window.__atlas; const loaded = new Set(a.loadedTiles()); return ${JSON.stringify(wanted)}.every((k) => loaded.has(k)) && a.drawnCount() === ${expected} && { t: performance.now(), wheel: window.__bench.wheel }; })()`,
      `${name}: the tiles of the zoomed view (${wanted.join(", ")}; ${expected} points) were not all loaded and drawn`,
    );
    const afterTiles = await evaluate<string[]>(page, "window.__atlas.loadedTiles()");
    const afterIn = await evaluate<number>(page, `window.__atlas.drawnCount(${JSON.stringify(rect)})`);
    const newTiles = afterTiles.filter((k) => !beforeTiles.includes(k)).length;
    const b = await evaluate<Bytes>(page, `window.__bench.bytes(${done.wheel}, ${done.t})`);
    if (fresh.length > 0) {
      check(newTiles > 0, `${name}: the view needs ${fresh.length} new tiles (${fresh.join(", ")}) but none was loaded`);
      check(afterIn > beforeIn, `${name}: ${afterIn} points drawn in the zoomed view after, ${beforeIn} before: zooming in showed no more points`);
    }
    const detail = fresh.length > 0 ? `${newTiles} new tiles (${b.requests} requests), points in view ${beforeIn.toLocaleString("en-US")} → ${afterIn.toLocaleString("en-US")}, zoom ${after.zoom.toFixed(2)}` : "no deeper tiles here";
    steps.set(name, { ms: done.t - done.wheel, ...b, detail });
    v = after;
  }
}

async function search(page: Page, q: Query, i: number, steps: Steps): Promise<void> {
  const name = `search ${JSON.stringify(q.text.length > 40 ? `${q.text.slice(0, 39)}…` : q.text)}`;
  const input = page.locator('[data-search] input[role="combobox"]').first();
  await input.fill("");
  const focused = await evaluate<number>(page, "performance.now()");
  await input.focus();
  await evaluate(page, "window.__bench.watchSearch()");
  await input.fill(q.text);
  type Shown = { label: string; id: number | null; region: string | null };
  const s = await until<{ t0: number; t1: number; first: Shown | null; firstFeature: Shown | null; ids: number[]; count: number; status: string | null }>(
    page,
    "window.__bench.search.t1 !== null && window.__bench.search",
    `${name}: no result and no status shown`,
  );
  check(s.first !== null, `${name}: the search box says "${s.status ?? ""}"`);
  if (q.expect !== null) check(s.ids.includes(q.expect), `${name}: feature ${q.expect} is not among the ${s.count} results (${s.ids.join(", ")})`);
  const b = await evaluate<Bytes>(page, `window.__bench.bytes(${focused}, ${s.t1})`);
  const feature = (f: Shown): string => `"${f.label}" #${f.id}`;
  let first = s.first.region ? `region "${s.first.label}"` : feature(s.first);
  if (s.first.region) first += s.firstFeature ? `; first feature ${feature(s.firstFeature)}` : "; no feature";
  const regions = s.count - s.ids.length;
  steps.set(`${String(i + 1).padStart(2)}. ${name}`, {
    ms: s.t1 - s.t0,
    ...b,
    detail: `${s.count} result${s.count === 1 ? "" : "s"}${regions ? ` (${regions} regions)` : ""}, first ${first}${q.expect !== null ? `; #${q.expect} listed` : ""}; ${kinds(b)}`,
  });
}

/** A static page in a fresh context: time to DOMContentLoaded, and its heading. */
async function staticPage(browser: Browser, run: number, name: string, path: string, heading: string, steps: Steps): Promise<void> {
  const { context, page } = await newContext(browser, `run ${run} ${name}`);
  try {
    const res = await page.goto(`${origin.url}${path}`, { waitUntil: "domcontentloaded" });
    check(res?.status() === 200, `${name}: ${path} answered ${res?.status()}, not 200`);
    const t = await evaluate<number>(page, `performance.getEntriesByType("navigation")[0].domContentLoadedEventEnd`);
    const h1 = (await page.locator("h1").first().textContent())?.trim();
    check(h1 === heading, `${name}: ${path} has the heading "${h1}", not "${heading}"`);
    const b = await evaluate<Bytes>(page, `window.__bench.bytes(0, ${t})`);
    steps.set(name, { ms: t, ...b, detail: `${path}; ${b.requests} requests by then: ${kinds(b)}` });
  } finally {
    await context.close();
  }
  if (run === 1) {
    const { context: noJs, page: p } = await newContext(browser, `run ${run} ${name} (no JS)`, false);
    try {
      await p.goto(`${origin.url}${path}`, { waitUntil: "domcontentloaded" });
      const h1 = (await p.locator("h1").first().textContent())?.trim();
      check(h1 === heading, `${name}: without JavaScript ${path} has the heading "${h1}", not "${heading}"`);
    } finally {
      await noJs.close();
    }
  }
}

async function fallbackPage(browser: Browser, run: number, id: number, heading: string, steps: Steps): Promise<void> {
  const name = "fallback feature page";
  const path = `/${atlas}/feature/${id}/`;
  const { context, page } = await newContext(browser, `fallback run ${run}`);
  try {
    const res = await page.goto(`${origin.url}${path}`, { waitUntil: "commit" });
    check(res?.status() === 404, `${name}: ${path} answered ${res?.status()}; a feature without a static file should get 404.html`);
    const t = await until<number>(
      page,
      `(() => { const h = document.querySelector("article[data-fallback] h1"); return !!h && h.textContent.trim() === ${JSON.stringify(heading)} && performance.now(); })()`,
      `${name}: ${path} never showed "${heading}"`,
    ).catch(async (error: unknown) => {
      const says = await page
        .locator("[data-not-found-message], article[data-fallback] h1")
        .first()
        .textContent({ timeout: 1000 })
        .catch(() => null);
      throw new CheckFailed(`${(error as Error).message}; the page says "${says?.trim() ?? "?"}"`);
    });
    const b = await evaluate<Bytes>(page, `window.__bench.bytes(0, ${t})`);
    steps.set(name, { ms: t, ...b, detail: `${path} (404.html, drawn from the shard); ${b.requests} requests: ${kinds(b)}` });
  } finally {
    await context.close();
  }
}

async function oneRun(browser: Browser, run: number): Promise<Steps> {
  const steps: Steps = new Map();
  const attempt: Attempt = async (what, f) => {
    try {
      await f();
    } catch (error) {
      // A broken step (a Playwright error, not only a failed check) is reported and the run goes on.
      const message = error instanceof CheckFailed ? error.message : `${what}: ${(error as Error).stack ?? String(error)}`;
      failures.push(`run ${run}: ${message}`);
      process.stderr.write(`  run ${run}: FAILED ${what}: ${message}\n`);
    }
  };
  await attempt("map", () => mapPage(browser, run, steps, attempt));
  if (staticId !== null) await attempt("feature page", () => staticPage(browser, run, "static feature page", `/${atlas}/feature/${staticId}/`, featureName(staticId, label(staticId)), steps));
  if (fallbackId !== null) await attempt("fallback page", () => fallbackPage(browser, run, fallbackId, featureName(fallbackId, label(fallbackId)), steps));
  const r = region;
  if (r) await attempt("region page", () => staticPage(browser, run, "region page", `/${atlas}/region/${r.slug}/`, r.name, steps));
  return steps;
}

// ---- run ----

const load = (): string => loadavg().map((l) => l.toFixed(2)).join(" ");
const loadBefore = load();
const server = await serveStatic(site, 0);
origin.url = server.url;
const browser = await chromium.launch({
  executablePath: process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});

const pageNote =
  fallbackId === null
    ? "every feature has a static page (PAGES=all): no fallback page to check"
    : `${withPages.size.toLocaleString("en-US")} of ${count.toLocaleString("en-US")} features have static pages (page budget): static #${staticId ?? "none"}, fallback #${fallbackId}`;
process.stdout.write(
  `browse ${atlas}: ${count.toLocaleString("en-US")} features, ${manifest.tiles.length} tiles, ${manifest.shards.length} shards, ` +
    `${manifest.regions ? `${manifest.regions.levels.length} region levels (${regionPages} coarsest with pages)` : "no regions"}\n` +
    `  site ${site}, served as GitHub Pages does (404.html for missing paths) at ${server.url}\n` +
    `  ${pageNote}\n` +
    `  Chromium ${browser.version()}, viewport ${viewport.width}×${viewport.height}, ${runs} run${runs === 1 ? "" : "s"}, load average ${loadBefore}\n`,
);
if (manifest.tiles.length < 2) process.stdout.write("  the atlas is a single tile: zooming has nothing deeper to load, not measured\n");
if (staticId === null) process.stdout.write("  no feature has a static page: static page not measured\n");
if (manifest.regions && !region) process.stdout.write("  no region of the coarsest level has a page: region page not measured\n");

const all: Steps[] = [];
try {
  for (let run = 1; run <= runs; run++) {
    process.stderr.write(`run ${run}/${runs} …\n`);
    all.push(await oneRun(browser, run));
  }
} finally {
  await browser.close();
  await server.close();
}

// ---- report ----

const names: string[] = [];
for (const steps of all) for (const name of steps.keys()) if (!names.includes(name)) names.push(name);
const ms = (x: number): string => `${x.toFixed(0)}`;
const rows = names.map((name) => {
  const got = all.map((s) => s.get(name)).filter((m): m is Measure => m !== undefined);
  const t = spread(got.map((m) => m.ms));
  const b = spread(got.map((m) => m.bytes));
  return [name, `${ms(t.median)} ms`, got.length > 1 ? `${ms(t.min)}–${ms(t.max)}` : "", formatBytes(b.median), `${got.at(-1)!.detail}${got.length < all.length ? ` (${got.length} of ${all.length} runs)` : ""}`];
});
const header = ["step", "median", "range", "bytes", "detail"];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]): string => `  ${r.map((c, i) => (i === 4 ? c : i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")}\n`;
process.stdout.write(line(header) + rows.map(line).join(""));
process.stdout.write(`  load average ${loadBefore} before, ${load()} after\n`);
const listed = (title: string, xs: string[]): void => {
  const unique = [...new Set(xs)];
  if (unique.length) process.stdout.write(`${title} (${xs.length}${unique.length < xs.length ? `, ${unique.length} distinct` : ""}):\n${unique.map((x) => `  ${x}\n`).join("")}`);
};
listed("warnings", warnings);
listed("console and page errors", errors);
if (failures.length) process.stdout.write(`FAILED (${failures.length}):\n${failures.map((f) => `  ${f}\n`).join("")}`);
if (failures.length || errors.length) {
  process.stdout.write(`browse ${atlas}: not smooth — ${failures.length} failed checks, ${errors.length} console/page errors\n`);
  process.exit(1);
}
process.stdout.write(`browse ${atlas}: every check passed\n`);
