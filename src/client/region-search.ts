/**
 * Search over region names, in the browser. The region index (`/<atlas>/regions.json`, see
 * src/lib/region-index.ts) is small — every region of a small atlas, the coarser levels of a big
 * one — so it is fetched once, on first use, and matched in memory.
 *
 * A region's name (with a hand-named region's terms as further words) is scored exactly as a
 * feature's label is, by `labelScore` in search-index.ts: whole name equal to the query 6, every
 * query word exact 5, prefix 4, sound-alike 3, sound-alike prefix 2, typo 1. So the search box can
 * rank regions and features on one scale (search-scope.ts `rankResults`), and "dog" puts a feature
 * holding "dog" above a region that only sounds like it ("tokugawa", key "tok…"). As in the feature
 * search, typos are tried only when nothing else matches. Only the name can equal the query as a
 * whole. Ties go to the coarser region, then the bigger one, then the slug.
 */
import { fetchRegionIndex, levelWord, regionIndexUrl, type RegionEntry } from "../lib/region-index.ts";
import { labelScore, parseLabel, queryText, queryWords, type LabelWords } from "./search-index.ts";

export interface RegionHit {
  slug: string;
  name: string;
  level: number;
  members: number;
  /** "continent", "area", "neighbourhood", … */
  kind: string;
  /** Ranking score, on the feature search's scale (search-index.ts `labelScore`): higher is better. */
  score: number;
}

export interface RegionSearcher {
  search(query: string, limit: number): RegionHit[];
}

interface Indexed {
  entry: RegionEntry;
  words: LabelWords;
}

function regionWords(entry: RegionEntry): LabelWords {
  const name = parseLabel(entry.name);
  if (!entry.extra) return name;
  const all = parseLabel(`${entry.name} ${entry.extra}`);
  return { words: all.words, keys: all.keys, text: name.text };
}

export function regionSearcher(entries: readonly RegionEntry[], levels: number): RegionSearcher {
  const indexed: Indexed[] = entries.map((entry) => ({ entry, words: regionWords(entry) }));
  return {
    search(query, limit) {
      const words = queryWords(query);
      // One letter would match most of the map; wait for a second.
      if (words.length === 0 || words.reduce((n, w) => n + w.word.length, 0) < 2) return [];
      const text = queryText(query);
      const scoreAll = (fuzzy: boolean): { entry: RegionEntry; score: number }[] => {
        const out: { entry: RegionEntry; score: number }[] = [];
        for (const { entry, words: name } of indexed) {
          const score = labelScore(words, text, name, fuzzy);
          if (score > 0) out.push({ entry, score });
        }
        return out;
      };
      let ranked = scoreAll(false);
      if (ranked.length === 0) ranked = scoreAll(true);
      ranked.sort(
        (a, b) =>
          b.score - a.score ||
          a.entry.level - b.entry.level ||
          b.entry.members - a.entry.members ||
          (a.entry.slug < b.entry.slug ? -1 : a.entry.slug > b.entry.slug ? 1 : 0),
      );
      return ranked.slice(0, limit).map(({ entry, score }) => ({
        slug: entry.slug,
        name: entry.name,
        level: entry.level,
        members: entry.members,
        kind: levelWord(entry.level, levels),
        score,
      }));
    },
  };
}

export async function createRegionSearcher(atlasId: string, base: string): Promise<RegionSearcher> {
  const index = await fetchRegionIndex(regionIndexUrl(base, atlasId));
  return regionSearcher(index.entries, index.levels);
}
