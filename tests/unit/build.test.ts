/**
 * The whole pipeline on a small synthetic dictionary: the atlas is byte-identical for the same
 * seed, valid against the contract, and internally consistent (every search hit has a record,
 * every tile row is a feature, planted clusters stay together on the map).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tableFromIPC } from "apache-arrow";
import { buildAtlas } from "../../precompute/build.ts";
import { syntheticDictionary, writeSaeLensFolder } from "../../scripts/synthetic-dictionary.ts";
import { featureShardSchema, parseManifest, searchChunkSchema, searchDirectorySchema, TILE_COLUMNS, type Manifest } from "../../contract/atlas.ts";
import { atlasFiles, listedFiles } from "./helpers/atlas-files.ts";

let work: string;
let dictDir: string;
let cluster: Int32Array;
const N = 800;


beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "atlas-build-test-"));
  dictDir = join(work, "dict");
  const dict = syntheticDictionary({ n: N, d: 48, clusters: 8, seed: 11, duplicates: 0.02 });
  cluster = dict.cluster;
  writeSaeLensFolder(dictDir, dict, { d_sae: N });
  const labels: Record<string, string> = {};
  for (let i = 0; i < N; i++) labels[String(i)] = `family${dict.cluster[i]} member number${i}`;
  writeFileSync(join(dictDir, "labels.json"), JSON.stringify(labels));
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("buildAtlas", () => {
  let a: Manifest;

  it("gives a byte-identical atlas for the same input and seed", async () => {
    a = (await buildAtlas({ dictionary: dictDir, out: join(work, "a"), id: "syn", quiet: true, k: 10 })).manifest;
    await buildAtlas({ dictionary: dictDir, out: join(work, "b"), id: "syn", quiet: true, k: 10 });
    const fa = atlasFiles(join(work, "a"));
    const fb = atlasFiles(join(work, "b"));
    expect([...fa.keys()].sort()).toEqual([...fb.keys()].sort());
    for (const [name, bytes] of fa) expect(bytes.equals(fb.get(name)!), name).toBe(true);
  });

  it("moves the layout when the seed changes", async () => {
    const c = (await buildAtlas({ dictionary: dictDir, out: join(work, "c"), id: "syn", quiet: true, k: 10, seed: 43 })).manifest;
    expect(c.tiles[0]!.path).not.toBe(a.tiles[0]!.path);
  });

  it("records a subset fit only when one is asked for", async () => {
    // (Its effect on the layout is tested in layout-subset.test.ts: this atlas is small enough for umap-js.)
    expect(a.params.umap.subsetFit).toBeUndefined();
    const subsetFit = { from: 100, share: 0.25, fineEpochs: 30 };
    const s = (await buildAtlas({ dictionary: dictDir, out: join(work, "s"), id: "syn", quiet: true, k: 10, subsetFit })).manifest;
    expect(s.params.umap.subsetFit).toEqual(subsetFit);
  });

  it("writes a manifest, shards, tiles and search chunks that match the contract", () => {
    const dir = join(work, "a");
    const manifest = parseManifest(JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")));
    expect(manifest.counts.features).toBe(N);
    expect(manifest.counts.labelled).toBe(N);
    expect(manifest.quality.knnRecall.recall).toBeGreaterThanOrEqual(0.9);
    // Every listed file exists with the listed size, and the list holds every file but itself and the manifest.
    const listed = listedFiles(dir, manifest);
    for (const f of listed) expect(statSync(join(dir, f.path)).size).toBe(f.bytes);
    expect([...atlasFiles(dir).keys()].filter((p) => p !== "manifest.json" && p !== manifest.files.path).sort()).toEqual(listed.map((f) => f.path));
    expect([manifest.files.count, manifest.files.bytes]).toEqual([listed.length, listed.reduce((a, f) => a + f.bytes, 0)]);
    // Shards cover every id exactly once, in order.
    let next = 0;
    for (const s of manifest.shards) {
      const shard = featureShardSchema.parse(JSON.parse(readFileSync(join(dir, s.path), "utf8")));
      expect(shard.first).toBe(next);
      shard.features.forEach((f, j) => expect(f.id).toBe(next + j));
      next += shard.features.length;
    }
    expect(next).toBe(N);
    // Tiles: the columns of the contract, and every feature in exactly one tile.
    const seen = new Uint8Array(N);
    for (const t of manifest.tiles) {
      const table = tableFromIPC(readFileSync(join(dir, t.path)));
      expect(table.schema.fields.map((f) => f.name)).toEqual(Object.keys(TILE_COLUMNS));
      expect(table.numRows).toBe(t.rows);
      for (const id of table.getChild("id")!.toArray() as Uint32Array) seen[id]!++;
    }
    expect(seen.every((v) => v === 1)).toBe(true);
    const directory = searchDirectorySchema.parse(JSON.parse(readFileSync(join(dir, manifest.search.directory), "utf8")));
    expect(directory.chunks.length).toBe(manifest.search.chunks);
    for (const [, path] of directory.chunks) searchChunkSchema.parse(JSON.parse(readFileSync(join(dir, path), "utf8")));
  });

  it("keeps planted clusters together on the map", () => {
    const dir = join(work, "a");
    const manifest = parseManifest(JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")));
    const xy = new Float64Array(2 * N);
    for (const s of manifest.shards) {
      for (const f of featureShardSchema.parse(JSON.parse(readFileSync(join(dir, s.path), "utf8"))).features) {
        expect(f.x).toBeGreaterThanOrEqual(0);
        expect(f.x).toBeLessThanOrEqual(1);
        xy[2 * f.id] = f.x;
        xy[2 * f.id + 1] = f.y;
      }
    }
    let within = 0, nw = 0, between = 0, nb = 0;
    for (let i = 0; i < N; i += 3) {
      for (let j = i + 1; j < N; j += 7) {
        const dist = Math.hypot(xy[2 * i]! - xy[2 * j]!, xy[2 * i + 1]! - xy[2 * j + 1]!);
        if (cluster[i] === cluster[j]) { within += dist; nw++; } else { between += dist; nb++; }
      }
    }
    expect(within / nw).toBeLessThan(0.35 * (between / nb));
  });

  it("keeps the previous atlas when a build fails", async () => {
    const before = readFileSync(join(work, "a", "manifest.json"));
    await expect(buildAtlas({ dictionary: join(work, "nowhere"), out: join(work, "a"), id: "syn", quiet: true })).rejects.toThrow();
    expect(readFileSync(join(work, "a", "manifest.json")).equals(before)).toBe(true);
  });
});
