/**
 * Build-time access to an atlas's named regions, for `.astro` frontmatter, `getStaticPaths` and
 * endpoints only (Node fs). Everything is read once per atlas and kept: the level files, the
 * membership file, and each feature's label and density.
 *
 * Labels and densities come from the point tiles, not the feature shards: a region page lists up
 * to hundreds of members spread over every shard, and the shards (hundreds of KB of examples each)
 * would be parsed again and again, while the tiles hold exactly the two columns needed, compactly.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { tableFromIPC } from "apache-arrow";
import Flatbush from "flatbush";
import {
  parseWithFriendlyErrors,
  regionLevelFileSchema,
  regionMembersFileSchema,
  regionRedirectsFileSchema,
  type Manifest,
  type Region,
} from "../../contract/atlas.ts";
import { decodeTileCoords } from "../../contract/tile-coords.ts";
import { atlasRoot, scanAtlases } from "./atlas-dir.ts";

export { levelWord } from "./region-index.ts";

export interface AtlasRegions {
  /** Regions per level, coarsest first; `levels[L][i].index === i`. */
  levels: Region[][];
  byId: Map<string, Region>;
  bySlug: Map<string, Region>;
  /** Regions one level down, per region id, in file order (largest first within a parent). */
  children: Map<string, Region[]>;
  /** Member feature ids per region id, ascending. */
  members: Map<string, number[]>;
  /** leaf[id]: index of feature id's finest region, −1 when it has none (dead). */
  leaf: Int32Array;
  /**
   * Old slugs (from earlier builds) and the region each leads to now, sorted by old slug. Never a
   * live slug: the region page wins over a redirect, so a redirect page cannot shadow a region.
   */
  redirects: { from: string; to: Region }[];
}

export interface FeatureSummary {
  label: string | null;
  /** log10 of the firing density; NaN when unknown. */
  log10Density: number;
}

let folders: Map<string, string> | undefined;

function atlasFolder(atlasId: string): string {
  folders ??= new Map(scanAtlases(atlasRoot()).map((a) => [a.manifest.id, a.dir]));
  const dir = folders.get(atlasId);
  if (!dir) throw new Error(`no atlas with id "${atlasId}" under ${atlasRoot()}`);
  return dir;
}

function readJson(file: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new Error(`${file}: cannot read ${what} (${(error as Error).message})`);
  }
}

const regionCache = new Map<string, AtlasRegions | null>();

/** The regions of an atlas, or null when its build made none. Read and checked once per atlas. */
export function getRegions(manifest: Manifest): AtlasRegions | null {
  const cached = regionCache.get(manifest.id);
  if (cached !== undefined) return cached;
  const loaded = manifest.regions ? loadRegions(manifest, atlasFolder(manifest.id)) : null;
  regionCache.set(manifest.id, loaded);
  return loaded;
}

function loadRegions(manifest: Manifest, dir: string): AtlasRegions {
  const info = manifest.regions!;
  const levels: Region[][] = info.levels.map((entry, L) => {
    const file = path.join(dir, entry.path);
    const parsed = parseWithFriendlyErrors(regionLevelFileSchema, readJson(file, "region level file"), file);
    if (parsed.level !== L || entry.level !== L) throw new Error(`${file}: holds level ${parsed.level}, but the manifest lists it as level ${L}`);
    parsed.regions.forEach((r, i) => {
      if (r.index !== i || r.level !== L) throw new Error(`${file}: region ${r.id} is at position ${i} of level ${L} but says index ${r.index}, level ${r.level}`);
    });
    return parsed.regions;
  });
  const membersFile = path.join(dir, info.members);
  const membership = parseWithFriendlyErrors(regionMembersFileSchema, readJson(membersFile, "region members file"), membersFile);
  if (membership.leaf.length !== manifest.counts.features) {
    throw new Error(`${membersFile}: lists ${membership.leaf.length} features, the atlas has ${manifest.counts.features}`);
  }

  const byId = new Map<string, Region>();
  const bySlug = new Map<string, Region>();
  const children = new Map<string, Region[]>();
  for (const level of levels) {
    for (const r of level) {
      if (bySlug.has(r.slug)) throw new Error(`atlas "${manifest.id}": two regions have the slug "${r.slug}"`);
      byId.set(r.id, r);
      bySlug.set(r.slug, r);
      children.set(r.id, []);
    }
  }
  for (const r of byId.values()) {
    if (r.parent === null) continue;
    const siblings = children.get(r.parent);
    if (!siblings) throw new Error(`atlas "${manifest.id}": region ${r.id} names parent ${r.parent}, which does not exist`);
    siblings.push(r);
  }

  const finest = levels[levels.length - 1] ?? [];
  const leaf = Int32Array.from(membership.leaf);
  const members = new Map<string, number[]>();
  for (const r of byId.values()) members.set(r.id, []);
  leaf.forEach((index, id) => {
    if (index < 0) return;
    const region = finest[index];
    if (!region) throw new Error(`${membersFile}: feature ${id} is in region ${index} of the finest level, which has ${finest.length}`);
    // Ids ascend, so every list ends up sorted.
    for (let r: Region | undefined = region; r; r = r.parent === null ? undefined : byId.get(r.parent)) members.get(r.id)!.push(id);
  });
  const redirects: AtlasRegions["redirects"] = [];
  if (info.redirects) {
    const file = path.join(dir, info.redirects);
    for (const { from, to } of parseWithFriendlyErrors(regionRedirectsFileSchema, readJson(file, "region redirects file"), file).redirects) {
      if (bySlug.has(from)) continue;
      const region = bySlug.get(to);
      if (!region) throw new Error(`${file}: "${from}" leads to "${to}", which is no region of atlas "${manifest.id}"`);
      redirects.push({ from, to: region });
    }
  }
  return { levels, byId, bySlug, children, members, leaf, redirects };
}

/** The regions feature `id` belongs to, coarsest first; empty for a dead feature or an atlas without regions. */
export function regionPath(manifest: Manifest, id: number): Region[] {
  const regions = getRegions(manifest);
  const index = regions?.leaf[id] ?? -1;
  if (!regions || index < 0) return [];
  const path: Region[] = [];
  for (let r = regions.levels[regions.levels.length - 1]![index]; r; r = r.parent === null ? undefined : regions.byId.get(r.parent)) path.push(r);
  return path.reverse();
}

/** The enclosing regions of `region`, coarsest first, not counting itself. */
export function regionAncestors(regions: AtlasRegions, region: Region): Region[] {
  const out: Region[] = [];
  for (let p = region.parent; p !== null; ) {
    const r = regions.byId.get(p);
    if (!r) break;
    out.push(r);
    p = r.parent;
  }
  return out.reverse();
}

interface TileColumns {
  labels: (string | null)[];
  log10Density: Float32Array;
  x: Float32Array;
  y: Float32Array;
}

const tileCache = new Map<string, TileColumns>();

function tileColumns(manifest: Manifest): TileColumns {
  let table = tileCache.get(manifest.id);
  if (!table) {
    table = readTiles(manifest, atlasFolder(manifest.id));
    tileCache.set(manifest.id, table);
  }
  return table;
}

/** A feature's label and density, from the point tiles (read once per atlas). */
export function featureSummary(manifest: Manifest, id: number): FeatureSummary {
  const t = tileColumns(manifest);
  return { label: t.labels[id] ?? null, log10Density: t.log10Density[id] ?? NaN };
}

/** A feature's layout position, from the point tiles; NaN when the tiles do not hold it. */
export function featurePosition(manifest: Manifest, id: number): [number, number] {
  const t = tileColumns(manifest);
  return [t.x[id] ?? NaN, t.y[id] ?? NaN];
}

function readTiles(manifest: Manifest, dir: string): TileColumns {
  const n = manifest.counts.features;
  const labels: (string | null)[] = new Array<string | null>(n).fill(null);
  const log10Density = new Float32Array(n).fill(NaN);
  const x = new Float32Array(n).fill(NaN);
  const y = new Float32Array(n).fill(NaN);
  for (const tile of manifest.tiles) {
    const file = path.join(dir, tile.path);
    let table;
    try {
      table = tableFromIPC(readFileSync(file));
    } catch (error) {
      throw new Error(`${file}: cannot read tile ${tile.key} (${(error as Error).message})`);
    }
    const ids = table.getChild("id")?.toArray() as Uint32Array | undefined;
    const dens = table.getChild("log10Density")?.toArray() as Float32Array | undefined;
    const qx = table.getChild("x")?.toArray() as Uint16Array | undefined;
    const qy = table.getChild("y")?.toArray() as Uint16Array | undefined;
    const lab = table.getChild("label");
    if (!ids || !dens || !qx || !qy || !lab) throw new Error(`${file}: tile ${tile.key} lacks one of the id, x, y, log10Density, label columns`);
    const { x: xs, y: ys } = decodeTileCoords(tile.key, qx, qy);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id >= n) throw new Error(`${file}: tile ${tile.key} row ${i} has feature id ${id}, the atlas has ${n}`);
      const label = lab.get(i) as string | null;
      labels[id] = label ? label : null;
      log10Density[id] = dens[i]!;
      x[id] = xs[i]!;
      y[id] = ys[i]!;
    }
  }
  return { labels, log10Density, x, y };
}

/** The drawable regions of one level whose size (largest side of the bounds) is in [2^k, 2^(k+1)). */
interface SizeClass {
  /** Largest size in the class. */
  largest: number;
  /** Packed R-tree of their bounds; item i is level[ids[i]]. */
  tree: Flatbush;
  ids: Uint32Array;
}

/**
 * A level's drawable regions (hull of 3 points or more) in size classes, each with an R-tree of
 * its bounds, built once per level. At 1M features level 5 has 78,000 regions, and a page's frame
 * (its parent's surroundings) meets thousands of them, nearly all too small to draw: a scan of
 * the level, or one search of a single tree, took most of a region page's 6.5 ms. The size
 * classes let `mapContext` skip the small ones without visiting them.
 */
const levelClasses = new WeakMap<readonly Region[], SizeClass[]>();

function sizeOf(r: Region): number {
  return Math.max(r.bounds[2] - r.bounds[0], r.bounds[3] - r.bounds[1]);
}

function sizeClasses(level: readonly Region[]): SizeClass[] {
  let classes = levelClasses.get(level);
  if (classes) return classes;
  const byClass = new Map<number, number[]>();
  level.forEach((r, i) => {
    if (r.hull.length < 3) return;
    const size = sizeOf(r);
    // Zero-size (and non-finite) regions share one class below every other.
    const k = size > 0 && Number.isFinite(size) ? Math.floor(Math.log2(size)) : -Infinity;
    const list = byClass.get(k) ?? [];
    list.push(i);
    byClass.set(k, list);
  });
  classes = [...byClass.values()].map((list) => {
    const tree = new Flatbush(list.length);
    let largest = -Infinity;
    for (const i of list) {
      const b = level[i]!.bounds;
      tree.add(b[0], b[1], b[2], b[3]);
      largest = Math.max(largest, sizeOf(level[i]!));
    }
    tree.finish();
    return { largest, tree, ids: Uint32Array.from(list) };
  });
  levelClasses.set(level, classes);
  return classes;
}

/** Most neighbouring outlines a region page's map draws (see `mapContext`). */
export const MAP_CONTEXT_MAX = 200;

/**
 * The other regions of `region`'s level that its page's small map outlines: those whose bounds
 * meet `frame` and would show at least `minSize` layout units across, nearest centroid first (ties
 * by index), at most `max`. Without the cap, a neighbourhood of the 1M-feature atlas drew every
 * one of the ~2,000 regions in its parent's frame: pages of 300 KB to over 1 MB, and 18 pages a
 * second, so the 94,851 region pages alone would have taken 90 minutes.
 */
export function mapContext(level: readonly Region[], region: Region, frame: readonly [number, number, number, number], minSize: number, max: number = MAP_CONTEXT_MAX): Region[] {
  const [cx, cy] = region.centroid;
  const near: { r: Region; d: number }[] = [];
  for (const c of sizeClasses(level)) {
    if (c.largest < minSize) continue;
    // Flatbush's search keeps boxes that meet the frame, edges included.
    for (const t of c.tree.search(frame[0], frame[1], frame[2], frame[3])) {
      const r = level[c.ids[t]!]!;
      if (r.id === region.id || sizeOf(r) < minSize) continue;
      near.push({ r, d: (r.centroid[0] - cx) ** 2 + (r.centroid[1] - cy) ** 2 });
    }
  }
  near.sort((a, b) => a.d - b.d || a.r.index - b.r.index);
  return near.slice(0, max).map((n) => n.r);
}
