/**
 * Builds once for the whole e2e run: the atlases of the repository's site config
 * (`atlas.config.json`: the demo and its siblings, built as `npm run demo` builds them) and a small gpt2-small atlas (real SAEDashboard evidence, synthetic geometry: see
 * scripts/gpt2-fixture-atlas.ts) into a temporary folder, then the site with `astroBuild` (scripts/astro-build.ts, two processes), then serves it on port 0.
 * The URL reaches the tests through E2E_BASE_URL, which Playwright passes on to its workers.
 *
 * A second, small site is built from the gpt2 and hostile atlases with a page budget (PAGES=budget,
 * a list of three features, PAGE_FALLBACK=rewrite), and served twice: as GitHub Pages serves
 * (404.html for missing paths, E2E_BUDGET_URL) and as Netlify does (its `_redirects` rewrites,
 * E2E_BUDGET_REWRITE_URL). Its pages are lean (LEAN_PAGES_ABOVE=0), as a 1M atlas's would be.
 * It adds one `astro build` of ~130 pages to the setup (99 s measured at load average 29).
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { astroBuild } from "../../scripts/astro-build.ts";
import { buildAtlas } from "../../precompute/build.ts";
import { buildSite } from "../../precompute/site.ts";
import { serveStatic } from "../../scripts/serve-static.ts";
import { HOSTILE_DESCRIPTION, HOSTILE_ID } from "../../scripts/make-hostile-dictionary.ts";
import { buildGpt2FixtureAtlas, GPT2_FIXTURE_ID, GPT2_RENAMED_REGION } from "../../scripts/gpt2-fixture-atlas.ts";
import { readPreviousRegions } from "../../precompute/regions/files.ts";
import { writeMergedDictionary } from "../../scripts/merged-dictionary.ts";
import { buildSplits } from "../../precompute/splits/build-splits.ts";
import { SPLITS_DIR } from "../../contract/splits.ts";
import { syntheticDictionary, writeSaeLensFolder } from "../../scripts/synthetic-dictionary.ts";
import { TILED_CAPACITY, TILED_FEATURES, TILED_ID } from "./tiled-atlas.ts";
import { BUDGET_FILES, BUDGET_PAGE_LIST } from "./budget-site.ts";

const root = resolve(import.meta.dirname, "..", "..");

export default async function globalSetup(): Promise<() => Promise<void>> {
  const work = mkdtempSync(join(tmpdir(), "atlas-e2e-"));
  const atlases = join(work, "atlases");
  const dist = join(work, "dist");
  const started = performance.now();
  const site = await buildSite(join(root, "atlas.config.json"), { out: atlases, quiet: true });
  // Feature splitting (splits.spec.ts) needs two widths of one dictionary. buildSite's post-build
  // step matches the config's own pairs; while the config has one width only, a cheap narrower
  // sibling of the demo (its rows merged by k-means, scripts/merged-dictionary.ts) stands in.
  const splitsDir = join(atlases, SPLITS_DIR);
  if (!existsSync(splitsDir) || readdirSync(splitsDir).length === 0) {
    const merged = join(work, "demo-1k");
    writeMergedDictionary(join(root, "data", "demo"), merged, 1024);
    await buildAtlas({ dictionary: merged, out: join(atlases, "demo-1k"), id: "demo-1k", title: "GloVe demo, merged to 1,024 (e2e)", quiet: true });
    buildSplits({ a: { atlas: join(atlases, "demo-1k"), dictionary: merged }, b: { atlas: join(atlases, "demo"), dictionary: join(root, "data", "demo") }, root: atlases });
  }
  process.env.E2E_SPLITS_PAIR = readdirSync(splitsDir).sort()[0];
  const gpt2 = join(atlases, GPT2_FIXTURE_ID);
  await buildGpt2FixtureAtlas(gpt2, { quiet: true, root });
  // Built again over itself with one continent renamed by hand to a new slug, so the old slug has
  // a redirect page (redirects.spec.ts). The cache beside the atlas holds the graph and layout, so
  // this adds about 2.5 s (measured at load average 21).
  const renameStart = performance.now();
  const renamed = readPreviousRegions(gpt2).find((r) => r.level === 0)!;
  await buildGpt2FixtureAtlas(gpt2, {
    quiet: true,
    root,
    names: { version: 1, regions: [{ name: GPT2_RENAMED_REGION.name, slug: GPT2_RENAMED_REGION.slug, level: 0, members: Array.from(renamed.members) }] },
  });
  const renameSeconds = (performance.now() - renameStart) / 1000;
  // Hostile labels, tokens and region names (data/hostile, see scripts/make-hostile-dictionary.ts).
  await buildAtlas({
    dictionary: join(root, "data", "hostile"),
    out: join(atlases, HOSTILE_ID),
    id: HOSTILE_ID,
    description: HOSTILE_DESCRIPTION,
    quiet: true,
  });
  // A quadtree several levels deep, for the tiled-loading spec: a small synthetic dictionary with
  // a tiny tile capacity (the demo fits in one tile). Small, so its pages cost little to build.
  const tiledStart = performance.now();
  const tiledDict = join(work, "tiled-dictionary");
  writeSaeLensFolder(tiledDict, syntheticDictionary({ n: TILED_FEATURES, d: 16, seed: 3 }));
  await buildAtlas({
    dictionary: tiledDict,
    out: join(atlases, TILED_ID),
    id: TILED_ID,
    title: "Synthetic quadtree (e2e)",
    tileCapacity: TILED_CAPACITY,
    quiet: true,
  });
  const tiledSeconds = (performance.now() - tiledStart) / 1000;
  const siteStart = performance.now();
  // In two processes, as `npm run site:build` builds large sites, so that every spec runs against
  // a merged build (tests/unit/site-parts.test.ts checks it equals a one-process build).
  await astroBuild({ outDir: dist, parts: 2, env: { ...process.env, ATLAS_DIR: atlases }, inherit: false });
  const siteSeconds = (performance.now() - siteStart) / 1000;
  // One line, so that what each atlas adds to the setup can be read off any run.
  const perAtlas = site.atlases.map((a) => `${a.entry.id} ${a.seconds.toFixed(1)} s`).join(", ");
  process.stderr.write(`[e2e setup] ${((performance.now() - started) / 1000).toFixed(1)} s in all (config atlases: ${perAtlas}; gpt2 rebuilt with a rename ${renameSeconds.toFixed(1)} s; ${TILED_ID} ${tiledSeconds.toFixed(1)} s; site ${(siteSeconds).toFixed(1)} s)\n`);
  const server = await serveStatic(dist, 0);

  const budgetStarted = performance.now();
  const budgetAtlases = join(work, "atlases-budget");
  for (const id of [GPT2_FIXTURE_ID, HOSTILE_ID]) cpSync(join(atlases, id), join(budgetAtlases, id), { recursive: true });
  const list = join(work, "pages.txt");
  writeFileSync(list, BUDGET_PAGE_LIST.join("\n") + "\n");
  const budgetDist = join(work, "dist-budget");
  await astroBuild({
    outDir: budgetDist,
    env: { ...process.env, ATLAS_DIR: budgetAtlases, PAGES: "budget", PAGE_BUDGET: String(BUDGET_FILES), PAGE_POLICY: "list", PAGE_LIST: list, PAGE_FALLBACK: "rewrite", LEAN_PAGES_ABOVE: "0" },
    inherit: false,
  });
  const budgetServer = await serveStatic(budgetDist, 0);
  const rewriteServer = await serveStatic(budgetDist, 0, "127.0.0.1", { rewrites: true });
  process.stderr.write(`e2e setup: the page-budget site took ${((performance.now() - budgetStarted) / 1000).toFixed(1)} s\n`);

  process.env.E2E_BASE_URL = server.url;
  process.env.E2E_BUDGET_URL = budgetServer.url;
  process.env.E2E_BUDGET_REWRITE_URL = rewriteServer.url;
  process.env.E2E_BUDGET_DIST = budgetDist;
  process.env.E2E_WORK_DIR = work;
  return async () => {
    await Promise.all([server.close(), budgetServer.close(), rewriteServer.close()]);
    rmSync(work, { recursive: true, force: true });
  };
}
