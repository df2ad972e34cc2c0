/**
 * The regions as atlas files (see the Regions section of contract/atlas.ts), and back: the
 * previous build's regions, read from its files, so that this build can keep their slugs.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  FORMAT_VERSION,
  parseWithFriendlyErrors,
  regionLevelFileSchema,
  regionRedirectsFileSchema,
  regionMembersFileSchema,
  type Region,
  type RegionLevelFile,
  type RegionMembersFile,
  type RegionRedirect,
  type RegionsInfo,
} from "../../contract/atlas.ts";
import type { PreviousRegion, RegionHierarchy, RegionNode } from "./hierarchy.ts";

export function toContractRegion(h: RegionHierarchy, r: RegionNode): Region {
  return {
    id: r.id,
    level: r.level,
    index: r.index,
    parent: r.parent >= 0 ? h.regions[r.parent]!.id : null,
    children: r.children,
    members: r.members.length,
    centroid: r.centroid,
    bounds: r.bounds,
    hull: r.hull,
    name: r.name,
    slug: r.slug,
    nameSource: r.nameSource,
    terms: r.terms,
    top: r.top,
    cohesion: r.cohesion,
  };
}

/** The contents of the regions files: one per level, coarsest first, and the membership file. */
export function regionFiles(h: RegionHierarchy): { levels: RegionLevelFile[]; members: RegionMembersFile } | null {
  if (h.levels === 0) return null;
  const levels: RegionLevelFile[] = [];
  for (let L = 0; L < h.levels; L++) {
    levels.push({
      formatVersion: FORMAT_VERSION,
      level: L,
      regions: h.regions.slice(h.levelStart[L], h.levelStart[L + 1]).map((r) => toContractRegion(h, r)),
    });
  }
  const finest = h.levelStart[h.levels - 1]!;
  const leaf = Array.from(h.leafOf, (r) => (r < 0 ? -1 : r - finest));
  return { levels, members: { formatVersion: FORMAT_VERSION, levels: h.levels, leaf } };
}

/** Every region's slug, level and member ids, from the contents of a previous build's regions files. */
export function previousRegions(levels: readonly RegionLevelFile[], members: RegionMembersFile): PreviousRegion[] {
  const sorted = [...levels].sort((a, b) => a.level - b.level);
  const byId = new Map<string, { slug: string; level: number; members: number[] }>();
  const entries: { slug: string; level: number; members: number[] }[] = [];
  for (const file of sorted) {
    for (const r of file.regions) {
      const e = { slug: r.slug, level: r.level, members: [] as number[] };
      byId.set(r.id, e);
      entries.push(e);
    }
  }
  const finest = sorted[sorted.length - 1];
  if (!finest) return [];
  const parentOf = new Map<string, string | null>();
  for (const file of sorted) for (const r of file.regions) parentOf.set(r.id, r.parent);
  members.leaf.forEach((index, id) => {
    if (index < 0) return;
    const leaf = finest.regions[index];
    if (!leaf) throw new Error(`regions members file: feature ${id} is in region ${index} of level ${finest.level}, which has ${finest.regions.length}`);
    for (let r: string | null | undefined = leaf.id; r; r = parentOf.get(r)) byId.get(r)?.members.push(id);
  });
  return entries;
}

/**
 * Format versions whose region files are the same as this version's (2 changed only the tiles,
 * 3 only search, 4 only where the file list is).
 */
const REGION_FILES_READ_ALIKE: readonly number[] = [1, 2, 3, FORMAT_VERSION];

/**
 * The previous regions of the atlas in `atlasDir`, read through its manifest's regions entry
 * (`manifest.regions`, a RegionsInfo), or [] when there is no such atlas or it has no regions.
 */
export function readPreviousRegions(atlasDir: string): PreviousRegion[] {
  const manifestPath = join(atlasDir, "manifest.json");
  if (!existsSync(manifestPath)) return [];
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as { formatVersion?: unknown; regions?: RegionsInfo | null };
  const info = manifest.regions;
  if (!info) return [];
  // Rebuilding an atlas of an older format keeps its region slugs when its region files read the
  // same; any other version starts the slugs afresh rather than failing the build.
  if (!REGION_FILES_READ_ALIKE.includes(manifest.formatVersion as number)) return [];
  const read = (path: string): unknown => ({ ...(JSON.parse(readFileSync(join(atlasDir, path), "utf8")) as object), formatVersion: FORMAT_VERSION });
  const levels = info.levels.map((l) => parseWithFriendlyErrors(regionLevelFileSchema, read(l.path), l.path));
  const members = parseWithFriendlyErrors(regionMembersFileSchema, read(info.members), info.members);
  return previousRegions(levels, members);
}

/**
 * The redirects of the atlas in `atlasDir` (its manifest's `regions.redirects` file), to carry
 * forward into the next build; [] when there is no such atlas or it has none.
 */
export function readPreviousRedirects(atlasDir: string): RegionRedirect[] {
  const manifestPath = join(atlasDir, "manifest.json");
  if (!existsSync(manifestPath)) return [];
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as { formatVersion?: unknown; regions?: RegionsInfo | null };
  const path = manifest.regions?.redirects;
  if (!path || !REGION_FILES_READ_ALIKE.includes(manifest.formatVersion as number)) return [];
  const file = { ...(JSON.parse(readFileSync(join(atlasDir, path), "utf8")) as object), formatVersion: FORMAT_VERSION };
  return parseWithFriendlyErrors(regionRedirectsFileSchema, file, path).redirects;
}
