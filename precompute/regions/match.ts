/**
 * Matching member sets from an earlier build (slugs of a previous atlas, hand-written names) to
 * the regions of this one by member overlap, one-to-one.
 */

/** What the matcher needs to know about the new regions. */
export interface MatchTarget {
  /** Leaf region (global index) of each feature; −1 for dead features. */
  leafOf: Int32Array;
  /** Parent (global index) of each region; −1 at level 0. */
  parent: Int32Array;
  /** Level of each region. */
  level: Int32Array;
  /** Members of each region. */
  size: Int32Array;
}

export interface MemberSet {
  /** Level the set was a region at, when known: on a tie, a region at that level wins. */
  level?: number | undefined;
  /** Feature ids (need not be sorted or unique). */
  members: ArrayLike<number>;
}

/**
 * For each set, the region it matches (global index) or −1, with its Jaccard index. Candidates
 * are pairs with Jaccard ≥ threshold; the best pairs are taken first (higher Jaccard, then the
 * same level as the set's, then the coarser region, then input order), and each set and each
 * region is used at most once. Ids outside 0 … n − 1 count as members no region has.
 * O(total members × levels).
 */
export function matchByMembers(sets: readonly MemberSet[], t: MatchTarget, threshold: number): { region: Int32Array; jaccard: Float64Array } {
  const n = t.leafOf.length;
  const pairs: { s: number; r: number; j: number; sameLevel: boolean }[] = [];
  for (let s = 0; s < sets.length; s++) {
    const unique = new Set<number>();
    for (let q = 0; q < sets[s]!.members.length; q++) unique.add(sets[s]!.members[q]!);
    const overlap = new Map<number, number>();
    for (const id of unique) {
      if (!Number.isInteger(id) || id < 0 || id >= n) continue;
      for (let r = t.leafOf[id]!; r >= 0; r = t.parent[r]!) overlap.set(r, (overlap.get(r) ?? 0) + 1);
    }
    for (const [r, inter] of overlap) {
      const j = inter / (unique.size + t.size[r]! - inter);
      if (j >= threshold) pairs.push({ s, r, j, sameLevel: sets[s]!.level === t.level[r] });
    }
  }
  pairs.sort((a, b) => b.j - a.j || Number(b.sameLevel) - Number(a.sameLevel) || t.level[a.r]! - t.level[b.r]! || a.s - b.s || a.r - b.r);
  const region = new Int32Array(sets.length).fill(-1);
  const jaccard = new Float64Array(sets.length);
  const taken = new Uint8Array(t.size.length);
  for (const p of pairs) {
    if (region[p.s] !== -1 || taken[p.r]) continue;
    region[p.s] = p.r;
    jaccard[p.s] = p.j;
    taken[p.r] = 1;
  }
  return { region, jaccard };
}

/**
 * The smallest region holding every id of `anchors` (at `level` when given: the one region of that
 * level holding them all), or −1 when none does (an anchor is dead, out of range, or the anchors
 * are split at that level).
 */
export function regionOfAnchors(anchors: readonly number[], t: MatchTarget, level?: number): number {
  const n = t.leafOf.length;
  if (!anchors.length) return -1;
  let common: number[] | null = null;
  for (const id of anchors) {
    if (!Number.isInteger(id) || id < 0 || id >= n || t.leafOf[id]! < 0) return -1;
    const chain: number[] = [];
    for (let r = t.leafOf[id]!; r >= 0; r = t.parent[r]!) chain.push(r);
    common = common === null ? chain : common.filter((r) => chain.includes(r));
  }
  // Chains run leaf → root, so the first common region is the smallest.
  const found = (common ?? []).filter((r) => level === undefined || t.level[r] === level);
  return found.length ? found[0]! : -1;
}
