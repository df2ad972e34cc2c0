/**
 * Which static pages this build writes, for every route's `getStaticPaths` and for the check at
 * the end of the build (atlas-integration.ts). With PAGES=all every feature, region and embed gets
 * its page; with PAGES=budget the split in page-set.ts decides. Node only; computed once.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import type { Manifest } from "../../contract/atlas.ts";
import { listAtlases } from "./atlases.ts";
import { embedPagesEnabled, pageOptions, rewriteFallback, type PageOptions } from "./build-options.ts";
import { OG_MAX_IMAGES, ogPolicy } from "./og-image.ts";
import { chooseRegionLevel } from "./og-plan.ts";
import { featureSummary } from "./regions.ts";
import { parsePageList, rankFeatures, splitBudget, takeSorted, type AtlasCosts, type BudgetSplit } from "./page-set.ts";

/** Files every site has besides public/: the home page and 404.html, + /fallback/ and _redirects with PAGE_FALLBACK=rewrite. */
export function sitePages(): number {
  return 2 + (rewriteFallback() ? 2 : 0);
}

export interface AtlasPages {
  /** Feature ids with a static page, ascending; null means every feature. */
  features: Uint32Array | null;
  /** Region levels with pages (0 … regionLevels − 1); Infinity means all. */
  regionLevels: number;
  /** Whether region preview images are written (when the OG policy asks for them). */
  regionImages: boolean;
}

export interface PagePlan {
  options: PageOptions;
  /** The budget split, when there is a budget. */
  split: BudgetSplit | null;
  forAtlas(id: string): AtlasPages;
}

const ALL: AtlasPages = { features: null, regionLevels: Infinity, regionImages: true };

function countFiles(dir: string): number {
  let n = 0;
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e);
    n += statSync(p).isDirectory() ? countFiles(p) : 1;
  }
  return n;
}

/** What one atlas costs in files, fixed and per feature (see page-set.ts). */
export function atlasCosts(m: Manifest, embeds: boolean): AtlasCosts {
  const policy = ogPolicy(m);
  const levels = m.regions?.levels ?? [];
  let regionImages = 0;
  if (policy === "regions" && levels.length) {
    const level = chooseRegionLevel(levels, OG_MAX_IMAGES);
    regionImages = level === null ? 0 : levels[level]!.count;
  }
  return {
    id: m.id,
    features: m.counts.features,
    // The listed files, the list itself and manifest.json.
    dataFiles: m.files.count + 2,
    // The map page, the atlas preview image and regions.json.
    fixedPages: 3,
    regionImages,
    regionsPerLevel: levels.map((l) => l.count),
    perFeature: 1 + (embeds ? 1 : 0) + (policy === "all" ? 1 : 0),
  };
}

function choose(m: Manifest, options: Extract<PageOptions, { mode: "budget" }>, count: number): Uint32Array {
  if (options.policy === "list") {
    const file = path.resolve(options.list!);
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (error) {
      throw new Error(`PAGE_LIST ${file}: cannot read (${(error as Error).message})`);
    }
    return takeSorted(parsePageList(text, file, m.id, m.counts.features), count);
  }
  const n = m.counts.features;
  const log10Density = new Float32Array(n);
  const labelled = new Uint8Array(n);
  for (let id = 0; id < n; id++) {
    const s = featureSummary(m, id);
    log10Density[id] = s.log10Density;
    labelled[id] = s.label ? 1 : 0;
  }
  return takeSorted(rankFeatures({ log10Density, labelled }, options.policy), count);
}

let plan: PagePlan | undefined;

export function pagePlan(): PagePlan {
  if (plan) return plan;
  const options = pageOptions();
  if (options.mode === "all") {
    plan = { options, split: null, forAtlas: () => ALL };
    return plan;
  }
  const manifests = listAtlases();
  const embeds = embedPagesEnabled();
  const siteFiles = countFiles(process.env["SITE_PUBLIC_DIR"] ?? path.resolve(process.cwd(), "public")) + sitePages();
  const split = splitBudget(options.files, siteFiles, manifests.map((m) => atlasCosts(m, embeds)));
  const byId = new Map<string, AtlasPages>();
  manifests.forEach((m, i) => {
    const a = split.atlases[i]!;
    byId.set(m.id, { features: choose(m, options, a.features), regionLevels: a.regionLevels, regionImages: a.regionImages });
  });
  plan = { options, split, forAtlas: (id) => byId.get(id) ?? ALL };
  const each = split.atlases.map((a) => `${a.id}: ${a.features.toLocaleString("en-US")} feature pages, ${a.regionLevels} region level(s)${a.regionImages ? " + region images" : ""}`);
  process.stderr.write(`page budget ${split.budget.toLocaleString("en-US")} files: ${split.fixed.toLocaleString("en-US")} fixed, ${split.regionFiles} for regions, ${split.featureFiles.toLocaleString("en-US")} for features (${each.join("; ")})\n`);
  return plan;
}

/** Ids of the features of `m` that get a static page (and an embed card and image, when those are on). */
export function* featurePageIds(m: Manifest): Generator<number> {
  const chosen = pagePlan().forAtlas(m.id).features;
  if (chosen === null) for (let id = 0; id < m.counts.features; id++) yield id;
  else yield* chosen;
}

/** Route paths of every feature with a static page, atlas by atlas: for the feature, embed and preview-image routes. */
export function featurePagePaths(manifests: readonly Manifest[]): { params: { atlas: string; id: string } }[] {
  return manifests.flatMap((m) => Array.from(featurePageIds(m), (id) => ({ params: { atlas: m.id, id: String(id) } })));
}

/** Whether feature `id` of atlas `atlasId` has a static page. */
export function hasFeaturePage(atlasId: string, id: number): boolean {
  const chosen = pagePlan().forAtlas(atlasId).features;
  if (chosen === null) return true;
  let lo = 0;
  let hi = chosen.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (chosen[mid]! === id) return true;
    if (chosen[mid]! < id) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** Whether regions of `level` have static pages. */
export function regionLevelHasPages(atlasId: string, level: number): boolean {
  return level < pagePlan().forAtlas(atlasId).regionLevels;
}
