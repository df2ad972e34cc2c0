/**
 * Search scope: which atlases the search box searches, and how the results of several atlases
 * become one list. Kept free of the index code, so the search box can import it eagerly.
 */

/** An atlas the search box can search, as the page carries it (SearchBox.astro's `data-atlases`). */
export interface SearchTarget {
  id: string;
  title: string;
  /** Path of the atlas's search directory, relative to its data folder (manifest `search.directory`). */
  directory: string;
  /** Number of features: ids 0 … features − 1. */
  features: number;
}

/** The scope value that means every atlas on the site. */
export const ALL_ATLASES = "*";

/** The atlases a scope value covers: all of them for ALL_ATLASES, else the one named (none if unknown). */
export function atlasesInScope(scope: string, targets: readonly SearchTarget[]): SearchTarget[] {
  return scope === ALL_ATLASES ? [...targets] : targets.filter((t) => t.id === scope);
}

export interface ScopedHit {
  atlas: string;
  id: number;
  label: string | null;
  /** Ranking score; absent for a bare id match. */
  score?: number;
}

/**
 * Merge per-atlas result lists (each best first) into one, deterministically:
 * 1. bare id matches ("#12") first, in the order the lists are given;
 * 2. then by score, higher first;
 * 3. equal scores interleave the atlases: each atlas's best, then each one's second best, and so
 *    on (an atlas's own order already ranks by importance, which does not compare across atlases);
 * 4. then the order the lists are given (atlas id order, as the page lists them).
 */
export function mergeScoped(lists: readonly { atlas: string; hits: readonly Omit<ScopedHit, "atlas">[] }[], limit: number): ScopedHit[] {
  const direct: ScopedHit[] = [];
  const scored: { hit: ScopedHit; place: number; list: number }[] = [];
  lists.forEach(({ atlas, hits }, list) => {
    let place = 0;
    for (const h of hits) {
      const hit: ScopedHit = { atlas, id: h.id, label: h.label, ...(h.score === undefined ? {} : { score: h.score }) };
      if (h.score === undefined) direct.push(hit);
      else scored.push({ hit, place: place++, list });
    }
  });
  scored.sort((a, b) => b.hit.score! - a.hit.score! || a.place - b.place || a.list - b.list);
  return [...direct, ...scored.map((s) => s.hit)].slice(0, limit);
}

/** A region match with its atlas; `R` is region-search.ts's RegionHit (kept generic so this module imports no index code). */
export interface ScopedRegion<R extends { score: number }> {
  atlas: string;
  hit: R;
}

/**
 * Merge per-atlas region lists (each best first) into one, as mergeScoped merges features: by
 * score, equal scores interleaving the atlases, then the order the lists are given; at most `limit`.
 */
export function mergeScopedRegions<R extends { score: number }>(lists: readonly { atlas: string; hits: readonly R[] }[], limit: number): ScopedRegion<R>[] {
  const all: { region: ScopedRegion<R>; place: number; list: number }[] = [];
  lists.forEach(({ atlas, hits }, list) => hits.forEach((hit, place) => all.push({ region: { atlas, hit }, place, list })));
  all.sort((a, b) => b.region.hit.score - a.region.hit.score || a.place - b.place || a.list - b.list);
  return all.slice(0, limit).map((r) => r.region);
}

/** One entry of the search box's list. */
export type RankedResult<R extends { score: number }> = { kind: "region"; atlas: string; hit: R } | { kind: "feature"; atlas: string; hit: ScopedHit };

/**
 * Regions and features in one list, on one scale (both scored by search-index.ts `labelScore`):
 * 1. bare id matches (features without a score) first, as mergeScoped puts them;
 * 2. then by score, higher first, whatever the kind: a feature holding the query's word comes
 *    before a region whose name only sounds like it;
 * 3. equal scores: regions first (they are broader, an entry point to many features), then each
 *    list's own order.
 * Every feature given is kept: regions are added, not swapped in, so their number is capped by
 * whoever lists them (mergeScopedRegions' limit). When the feature list is full (`featureLimit`
 * features), a region scoring below its last feature is left out: features the search did not
 * return could rank between the two, so showing it there would misstate the order.
 */
export function rankResults<R extends { score: number }>(
  regions: readonly ScopedRegion<R>[],
  features: readonly ScopedHit[],
  featureLimit: number,
): RankedResult<R>[] {
  const floor = features.length >= featureLimit && features.length > 0 ? (features[features.length - 1]!.score ?? Infinity) : -Infinity;
  const all: { result: RankedResult<R>; score: number; region: boolean; place: number }[] = [];
  regions.forEach((r, place) => {
    if (r.hit.score >= floor) all.push({ result: { kind: "region", atlas: r.atlas, hit: r.hit }, score: r.hit.score, region: true, place });
  });
  features.forEach((f, place) => all.push({ result: { kind: "feature", atlas: f.atlas, hit: f }, score: f.score ?? Infinity, region: false, place }));
  // Bare id matches score Infinity: compared with === first, as Infinity − Infinity is NaN.
  all.sort((a, b) => (a.score === b.score ? 0 : b.score - a.score) || Number(b.region) - Number(a.region) || a.place - b.place);
  return all.map((r) => r.result);
}
