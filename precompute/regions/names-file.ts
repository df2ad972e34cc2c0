/**
 * Hand-written region names: `regions.names.json` beside the dictionary.
 *
 *   {
 *     "version": 1,
 *     "regions": [
 *       { "name": "Storms and coasts", "level": 1, "members": [12, 40, 77, …] },
 *       { "name": "Inner conflict", "anchors": [1021, 3310], "slug": "inner-conflict" }
 *     ]
 *   }
 *
 * Each entry names one region, found in the new build by either
 * - `members`: the region's feature ids as they were (e.g. from `exportNamesFile`). The region of
 *   this build with the highest Jaccard overlap, at least 0.5, gets the name, one entry per region;
 *   so a name survives a rebuild that moves a few features around; or
 * - `anchors`: a few feature ids a person (or a language model reading feature labels) picked as
 *   typical: the smallest region holding them all, at `level` when given, gets the name.
 * `level` (0 = coarsest) breaks ties between nested regions with the same members. `slug`, when
 * given, becomes the region's URL slug (otherwise the slug of the matched region is kept when a
 * previous build gave it one, or one is made from the name).
 *
 * `exportNamesFile` writes every region of a build in this form with `autoName` set to the
 * automatic name. An entry whose `name` still equals its `autoName` is not a hand-written name and
 * is skipped; so the workflow is: export, edit the names you want, save as regions.names.json.
 */
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { z } from "zod";
import { slugSchema } from "../../contract/atlas.ts";
import { InputError } from "../read/safetensors.ts";
import type { RegionHierarchy } from "./hierarchy.ts";

export const NAMES_FILE = "regions.names.json";

const featureIds = z.array(z.number().int().nonnegative());

export const namesEntrySchema = z
  .object({
    name: z.string().trim().min(1).max(120),
    slug: slugSchema.optional(),
    level: z.number().int().nonnegative().optional(),
    members: featureIds.min(1).optional(),
    anchors: featureIds.min(1).optional(),
    /** Set by `exportNamesFile`: the automatic name at export time. */
    autoName: z.string().optional(),
  })
  .refine((e) => (e.members === undefined) !== (e.anchors === undefined), "give either `members` or `anchors` (not both)");
export type NamesEntry = z.infer<typeof namesEntrySchema>;

export const namesFileSchema = z.object({
  version: z.literal(1),
  regions: z.array(namesEntrySchema),
});
export type NamesFile = z.infer<typeof namesFileSchema>;

/** True when the entry carries a name someone wrote (not an untouched exported automatic name). */
export function isManual(e: NamesEntry): boolean {
  return e.autoName === undefined || e.name.trim() !== e.autoName.trim();
}

/** Parse and check a names file's text; `where` names it in errors. Ids are checked against `nFeatures`. */
export function parseNamesFile(text: string, where: string, nFeatures: number): NamesFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${where}: not valid JSON (${(e as Error).message})`);
  }
  const parsed = namesFileSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const at = issue.path.length ? issue.path.join(".") : "(root)";
    throw new InputError(`${where}: ${at}: ${issue.message}`);
  }
  parsed.data.regions.forEach((e, i) => {
    for (const id of [...(e.members ?? []), ...(e.anchors ?? [])]) {
      if (id >= nFeatures) {
        throw new InputError(`${where}: regions.${i} (${JSON.stringify(e.name)}): feature ${id} does not exist (the dictionary has 0…${nFeatures - 1})`);
      }
    }
  });
  return parsed.data;
}

export function readNamesFile(path: string, nFeatures: number): NamesFile {
  return parseNamesFile(readFileSync(path, "utf8"), basename(path), nFeatures);
}

/** Every region of `h` as a names-file entry, automatic names flagged by `autoName`. */
export function exportNamesFile(h: RegionHierarchy): NamesFile {
  return {
    version: 1,
    regions: h.regions.map((r) => ({
      name: r.name,
      slug: r.slug,
      level: r.level,
      members: Array.from(r.members),
      ...(r.nameSource === "auto" ? { autoName: r.name } : { autoName: r.autoName }),
    })),
  };
}

/**
 * A names file as text: one entry per line group, member lists on one line, so a person can find
 * and edit names in an editor and a diff shows which names changed.
 */
export function formatNamesFile(file: NamesFile): string {
  const lines = file.regions.map((e) => {
    const head: string[] = [`"name": ${JSON.stringify(e.name)}`];
    if (e.autoName !== undefined) head.push(`"autoName": ${JSON.stringify(e.autoName)}`);
    if (e.slug !== undefined) head.push(`"slug": ${JSON.stringify(e.slug)}`);
    if (e.level !== undefined) head.push(`"level": ${e.level}`);
    const ids = e.members ? `"members": [${e.members.join(",")}]` : `"anchors": [${(e.anchors ?? []).join(",")}]`;
    return `    {${head.join(", ")},\n      ${ids}}`;
  });
  return `{\n  "version": 1,\n  "regions": [\n${lines.join(",\n")}\n  ]\n}\n`;
}
