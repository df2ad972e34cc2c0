/**
 * Shared pieces of the end-to-end tests: a `page` that records console errors (every test ends
 * by asserting there were none), and the demo atlas's own files, read through the served site, so
 * the tests choose their features from the data rather than hard-coding them.
 */
import { test as base, expect, type APIRequestContext, type Page } from "@playwright/test";
import { tableFromIPC } from "apache-arrow";
import { featureShardSchema, parseManifest, shardFor, type FeatureRecord, type Manifest } from "../../contract/atlas.ts";

export const ATLAS = "demo";

interface Fixtures {
  consoleErrors: string[];
  atlas: AtlasFiles;
}

export class AtlasFiles {
  private shards = new Map<string, FeatureRecord[]>();
  constructor(
    private readonly request: APIRequestContext,
    readonly manifest: Manifest,
  ) {}

  static async load(request: APIRequestContext): Promise<AtlasFiles> {
    const res = await request.get(`/${ATLAS}/data/manifest.json`);
    expect(res.ok()).toBe(true);
    return new AtlasFiles(request, parseManifest(await res.json()));
  }

  async feature(id: number): Promise<FeatureRecord> {
    const info = shardFor(this.manifest, id);
    if (!info) throw new Error(`no shard for ${id}`);
    let records = this.shards.get(info.path);
    if (!records) {
      const res = await this.request.get(`/${ATLAS}/data/${info.path}`);
      records = featureShardSchema.parse(await res.json()).features;
      this.shards.set(info.path, records);
    }
    return records[id - info.first]!;
  }

  /** Ids and labels of the points in the root tile: the ones the map draws first. */
  async rootTile(): Promise<{ id: number; label: string }[]> {
    const res = await this.request.get(`/${ATLAS}/data/${this.manifest.tiles[0]!.path}`);
    const table = tableFromIPC(new Uint8Array(await res.body()));
    const ids = table.getChild("id")!.toArray() as Uint32Array;
    const labels = table.getChild("label")!;
    return Array.from(ids, (id, i) => ({ id, label: String(labels.get(i)) }));
  }
}

export const test = base.extend<Fixtures>({
  consoleErrors: async ({ page }, use) => {
    const errors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    await use(errors);
  },
  atlas: async ({ request }, use) => {
    await use(await AtlasFiles.load(request));
  },
});

export { expect };

/** Wait until the map has drawn its first tile. */
export async function mapReady(page: Page): Promise<void> {
  await page.waitForFunction(() => Boolean((window as unknown as { __atlas?: unknown }).__atlas));
  await page.evaluate(() => (window as unknown as { __atlas: { ready: Promise<void> } }).__atlas.ready);
}

/** A string as a literal inside a RegExp: labels contain parentheses, dots and worse. */
export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
