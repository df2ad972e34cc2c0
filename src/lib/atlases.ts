/**
 * Build-time access to the atlases, for `.astro` frontmatter and `getStaticPaths` only (Node fs).
 *
 * Memory stays flat however many features an atlas has: routes carry ids only, and a page reads
 * its feature from the shard on demand. Astro renders pages one after another in route order, so
 * consecutive pages hit the same shard and a small LRU of parsed shards is enough.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import {
  featureRecordSchema,
  featureShardSchema,
  parseWithFriendlyErrors,
  shardFor,
  type FeatureRecord,
  type Manifest,
} from "../../contract/atlas.ts";
import { siteFileSchema, type SiteFile } from "../../contract/site.ts";
import { atlasRoot, scanAtlases, type AtlasFolder } from "./atlas-dir.ts";
import { buildDate } from "./site-index.ts";

let atlases: Map<string, AtlasFolder> | undefined;

function load(): Map<string, AtlasFolder> {
  atlases ??= new Map(scanAtlases(atlasRoot()).map((a) => [a.manifest.id, a]));
  return atlases;
}

/** Manifests of every atlas, sorted by id. */
export function listAtlases(): Manifest[] {
  return [...load().values()].map((a) => a.manifest);
}

/** The manifest of atlas `id`; throws when there is none. */
export function getManifest(id: string): Manifest {
  const atlas = load().get(id);
  if (!atlas) throw new Error(`no atlas with id "${id}" under ${atlasRoot()}`);
  return atlas.manifest;
}

let site: SiteFile | null | undefined;

/**
 * `<atlas root>/site.json`, written by `build --config` (the site title and the config's order of
 * atlases); null when the atlases were built one by one.
 */
export function siteFile(): SiteFile | null {
  if (site !== undefined) return site;
  const file = path.join(atlasRoot(), "site.json");
  if (!existsSync(file)) return (site = null);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new Error(`${file}: not valid JSON (${(error as Error).message})`);
  }
  return (site = parseWithFriendlyErrors(siteFileSchema, json, file));
}

/** When atlas `id` was built: its manifest's mtime, or SOURCE_DATE_EPOCH when set (see buildDate). */
export function atlasBuildDate(id: string): Date {
  const atlas = load().get(id);
  if (!atlas) throw new Error(`no atlas with id "${id}" under ${atlasRoot()}`);
  return buildDate(statSync(path.join(atlas.dir, "manifest.json")).mtime, process.env["SOURCE_DATE_EPOCH"]);
}

/** Every feature id of an atlas, in order (the shards cover 0 … counts.features − 1). */
export function* featureIds(manifest: Manifest): Generator<number> {
  for (let id = 0; id < manifest.counts.features; id++) yield id;
}

const SHARD_CACHE_SIZE = 8;

/**
 * A shard checked down to its list of records; each record is checked when a page asks for it.
 * Under a page budget a few features of each shard get pages, and checking all 2,048 records of
 * a large shard cost as much as parsing it (~100 ms of ~230 ms at 1M features, measured).
 */
const shardEnvelopeSchema = featureShardSchema.extend({ features: z.array(z.unknown()) });
type ShardEnvelope = z.infer<typeof shardEnvelopeSchema> & { file: string };
const shardCache = new Map<string, ShardEnvelope>();

function readShard(atlasId: string, shardPath: string): ShardEnvelope {
  const key = `${atlasId}\n${shardPath}`;
  const hit = shardCache.get(key);
  if (hit) {
    // Re-insert so that Map order is least-recently-used first.
    shardCache.delete(key);
    shardCache.set(key, hit);
    return hit;
  }
  const file = path.join(load().get(atlasId)!.dir, shardPath);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new Error(`${file}: cannot read feature shard (${(error as Error).message})`);
  }
  const shard = { ...parseWithFriendlyErrors(shardEnvelopeSchema, json, file), file };
  shardCache.set(key, shard);
  if (shardCache.size > SHARD_CACHE_SIZE) shardCache.delete(shardCache.keys().next().value!);
  return shard;
}

/** The full record of feature `id` of atlas `atlasId`; throws when the atlas has no such feature. */
export function getFeature(atlasId: string, id: number): FeatureRecord {
  const manifest = getManifest(atlasId);
  const info = shardFor(manifest, id);
  if (!info) throw new Error(`atlas "${atlasId}" has no feature ${id} (it has ${manifest.counts.features})`);
  const shard = readShard(atlasId, info.path);
  const raw = shard.features[id - shard.first];
  const record = raw === undefined ? undefined : parseWithFriendlyErrors(featureRecordSchema, raw, `${shard.file}, feature ${id}`);
  if (!record || record.id !== id) {
    throw new Error(`${info.path} of atlas "${atlasId}": feature ${id} is missing or out of order (found ${record?.id ?? "nothing"})`);
  }
  return record;
}
