/**
 * Which atlases of a site are "the same dictionary at different widths": same model, same hook
 * point, same d_in, different numbers of features. Pure, for the CLI and the site build.
 */
import type { Manifest } from "../../contract/atlas.ts";

export interface SplitPair<T> {
  small: T;
  large: T;
}

/**
 * Every pair of atlases that share model, hook point and d_in and differ in width, narrower
 * first, sorted by (small id, large id). Atlases whose model or hook point is unknown are never
 * paired automatically: two unrelated dictionaries of the same d_in would look alike here.
 */
export function findSplitPairs<T extends { manifest: Manifest }>(atlases: readonly T[]): SplitPair<T>[] {
  const pairs: SplitPair<T>[] = [];
  for (const a of atlases) {
    for (const b of atlases) {
      const da = a.manifest.dictionary;
      const db = b.manifest.dictionary;
      if (da.model === null || da.hookName === null) continue;
      if (da.model !== db.model || da.hookName !== db.hookName || da.dIn !== db.dIn) continue;
      if (da.dSae < db.dSae) pairs.push({ small: a, large: b });
    }
  }
  return pairs.sort((p, q) => cmp(p.small.manifest.id, q.small.manifest.id) || cmp(p.large.manifest.id, q.large.manifest.id));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
