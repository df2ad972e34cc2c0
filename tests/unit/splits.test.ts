/**
 * The splits stage: exact cross-width matches (checked against a brute-force float64 search written
 * here), both directions, mutual flags, determinism across thread counts and runs, the pair folder
 * against its schema, and the errors a user can run into.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildAtlas } from "../../precompute/build.ts";
import { buildAllSplits, buildSplits } from "../../precompute/splits/build-splits.ts";
import { matchWidths } from "../../precompute/splits/match.ts";
import { findSplitPairs } from "../../precompute/splits/pairs.ts";
import { syntheticDictionary, writeSaeLensFolder, type SyntheticDictionary } from "../../scripts/synthetic-dictionary.ts";
import { SPLITS_ENTRY, splitShardSchema, splitsIndexSchema } from "../../contract/splits.ts";
import { atlasFiles } from "./helpers/atlas-files.ts";
import { rng, gaussian } from "../../precompute/random.ts";
import { FORMAT_VERSION, type Manifest } from "../../contract/atlas.ts";
import { scanAtlases } from "../../src/lib/atlas-dir.ts";
import { scanSplits } from "../../src/lib/splits-dir.ts";

/** Exact float64 cosine of two rows, straight from the definition. */
function cosine(a: Float32Array, i: number, b: Float32Array, j: number, d: number): number {
  let dot = 0, na = 0, nb = 0;
  for (let t = 0; t < d; t++) {
    const x = a[i * d + t]!, y = b[j * d + t]!;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return dot / Math.sqrt(na * nb);
}

/** Children of a small dictionary: each large row is a small row plus noise, so the answer is planted, not guessed. */
function children(small: SyntheticDictionary, perParent: number, seed: number): SyntheticDictionary {
  const { n, d } = small;
  const random = rng(seed, "children");
  const decoder = new Float32Array(n * perParent * d);
  for (let c = 0; c < n * perParent; c++) {
    const p = c % n;
    for (let t = 0; t < d; t++) decoder[c * d + t] = small.decoder[p * d + t]! + (0.35 / Math.sqrt(d)) * gaussian(random);
  }
  return { decoder, cluster: new Int32Array(n * perParent), n: n * perParent, d };
}

describe("matchWidths", () => {
  const d = 24;
  const small = syntheticDictionary({ n: 150, d, clusters: 6, seed: 3, duplicates: 0.05, dead: 0.02 });
  const large = syntheticDictionary({ n: 420, d, clusters: 9, seed: 4, duplicates: 0.05, dead: 0.02 });
  // An exact copy of a small row in the large dictionary: cosine 1, and a tie for its copies.
  large.decoder.set(small.decoder.subarray(5 * d, 6 * d), 17 * d);
  large.decoder.set(small.decoder.subarray(5 * d, 6 * d), 300 * d);
  const k = 7;
  const result = matchWidths(small, large, small.n, large.n, d, { k, threads: 1 });

  const alive = (m: Float32Array, i: number): boolean => m.subarray(i * d, (i + 1) * d).some((v) => v !== 0);

  it.each([
    ["small → large (children)", "small"],
    ["large → small (parents)", "large"],
  ] as const)("finds the exact k nearest, %s", (_name, which) => {
    const [from, to] = which === "small" ? [small, large] : [large, small];
    const side = result[which];
    expect(side.k).toBe(k);
    let checked = 0;
    for (let i = 0; i < from.n; i++) {
      if (!alive(from.decoder, i)) {
        expect(side.alive[i]).toBe(0);
        expect(Array.from(side.ids.subarray(i * k, (i + 1) * k))).toEqual(new Array(k).fill(-1));
        continue;
      }
      const all: { j: number; c: number }[] = [];
      for (let j = 0; j < to.n; j++) if (alive(to.decoder, j)) all.push({ j, c: cosine(from.decoder, i, to.decoder, j, d) });
      all.sort((p, q) => q.c - p.c || p.j - q.j);
      const got = Array.from(side.ids.subarray(i * k, (i + 1) * k));
      for (let t = 0; t < k; t++) {
        // Same cosine to float32 precision at every rank (a near-tie may swap two ids), and the id
        // itself wherever the gap to the next candidate is clear of rounding.
        expect(side.cosines[i * k + t]!).toBeCloseTo(all[t]!.c, 5);
        const clear = (t === 0 || all[t - 1]!.c - all[t]!.c > 1e-5) && all[t]!.c - all[t + 1]!.c > 1e-5;
        if (clear) expect(got[t]).toBe(all[t]!.j);
      }
      for (let t = 1; t < k; t++) expect(side.cosines[i * k + t]!).toBeLessThanOrEqual(side.cosines[i * k + t - 1]!);
      checked++;
    }
    expect(checked).toBeGreaterThan(100);
  });

  it("puts exact copies at cosine 1, tied copies in id order", () => {
    expect(Array.from(result.small.ids.subarray(5 * k, 5 * k + 2))).toEqual([17, 300]);
    expect(result.small.cosines[5 * k]).toBe(1);
    expect(result.large.ids[17 * k]).toBe(5);
    expect(result.large.cosines[17 * k]).toBe(1);
  });

  it("gives the same answer on any number of threads", () => {
    const two = matchWidths(small, large, small.n, large.n, d, { k, threads: 2 });
    expect(Buffer.from(two.small.ids.buffer)).toEqual(Buffer.from(result.small.ids.buffer));
    expect(Buffer.from(two.large.ids.buffer)).toEqual(Buffer.from(result.large.ids.buffer));
    expect(Buffer.from(two.small.cosines.buffer)).toEqual(Buffer.from(result.small.cosines.buffer));
    expect(Buffer.from(two.large.cosines.buffer)).toEqual(Buffer.from(result.large.cosines.buffer));
  });

  it("recovers planted parents and children", () => {
    const parents = syntheticDictionary({ n: 64, d, clusters: 4, seed: 8, spread: 1.2 });
    const kids = children(parents, 3, 9);
    const m = matchWidths(parents, kids, parents.n, kids.n, d, { k: 3, threads: 1 });
    let parentHits = 0;
    for (let c = 0; c < kids.n; c++) if (m.large.ids[c * 3] === c % parents.n) parentHits++;
    expect(parentHits / kids.n).toBeGreaterThan(0.95);
    let childHits = 0;
    for (let p = 0; p < parents.n; p++) {
      const got = new Set(Array.from(m.small.ids.subarray(p * 3, p * 3 + 3)));
      for (const c of [p, p + parents.n, p + 2 * parents.n]) if (got.has(c)) childHits++;
    }
    expect(childHits / kids.n).toBeGreaterThan(0.95);
  });

  it("caps k at the other side's alive features and refuses rows that do not fit the shape", () => {
    const tiny = syntheticDictionary({ n: 3, d, clusters: 1, seed: 5 });
    const m = matchWidths(tiny, small, tiny.n, small.n, d, { k: 5, threads: 1 });
    expect(m.small.k).toBe(5);
    expect(m.large.k).toBe(3);
    expect(() => matchWidths(tiny, small, 4, small.n, d, { k: 5 })).toThrow(/small decoder has 72 values, expected 4 × 24/);
  });
});

describe("buildSplits", () => {
  let work: string;
  const d = 16;
  const dirs = { small: "", large: "", other: "", wrongDin: "" };
  const atlases = { small: "", large: "", other: "", wrongDin: "" };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "atlas-splits-test-"));
    const small = syntheticDictionary({ n: 96, d, clusters: 4, seed: 21, spread: 1.0 });
    const large = children(small, 3, 22);
    const make = async (name: keyof typeof dirs, dict: SyntheticDictionary, extra: Record<string, unknown> = {}): Promise<void> => {
      dirs[name] = join(work, "dict", name);
      writeSaeLensFolder(dirs[name], dict, { d_sae: dict.n, ...extra });
      atlases[name] = join(work, "atlases", name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`));
      await buildAtlas({ dictionary: dirs[name], out: atlases[name], quiet: true, k: 8, cache: false });
    };
    await make("small", small);
    await make("large", large);
    await make("other", syntheticDictionary({ n: 200, d, clusters: 4, seed: 23 }), { metadata: { model_name: "another", hook_name: "synthetic" } });
    await make("wrongDin", syntheticDictionary({ n: 200, d: d + 4, clusters: 4, seed: 24 }));
  }, 120_000);

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const pairDir = (): string => join(work, "atlases", "splits", "small--large");

  it("writes a pair folder that matches its schema, with both directions and the atlases' hashes", () => {
    const result = buildSplits({ a: { atlas: atlases.large, dictionary: dirs.large }, b: { atlas: atlases.small, dictionary: dirs.small }, root: join(work, "atlases"), k: 4, shardSize: 40 });
    expect(result.dir).toBe(pairDir());
    const index = splitsIndexSchema.parse(JSON.parse(readFileSync(join(pairDir(), SPLITS_ENTRY), "utf8")));
    expect(index).toEqual(result.index);
    expect(index.small.id).toBe("small");
    expect(index.large.id).toBe("large");
    expect(index.small.shards.map((s) => s.count)).toEqual([40, 40, 16]);
    const sha = (p: string): string => createHash("sha256").update(readFileSync(join(p, "manifest.json"))).digest("hex");
    expect(index.small.manifestSha256).toBe(sha(atlases.small));
    expect(index.large.manifestSha256).toBe(sha(atlases.large));
    // Every file is listed with its size, and nothing else is in the folder.
    const files = atlasFiles(pairDir());
    expect([...files.keys()].filter((f) => f !== SPLITS_ENTRY).sort()).toEqual(index.files.map((f) => f.path));
    for (const f of index.files) expect(files.get(f.path)!.length).toBe(f.bytes);

    const smallManifest = JSON.parse(readFileSync(join(atlases.small, "manifest.json"), "utf8")) as Manifest;
    const shard = splitShardSchema.parse(JSON.parse(readFileSync(join(pairDir(), index.small.shards[0]!.path), "utf8")));
    // Planted: small feature p's children are p, p + 96 and p + 192 of the large dictionary.
    let hits = 0;
    for (let p = 0; p < shard.features.length; p++) {
      const ids = shard.features[p]!.map((c) => c.id);
      for (const c of [p, p + 96, p + 192]) if (ids.slice(0, 3).includes(c)) hits++;
      expect(shard.features[p]!.length).toBeGreaterThanOrEqual(4);
    }
    expect(hits / (3 * shard.features.length)).toBeGreaterThan(0.9);
    // Parents carry the small atlas's positions; mutual means "my nearest's nearest is me".
    const largeShard = splitShardSchema.parse(JSON.parse(readFileSync(join(pairDir(), index.large.shards[0]!.path), "utf8")));
    const parent = largeShard.features[0]![0]!;
    expect(parent.x).toBeGreaterThanOrEqual(smallManifest.bounds[0] - 1e-6);
    expect(parent.x).toBeLessThanOrEqual(smallManifest.bounds[2] + 1e-6);
    const smallOfParent = splitShardSchema.parse(JSON.parse(readFileSync(join(pairDir(), index.small.shards.find((s) => parent.id >= s.first && parent.id < s.first + s.count)!.path), "utf8")));
    expect(parent.mutual).toBe(smallOfParent.features[parent.id - smallOfParent.first]![0]!.id === 0);
  });

  it("writes the same bytes again for the same input", () => {
    const before = atlasFiles(pairDir());
    buildSplits({ a: { atlas: atlases.small, dictionary: dirs.small }, b: { atlas: atlases.large, dictionary: dirs.large }, root: join(work, "atlases"), k: 4, shardSize: 40, threads: 2 });
    expect(atlasFiles(pairDir())).toEqual(before);
  });

  it("pairs only same-model, same-hook atlases of different widths", () => {
    const read = (dir: string) => ({ dir, manifest: JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as Manifest });
    const pairs = findSplitPairs([atlases.other, atlases.large, atlases.small, atlases.wrongDin].map(read));
    // "other" is another model, "wrong-din" another d_in: only one pair is the same dictionary at two widths.
    expect(pairs.map((p) => `${p.small.manifest.id}--${p.large.manifest.id}`)).toEqual(["small--large"]);
    const results = buildAllSplits(
      (["small", "large", "other", "wrongDin"] as const).map((n) => ({ atlas: atlases[n], dictionary: dirs[n] })),
      { root: join(work, "atlases"), k: 2 },
    );
    expect(results.map((r) => r.dir)).toEqual([pairDir()]);
  });

  it("refuses mismatched inputs with a message naming the problem", () => {
    const root = join(work, "atlases");
    expect(() => buildSplits({ a: { atlas: atlases.small, dictionary: dirs.small }, b: { atlas: atlases.wrongDin, dictionary: dirs.wrongDin }, root })).toThrow(
      /"small" \(d_in 16\) and "wrong-din" \(d_in 20\) write to different activation widths/,
    );
    expect(() => buildSplits({ a: { atlas: atlases.small, dictionary: dirs.small }, b: { atlas: atlases.other, dictionary: dirs.other }, root })).toThrow(
      /not the same model and hook point; pass --force/,
    );
    expect(() => buildSplits({ a: { atlas: atlases.small, dictionary: dirs.large }, b: { atlas: atlases.large, dictionary: dirs.large }, root })).toThrow(
      /not the dictionary atlas "small" was built from/,
    );
    expect(() => buildSplits({ a: { atlas: join(work, "nowhere"), dictionary: dirs.small }, b: { atlas: atlases.large, dictionary: dirs.large }, root })).toThrow(
      /manifest\.json missing/,
    );
    expect(() => buildSplits({ a: { atlas: atlases.small, dictionary: join(work, "no-dict") }, b: { atlas: atlases.large, dictionary: dirs.large }, root })).toThrow(
      /dictionary not found/,
    );
    expect(() => buildSplits({ a: { atlas: atlases.small, dictionary: dirs.small }, b: { atlas: atlases.small, dictionary: dirs.small }, root })).toThrow(/both hold atlas "small"/);
    // With --force, two dictionaries of the same d_in pair even across models.
    const forced = buildSplits({ a: { atlas: atlases.small, dictionary: dirs.small }, b: { atlas: atlases.other, dictionary: dirs.other }, root, force: true, k: 2 });
    expect(forced.index.model).toBeNull();
    expect(existsSync(join(root, "splits", "small--other", SPLITS_ENTRY))).toBe(true);
  });

  it("keeps an up-to-date pair, and the site leaves a pair out once one of its atlases is rebuilt", async () => {
    const root = join(work, "atlases");
    const args = { a: { atlas: atlases.small, dictionary: dirs.small }, b: { atlas: atlases.large, dictionary: dirs.large }, root, k: 4, shardSize: 40 };
    buildSplits(args);
    expect(buildSplits({ ...args, skipUpToDate: true }).skipped).toBe(true);
    // Another k is another pair folder's content: recomputed.
    expect(buildSplits({ ...args, k: 3, skipUpToDate: true }).skipped).toBe(false);
    expect(buildSplits({ ...args, k: 3, skipUpToDate: true }).skipped).toBe(true);
    const warnings: string[] = [];
    expect(scanSplits(root, scanAtlases(root, () => {}), (m) => warnings.push(m)).map((p) => p.name)).toContain("small--large");
    expect(warnings.filter((w) => w.includes("small--large"))).toEqual([]);

    await buildAtlas({ dictionary: dirs.small, out: atlases.small, quiet: true, k: 8, cache: false, title: "Rebuilt with another title" });
    const after = scanSplits(root, scanAtlases(root, () => {}), (m) => warnings.push(m));
    expect(after.map((p) => p.name)).not.toContain("small--large");
    expect(warnings.join("\n")).toMatch(/feature splits small--large left out: atlas "small" was rebuilt after the splits were computed/);
    // Recomputing brings it back.
    expect(buildSplits({ ...args, skipUpToDate: true }).skipped).toBe(false);
    expect(scanSplits(root, scanAtlases(root, () => {}), () => {}).map((p) => p.name)).toContain("small--large");

    // Splits computed for an older atlas format (the atlases were rebuilt since) are left out with a warning, not a failure.
    const entry = join(root, "splits", "small--large", SPLITS_ENTRY);
    const current = readFileSync(entry, "utf8");
    writeFileSync(entry, JSON.stringify({ ...JSON.parse(current), atlasFormatVersion: FORMAT_VERSION - 1 }));
    const old: string[] = [];
    expect(scanSplits(root, scanAtlases(root, () => {}), (m) => old.push(m)).map((p) => p.name)).not.toContain("small--large");
    expect(old.join("\n")).toMatch(new RegExp(`computed for atlas format ${FORMAT_VERSION - 1}, the atlases are format ${FORMAT_VERSION}; left out`));
    writeFileSync(entry, current);
  }, 60_000);
});
