/**
 * What the search box needs once someone starts typing: the manifest and the search index
 * (flexsearch, and the contract's schemas that check each chunk). Kept out of the search box's
 * own module so that reading a page downloads none of it.
 */
import { dataUrl, loadFeature, loadManifest } from "./atlas-data.ts";
import { SearchIndex, type SearchHit } from "./search-index.ts";

export interface Searcher {
  search(query: string, limit: number): Promise<SearchHit[]>;
}

export async function createSearcher(atlasId: string, base: string): Promise<Searcher> {
  const url = dataUrl(atlasId, base);
  const manifest = await loadManifest(url);
  const index = new SearchIndex(url, manifest);
  return {
    async search(query, limit) {
      const hits = await index.search(query, limit);
      // A bare id hit ("#123") comes without a label; one shard fetch names it.
      return Promise.all(
        hits.map(async (hit) => {
          if (hit.label !== null) return hit;
          const record = await loadFeature(url, manifest, hit.id).catch(() => null);
          return { ...hit, label: record?.label ?? null };
        }),
      );
    },
  };
}
