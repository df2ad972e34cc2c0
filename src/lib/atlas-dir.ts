/**
 * Where atlases live on disk, and which folders are atlases. Shared by the Astro integration
 * (which copies or serves the files) and by `atlases.ts` (which renders pages from them), so both
 * always agree on the same folders. Node only.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { parseManifest, type Manifest } from "../../contract/atlas.ts";

/**
 * The atlas root: `ATLAS_DIR` (default `atlases`), relative to `root`. The integration resolves it
 * against Astro's project root once and stores the absolute path back into `ATLAS_DIR`, so that
 * page rendering (which may run with another working directory) reads the same folder.
 */
export function atlasRoot(root: string = process.cwd()): string {
  return path.resolve(root, process.env["ATLAS_DIR"] ?? "atlases");
}

export interface AtlasFolder {
  /** Absolute path of the atlas folder. */
  dir: string;
  manifest: Manifest;
}

/**
 * Every complete atlas under `rootDir` (a folder with a `manifest.json`), sorted by id. A folder
 * without a manifest is an unfinished build and is skipped; a manifest that does not parse — above
 * all one of another format version — throws, so that a site is never built from data it would
 * misread.
 */
export function scanAtlases(rootDir: string, warn: (message: string) => void = console.warn): AtlasFolder[] {
  if (!existsSync(rootDir)) return [];
  const found: AtlasFolder[] = [];
  for (const name of readdirSync(rootDir).sort()) {
    const dir = path.join(rootDir, name);
    const manifestPath = path.join(dir, "manifest.json");
    if (!statSync(dir).isDirectory() || !existsSync(manifestPath)) continue;
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(manifestPath, "utf8"));
    } catch (error) {
      throw new Error(`${manifestPath}: not valid JSON (${(error as Error).message})`);
    }
    const manifest = parseManifest(json, manifestPath);
    if (manifest.id !== name) {
      warn(`atlas folder ${dir} holds atlas id "${manifest.id}"; it is published as /${manifest.id}/ (rename the folder to match)`);
    }
    const clash = found.find((a) => a.manifest.id === manifest.id);
    if (clash) {
      throw new Error(`two atlas folders have the id "${manifest.id}": ${clash.dir} and ${dir}; ids must be unique`);
    }
    found.push({ dir, manifest });
  }
  return found.sort((a, b) => (a.manifest.id < b.manifest.id ? -1 : a.manifest.id > b.manifest.id ? 1 : 0));
}
