/**
 * Browser access to an atlas's published files (`/<id>/data/…`): the manifest and the feature
 * shards, each fetched once per page and shared by the map, its panel and the search box.
 *
 * Only types come from the contract's schemas: the browser trusts files that the site build has
 * already validated, and checks the one thing a stale cache could get wrong, the format version.
 */
import { FORMAT_VERSION, shardFor } from "../../contract/lookup.ts";
import type { FeatureRecord, FeatureShard, Manifest } from "../../contract/atlas.ts";

/** URL prefix of an atlas's files, ending in `/`. */
export function dataUrl(atlasId: string, base: string = import.meta.env.BASE_URL): string {
  return `${base.endsWith("/") ? base : `${base}/`}${atlasId}/data/`;
}

async function fetchJson(url: string): Promise<unknown> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

const manifests = new Map<string, Promise<Manifest>>();

export function loadManifest(baseUrl: string): Promise<Manifest> {
  let pending = manifests.get(baseUrl);
  if (!pending) {
    pending = fetchJson(`${baseUrl}manifest.json`).then((json) => {
      const version = (json as { formatVersion?: unknown }).formatVersion;
      if (version !== FORMAT_VERSION) {
        throw new Error(`${baseUrl}manifest.json has format version ${String(version)}; this page reads version ${FORMAT_VERSION}. Reload the page.`);
      }
      return json as Manifest;
    });
    // A failed fetch should be retried next time, not remembered.
    pending.catch(() => manifests.delete(baseUrl));
    manifests.set(baseUrl, pending);
  }
  return pending;
}

const shards = new Map<string, Promise<FeatureShard>>();

/** The record of feature `id`, or null when the atlas has no such feature. */
export async function loadFeature(baseUrl: string, manifest: Manifest, id: number): Promise<FeatureRecord | null> {
  const info = shardFor(manifest, id);
  if (!info) return null;
  const url = `${baseUrl}${info.path}`;
  let pending = shards.get(url);
  if (!pending) {
    pending = fetchJson(url) as Promise<FeatureShard>;
    pending.catch(() => shards.delete(url));
    shards.set(url, pending);
  }
  const shard = await pending;
  return shard.features[id - shard.first] ?? null;
}
