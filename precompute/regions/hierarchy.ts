/**
 * Named regions at every zoom level: the alive features grouped into nested regions, from a
 * handful of continents (level 0) down to neighbourhoods of about 5–30 features (the finest level).
 *
 * How, and why (measured with `measureRegions`, see quality.ts):
 * - Communities of a graph that joins each feature to its k nearest by decoder cosine AND its k
 *   nearest on the 2-D layout (`edges: "both"`). On the GloVe demo (4,096 features), finest level:
 *   the cosine kNN graph alone gives tighter regions (mean within-region decoder cosine 0.152,
 *   against 0.021 between regions) but they are speckled across the map: only 8% of a feature's
 *   10 nearest map neighbours share its region, so outlines would overlap everywhere. With both
 *   edge sets: within 0.089 (still 4× between) and 73% map purity; 90% and 97% at the coarser
 *   levels, with the same coherence as kNN alone there. The layout alone: within 0.087, purity
 *   77%. Planted-cluster synthetic sets (n = 2,000–3,000) agree: finest-level purity 30% (kNN)
 *   vs 78% (both), within-cosine 0.543 vs 0.521. A region that cannot be drawn as one patch is
 *   useless on a map, so "both" is the default; "knn" and "layout" stay available.
 * - Bottom-up, so nesting is exact by construction: Louvain finds the finest level, then each
 *   coarser level is Louvain on the graph whose nodes are the regions of the level below (the
 *   aggregated graph, which has the same modularity). Each level's resolution γ is found by
 *   bisection to hit a target count, spaced geometrically between the finest count (alive / ~15)
 *   and ~8 at level 0. Top-down recursive splitting was the alternative; it gives every branch
 *   its own depth, and the map needs every level to cover all features.
 * - Clean-ups Louvain needs: communities are split into connected pieces, finest-level pieces
 *   under `minLeaf` are merged into the neighbour they are most tied to, pieces over `maxLeaf` are
 *   split by Louvain inside them, and at coarser levels a region left alone is merged into a
 *   neighbour so that (where the graph allows) every coarse region has at least two children.
 *   Components of the graph are joined by feeble bridges between their most similar members
 *   (see `bridgeComponents`), so islands of near-duplicates still end up in a coarse region.
 * - Edge weights are UMAP's fuzzy memberships (each point's distances rescaled by its own nearest
 *   distance and bandwidth), as in the layout's own graph; plain cosine or unweighted edges gave
 *   the same partitions within noise on the synthetic sets.
 *
 * Dead features (alive = 0) belong to no region: their `leafOf` is −1. Cost: one Louvain run is
 * O(E) per sweep of its queue (E ≈ 2·n·k edges); the bisection runs it 1–20 times per level (it
 * starts close, and stops within 8 % of the target count), on the full graph only at the finest
 * level (coarser graphs have one node per region). Geometry and naming are O(n) per level, the
 * representative members two passes of O(n·d) for all levels (representatives.ts), the layout
 * kNN O(n·k log n).
 */
import { phaseTimer, phasesOn } from "../phases.ts";
import { rng } from "../random.ts";
import type { KnnGraph, Progress } from "../stages.ts";
import { layoutKnn, regionShape } from "./geometry.ts";
import {
  aggregate,
  inducedSubgraph,
  louvain,
  mergeSmall,
  renumber,
  splitDisconnected,
  symmetricGraph,
  type WeightedGraph,
} from "./louvain.ts";
import { matchByMembers, regionOfAnchors, type MatchTarget } from "./match.ts";
import { representatives } from "./representatives.ts";
import { RowDots } from "./row-dots.ts";
import { assignSlugs, autoNames, buildVocabulary, type NamingNode } from "./names.ts";
import { isManual, type NamesFile } from "./names-file.ts";

export interface RegionInput {
  graph: KnnGraph;
  /** Layout, [n × 2] interleaved x, y in [0, 1]. */
  xy: Float32Array;
  /** Unit decoder rows, [n × d]. */
  unit: Float32Array;
  d: number;
  alive: Uint8Array;
  /** Label of each feature, null when it has none. */
  labels: readonly (string | null)[];
  seed: number;
}

/** A region of an earlier build, to keep its slug when this build has a region with about the same members. */
export interface PreviousRegion {
  slug: string;
  level?: number;
  members: ArrayLike<number>;
}

export interface RegionOptions {
  /** Target median size of the finest regions. Default 15. */
  leafSize?: number;
  /** Finest regions smaller than this are merged into a neighbour (when they have one). Default 5. */
  minLeaf?: number;
  /** Finest regions larger than this are split when Louvain finds structure inside. Default 40. */
  maxLeaf?: number;
  /** Target number of level-0 regions. Default 8. */
  topCount?: number;
  /** Target ratio between the region counts of consecutive levels. Default 6. */
  branching?: number;
  /** Which neighbours make the community graph's edges. Default "both"; see the module comment. */
  edges?: "knn" | "layout" | "both";
  /** Edge weights of the community graph. Default "umap"; see the module comment. */
  weights?: "umap" | "cosine" | "binary";
  /** Most points in a region's outline. Default 32. */
  maxHullPoints?: number;
  /** Representative members kept per region. Default 12. */
  topMembers?: number;
  /** Regions of the previous build of this atlas, whose slugs carry over on a match. */
  previous?: readonly PreviousRegion[];
  /** Hand-written names. */
  names?: NamesFile;
  /** Least Jaccard overlap for a previous region or hand-written name to match. Default 0.5. */
  matchThreshold?: number;
}

/** Least Jaccard overlap for a previous region or hand-written name to match, unless `matchThreshold` says otherwise. */
export const DEFAULT_MATCH_THRESHOLD = 0.5;

const DEFAULTS = {
  leafSize: 15,
  minLeaf: 5,
  maxLeaf: 40,
  topCount: 8,
  branching: 6,
  edges: "both",
  weights: "umap",
  maxHullPoints: 32,
  topMembers: 12,
  matchThreshold: DEFAULT_MATCH_THRESHOLD,
} as const;

export interface RegionNode {
  /** `<level>-<index>`: unique in one build, but not stable across builds (the slug is). */
  id: string;
  level: number;
  /** Position within its level. */
  index: number;
  /** Global index (in `RegionHierarchy.regions`) of the parent; −1 at level 0. */
  parent: number;
  /** Number of regions at the next level inside this one. */
  children: number;
  /** Member feature ids, ascending. */
  members: Int32Array;
  centroid: [number, number];
  bounds: [number, number, number, number];
  hull: [number, number][];
  name: string;
  slug: string;
  nameSource: "auto" | "manual";
  /** The automatic name, also when a hand-written one replaced it. */
  autoName: string;
  /** Label terms behind the automatic name, most distinctive first. */
  terms: string[];
  /** Members closest to the region's mean decoder direction, closest first. */
  top: number[];
  /** Mean cosine between the members and their mean direction, in [0, 1]. */
  cohesion: number;
}

export interface RegionHierarchy {
  n: number;
  levels: number;
  /** Every region, level 0 first; within a level, grouped by parent, then by size (largest first). */
  regions: RegionNode[];
  /** Global index of the first region of each level, then the total: level l is [levelStart[l], levelStart[l+1]). */
  levelStart: number[];
  /** Finest-level region (global index) of each feature; −1 for dead features. */
  leafOf: Int32Array;
  /** Hand-written names that matched no region, slugs that could not be kept, and similar. */
  warnings: string[];
}

export function buildRegions(input: RegionInput, options: RegionOptions = {}, progress?: Progress): RegionHierarchy {
  const o = { ...DEFAULTS, ...options };
  const { graph, xy, unit, d, alive, labels } = input;
  const n = graph.n;
  if (xy.length !== n * 2) throw new Error(`regions: layout has ${xy.length / 2} points, graph has ${n}`);
  if (unit.length !== n * d) throw new Error(`regions: decoder rows hold ${unit.length} values, expected ${n} × ${d}`);
  if (alive.length !== n || labels.length !== n) throw new Error(`regions: alive mask (${alive.length}) and labels (${labels.length}) must have ${n} entries`);
  if (!(o.minLeaf >= 1 && o.leafSize >= o.minLeaf && o.maxLeaf >= o.leafSize)) {
    throw new Error(`regions: need 1 ≤ minLeaf ≤ leafSize ≤ maxLeaf, got ${o.minLeaf}, ${o.leafSize}, ${o.maxLeaf}`);
  }
  if (!(o.branching > 1) || !(o.topCount >= 1)) throw new Error(`regions: need branching > 1 and topCount ≥ 1`);

  const ids: number[] = [];
  for (let i = 0; i < n; i++) if (alive[i]) ids.push(i);
  const m = ids.length;
  const totalSteps = 6;
  progress?.(0, totalSteps);
  const phase = phaseTimer("regions");

  // Level assignments over alive nodes (compact index c ↔ feature ids[c]), finest first.
  const g = communityGraph(input, ids, o);
  phase("community graph", ` (${g.n} nodes)`);
  const fine = finestLevel(g, o, input.seed);
  phase("finest level", ` (${fine.count} regions)`);
  progress?.(1, totalSteps);
  const chain = coarserLevels(g, fine.community, fine.count, o, input.seed);
  phase("coarser levels");
  progress?.(2, totalSteps);

  // chain[0] is the finest level over nodes; chain[t] for t > 0 maps level-(t−1) regions to level-t regions.
  const nLevels = chain.length;
  const perLevel: Int32Array[] = []; // perLevel[t]: region of each alive node at chain step t (finest = 0)
  if (nLevels) perLevel.push(chain[0]!.labels);
  for (let t = 1; t < nLevels; t++) {
    const prev = perLevel[t - 1]!;
    const map = chain[t]!.labels;
    perLevel.push(Int32Array.from(prev, (r) => map[r]!));
  }
  const counts = chain.map((c) => c.count);

  // Order regions: level 0 by size, then each level grouped by parent order, then by size; ties
  // by smallest member id, which keeps the order independent of Louvain's numbering.
  const order: Int32Array[] = []; // order[L][raw region] = final index within level L (L = 0 coarsest)
  const rawOfLevel = (L: number): Int32Array => perLevel[nLevels - 1 - L]!;
  for (let L = 0; L < nLevels; L++) {
    const raw = rawOfLevel(L);
    const count = counts[nLevels - 1 - L]!;
    const size = new Int32Array(count);
    const minId = new Int32Array(count).fill(0x7fffffff);
    const parentRank = new Int32Array(count);
    for (let c = 0; c < m; c++) {
      const r = raw[c]!;
      size[r]!++;
      if (ids[c]! < minId[r]!) minId[r] = ids[c]!;
      if (L > 0) parentRank[r] = order[L - 1]![rawOfLevel(L - 1)[c]!]!;
    }
    const sorted = Array.from({ length: count }, (_, r) => r).sort(
      (a, b) => parentRank[a]! - parentRank[b]! || size[b]! - size[a]! || minId[a]! - minId[b]!,
    );
    const rank = new Int32Array(count);
    sorted.forEach((r, k) => (rank[r] = k));
    order.push(rank);
  }

  const levelStart: number[] = [0];
  for (let L = 0; L < nLevels; L++) levelStart.push(levelStart[L]! + counts[nLevels - 1 - L]!);
  const total = levelStart[nLevels]!;
  const regionOf: Int32Array[] = []; // regionOf[L][feature] = global index, −1 when dead
  for (let L = 0; L < nLevels; L++) {
    const raw = rawOfLevel(L);
    const a = new Int32Array(n).fill(-1);
    for (let c = 0; c < m; c++) a[ids[c]!] = levelStart[L]! + order[L]![raw[c]!]!;
    regionOf.push(a);
  }

  const level = new Int32Array(total);
  const parent = new Int32Array(total).fill(-1);
  const size = new Int32Array(total);
  const children = new Int32Array(total);
  const memberLists: number[][] = Array.from({ length: total }, () => []);
  for (let L = 0; L < nLevels; L++) {
    for (let r = levelStart[L]!; r < levelStart[L + 1]!; r++) level[r] = L;
    for (const i of ids) {
      const r = regionOf[L]![i]!;
      memberLists[r]!.push(i);
      size[r]!++;
      if (L > 0) parent[r] = regionOf[L - 1]![i]!;
    }
  }
  for (let r = 0; r < total; r++) if (parent[r]! >= 0) children[parent[r]!]!++;
  const leafOf = nLevels ? regionOf[nLevels - 1]! : new Int32Array(n).fill(-1);

  phase("ordering and members");
  const shapes = memberLists.map((list) => regionShape(list, xy, o.maxHullPoints));
  phase("shapes");
  progress?.(3, totalSteps);
  const centre = representatives(unit, d, { members: memberLists, parent, levelStart }, o.topMembers);
  phase("representatives");
  progress?.(4, totalSteps);

  const vocab = buildVocabulary(labels);
  const namingNodes: NamingNode[] = [];
  for (let r = 0; r < total; r++) {
    const counts = new Map<string, number>();
    let labelled = 0;
    const weights = new Map<string, number>();
    const list = memberLists[r]!;
    const cos = centre.cosines[r]!;
    for (let q = 0; q < list.length; q++) {
      const terms = vocab.featureTerms[list[q]!]!;
      if (terms.length) labelled++;
      // Terms of typical members count more: see `NamingNode.weights`.
      const w = Math.max(0, cos[q]!);
      for (const t of terms) {
        counts.set(t, (counts.get(t) ?? 0) + 1);
        weights.set(t, (weights.get(t) ?? 0) + w);
      }
    }
    namingNodes.push({ parent: parent[r]!, counts, weights, labelled, fallback: `region ${level[r]}-${r - levelStart[level[r]!]!}` });
  }
  const auto = autoNames(namingNodes, vocab);
  phase("names");
  progress?.(5, totalSteps);

  // Hand-written names and carried-over slugs.
  const warnings: string[] = [];
  const target: MatchTarget = { leafOf, parent, level, size };
  const name = auto.map((a) => a.name);
  const nameSource: ("auto" | "manual")[] = new Array(total).fill("auto");
  const fixedSlugs = new Map<number, string>();
  if (o.previous?.length) {
    const { region } = matchByMembers(o.previous, target, o.matchThreshold);
    region.forEach((r, s) => {
      if (r >= 0) fixedSlugs.set(r, o.previous![s]!.slug);
    });
  }
  if (o.names) applyNames(o.names, target, o.matchThreshold, name, nameSource, fixedSlugs, warnings);
  const fallbackSlugs = Array.from({ length: total }, (_, r) => `region-${level[r]}-${r - levelStart[level[r]!]!}`);
  const { slugs, dropped } = assignSlugs(name, fallbackSlugs, fixedSlugs);
  for (const { index, slug } of dropped) warnings.push(`slug "${slug}" is wanted by two regions; region ${level[index]}-${index - levelStart[level[index]!]!} gets "${slugs[index]}"`);

  const regions: RegionNode[] = [];
  for (let r = 0; r < total; r++) {
    const L = level[r]!;
    regions.push({
      id: `${L}-${r - levelStart[L]!}`,
      level: L,
      index: r - levelStart[L]!,
      parent: parent[r]!,
      children: children[r]!,
      members: Int32Array.from(memberLists[r]!),
      centroid: shapes[r]!.centroid,
      bounds: shapes[r]!.bounds,
      hull: shapes[r]!.hull,
      name: name[r]!,
      slug: slugs[r]!,
      nameSource: nameSource[r]!,
      autoName: auto[r]!.name,
      terms: auto[r]!.terms.map((t) => vocab.display.get(t) ?? t),
      top: centre.top[r]!,
      cohesion: centre.cohesion[r]!,
    });
  }
  phase("slugs and nodes");
  progress?.(totalSteps, totalSteps);
  return { n, levels: nLevels, regions, levelStart, leafOf, warnings };
}

function applyNames(
  file: NamesFile,
  target: MatchTarget,
  threshold: number,
  name: string[],
  nameSource: ("auto" | "manual")[],
  fixedSlugs: Map<number, string>,
  warnings: string[],
): void {
  const entries = file.regions.map((e, i) => ({ e, i })).filter(({ e }) => isManual(e));
  const byMembers = entries.filter(({ e }) => e.members);
  const { region } = matchByMembers(
    byMembers.map(({ e }) => ({ level: e.level, members: e.members! })),
    target,
    threshold,
  );
  const used = new Set<number>();
  const apply = (r: number, e: (typeof entries)[number]["e"]): void => {
    used.add(r);
    name[r] = e.name.trim();
    nameSource[r] = "manual";
    if (e.slug) fixedSlugs.set(r, e.slug);
  };
  byMembers.forEach(({ e, i }, s) => {
    const r = region[s]!;
    if (r >= 0) apply(r, e);
    else warnings.push(`hand-written name ${JSON.stringify(e.name)} (entry ${i}) matches no region: no region shares ≥ ${threshold} of its members (Jaccard)`);
  });
  for (const { e, i } of entries) {
    if (!e.anchors) continue;
    const r = regionOfAnchors(e.anchors, target, e.level);
    if (r < 0) warnings.push(`hand-written name ${JSON.stringify(e.name)} (entry ${i}) matches no region: no ${e.level === undefined ? "" : `level-${e.level} `}region holds all its anchors`);
    else if (used.has(r)) warnings.push(`hand-written name ${JSON.stringify(e.name)} (entry ${i}) points at a region already named ${JSON.stringify(name[r])}`);
    else apply(r, e);
  }
}

/**
 * Community graph over alive nodes (compact ids): directed fuzzy-weighted edges from the cosine
 * kNN graph, the 2-D layout kNN graph, or both (summed, so a pair close in both counts most),
 * symmetrised, plus bridges between connected components.
 */
function communityGraph(input: RegionInput, ids: number[], o: { weights: "umap" | "cosine" | "binary"; edges: "knn" | "layout" | "both" }): WeightedGraph {
  const { graph, alive, unit, d, xy } = input;
  const { k1, indices, distances } = graph;
  const compact = new Int32Array(graph.n).fill(-1);
  ids.forEach((i, c) => (compact[i] = c));
  const m = ids.length;
  const k = k1 - 1;
  const sources = o.edges === "both" ? 2 : 1;
  const phase = phaseTimer("regions");
  const from = new Int32Array(m * k * sources);
  const to = new Int32Array(m * k * sources);
  const w = new Float64Array(m * k * sources);
  let e = 0;
  // One point's neighbours (compact ids) and distances, then their weights.
  const nbr = new Int32Array(Math.max(k, 1));
  const dist = new Float64Array(Math.max(k, 1));
  const weight = new Float64Array(Math.max(k, 1));
  const gap = new Float64Array(Math.max(k, 1));
  const push = (c: number, count: number): void => {
    if (o.weights === "umap") fuzzyWeights(dist, count, weight, gap);
    else for (let t = 0; t < count; t++) weight[t] = o.weights === "cosine" ? Math.max(0, 1 - dist[t]!) : 1;
    for (let t = 0; t < count; t++) {
      if (!(weight[t]! > 0)) continue;
      from[e] = c;
      to[e] = nbr[t]!;
      w[e++] = weight[t]!;
    }
  };
  if (o.edges !== "layout") {
    for (let c = 0; c < m; c++) {
      const i = ids[c]!;
      let count = 0;
      for (let t = 1; t < k1; t++) {
        const j = indices[i * k1 + t]!;
        if (j === i || j < 0 || !alive[j]) continue;
        nbr[count] = compact[j]!;
        dist[count++] = distances[i * k1 + t]!;
      }
      push(c, count);
    }
    phase("  kNN edges");
  }
  if (o.edges !== "knn" && k > 0) {
    const near = layoutKnn(xy, ids, ids, k);
    phase("  layout kNN");
    for (let c = 0; c < m; c++) {
      let count = 0;
      for (let t = 0; t < k; t++) {
        const j = near.indices[c * k + t]!;
        if (j < 0) continue;
        nbr[count] = compact[j]!;
        dist[count++] = near.distances[c * k + t]!;
      }
      push(c, count);
    }
    phase("  layout edges");
  }
  let total = 0;
  for (let t = 0; t < e; t++) total += w[t]!;
  const bridges = bridgeComponents(m, from, to, e, unit, d, ids);
  phase("  bridges", ` (${bridges.length / 2} bridges)`);
  const bridgeWeight = e ? (BRIDGE_WEIGHT * total) / e : 1;
  const count = e + bridges.length / 2;
  const from2 = new Int32Array(count);
  const to2 = new Int32Array(count);
  const w2 = new Float64Array(count);
  from2.set(from.subarray(0, e));
  to2.set(to.subarray(0, e));
  w2.set(w.subarray(0, e));
  for (let b = 0; b < bridges.length / 2; b++) {
    from2[e + b] = bridges[2 * b]!;
    to2[e + b] = bridges[2 * b + 1]!;
    w2[e + b] = bridgeWeight;
  }
  const g = symmetricGraph(m, from2, to2, w2, count);
  phase("  symmetric graph");
  return g;
}

/** Weight of a bridge between graph components, relative to the mean edge weight. */
const BRIDGE_WEIGHT = 1e-3;

/**
 * Edges that join the graph's connected components into one, as pairs [a, b, a, b, …] of compact
 * ids. Without them a dictionary whose kNN graph falls apart (a family of near-duplicates that
 * are only each other's neighbours) would keep every piece as its own region up to level 0. Each
 * round (Borůvka) links every component to the component whose mean decoder direction is most
 * similar, between the members closest to the two means; bridges weigh 1/1000 of an average edge,
 * so they only decide what the graph leaves open: which components share a coarse region.
 * O(rounds · (n·d + C²·d)) for C components.
 */
function bridgeComponents(m: number, from: Int32Array, to: Int32Array, e: number, unit: Float32Array, d: number, ids: number[]): number[] {
  const root = new Int32Array(m);
  for (let c = 0; c < m; c++) root[c] = c;
  const find = (c: number): number => {
    while (root[c] !== c) c = root[c] = root[root[c]!]!;
    return c;
  };
  for (let t = 0; t < e; t++) {
    const a = find(from[t]!);
    const b = find(to[t]!);
    if (a !== b) root[Math.max(a, b)] = Math.min(a, b);
  }
  const bridges: number[] = [];
  const dots = new RowDots(d, 1);
  let partSums: { roots: Int32Array; sums: Float64Array } | null = null;
  for (;;) {
    const comps: number[] = [];
    const compOf = new Int32Array(m);
    const index = new Map<number, number>();
    for (let c = 0; c < m; c++) {
      const r = find(c);
      let k = index.get(r);
      if (k === undefined) {
        k = comps.length;
        index.set(r, k);
        comps.push(r);
      }
      compOf[c] = k;
    }
    const C = comps.length;
    if (C <= 1) return bridges;
    // A component's sum of rows is the sum of its parts' sums: only the first round reads the rows.
    const sum = new Float64Array(C * d);
    if (!partSums) {
      for (let c = 0; c < m; c++) {
        const base = compOf[c]! * d;
        const row = ids[c]! * d;
        for (let t = 0; t < d; t++) sum[base + t]! += unit[row + t]!;
      }
    } else {
      for (let q = 0; q < partSums.roots.length; q++) {
        const base = index.get(find(partSums.roots[q]!))! * d;
        for (let t = 0; t < d; t++) sum[base + t]! += partSums.sums[q * d + t]!;
      }
    }
    partSums = { roots: Int32Array.from(comps), sums: sum.slice() };
    const mean = sum;
    for (let k = 0; k < C; k++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += mean[k * d + t]! ** 2;
      const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
      for (let t = 0; t < d; t++) mean[k * d + t]! *= inv;
    }
    // Members of each component in ascending order (so on equal dots the first, smallest id wins).
    const start = new Int32Array(C + 1);
    for (let c = 0; c < m; c++) start[compOf[c]! + 1]!++;
    for (let k = 0; k < C; k++) start[k + 1]! += start[k]!;
    const fill = start.slice(0, C);
    const byComp = new Int32Array(m);
    for (let c = 0; c < m; c++) byComp[fill[compOf[c]!]!++] = c;
    const rowsOf = Int32Array.from(byComp, (c) => ids[c]!);
    const rep = new Int32Array(C).fill(-1);
    for (let k = 0; k < C; k++) {
      dots.setQuery(0, mean, k * d, 1);
      let best = -Infinity;
      const from = start[k]!;
      dots.run(unit, rowsOf.subarray(from, start[k + 1]!), 1, (q, _slot, dot) => {
        if (dot > best) {
          best = dot;
          rep[k] = byComp[from + q]!;
        }
      });
    }
    for (let k = 0; k < C; k++) {
      let best = -1;
      let bestDot = -Infinity;
      for (let q = 0; q < C; q++) {
        if (q === k) continue;
        let s = 0;
        for (let t = 0; t < d; t++) s += mean[k * d + t]! * mean[q * d + t]!;
        if (s > bestDot) {
          bestDot = s;
          best = q;
        }
      }
      const a = find(rep[k]!);
      const b = find(rep[best]!);
      if (a === b) continue; // the pair was already joined this round from the other side
      bridges.push(rep[k]!, rep[best]!);
      root[Math.max(a, b)] = Math.min(a, b);
    }
  }
}

/**
 * UMAP's smooth kNN memberships for one point: exp(−(d − ρ) / σ) with ρ the nearest distance and
 * σ chosen so the memberships sum to log2(k). The nearest neighbour gets 1. Reads dist[0 … k) and
 * writes out[0 … k); `gap` is scratch of at least k. Typed arrays and no per-point allocation:
 * the same arithmetic on number[] arrays was ~1.5× slower (26.7 against 18.2 µs a point, k = 15,
 * in a microbenchmark of 200,000 points), and the community graph runs it twice per feature.
 */
function fuzzyWeights(dist: Float64Array, k: number, out: Float64Array, gap: Float64Array): void {
  if (k === 0) return;
  let rho = Infinity;
  let sum = 0;
  for (let t = 0; t < k; t++) {
    if (dist[t]! < rho) rho = dist[t]!;
    sum += dist[t]!;
  }
  for (let t = 0; t < k; t++) gap[t] = Math.max(0, dist[t]! - rho);
  const targetSum = Math.log2(k);
  let lo = 0;
  let hi = Infinity;
  let sigma = 1;
  for (let it = 0; it < 64; it++) {
    let s = 0;
    for (let t = 0; t < k; t++) s += Math.exp(-gap[t]! / sigma);
    if (Math.abs(s - targetSum) < 1e-5) break;
    if (s > targetSum) {
      hi = sigma;
      sigma = (lo + hi) / 2;
    } else {
      lo = sigma;
      sigma = hi === Infinity ? sigma * 2 : (lo + hi) / 2;
    }
  }
  // Floor like UMAP, so a point whose neighbours are all at one distance still has edges.
  sigma = Math.max(sigma, 1e-3 * (sum / k));
  for (let t = 0; t < k; t++) out[t] = sigma > 0 ? Math.exp(-gap[t]! / sigma) : 1;
}

interface Partition {
  community: Int32Array;
  count: number;
}

/**
 * Louvain at the resolution whose (cleaned-up) community count is closest to `target`. The count
 * grows with γ almost monotonically; the search starts at γ = target / 10 (close on kNN graphs:
 * measured 0.9–1.4 × the final γ from 1,000 to 65,000 nodes), steps by ×8 until the target is
 * bracketed, then bisects log γ. The best try is kept. Each try is a full Louvain run, the cost
 * of this stage at scale, so it stops as soon as a count is within `tolerance` of the target.
 */
function searchResolution(
  g: WeightedGraph,
  target: number,
  clean: (p: Partition) => Partition,
  random: () => number,
  tolerance = 1.08,
): Partition {
  let lo = -Infinity;
  let hi = Infinity;
  let x = Math.log(Math.max(1e-6, target / 10));
  let best: Partition | null = null;
  let bestErr = Infinity;
  const tries = phasesOn("regions") && g.n >= TRY_LOG_NODES ? phaseTimer("regions") : null;
  for (let step = 0; step < 40; step++) {
    const p = clean(louvain(g, { resolution: Math.exp(x), random }));
    const err = Math.abs(Math.log(p.count / target));
    tries?.(`try on ${g.n} nodes`, `: γ ${Math.exp(x).toPrecision(4)} → ${p.count} regions (target ${target})`);
    if (err < bestErr) {
      best = p;
      bestErr = err;
    }
    if (err <= Math.log(tolerance)) break;
    if (p.count < target) lo = x;
    else hi = x;
    if (hi - lo < 0.02 || x < Math.log(1e-12) || x > Math.log(1e9)) break;
    x = Number.isFinite(lo) && Number.isFinite(hi) ? (lo + hi) / 2 : Number.isFinite(lo) ? lo + Math.log(8) : hi - Math.log(8);
  }
  // On small graphs (the coarse levels) the count can jump non-monotonically with γ and bisection
  // then misses; a scan of γ over the bracket is cheap there and finds the closest count.
  if (bestErr > Math.log(tolerance) && g.n <= SCAN_NODES) {
    const from = Number.isFinite(lo) ? lo - 1 : Math.log(1e-9);
    const to = Number.isFinite(hi) ? hi + 1 : Math.log(1e5);
    for (let t = 0; t <= 64; t++) {
      const p = clean(louvain(g, { resolution: Math.exp(from + ((to - from) * t) / 64), random }));
      const err = Math.abs(Math.log(p.count / target));
      if (err < bestErr) {
        best = p;
        bestErr = err;
      }
    }
  }
  return best!;
}

/** Smallest graph whose Louvain tries FEATURE_ATLAS_PHASES=regions logs one by one. */
const TRY_LOG_NODES = 50000;

/** Largest graph on which `searchResolution` falls back to scanning γ. */
const SCAN_NODES = 20000;

function finestLevel(g: WeightedGraph, o: Required<Omit<RegionOptions, "previous" | "names">>, seed: number): Partition {
  const m = g.n;
  if (m === 0) return { community: new Int32Array(0), count: 0 };
  const unitSize = new Float64Array(m).fill(1);
  const random = rng(seed, "regions:finest");
  const clean = (p: Partition): Partition => {
    let count = splitDisconnected(g, p.community);
    count = mergeSmall(g, p.community, count, unitSize, o.minLeaf);
    return { community: p.community, count };
  };
  const target = Math.max(1, Math.round(m / o.leafSize));
  // The finest sizes are flexible (splits and merges follow), so a count within 20% will do.
  const p = searchResolution(g, target, clean, random, 1.2);

  // Louvain's sizes are uneven; split the big ones by Louvain inside them.
  const members: number[][] = Array.from({ length: p.count }, () => []);
  for (let c = 0; c < m; c++) members[p.community[c]!]!.push(c);
  const scratch = new Int32Array(m).fill(-1);
  let next = p.count;
  for (let r = 0; r < members.length; r++) {
    const list = members[r]!;
    if (list.length <= o.maxLeaf) continue;
    const sub = inducedSubgraph(g, list, scratch);
    const subUnit = new Float64Array(sub.n).fill(1);
    const parts = searchResolution(
      sub,
      Math.max(2, Math.round(list.length / o.leafSize)),
      (q) => {
        let count = splitDisconnected(sub, q.community);
        count = mergeSmall(sub, q.community, count, subUnit, o.minLeaf);
        return { community: q.community, count };
      },
      random,
    );
    if (parts.count < 2) continue;
    for (let t = 0; t < list.length; t++) {
      const part = parts.community[t]!;
      if (part > 0) p.community[list[t]!] = next + part - 1;
    }
    next += parts.count - 1;
  }
  const count = renumber(p.community);
  return { community: p.community, count };
}

interface ChainStep {
  /** Step 0: region of each node; step t > 0: region at this level of each region one level finer. */
  labels: Int32Array;
  count: number;
}

function coarserLevels(g: WeightedGraph, fine: Int32Array, fineCount: number, o: Required<Omit<RegionOptions, "previous" | "names">>, seed: number): ChainStep[] {
  if (fineCount === 0) return [];
  const chain: ChainStep[] = [{ labels: fine, count: fineCount }];
  // Levels: enough that consecutive counts differ by about `branching`, from fineCount down to topCount.
  const ratio = fineCount / o.topCount;
  const steps = ratio > 1.5 ? Math.max(1, Math.round(Math.log(ratio) / Math.log(o.branching))) : 0;
  let h = aggregate(g, fine, fineCount);
  let count = fineCount;
  for (let s = steps - 1; s >= 0; s--) {
    const target = Math.max(1, Math.round(o.topCount * ratio ** (s / steps)));
    const random = rng(seed, `regions:level${s}`);
    const hh = h;
    const ones = new Float64Array(hh.n).fill(1);
    const clean = (p: Partition): Partition => {
      let c = splitDisconnected(hh, p.community);
      // A coarse region with one child would repeat that child on the map; merge it into a
      // neighbour, but not below the target count (at a high γ every region is alone, and merging
      // them all would just be an arbitrary agglomeration).
      c = mergeSmall(hh, p.community, c, ones, 2, target);
      return { community: p.community, count: c };
    };
    const p = searchResolution(hh, target, clean, random);
    if (p.count >= count) continue; // no coarser structure (e.g. disconnected pieces): stop adding levels
    chain.push({ labels: p.community, count: p.count });
    h = aggregate(h, p.community, p.count);
    count = p.count;
  }
  return chain;
}
