/**
 * The stage cache: a second build of the same input takes the kNN graph, recall, layout and
 * regions from it and writes byte-identical atlases; each stage's key changes exactly when
 * something it depends on does; damaged entries are ignored and recomputed; entries are written
 * whole or not at all; and the folder is pruned least recently used first.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { buildAtlas, defaultCacheDir, type BuildOptions } from "../../precompute/build.ts";
import { knnFromEntry, knnToEntry, layoutFromEntry, layoutToEntry, regionsFromEntry, regionsToEntry } from "../../precompute/cache/entries.ts";
import { cacheKey, CACHE_FORMAT, StageCache, stageCodeVersion, updateWithBytes, type CacheEntry } from "../../precompute/cache/stage-cache.ts";
import { syntheticDictionary, writeSaeLensFolder } from "../../scripts/synthetic-dictionary.ts";
import { cleanTemp, tempDir } from "./helpers/read-files.ts";
import { atlasFiles } from "./helpers/atlas-files.ts";

afterAll(cleanTemp);

const N = 500;
let work: string;
let dict: string;


function expectSameFiles(a: string, b: string): void {
  const fa = atlasFiles(a);
  const fb = atlasFiles(b);
  expect([...fa.keys()].sort()).toEqual([...fb.keys()].sort());
  for (const [name, bytes] of fa) expect(bytes.equals(fb.get(name)!), name).toBe(true);
}

/** Build, returning the lines that say what came from the cache, the warnings, and whether it said it recomputes regions to keep their slugs. */
async function build(opts: Partial<BuildOptions> & { out: string }): Promise<{ hits: string[]; warnings: string[]; keepsSlugs: boolean }> {
  const lines: string[] = [];
  const spy = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => (lines.push(...String(chunk).split("\n")), true));
  try {
    await buildAtlas({ dictionary: dict, id: "syn", k: 10, epochs: 100, ...opts });
  } finally {
    spy.mockRestore();
  }
  return {
    hits: lines.filter((l) => l.includes("from the cache")).map((l) => l.trim().split(" ")[0]!),
    warnings: lines.filter((l) => l.startsWith("warning: ")),
    keepsSlugs: lines.some((l) => /keeping the slugs of the [\d,]+ regions already in/.test(l)),
  };
}

const cacheFiles = (dir: string) => readdirSync(dir).sort();

beforeAll(() => {
  work = tempDir("atlas-cache-");
  dict = join(work, "dict");
  writeSaeLensFolder(dict, syntheticDictionary({ n: N, d: 32, clusters: 7, seed: 9 }));
  const labels: Record<string, string> = {};
  for (let i = 0; i < N; i++) labels[i] = `word${i % 13} other${i % 5}`;
  writeFileSync(join(dict, "labels.json"), JSON.stringify(labels));
});

describe("builds through the cache", () => {
  it("a first build fills the cache beside the output folder; a second takes every stage from it, byte-identical to an uncached build", async () => {
    const cacheDir = defaultCacheDir(join(work, "out", "a"));
    expect(cacheDir).toBe(join(work, "out", ".atlas-cache"));
    const first = await build({ out: join(work, "out", "a") });
    expect(first.hits).toEqual([]);
    expect(first.keepsSlugs).toBe(false);
    expect(cacheFiles(cacheDir).map((f) => f.split("-")[0])).toEqual(["knn", "layout", "recall", "regions"]);
    // Same output folder again: the previous regions are now this atlas's, so regions are keyed
    // anew once, and the build says why they are not from the cache.
    const second = await build({ out: join(work, "out", "a") });
    expect(second.hits).toEqual(["graph", "recall", "layout"]);
    expect(second.keepsSlugs).toBe(true);
    const third = await build({ out: join(work, "out", "a") });
    expect(third.hits).toEqual(["graph", "recall", "layout", "regions"]);
    expect(third.keepsSlugs).toBe(false);
    await build({ out: join(work, "plain", "a"), cache: false });
    expectSameFiles(join(work, "out", "a"), join(work, "plain", "a"));
    expect(existsSync(join(work, "plain", ".atlas-cache"))).toBe(false);
  });

  it("another output folder with the same cache folder reuses kNN and layout; regions depend on that folder's previous regions", async () => {
    const cache = join(work, "shared-cache");
    await build({ out: join(work, "x", "a"), cache });
    const other = await build({ out: join(work, "y", "a"), cache });
    // Neither output had a previous atlas, so the regions key matches too.
    expect(other.hits).toEqual(["graph", "recall", "layout", "regions"]);
    expectSameFiles(join(work, "x", "a"), join(work, "y", "a"));
  });

  it("changing a layout option keeps the kNN graph; changing k or the seed recomputes everything after reading", async () => {
    const cache = join(work, "opts-cache");
    await build({ out: join(work, "o", "base"), cache });
    expect((await build({ out: join(work, "o", "mindist"), cache, minDist: 0.3 })).hits).toEqual(["graph", "recall"]);
    expect((await build({ out: join(work, "o", "k"), cache, k: 12 })).hits).toEqual([]);
    expect((await build({ out: join(work, "o", "seed"), cache, seed: 7 })).hits).toEqual([]);
    // A different recall sample re-measures recall only.
    expect((await build({ out: join(work, "o", "sample"), cache, recallSample: 50 })).hits).toEqual(["graph", "layout", "regions"]);
  });

  it("a changed decoder value misses: the key is of the vectors, not of file names", async () => {
    const cache = join(work, "input-cache");
    const other = join(work, "dict2");
    const changed = syntheticDictionary({ n: N, d: 32, clusters: 7, seed: 9 });
    changed.decoder[123] = changed.decoder[123]! + 0.25;
    writeSaeLensFolder(other, changed);
    writeFileSync(join(other, "labels.json"), readFileSync(join(dict, "labels.json")));
    await build({ out: join(work, "i", "a"), cache });
    const lines: string[] = [];
    const spy = vi.spyOn(process.stderr, "write").mockImplementation((c: string | Uint8Array) => (lines.push(String(c)), true));
    try {
      await buildAtlas({ dictionary: other, out: join(work, "i", "b"), id: "syn", k: 10, epochs: 100, cache });
    } finally {
      spy.mockRestore();
    }
    expect(lines.join("")).not.toContain("from the cache");
  });

  it("a damaged entry is reported, deleted and recomputed, and the atlas is the same", async () => {
    const cache = join(work, "damaged-cache");
    await build({ out: join(work, "d", "a"), cache });
    const layout = join(cache, cacheFiles(cache).find((f) => f.startsWith("layout-"))!);
    const bytes = readFileSync(layout);
    bytes[bytes.length - 3]! ^= 0x10;
    writeFileSync(layout, bytes);
    const knn = join(cache, cacheFiles(cache).find((f) => f.startsWith("knn-"))!);
    // Cut short, as a full disk or a crash of the machine mid-write could leave it.
    const full = readFileSync(knn);
    writeFileSync(knn, full.subarray(0, full.length - 1000));
    const again = await build({ out: join(work, "d", "b"), cache });
    // Recomputed stages give the same keys, so the regions entry built on them still holds.
    expect(again.hits).toEqual(["recall", "regions"]);
    expect(again.warnings).toEqual([
      expect.stringMatching(/^warning: cache entry .*knn-[0-9a-f]{32}\.bin is unusable \(payload is \d+ bytes, expected \d+\); computing knn again$/),
      expect.stringMatching(/^warning: cache entry .*layout-[0-9a-f]{32}\.bin is unusable \(payload checksum mismatch\); computing layout again$/),
    ]);
    expectSameFiles(join(work, "d", "a"), join(work, "d", "b"));
    // Recomputed entries replaced the damaged ones.
    expect((await build({ out: join(work, "d", "c"), cache })).hits).toEqual(["graph", "recall", "layout", "regions"]);
  });
});

describe("cacheKey", () => {
  // A 1M × 2,304 float32 decoder (9.7 GB) is hashed in slices, as no byte view can span it.
  it("hashes a typed array in slices to the digest of its whole bytes, from any byte offset", () => {
    const backing = new Float32Array(1001).map((_, i) => Math.sin(i));
    const v = backing.subarray(3, 1000);
    const whole = createHash("sha256").update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)).digest("hex");
    for (const slice of [1, 7, 64, 4096, 1 << 20]) {
      const h = createHash("sha256");
      updateWithBytes(h, v, slice);
      expect(h.digest("hex"), `slice ${slice}`).toBe(whole);
    }
    const changed = v.slice();
    changed[996] = 2;
    expect(cacheKey(changed)).not.toBe(cacheKey(v));
  });
});

describe("StageCache", () => {
  const entry = (bytes: number): CacheEntry => ({ meta: { note: "x" }, arrays: { a: new Uint8Array(bytes).fill(7) } });

  it("round-trips typed arrays of every kind and the meta, at any byte alignment", () => {
    const c = new StageCache(tempDir());
    const arrays = {
      f32: new Float32Array([1.5, NaN, -0, Infinity]),
      f64: new Float64Array([Math.PI]),
      i32: new Int32Array([-1, 2 ** 31 - 1]),
      u32: new Uint32Array([2 ** 32 - 1]),
      u8: new Uint8Array([1, 2, 3]),
      empty: new Float32Array(0),
    };
    c.store("s", "k1", { meta: { a: [1, "b", null] }, arrays });
    const back = c.load("s", "k1", (e) => e)!;
    expect(back.meta).toEqual({ a: [1, "b", null] });
    for (const [name, a] of Object.entries(arrays)) {
      expect(back.arrays[name]!.constructor).toBe(a.constructor);
      expect(Buffer.from(back.arrays[name]!.buffer).equals(Buffer.from(a.buffer, a.byteOffset, a.byteLength))).toBe(true);
    }
    expect(c.load("s", "other-key", (e) => e)).toBeNull();
    expect(c.load("t", "k1", (e) => e)).toBeNull();
  });

  it("writes atomically: no temporary files remain, and a write that fails is a warning, not an error", () => {
    const dir = tempDir();
    const c = new StageCache(dir);
    c.store("s", "k", entry(64));
    expect(readdirSync(dir)).toEqual([`s-${"k"}.bin`]);
    const blocked = join(dir, "file-not-folder");
    writeFileSync(blocked, "");
    const warnings: string[] = [];
    new StageCache(blocked, (m) => warnings.push(m)).store("s", "k", entry(8));
    expect(warnings).toEqual([expect.stringMatching(/^could not write the s cache entry to .*file-not-folder \(.*\); the build goes on without it$/)]);
  });

  it("an entry whose conversion fails (wrong shape) is a miss, and is deleted", () => {
    const dir = tempDir();
    const warnings: string[] = [];
    const c = new StageCache(dir, (m) => warnings.push(m));
    c.store("layout", "k", layoutToEntry(new Float32Array(10)));
    expect(c.load("layout", "k", (e) => layoutFromEntry(e, 6))).toBeNull();
    expect(warnings[0]).toMatch(/unusable \(cached layout does not have 6 points\)/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("prunes least recently used entries of other builds beyond the budget, and stale temporary files", () => {
    const dir = tempDir();
    const old = new StageCache(dir);
    old.store("s", "a", entry(5000));
    old.store("s", "b", entry(5000));
    old.store("s", "c", entry(1000));
    const stale = join(dir, "s-z.bin.tmp-99999999");
    writeFileSync(stale, "partial");
    const days = (n: number) => new Date(Date.now() - n * 86_400_000);
    utimesSync(stale, days(3), days(3));
    utimesSync(join(dir, "s-a.bin"), days(3), days(3));
    utimesSync(join(dir, "s-b.bin"), days(2), days(2));
    // A later build uses c and adds d (~2.5 KB with headers): the budget is 4 × that, so the
    // oldest entry of the earlier build goes and the next oldest fits.
    const later = new StageCache(dir, () => {}, { minBudget: 0 });
    expect(later.load("s", "c", (e) => e)).not.toBeNull();
    later.store("s", "d", entry(1000));
    expect(readdirSync(dir).sort()).toEqual(["s-b.bin", "s-c.bin", "s-d.bin"]);
  });

  it("with no folder, never hits and stores nothing", () => {
    const c = new StageCache(null);
    c.store("s", "k", entry(8));
    expect(c.load("s", "k", (e) => e)).toBeNull();
  });
});

describe("keys and entries", () => {
  it("keys hash typed arrays by type and bytes, and plain values by JSON", () => {
    const f = new Float32Array([1, 2]);
    expect(cacheKey(f)).toBe(cacheKey(new Float32Array([1, 2])));
    expect(cacheKey(f)).not.toBe(cacheKey(new Int32Array(f.buffer)));
    expect(cacheKey(f)).not.toBe(cacheKey(new Float32Array([1, 2.0000002])));
    expect(cacheKey({ a: 1, b: [2, "3"] })).toBe(cacheKey({ a: 1, b: [2, "3"] }));
    expect(cacheKey({ a: 1 })).not.toBe(cacheKey({ a: "1" }));
    expect(cacheKey(null)).not.toBe(cacheKey(undefined));
    expect(cacheKey(["a", "b"])).not.toBe(cacheKey(["ab"]));
  });

  it("stage code versions name the cache format, the stage's sources, libraries and V8", () => {
    const v = stageCodeVersion("layout", ["umap-js"]);
    expect(v.format).toBe(CACHE_FORMAT);
    expect(v.code).toMatch(/^[0-9a-f]{64}$/);
    expect(v.code).not.toBe(stageCodeVersion("neighbours").code);
    expect(v.packages).toMatch(/^umap-js@\d+\.\d+\.\d+$/);
    expect(v.v8).toBe(process.versions.v8);
  });

  it("graph, layout and region entries give back what was stored", () => {
    const graph = { n: 3, k1: 2, indices: new Int32Array([0, 1, 1, 0, 2, 2]), distances: new Float32Array([0, 0.5, 0, 0.5, 0, 0]) };
    expect(knnFromEntry(knnToEntry(graph), 3)).toEqual(graph);
    expect(() => knnFromEntry(knnToEntry(graph), 4)).toThrow(/does not have 4 rows/);
    const xy = new Float32Array([0.1, 0.2, 0.3, 0.4]);
    expect(layoutFromEntry(layoutToEntry(xy), 2)).toEqual(xy);
    const node = {
      id: "0-0", level: 0, index: 0, parent: -1, children: 0, members: new Int32Array([0, 2]), centroid: [0.2, 0.3] as [number, number],
      bounds: [0, 0, 1, 1] as [number, number, number, number], hull: [[0, 0], [1, 1]] as [number, number][], name: "a <b>", slug: "a-b",
      nameSource: "auto" as const, autoName: "a <b>", terms: ["a"], top: [2, 0], cohesion: 0.5,
    };
    const h = { n: 3, levels: 1, regions: [node, { ...node, id: "0-1", index: 1, members: new Int32Array([1]) }], levelStart: [0, 2], leafOf: new Int32Array([0, 1, 0]), warnings: ["w"] };
    const back = regionsFromEntry(regionsToEntry(h), 3);
    expect(back).toEqual(h);
    // Key order too: anything serialising a node directly writes the same bytes.
    expect(Object.keys(back.regions[0]!)).toEqual(Object.keys(node));
  });
});
