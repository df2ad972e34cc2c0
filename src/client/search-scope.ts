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
