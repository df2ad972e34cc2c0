/**
 * The region index: one small JSON file per atlas (`/<atlas>/regions.json`, written by the site
 * build from the level files) with what search and "show on map" need about every region — slug,
 * name, level, size and bounds — and nothing else. The level files also hold hulls, terms and
 * typical members, about 5× more bytes, which the search box has no use for.
 *
 * Rows are arrays rather than objects to keep the file small at tens of thousands of regions.
 * Pure and zod-free: the browser decodes it.
 */
import type { Region } from "../../contract/atlas.ts";

/** [slug, name, level, members, minX, minY, maxX, maxY, extra search terms ("" when none)]. */
export type RegionIndexRow = [string, string, number, number, number, number, number, number, string];

export interface RegionIndexFile {
  /** Number of levels of the atlas (0 = coarsest). */
  levels: number;
  regions: RegionIndexRow[];
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

export function encodeRegionIndex(levels: readonly (readonly Region[])[]): RegionIndexFile {
  const regions: RegionIndexRow[] = [];
  for (const level of levels) {
    for (const r of level) {
      const nameWords = new Set(r.name.toLowerCase().split(/[^\p{L}\p{N}]+/u));
      const extra = r.terms.filter((t) => !nameWords.has(t.toLowerCase())).join(" ");
      const [x0, y0, x1, y1] = r.bounds;
      regions.push([r.slug, r.name, r.level, r.members, round(x0), round(y0), round(x1), round(y1), extra]);
    }
  }
  return { levels: levels.length, regions };
}

export function decodeRegionIndex(file: RegionIndexFile): RegionEntry[] {
  return file.regions.map(([slug, name, level, members, x0, y0, x1, y1, extra]) => ({
    slug,
    name,
    level,
    members,
    bounds: [x0, y0, x1, y1],
    extra,
  }));
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
export async function fetchRegionIndex(url: string): Promise<RegionEntry[]> {
  // `astro dev` (5.x) matches a dynamic file endpoint only with a trailing slash
  // (withastro/astro#17001); built sites serve the plain file.
  const response = await fetch(import.meta.env.DEV ? `${url}/` : url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return decodeRegionIndex((await response.json()) as RegionIndexFile);
}
