/**
 * Which splits pair folders (contract/splits.ts) under the atlas root the site publishes. Shared by
 * the Astro integration (which copies or serves them) and `splits.ts` (which renders them into
 * pages), so both agree. Node only.
 *
 * A pair is published only when both of its atlases are on the site and still have the manifests
 * the pair was computed from: after either atlas is rebuilt its ids may mean other features, so a
 * stale pair is left out with a warning that says how to refresh it.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { FORMAT_VERSION, parseWithFriendlyErrors } from "../../contract/atlas.ts";
import { SPLITS_DIR, SPLITS_ENTRY, SPLITS_FORMAT_VERSION, splitsIndexSchema, splitsPairName, type SplitsIndex } from "../../contract/splits.ts";
import type { AtlasFolder } from "./atlas-dir.ts";

export interface SplitsFolder {
  /** Absolute path of the pair folder. */
  dir: string;
  /** `<small>--<large>`: the folder name, and the path under `/splits/` on the site. */
  name: string;
  index: SplitsIndex;
}

function manifestSha(dir: string): string {
  return createHash("sha256").update(readFileSync(path.join(dir, "manifest.json"))).digest("hex");
}

/**
 * Every complete, current pair under `<rootDir>/splits/`, sorted by name. Incomplete folders (no
 * entry file) are skipped silently, as unfinished atlases are; stale or orphaned pairs with a
 * warning; a malformed entry file throws.
 */
export function scanSplits(rootDir: string, atlases: readonly AtlasFolder[], warn: (message: string) => void = console.warn): SplitsFolder[] {
  const splitsRoot = path.join(rootDir, SPLITS_DIR);
  if (!existsSync(splitsRoot) || !statSync(splitsRoot).isDirectory()) return [];
  const clash = atlases.find((a) => a.manifest.id === SPLITS_DIR);
  if (clash) throw new Error(`atlas "${SPLITS_DIR}" (${clash.dir}) would be published where the feature splits go (/${SPLITS_DIR}/); give it another id`);
  const byId = new Map(atlases.map((a) => [a.manifest.id, a]));
  const found: SplitsFolder[] = [];
  for (const name of readdirSync(splitsRoot).sort()) {
    const dir = path.join(splitsRoot, name);
    const entry = path.join(dir, SPLITS_ENTRY);
    if (!statSync(dir).isDirectory() || !existsSync(entry)) continue;
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(entry, "utf8"));
    } catch (error) {
      throw new Error(`${entry}: not valid JSON (${(error as Error).message})`);
    }
    const version = (json as { splitsFormatVersion?: unknown } | null)?.splitsFormatVersion;
    if (version !== SPLITS_FORMAT_VERSION) {
      warn(`${entry} has splits format ${JSON.stringify(version)}, this site reads ${SPLITS_FORMAT_VERSION}; left out (recompute it with npm run atlas -- splits)`);
      continue;
    }
    // Splits of atlases in an older format are stale by construction (the atlases must have been
    // rebuilt since): left out like any stale pair, not a build failure.
    const atlasVersion = (json as { atlasFormatVersion?: unknown }).atlasFormatVersion;
    if (atlasVersion !== FORMAT_VERSION) {
      warn(`${entry} was computed for atlas format ${JSON.stringify(atlasVersion)}, the atlases are format ${FORMAT_VERSION}; left out (recompute it with npm run atlas -- splits)`);
      continue;
    }
    const index = parseWithFriendlyErrors(splitsIndexSchema, json, entry);
    if (name !== splitsPairName(index.small.id, index.large.id)) {
      warn(`${dir} holds the splits of "${index.small.id}" and "${index.large.id}"; left out (the folder must be named ${splitsPairName(index.small.id, index.large.id)})`);
      continue;
    }
    const stale = [index.small, index.large].flatMap((side) => {
      const atlas = byId.get(side.id);
      if (!atlas) return [`atlas "${side.id}" is not on this site`];
      if (manifestSha(atlas.dir) !== side.manifestSha256) return [`atlas "${side.id}" was rebuilt after the splits were computed`];
      return [];
    });
    if (stale.length > 0) {
      warn(`feature splits ${name} left out: ${stale.join("; ")}. Recompute them with npm run atlas -- splits --atlas <dir>=<dictionary> …`);
      continue;
    }
    found.push({ dir, name, index });
  }
  return found;
}
