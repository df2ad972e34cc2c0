import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { atlasFileListSchema, parseWithFriendlyErrors, type AtlasFile, type Manifest } from "../../../contract/atlas.ts";

/** Every file below `dir`, by path relative to it: for comparing two atlases byte for byte. */
export function atlasFiles(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

/** The atlas's file list (manifest.files.path), checked against the contract. */
export function listedFiles(dir: string, manifest: Manifest): AtlasFile[] {
  const file = join(dir, manifest.files.path);
  return parseWithFriendlyErrors(atlasFileListSchema, JSON.parse(readFileSync(file, "utf8")), file).files;
}
