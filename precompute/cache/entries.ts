/**
 * The stage outputs that are cached, to and from cache entries: the kNN graph, the layout, and
 * the region hierarchy (the measured recall is small, and stored as an entry's meta). Each round
 * trip gives back values equal to the ones stored, so a build from cache writes the same bytes as
 * one without. The `from` functions throw when an entry does not fit; the cache then recomputes.
 */
import type { RegionHierarchy, RegionNode } from "../regions/hierarchy.ts";
import type { KnnGraph } from "../stages.ts";
import type { CacheEntry } from "./stage-cache.ts";

export function knnToEntry(graph: KnnGraph): CacheEntry {
  return { meta: { n: graph.n, k1: graph.k1 }, arrays: { indices: graph.indices, distances: graph.distances } };
}

export function knnFromEntry(e: CacheEntry, n: number): KnnGraph {
  const { k1 } = e.meta as { n: number; k1: number };
  const indices = e.arrays.indices;
  const distances = e.arrays.distances;
  if ((e.meta as { n: number }).n !== n || !(indices instanceof Int32Array) || !(distances instanceof Float32Array) || indices.length !== n * k1 || distances.length !== n * k1) {
    throw new Error(`cached kNN graph does not have ${n} rows`);
  }
  return { n, k1, indices, distances };
}

export function layoutToEntry(xy: Float32Array): CacheEntry {
  return { meta: { points: xy.length / 2 }, arrays: { xy } };
}

export function layoutFromEntry(e: CacheEntry, n: number): Float32Array {
  const xy = e.arrays.xy;
  if (!(xy instanceof Float32Array) || xy.length !== 2 * n) throw new Error(`cached layout does not have ${n} points`);
  return xy;
}

/** A node with `members` kept as a null placeholder, so its key order survives the round trip. */
type StoredNode = Omit<RegionNode, "members"> & { members: null };

/** Region members of all regions go into one Int32Array, with offsets; the rest is JSON. */
export function regionsToEntry(h: RegionHierarchy): CacheEntry {
  const offsets = new Int32Array(h.regions.length + 1);
  for (let r = 0; r < h.regions.length; r++) offsets[r + 1] = offsets[r]! + h.regions[r]!.members.length;
  const members = new Int32Array(offsets[h.regions.length]!);
  const nodes: StoredNode[] = h.regions.map((r, i) => {
    members.set(r.members, offsets[i]!);
    return { ...r, members: null };
  });
  return {
    meta: { n: h.n, levels: h.levels, levelStart: h.levelStart, warnings: h.warnings, nodes },
    arrays: { leafOf: h.leafOf, members, offsets },
  };
}

export function regionsFromEntry(e: CacheEntry, n: number): RegionHierarchy {
  const meta = e.meta as { n: number; levels: number; levelStart: number[]; warnings: string[]; nodes: StoredNode[] };
  const { leafOf, members, offsets } = e.arrays;
  if (meta.n !== n || !(leafOf instanceof Int32Array) || !(members instanceof Int32Array) || !(offsets instanceof Int32Array) || offsets.length !== meta.nodes.length + 1) {
    throw new Error(`cached regions do not fit ${n} features`);
  }
  const regions: RegionNode[] = meta.nodes.map((node, i) => ({ ...node, members: members.slice(offsets[i]!, offsets[i + 1]!) }));
  return { n: meta.n, levels: meta.levels, levelStart: meta.levelStart, warnings: meta.warnings, regions, leafOf };
}
