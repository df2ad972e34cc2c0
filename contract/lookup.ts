/**
 * The parts of the atlas contract that browser code needs at run time, kept free of zod so that
 * the map bundle does not carry the schema library (about 29 KB gzipped). `atlas.ts` re-exports
 * everything here; import from this file only in client modules.
 */

/**
 * Version of the atlas format. Bump it on any change that an older reader would misread; the
 * site refuses to build an atlas of another version, and the map warns in the browser.
 */
export const FORMAT_VERSION = 4 as const;
// Version 2: tile x and y are Uint16 steps within the tile's square (contract/tile-coords.ts);
// search is a directory plus capped chunks of sorted terms (searchDirectorySchema in atlas.ts).
// Version 3: a search key's postings are split by word form (searchFormSchema in atlas.ts), so
// exact words rank first; nothing else changed.
// Version 4: the list of every file with its hash moved out of the manifest into its own file
// (`files`, atlasFileListSchema in atlas.ts): at 1M features it was 90% of a 1.5 MB manifest,
// which the map and the fallback page fetch before anything else.

/** A feature shard's place in the manifest (mirrors `shardInfoSchema` in atlas.ts). */
export interface ShardInfo {
  first: number;
  count: number;
  path: string;
}

/** The shard that holds feature `id`, or undefined when the id is out of range. */
export function shardFor(manifest: { shards: readonly ShardInfo[] }, id: number): ShardInfo | undefined {
  const shards = manifest.shards;
  let lo = 0;
  let hi = shards.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = shards[mid]!;
    if (id < s.first) hi = mid - 1;
    else if (id >= s.first + s.count) lo = mid + 1;
    else return s;
  }
  return undefined;
}
