/**
 * Search over region names, in the browser. An atlas has few regions (hundreds; tens of
 * thousands at a million features), so the whole region index (`/<atlas>/regions.json`, see
 * src/lib/region-index.ts) is fetched once, on first use, and matched in memory.
 *
 * Matching follows the feature search (search-index.ts): every query term must match a word of
 * the name (or of the hand-named region's terms) exactly or as a prefix, after the same
 * sound-alike encoding, so "frighten" finds "disturbing · frightening · troubling". An exact word
 * scores 3, a prefix 2; ties go to the coarser region, then the bigger one, then the slug.
 */
import { fetchRegionIndex, levelWord, regionIndexUrl, type RegionEntry } from "../lib/region-index.ts";
import { indexTerms } from "./search-index.ts";

export interface RegionHit {
  slug: string;
  name: string;
  level: number;
  members: number;
  /** "continent", "area", "neighbourhood", … */
  kind: string;
}

export interface RegionSearcher {
  search(query: string, limit: number): RegionHit[];
}

interface Indexed {
  entry: RegionEntry;
  keys: string[];
}

export function regionSearcher(entries: readonly RegionEntry[], levels: number): RegionSearcher {
  const indexed: Indexed[] = entries.map((entry) => ({ entry, keys: indexTerms(`${entry.name} ${entry.extra}`).map((t) => t.key) }));
  return {
    search(query, limit) {
      const keys = indexTerms(query).map((t) => t.key);
      // One letter would match most of the map; wait for a second.
      if (keys.length === 0 || keys.join("").length < 2) return [];
      const ranked: { entry: RegionEntry; score: number }[] = [];
      for (const { entry, keys: words } of indexed) {
        let score = 0;
        for (const k of keys) {
          const q = words.includes(k) ? 3 : words.some((w) => w.startsWith(k)) ? 2 : 0;
          if (q === 0) {
            score = 0;
            break;
          }
          score += q;
        }
        if (score > 0) ranked.push({ entry, score });
      }
      ranked.sort(
        (a, b) =>
          b.score - a.score ||
          a.entry.level - b.entry.level ||
          b.entry.members - a.entry.members ||
          (a.entry.slug < b.entry.slug ? -1 : a.entry.slug > b.entry.slug ? 1 : 0),
      );
      return ranked.slice(0, limit).map(({ entry }) => ({
        slug: entry.slug,
        name: entry.name,
        level: entry.level,
        members: entry.members,
        kind: levelWord(entry.level, levels),
      }));
    },
  };
}

export async function createRegionSearcher(atlasId: string, base: string): Promise<RegionSearcher> {
  const entries = await fetchRegionIndex(regionIndexUrl(base, atlasId));
  const levels = entries.reduce((m, e) => Math.max(m, e.level + 1), 0);
  return regionSearcher(entries, levels);
}
