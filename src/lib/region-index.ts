/**
 * The region index: one small JSON file per atlas (`/<atlas>/regions.json`, written by the site
 * build from the level files) with what search and "show on map" need about a region — slug,
 * name, level, size and bounds — and nothing else. The level files also hold hulls, terms and
 * typical members, about 5× more bytes, which the search box has no use for.
 *
 * It holds whole levels, coarsest first, up to REGION_INDEX_ROWS regions: the search box fetches
 * it on focus, and the 1M-feature synthetic atlas has 94,851 regions (9.4 MB of index, fetched
 * before the first query) where the label search needs 122 KB. Finer regions stay reachable: their
 * names are made of their members' labels, which the feature search finds, and a link to one
 * (`?r=`) is resolved from the level files (`searchableLevels` < `levels`).
 *
 * Rows are arrays rather than objects to keep the file small at tens of thousands of regions.
 * Pure and zod-free: the browser decodes it.
 */
import type { Region } from "../../contract/atlas.ts";

/** [slug, name, level, members, minX, minY, maxX, maxY, extra search terms ("" when none)]. */
export type RegionIndexRow = [string, string, number, number, number, number, number, number, string];

/**
 * Most regions the index holds (whole levels only; level 0 always). About 100 bytes a row, so
 * ~150 KB: with the label search's directory (122 KB at 1M labels) the search box stays under
 * 300 KB before its first answer.
 */
export const REGION_INDEX_ROWS = 1_500;

export interface RegionIndexFile {
  /** Number of levels of the atlas (0 = coarsest). */
  levels: number;
  /** Levels 0 … searchableLevels − 1 are in `regions`; the finer ones are left out. Absent: all. */
  searchableLevels?: number;
  regions: RegionIndexRow[];
}

/** A decoded index: its regions, the atlas's level count, and how many levels it covers. */
export interface RegionIndex {
  levels: number;
  searchableLevels: number;
  entries: RegionEntry[];
}

export interface RegionEntry {
  slug: string;
  name: string;
  level: number;
  members: number;
  bounds: [number, number, number, number];
  /** Words to match besides the name: the name's terms when the name was written by hand. */
  extra: string;
}

const round = (v: number): number => Math.round(v * 1e5) / 1e5;

export function encodeRegionIndex(levels: readonly (readonly Region[])[], maxRows: number = REGION_INDEX_ROWS): RegionIndexFile {
  const regions: RegionIndexRow[] = [];
  let searchableLevels = 0;
  for (const level of levels) {
    if (searchableLevels > 0 && regions.length + level.length > maxRows) break;
    searchableLevels++;
    for (const r of level) {
      const nameWords = new Set(r.name.toLowerCase().split(/[^\p{L}\p{N}]+/u));
      const extra = r.terms.filter((t) => !nameWords.has(t.toLowerCase())).join(" ");
      const [x0, y0, x1, y1] = r.bounds;
      regions.push([r.slug, r.name, r.level, r.members, round(x0), round(y0), round(x1), round(y1), extra]);
    }
  }
  return { levels: levels.length, searchableLevels, regions };
}

export function decodeRegionIndex(file: RegionIndexFile): RegionIndex {
  const entries = file.regions.map(([slug, name, level, members, x0, y0, x1, y1, extra]): RegionEntry => ({
    slug,
    name,
    level,
    members,
    bounds: [x0, y0, x1, y1],
    extra,
  }));
  return { levels: file.levels, searchableLevels: file.searchableLevels ?? file.levels, entries };
}

/**
 * What a level is called. The coarsest is a "continent" and the finest a "neighbourhood", as on a
 * map; levels between get "region", "area", … so that a page can say what kind of place it is.
 */
export function levelWord(level: number, levels: number): string {
  if (levels <= 1) return "region";
  if (level === 0) return "continent";
  if (level === levels - 1) return "neighbourhood";
  const words = levels === 3 ? ["area"] : ["region", "area", "district", "quarter"];
  return words[level - 1] ?? `level ${level} region`;
}

/** URL of an atlas's region index, next to its map page. */
export function regionIndexUrl(base: string, atlasId: string): string {
  return `${base.endsWith("/") ? base : `${base}/`}${atlasId}/regions.json`;
}

/** URL of a region's page. */
export function regionPageUrl(base: string, atlasId: string, slug: string): string {
  return `${base.endsWith("/") ? base : `${base}/`}${atlasId}/region/${slug}/`;
}

/** Fetch and decode an atlas's region index (browser). */
export async function fetchRegionIndex(url: string): Promise<RegionIndex> {
  // `astro dev` (5.x) matches a dynamic file endpoint only with a trailing slash
  // (withastro/astro#17001); built sites serve the plain file.
  const response = await fetch(import.meta.env.DEV ? `${url}/` : url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return decodeRegionIndex((await response.json()) as RegionIndexFile);
}
