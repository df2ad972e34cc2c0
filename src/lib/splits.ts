/**
 * Build-time access to feature splits (contract/splits.ts), for feature pages and the map page.
 * Node only. Like feature shards, a page reads the one splits shard holding its feature, and
 * consecutive pages share it through a small LRU.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseWithFriendlyErrors } from "../../contract/atlas.ts";
import { SPLITS_DIR, splitShardSchema, type SplitPartner, type SplitShard, type SplitShardInfo } from "../../contract/splits.ts";
import { atlasRoot, scanAtlases } from "./atlas-dir.ts";
import { scanSplits, type SplitsFolder } from "./splits-dir.ts";

/** One other width of this atlas's dictionary. */
export interface SplitLink {
  /** The pair folder's name, `<small>--<large>`. */
  pair: string;
  /** "children": the other atlas is wider and this feature splits into its partners; "parents": narrower. */
  relation: "children" | "parents";
  /** Which side of the pair this atlas is. */
  side: "small" | "large";
  other: { id: string; title: string; features: number };
  /** Shards of this atlas's side, paths relative to the pair folder. */
  shards: SplitShardInfo[];
}

let pairs: SplitsFolder[] | undefined;

function load(): SplitsFolder[] {
  if (!pairs) {
    const root = atlasRoot();
    pairs = scanSplits(root, scanAtlases(root, () => {}), () => {});
  }
  return pairs;
}

/** Every other width of atlas `atlasId`'s dictionary that the site has splits for, narrowest first. */
export function splitLinks(atlasId: string): SplitLink[] {
  const links: SplitLink[] = [];
  for (const p of load()) {
    const { small, large } = p.index;
    if (small.id === atlasId) {
      links.push({ pair: p.name, relation: "children", side: "small", other: { id: large.id, title: large.title, features: large.features }, shards: small.shards });
    } else if (large.id === atlasId) {
      links.push({ pair: p.name, relation: "parents", side: "large", other: { id: small.id, title: small.title, features: small.features }, shards: large.shards });
    }
  }
  return links.sort((a, b) => a.other.features - b.other.features || (a.other.id < b.other.id ? -1 : 1));
}

/** The pair folder's URL under the site base, ending in `/`. */
export function splitsBaseUrl(base: string, pair: string): string {
  return `${base.endsWith("/") ? base : `${base}/`}${SPLITS_DIR}/${pair}/`;
}

const SHARD_CACHE_SIZE = 8;
const shardCache = new Map<string, SplitShard>();

function readShard(pair: string, shardPath: string): SplitShard {
  const key = `${pair}\n${shardPath}`;
  const hit = shardCache.get(key);
  if (hit) {
    shardCache.delete(key);
    shardCache.set(key, hit);
    return hit;
  }
  const folder = load().find((p) => p.name === pair)!;
  const file = path.join(folder.dir, shardPath);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new Error(`${file}: cannot read splits shard (${(error as Error).message})`);
  }
  const shard = parseWithFriendlyErrors(splitShardSchema, json, file);
  shardCache.set(key, shard);
  if (shardCache.size > SHARD_CACHE_SIZE) shardCache.delete(shardCache.keys().next().value!);
  return shard;
}

/** One other width, with the partners of one feature in it. */
export interface FeatureSplit extends SplitLink {
  partners: SplitPartner[];
}

/** The partners of feature `id` in every other width the site has splits for. */
export function featureSplits(atlasId: string, id: number): FeatureSplit[] {
  return splitLinks(atlasId).map((link) => {
    const info = link.shards.find((s) => id >= s.first && id < s.first + s.count);
    if (!info) throw new Error(`splits ${link.pair}: no shard holds feature ${id} of "${atlasId}"`);
    const shard = readShard(link.pair, info.path);
    return { ...link, partners: shard.features[id - shard.first] ?? [] };
  });
}
