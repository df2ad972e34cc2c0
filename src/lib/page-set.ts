/**
 * Which pages a budgeted site writes (PAGES=budget, see `PageOptions` in build-options.ts). Pure:
 * the Node glue that reads the atlases is page-plan.ts.
 *
 * How a budget of B files is split:
 * 1. Fixed files come off the top: every atlas's data files (copied into the site whole: the
 *    fallback page and the map read them), each atlas's map page and preview image, the home page,
 *    404.html, _redirects, public/ and a reserve for Astro's scripts and stylesheets. If these
 *    alone exceed B the build stops and says so (larger shards, tiles and search chunks make
 *    fewer data files: bench/large-atlas.ts, docs/hosting.md).
 * 2. Regions: their preview images first (at most OG_MAX_IMAGES, they are what every feature
 *    page's link preview shows), then their pages level by level, coarsest first, whole levels
 *    only, while regions stay within REGION_SHARE of what step 1 left. A region is one page for
 *    dozens of features, so it comes before them; the cap keeps a 100k-region atlas from eating a
 *    budget meant for features.
 * 3. Features: the rest, shared equally among atlases, a small atlas passing what it does not
 *    need on to the larger ones (so it is fully static beside a big one). A feature costs its page, plus its embed card (EMBED_PAGES=all) and its own preview image (OG policy
 *    `all`), which are written only for features that have a page.
 * Every feature without a page is served by the fallback page (same URL, rendered in the browser).
 */

/** Share of the budget left after fixed files that region images and pages may take. */
export const REGION_SHARE = 0.25;

/**
 * Files Astro writes for scripts, stylesheets and fonts under `_astro/`, reserved before pages.
 * This site emits about 20 (measured); the reserve leaves room for growth, and the build checks
 * the real total against the budget at the end, so an underestimate fails loudly.
 */
export const ASSET_RESERVE = 64;

/** What selection needs to know of each feature, by id. */
export interface FeatureFacts {
  /** log10 firing density per feature; NaN when unknown (ranked last). */
  log10Density: Float32Array;
  /** 1 when the feature has a label. */
  labelled: Uint8Array;
}

/**
 * Feature ids, best first, under `policy`. `labelled`: labelled before unlabelled, then by
 * density (most frequent first, unknown last), then by id. `densest`: by density, then id.
 */
export function rankFeatures(facts: FeatureFacts, policy: "labelled" | "densest"): Uint32Array {
  const n = facts.log10Density.length;
  const ids = Uint32Array.from({ length: n }, (_, i) => i);
  const d = facts.log10Density;
  const key = (i: number): number => (Number.isNaN(d[i]!) ? -Infinity : d[i]!);
  return ids.sort((a, b) => {
    if (policy === "labelled" && facts.labelled[a] !== facts.labelled[b]) return facts.labelled[b]! - facts.labelled[a]!;
    const ka = key(a);
    const kb = key(b);
    return ka !== kb ? (kb > ka ? 1 : -1) : a - b;
  });
}

/**
 * Parse a PAGE_LIST file: one id per line, `<id>` (for every atlas) or `<atlas>/<id>`; blank lines
 * and `#` comments are skipped. Returns the ids for `atlasId` in file order, first occurrence only.
 * Throws naming the file and line for anything else, and for ids the atlas does not have.
 */
export function parsePageList(text: string, file: string, atlasId: string, features: number): number[] {
  const out: number[] = [];
  const seen = new Set<number>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*/, "").trim();
    if (!line) return;
    const m = /^(?:([a-z0-9-]+)\/)?(\d+)$/.exec(line);
    if (!m) throw new Error(`${file}:${i + 1}: expected a feature id ("123" or "<atlas>/123"), got ${JSON.stringify(raw.slice(0, 80))}`);
    if (m[1] !== undefined && m[1] !== atlasId) return;
    const id = Number(m[2]);
    if (!(id < features)) throw new Error(`${file}:${i + 1}: feature ${id} is out of range: atlas "${atlasId}" has features 0–${features - 1}`);
    if (!seen.has(id)) {
      seen.add(id);
      out.push(id);
    }
  });
  return out;
}

export interface AtlasCosts {
  id: string;
  features: number;
  /** Files of the atlas's data folder (manifest included), copied into the site. */
  dataFiles: number;
  /** Pages and images per atlas whatever the budget: the map page, the atlas preview image, regions.json. */
  fixedPages: number;
  /** Region preview images (OG policy `regions`), 0 otherwise. */
  regionImages: number;
  /** Regions per level, coarsest first. */
  regionsPerLevel: number[];
  /** Files per feature with a page: 1, + 1 with embed cards, + 1 with per-feature preview images. */
  perFeature: number;
}

export interface AtlasAllowance {
  id: string;
  /** Region levels (coarsest first) that get pages: levels 0 … regionLevels − 1. */
  regionLevels: number;
  /** Whether the region preview images are written. */
  regionImages: boolean;
  /** Features that get a static page. */
  features: number;
}

export interface BudgetSplit {
  budget: number;
  /** Files outside the pages: data, fixed pages, public/, the asset reserve. */
  fixed: number;
  regionFiles: number;
  featureFiles: number;
  atlases: AtlasAllowance[];
}

/** Split a budget of `budget` files; see the module comment. `siteFiles` counts public/ and the site-wide pages. */
export function splitBudget(budget: number, siteFiles: number, atlases: readonly AtlasCosts[]): BudgetSplit {
  const fixed = siteFiles + ASSET_RESERVE + atlases.reduce((a, c) => a + c.dataFiles + c.fixedPages, 0);
  if (fixed > budget) {
    const data = atlases.map((c) => `${c.id}: ${c.dataFiles.toLocaleString("en-US")}`).join(", ");
    throw new Error(
      `PAGE_BUDGET=${budget}: the site needs ${fixed.toLocaleString("en-US")} files before any feature or region page ` +
        `(atlas data files ${data}; ${siteFiles} site files; ${ASSET_RESERVE} reserved for scripts and styles). ` +
        `Rebuild the atlas with larger shards, tiles and search chunks (docs/hosting.md), or raise the budget.`,
    );
  }
  let left = budget - fixed;
  const regionCap = Math.floor(left * REGION_SHARE);
  let regionFiles = 0;
  const allowances: AtlasAllowance[] = atlases.map((c) => ({ id: c.id, regionLevels: 0, regionImages: false, features: 0 }));
  // Images first, for every atlas, then levels coarsest first across atlases, all within the cap.
  atlases.forEach((c, i) => {
    if (c.regionImages > 0 && regionFiles + c.regionImages <= regionCap) {
      regionFiles += c.regionImages;
      allowances[i]!.regionImages = true;
    }
  });
  const deepest = Math.max(0, ...atlases.map((c) => c.regionsPerLevel.length));
  for (let level = 0; level < deepest; level++) {
    atlases.forEach((c, i) => {
      const a = allowances[i]!;
      const count = c.regionsPerLevel[level];
      if (count === undefined || a.regionLevels !== level) return;
      if (regionFiles + count <= regionCap) {
        regionFiles += count;
        a.regionLevels = level + 1;
      }
    });
  }
  left -= regionFiles;
  // Features: an equal share of files per atlas, and what a small atlas does not need passes on
  // to the larger ones (smallest need first), so a small atlas beside a big one is fully static.
  let featureFiles = 0;
  const order = atlases.map((_, i) => i).sort((a, b) => atlases[a]!.features * atlases[a]!.perFeature - atlases[b]!.features * atlases[b]!.perFeature || a - b);
  order.forEach((i, k) => {
    const c = atlases[i]!;
    const share = Math.floor((left - featureFiles) / (order.length - k));
    const count = Math.min(c.features, Math.floor(share / c.perFeature));
    allowances[i]!.features = count;
    featureFiles += count * c.perFeature;
  });
  return { budget, fixed, regionFiles, featureFiles, atlases: allowances };
}

/** The first `count` of `ranked`, as a sorted id set (Astro renders routes in the order given; id order keeps shard reads local). */
export function takeSorted(ranked: ArrayLike<number>, count: number): Uint32Array {
  const out = new Uint32Array(Math.min(count, ranked.length));
  for (let i = 0; i < out.length; i++) out[i] = ranked[i]!;
  return out.sort();
}
