/**
 * What the search box needs once someone starts typing: the search index (and the contract's
 * schemas that check each file). Kept out of the search box's own module so that reading a page
 * downloads none of it. Only the search directory is fetched before the first query; the manifest
 * only when a bare id match ("#123") needs its label.
 */
import { dataUrl, loadFeature, loadManifest } from "./atlas-data.ts";
import { SearchIndex, type SearchHit } from "./search-index.ts";
import type { SearchTarget } from "./search-scope.ts";

export interface Searcher {
  /** Fetch the directory ahead of the first query. */
  ready(): Promise<void>;
  /** Start fetching what these words need (search-index.ts `prefetch`); never throws. */
  prefetch(query: string): void;
  search(query: string, limit: number): Promise<SearchHit[]>;
}

export function createSearcher(target: SearchTarget, base: string): Searcher {
  const url = dataUrl(target.id, base);
  const index = new SearchIndex(url, { directory: target.directory, features: target.features });
  return {
    ready: () => index.ready(),
    prefetch: (query) => index.prefetch(query),
    async search(query, limit) {
      const hits = await index.search(query, limit);
      // A bare id hit ("#123") comes without a label; the manifest and one shard name it.
      return Promise.all(
        hits.map(async (hit) => {
          if (hit.label !== null) return hit;
          const record = await loadManifest(url)
            .then((manifest) => loadFeature(url, manifest, hit.id))
            .catch(() => null);
          return { ...hit, label: record?.label ?? null };
        }),
      );
    },
  };
}
