/**
 * Old region slugs and where they lead now, so that a link to `/<atlas>/region/<slug>/` keeps
 * working after a rebuild (the site writes a static redirect page for each).
 *
 * A slug is left behind in two ways (otherwise hierarchy.ts carries it over on a member match):
 * - renamed: the region still matches the previous one (the same one-to-one Jaccard matching that
 *   carries slugs over), but a hand-written `slug` in regions.names.json replaced the old one, or
 *   another region claimed it first; the old slug leads to the region's new slug;
 * - vanished: no region of this build matches it; the old slug leads to the region holding most of
 *   its members at the same level (the finest level when this build has fewer), so a reader lands
 *   where the old region's features went. A region whose members all died leads nowhere.
 * The previous build's own redirects are carried forward and resolved through this build's, so
 * each redirect is one hop and the list grows with every slug ever published.
 */
import type { RegionRedirect } from "../../contract/atlas.ts";
import type { PreviousRegion, RegionHierarchy } from "./hierarchy.ts";
import { DEFAULT_MATCH_THRESHOLD } from "./hierarchy.ts";
import { matchByMembers, type MatchTarget } from "./match.ts";

/**
 * Redirects for the previous build's regions whose slugs this build no longer has, merged with
 * the previous build's redirects (`carried`): chains collapse (A→B, B→C gives A→C and B→C), a
 * `from` that is a live slug again is dropped, as is anything that would loop or lead nowhere.
 * Sorted by `from`. `threshold` must be the one the build matched slugs with.
 */
export function regionRedirects(
  previous: readonly PreviousRegion[],
  h: RegionHierarchy,
  carried: readonly RegionRedirect[] = [],
  threshold: number = DEFAULT_MATCH_THRESHOLD,
): RegionRedirect[] {
  const live = new Set(h.regions.map((r) => r.slug));
  const edges = new Map<string, string>();
  if (previous.length && h.regions.length) {
    const target: MatchTarget = {
      leafOf: h.leafOf,
      parent: Int32Array.from(h.regions, (r) => r.parent),
      level: Int32Array.from(h.regions, (r) => r.level),
      size: Int32Array.from(h.regions, (r) => r.members.length),
    };
    const { region: matched } = matchByMembers(previous, target, threshold);
    previous.forEach((p, s) => {
      if (live.has(p.slug) || edges.has(p.slug)) return;
      const r = matched[s]! >= 0 ? matched[s]! : mostOverlap(p, h, target);
      if (r >= 0) edges.set(p.slug, h.regions[r]!.slug);
    });
  }
  // This build's edges win over carried ones with the same `from` (a slug published twice).
  for (const c of carried) if (!edges.has(c.from)) edges.set(c.from, c.to);

  const out: RegionRedirect[] = [];
  for (const from of edges.keys()) {
    if (live.has(from)) continue;
    const seen = new Set([from]);
    let to = edges.get(from)!;
    while (!live.has(to) && edges.has(to) && !seen.has(to)) {
      seen.add(to);
      to = edges.get(to)!;
    }
    if (live.has(to)) out.push({ from, to });
  }
  return out.sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
}

/**
 * The region of this build, at the old region's level (or the finest there is), holding most of
 * its members; ties go to the earlier region. −1 when none of its members is alive here.
 */
function mostOverlap(p: PreviousRegion, h: RegionHierarchy, t: MatchTarget): number {
  if (h.levels === 0) return -1;
  const level = Math.min(p.level ?? h.levels - 1, h.levels - 1);
  const count = new Map<number, number>();
  const seen = new Set<number>();
  for (let q = 0; q < p.members.length; q++) {
    const id = p.members[q]!;
    if (seen.has(id) || !Number.isInteger(id) || id < 0 || id >= t.leafOf.length) continue;
    seen.add(id);
    let r = t.leafOf[id]!;
    while (r >= 0 && t.level[r]! > level) r = t.parent[r]!;
    if (r >= 0) count.set(r, (count.get(r) ?? 0) + 1);
  }
  let best = -1;
  let bestCount = 0;
  for (const [r, c] of count) if (c > bestCount || (c === bestCount && r < best)) (best = r), (bestCount = c);
  return best;
}
