/**
 * Old region slugs keep leading somewhere: `regionRedirects` on a hand-made hierarchy (renamed,
 * vanished, carried, chained, looping and dead cases), then real builds of one atlas over its
 * previous self with hand renames in between (the redirects file, chain collapse, a slug coming
 * back, and byte-identical output).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildAtlas } from "../../precompute/build.ts";
import { readPreviousRegions } from "../../precompute/regions/files.ts";
import type { PreviousRegion, RegionHierarchy, RegionNode } from "../../precompute/regions/hierarchy.ts";
import { NAMES_FILE } from "../../precompute/regions/names-file.ts";
import { regionRedirects } from "../../precompute/regions/redirects.ts";
import { syntheticDictionary, writeSaeLensFolder } from "../../scripts/synthetic-dictionary.ts";
import { parseManifest, regionLevelFileSchema, regionRedirectsFileSchema, type Manifest, type RegionRedirect } from "../../contract/atlas.ts";
import { atlasFiles } from "./helpers/atlas-files.ts";

/**
 * Two levels over features 0–11: A = 0–5 (a1 = 0–2, a2 = 3–5) and B = 6–11 (b1 = 6–8, b2 = 9–11).
 * Only the fields the redirects read are meaningful.
 */
function tinyHierarchy(slugs: string[]): RegionHierarchy {
  const spec: [number, number, number[]][] = [
    [0, -1, [0, 1, 2, 3, 4, 5]],
    [0, -1, [6, 7, 8, 9, 10, 11]],
    [1, 0, [0, 1, 2]],
    [1, 0, [3, 4, 5]],
    [1, 1, [6, 7, 8]],
    [1, 1, [9, 10, 11]],
  ];
  const regions = spec.map(([level, parent, members], r): RegionNode => ({
    id: `${level}-${r}`,
    level,
    index: level ? r - 2 : r,
    parent,
    children: level ? 0 : 2,
    members: Int32Array.from(members),
    centroid: [0, 0],
    bounds: [0, 0, 0, 0],
    hull: [],
    name: slugs[r]!,
    slug: slugs[r]!,
    nameSource: "auto",
    autoName: slugs[r]!,
    terms: [],
    top: [],
    cohesion: 0,
  }));
  const leafOf = Int32Array.from({ length: 12 }, (_, id) => 2 + Math.floor(id / 3));
  return { n: 12, levels: 2, regions, levelStart: [0, 2, 6], leafOf, warnings: [] };
}

describe("regionRedirects", () => {
  const h = tinyHierarchy(["a", "b", "a1-new", "a2", "b1", "b2"]);
  const previous: PreviousRegion[] = [
    { slug: "a", level: 0, members: [0, 1, 2, 3, 4, 5] },
    // Same members as a1, another slug: a rename.
    { slug: "old-a1", level: 1, members: [0, 1, 2] },
    // Spread over a1, a2, b1, b2 (Jaccard ≤ 2/7 with each, 1/3 with A and B): vanished. Most of
    // it is in a2 and b1 (two each); the earlier one wins.
    { slug: "old-mix", level: 1, members: [0, 3, 4, 6, 7, 9] },
    // Its one member is gone from this build: leads nowhere.
    { slug: "dead-one", level: 1, members: [99] },
    // Still live.
    { slug: "b1", level: 1, members: [6, 7, 8] },
  ];

  it("leads renamed slugs to the new slug and vanished ones to the region holding most of their members", () => {
    expect(regionRedirects(previous, h)).toEqual([
      { from: "old-a1", to: "a1-new" },
      { from: "old-mix", to: "a2" },
    ]);
  });

  it("prefers the old region's level, and the finest level when this build has fewer", () => {
    // Jaccard < 0.5 with every region. At level 1 most members are in b2 (3); at level 0, in A (4).
    const members = [0, 1, 3, 4, 9, 10, 11];
    expect(regionRedirects([{ slug: "gone", level: 1, members }], h)).toEqual([{ from: "gone", to: "b2" }]);
    expect(regionRedirects([{ slug: "gone", level: 5, members }], h)).toEqual([{ from: "gone", to: "b2" }]);
    expect(regionRedirects([{ slug: "gone", level: 0, members }], h)).toEqual([{ from: "gone", to: "a" }]);
  });

  it("carries old redirects forward: chains collapse, live, looping and dangling ones are dropped", () => {
    const carried: RegionRedirect[] = [
      { from: "ancient", to: "old-a1" }, // old-a1 is renamed this build: ancient → a1-new
      { from: "b2", to: "a" }, // b2 is a live slug again
      { from: "loop-x", to: "loop-y" },
      { from: "loop-y", to: "loop-x" },
      { from: "older", to: "ancient" }, // two hops
      { from: "stray", to: "nowhere" },
    ];
    expect(regionRedirects(previous, h, carried)).toEqual([
      { from: "ancient", to: "a1-new" },
      { from: "old-a1", to: "a1-new" },
      { from: "old-mix", to: "a2" },
      { from: "older", to: "a1-new" },
    ]);
    // The input order does not matter.
    expect(regionRedirects([...previous].reverse(), h, [...carried].reverse())).toEqual(regionRedirects(previous, h, carried));
  });
});

describe("region redirects across builds", () => {
  let work: string;
  let dictDir: string;
  const N = 300;

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), "atlas-redirects-test-"));
    dictDir = join(work, "dict");
    const dict = syntheticDictionary({ n: N, d: 32, clusters: 5, seed: 5, duplicates: 0 });
    writeSaeLensFolder(dictDir, dict, { d_sae: N });
    const labels: Record<string, string> = {};
    for (let i = 0; i < N; i++) labels[String(i)] = `family${dict.cluster[i]} item${i % 7}`;
    writeFileSync(join(dictDir, "labels.json"), JSON.stringify(labels));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const build = async (out: string): Promise<Manifest> =>
    (await buildAtlas({ dictionary: dictDir, out, id: "syn", quiet: true, k: 10, cache: join(work, "cache") })).manifest;
  const rename = (members: ArrayLike<number>, level: number, name: string, slug: string): void =>
    writeFileSync(join(dictDir, NAMES_FILE), JSON.stringify({ version: 1, regions: [{ name, slug, level, members: Array.from(members) }] }));
  const redirectsOf = (dir: string, m: Manifest): RegionRedirect[] =>
    m.regions?.redirects ? regionRedirectsFileSchema.parse(JSON.parse(readFileSync(join(dir, m.regions.redirects), "utf8"))).redirects : [];
  const slugsOf = (dir: string, m: Manifest): Map<string, string> => {
    const out = new Map<string, string>();
    for (const l of m.regions!.levels) for (const r of regionLevelFileSchema.parse(JSON.parse(readFileSync(join(dir, l.path), "utf8"))).regions) out.set(r.slug, r.name);
    return out;
  };

  it("lead a renamed region's old slugs to its newest one, build after build", async () => {
    const out = join(work, "atlas");
    const first = await build(out);
    expect(first.regions).not.toBeNull();
    expect(first.regions!.redirects).toBeUndefined();
    const target = readPreviousRegions(out).find((r) => r.level === 0)!;
    const original = target.slug;

    // Build 2: a hand rename with a new slug. Nothing else moved, so that is the one redirect.
    rename(target.members, 0, "Renamed once", "renamed-once");
    const copy = join(work, "atlas-copy");
    cpSync(out, copy, { recursive: true });
    const second = await build(out);
    expect(redirectsOf(out, second)).toEqual([{ from: original, to: "renamed-once" }]);
    expect(slugsOf(out, second).get("renamed-once")).toBe("Renamed once");
    expect(slugsOf(out, second).has(original)).toBe(false);
    // The same build over a copy of the same previous atlas gives the same bytes.
    await build(copy);
    const [a, b] = [atlasFiles(out), atlasFiles(copy)];
    expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
    for (const [name, bytes] of a) expect(bytes.equals(b.get(name)!), name).toBe(true);

    // Build 3: renamed again; the first slug skips the middle one.
    rename(target.members, 0, "Renamed twice", "renamed-twice");
    const third = await build(out);
    expect(redirectsOf(out, third)).toEqual([
      { from: original, to: "renamed-twice" },
      { from: "renamed-once", to: "renamed-twice" },
    ].sort((x, y) => (x.from < y.from ? -1 : 1)));
    // Rebuilding over itself changes nothing.
    const before = atlasFiles(out);
    await build(out);
    const after = atlasFiles(out);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    for (const [name, bytes] of before) expect(bytes.equals(after.get(name)!), name).toBe(true);

    // Build 4: back to the first slug, which is live again and so redirects no more.
    rename(target.members, 0, "Back again", original);
    const fourth = await build(out);
    expect(parseManifest(JSON.parse(readFileSync(join(out, "manifest.json"), "utf8"))).regions!.redirects).toMatch(/^regions\/redirects\.[0-9a-f]+\.json$/);
    expect(redirectsOf(out, fourth)).toEqual([
      { from: "renamed-once", to: original },
      { from: "renamed-twice", to: original },
    ].sort((x, y) => (x.from < y.from ? -1 : 1)));
    // Every redirect leads to a live slug and none shadows one.
    const live = slugsOf(out, fourth);
    for (const r of redirectsOf(out, fourth)) {
      expect(live.has(r.to)).toBe(true);
      expect(live.has(r.from)).toBe(false);
    }
  });
});
