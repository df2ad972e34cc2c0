/**
 * Which preview images an atlas gets, and which one each feature page points at (see `ogPolicy`
 * in og-image.ts for the policy itself). Node only: reads the atlas's region files.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import {
  parseWithFriendlyErrors,
  regionLevelFileSchema,
  regionMembersFileSchema,
  type Manifest,
  type Region,
} from "../../contract/atlas.ts";
import { atlasFolder } from "./layout-index.ts";
import { OG_MAX_IMAGES, ogPolicy, type OgPolicy } from "./og-image.ts";
import { pagePlan } from "./page-plan.ts";

export interface OgPlan {
  policy: OgPolicy;
  /** Regions that get an image (policy `regions`), else []. */
  regions: Region[];
  /** Site path (without base) of the image for feature `id`, e.g. `demo/og/feature/12.png`. */
  featureImage(id: number): string;
}

export function atlasImagePath(atlasId: string): string {
  return `${atlasId}/og/atlas.png`;
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new Error(`${file}: cannot read (${(error as Error).message})`);
  }
}

/**
 * The finest region level with at most `max` regions (coarser levels are nested in it), or null
 * when even level 0 has more.
 */
export function chooseRegionLevel(levels: { level: number; count: number }[], max: number): number | null {
  let best: number | null = null;
  for (const l of levels) if (l.count <= max && (best === null || l.level > best)) best = l.level;
  return best;
}

/**
 * For every feature, its region at `level`: the finest region (`leaf`, an index into the finest
 * level) followed up through `parent`. -1 for dead features (no region).
 */
export function regionIndexAtLevel(leaf: number[], levels: Region[][], level: number): Int32Array {
  const finest = levels.length - 1;
  const byId = new Map<string, Region>();
  for (const rs of levels) for (const r of rs) byId.set(r.id, r);
  // Finest-level index → index at `level`, computed once per finest region rather than per feature.
  const up = new Int32Array(levels[finest]?.length ?? 0).fill(-1);
  levels[finest]?.forEach((r, i) => {
    let cur: Region | undefined = r;
    while (cur && cur.level > level) cur = cur.parent ? byId.get(cur.parent) : undefined;
    up[i] = cur && cur.level === level ? cur.index : -1;
  });
  return Int32Array.from(leaf, (l) => (l >= 0 && l < up.length ? up[l]! : -1));
}

const plans = new Map<string, OgPlan>();

export function ogPlan(manifest: Manifest): OgPlan {
  const cached = plans.get(manifest.id);
  if (cached) return cached;
  const id = manifest.id;
  let policy = ogPolicy(manifest);
  // A page budget that has no room for the region images falls back to the atlas image.
  if (policy === "regions" && !pagePlan().forAtlas(id).regionImages) policy = "atlas";
  let plan: OgPlan = { policy, regions: [], featureImage: () => atlasImagePath(id) };
  if (policy === "all") {
    plan = { policy, regions: [], featureImage: (n) => `${id}/og/feature/${n}.png` };
  } else if (policy === "regions" && manifest.regions) {
    const level = chooseRegionLevel(manifest.regions.levels, OG_MAX_IMAGES);
    if (level === null) policy = "atlas";
    else {
      const dir = atlasFolder(id).dir;
      const levels = manifest.regions.levels.map((l) => {
        const file = path.join(dir, l.path);
        return parseWithFriendlyErrors(regionLevelFileSchema, readJson(file), file).regions;
      });
      const membersFile = path.join(dir, manifest.regions.members);
      const members = parseWithFriendlyErrors(regionMembersFileSchema, readJson(membersFile), membersFile);
      const regionOf = regionIndexAtLevel(members.leaf, levels, level);
      const regions = levels[level]!;
      plan = {
        policy,
        regions,
        featureImage: (n) => {
          const r = regionOf[n] ?? -1;
          return r >= 0 ? `${id}/og/region/${regions[r]!.slug}.png` : atlasImagePath(id);
        },
      };
    }
  }
  if (policy === "atlas") plan = { policy, regions: [], featureImage: () => atlasImagePath(id) };
  plans.set(id, plan);
  return plan;
}
