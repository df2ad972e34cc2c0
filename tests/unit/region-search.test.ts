import { describe, expect, it } from "vitest";
import { buildSearchIndex, type SearchEntry } from "../../precompute/search/chunks.ts";
import type { Region } from "../../contract/atlas.ts";
import { decodeRegionIndex, encodeRegionIndex, type RegionEntry } from "../../src/lib/region-index.ts";
import { regionSearcher, type RegionHit } from "../../src/client/region-search.ts";
import { SearchIndex, type FetchLike } from "../../src/client/search-index.ts";
import { mergeScoped, mergeScopedRegions, rankResults, type RankedResult } from "../../src/client/search-scope.ts";

function region(slug: string, name: string, level = 1, members = 10, extra = ""): RegionEntry {
  return { slug, name, level, members, bounds: [0, 0, 1, 1], extra };
}

/** A feature index held in memory, served by a fetch that reads it. */
function featureIndex(entries: readonly SearchEntry[]): SearchIndex {
  const files = new Map<string, string>();
  const put = (path: string, json: string): string => (files.set(path, json), path);
  const built = buildSearchIndex(entries, {
    chunk: (i, json) => put(`search/${i}.json`, json),
    more: (c, k, json) => put(`search/${c}-more-${k}.json`, json),
    directory: (json) => put("search/directory.json", json),
  });
  const fetch: FetchLike = async (url) => {
    const text = files.get(url.slice("/a/".length));
    return text === undefined ? { ok: false, status: 404, json: async () => null } : { ok: true, status: 200, json: async () => JSON.parse(text) as unknown };
  };
  return new SearchIndex("/a/", { directory: built.directory, features: entries.length }, fetch);
}

const FEATURE_LIMIT = 12;
const REGION_LIMIT = 3;

/** The search box's list for one atlas, as search-box.ts builds it, shown as "r:<slug>" / "f:<id>". */
async function list(features: SearchIndex, regions: RegionEntry[], query: string): Promise<string[]> {
  const regionHits = regionSearcher(regions, 3).search(query, REGION_LIMIT);
  const featureHits = await features.search(query, FEATURE_LIMIT);
  const ranked = rankResults(
    mergeScopedRegions([{ atlas: "a", hits: regionHits }], REGION_LIMIT),
    mergeScoped([{ atlas: "a", hits: featureHits }], FEATURE_LIMIT),
    FEATURE_LIMIT,
  );
  return ranked.map(show);
}

function show(r: RankedResult<RegionHit>): string {
  return r.kind === "region" ? `r:${r.hit.slug}` : `f:${r.hit.id}`;
}

describe("regionSearcher", () => {
  const regions = [
    region("tok", "angelina · mujahedeen · tokugawa"),
    region("dog", "dog · wolf · fox"),
    region("dogs", "dogsled · husky"),
    region("whole", "Dog"),
    region("none", "cat · kitten"),
  ];
  const search = regionSearcher(regions, 3);

  it("scores region names with the feature search's word qualities", () => {
    const hits = search.search("dog", 10);
    expect(hits.map((h) => h.slug)).toEqual(["whole", "dog", "dogs", "tok"]);
    // Whole name, exact word, prefix of a word, start of a sound-alike word ("dog" and "tok…" share key "tok").
    expect(hits.map((h) => h.score)).toEqual([6, 5, 4, 2]);
  });

  it("needs every query word, and more than one letter", () => {
    expect(search.search("dog husky", 10).map((h) => h.slug)).toEqual(["dogs"]);
    expect(search.search("d", 10)).toEqual([]);
    expect(search.search(" · ", 10)).toEqual([]);
  });

  it("matches a hand-named region's terms as words, but only its name equals the query as a whole", () => {
    const named = regionSearcher([region("harbour", "Harbour", 0, 5, "port dock"), region("port", "port dock · pier")], 2);
    expect(named.search("dock", 5).map((h) => [h.slug, h.score])).toEqual([["harbour", 5], ["port", 5]]);
    expect(named.search("port dock", 5).map((h) => h.score)).toEqual([5, 5]);
    expect(named.search("harbour", 5).map((h) => [h.slug, h.score])).toEqual([["harbour", 6]]);
  });

  it("tries typos only when nothing else matches", () => {
    const typo = regionSearcher([region("h", "hurricane · cyclone"), region("x", "harbour")], 2);
    expect(typo.search("hurricaen", 5).map((h) => [h.slug, h.score])).toEqual([["h", 1]]);
    const both = regionSearcher([region("h", "hurricane · cyclone"), region("y", "hurricaens")], 2);
    expect(both.search("hurricaen", 5).map((h) => h.slug)).toEqual(["y"]);
  });

  it("breaks ties by level, then size, then slug, whatever the input order", () => {
    const tied = [region("b", "storm · rain", 1, 50), region("a", "storm · wind", 1, 50), region("c", "storm · sea", 0, 5), region("d", "storm · hail", 1, 80)];
    const order = regionSearcher(tied, 2).search("storm", 10).map((h) => h.slug);
    expect(order).toEqual(["c", "d", "a", "b"]);
    expect(regionSearcher([...tied].reverse(), 2).search("storm", 10).map((h) => h.slug)).toEqual(order);
    expect(regionSearcher(tied, 2).search("storm", 2).map((h) => h.slug)).toEqual(["c", "d"]);
  });
});

describe("regions and features on one scale", () => {
  const features = featureIndex([
    { id: 0, label: "dog cat puppy pet terrier pig", density: 0.5 },
    { id: 1, label: "stormy weather", density: 0.9 },
    { id: 2, label: "storm surge", density: 0.1 },
    { id: 3, label: "storms", density: 0.8 },
  ]);

  it("lists a feature holding the word above regions that only sound like it (the 'dog' case)", async () => {
    const regions = [region("r1", "angelina · mujahedeen · tokugawa"), region("r2", "tokyo · kyoto"), region("r3", "toki · pona")];
    const shown = await list(features, regions, "dog");
    expect(shown[0]).toBe("f:0");
    expect(shown.slice(1).every((s) => s.startsWith("r:"))).toBe(true);
    expect(shown).toContain("r:r1");
  });

  it("lists a region whose name holds the word above features that only start with it, and first among equals", async () => {
    const regions = [region("weather", "storm · rain · wind"), region("tokugawa", "tokugawa · shogun")];
    // Feature 2 holds "storm" (5), as the region does: the region goes first. Features 1 and 3 only
    // start with it (4), although they are more important than feature 2 (fewer words, denser).
    expect(await list(features, regions, "storm")).toEqual(["r:weather", "f:2", "f:3", "f:1"]);
    // No region holds "stormy" or a word starting with it: the region's "storm" is taken as a typo (1), last.
    expect(await list(features, regions, "stormy")).toEqual(["f:1", "r:weather"]);
  });

  it("puts a region between features where its score falls", async () => {
    const regions = [region("stormz", "stormzone · rain")];
    // The region only starts with "storm" (4), as features 1 and 3 do; feature 2 holds it (5).
    expect(await list(features, regions, "storm")).toEqual(["f:2", "r:stormz", "f:3", "f:1"]);
  });

  it("leaves out a region that ranks below the last feature of a full list, and keeps regions that do not", async () => {
    const many = featureIndex(Array.from({ length: 20 }, (_, id) => ({ id, label: `dog breed ${id}`, density: 1 - id / 100 })));
    const regions = [region("tok", "angelina · mujahedeen · tokugawa"), region("dog", "dog · wolf · fox")];
    const shown = await list(many, regions, "dog");
    // Features 12 … 19 hold "dog" too and would come before the sound-alike region.
    expect(shown).toEqual(["r:dog", ...Array.from({ length: FEATURE_LIMIT }, (_, i) => `f:${i}`)]);
  });

  it("gives the same list every time", async () => {
    const regions = [region("weather", "storm · rain · wind"), region("stormz", "stormzone · rain")];
    const first = await list(features, regions, "storm");
    expect(await list(features, regions, "storm")).toEqual(first);
    expect(await list(featureIndex([{ id: 3, label: "storms", density: 0.8 }, { id: 2, label: "storm surge", density: 0.1 }, { id: 1, label: "stormy weather", density: 0.9 }, { id: 0, label: "dog cat puppy pet terrier pig", density: 0.5 }]), [...regions].reverse(), "storm")).toEqual(first);
  });
});

describe("region index", () => {
  const level = (L: number, count: number): Region[] =>
    Array.from({ length: count }, (_, i) => ({
      id: `${L}-${i}`,
      level: L,
      index: i,
      parent: L === 0 ? null : `${L - 1}-0`,
      children: 0,
      members: 5,
      centroid: [0.5, 0.5],
      bounds: [0.1, 0.2, 0.3, 0.4],
      hull: [],
      name: `place ${L} ${i}`,
      slug: `place-${L}-${i}`,
      nameSource: "auto",
      terms: ["place"],
      top: [],
      cohesion: 0.5,
    }));
  const levels = [level(0, 3), level(1, 10), level(2, 100)];

  it("keeps whole levels, coarsest first, within the row cap, and says which", () => {
    const capped = decodeRegionIndex(encodeRegionIndex(levels, 20));
    expect(capped.levels).toBe(3);
    expect(capped.searchableLevels).toBe(2);
    expect(capped.entries.map((e) => e.slug)).toEqual([...levels[0]!, ...levels[1]!].map((r) => r.slug));
    // The coarsest level is kept even when it alone passes the cap: search needs something.
    const tiny = decodeRegionIndex(encodeRegionIndex(levels, 1));
    expect([tiny.searchableLevels, tiny.entries.length]).toEqual([1, 3]);
    const all = decodeRegionIndex(encodeRegionIndex(levels));
    expect([all.searchableLevels, all.entries.length]).toEqual([3, 113]);
    expect(all.entries[3]).toEqual({ slug: "place-1-0", name: "place 1 0", level: 1, members: 5, bounds: [0.1, 0.2, 0.3, 0.4], extra: "" });
  });

  it("reads an index written before the cap as covering every level", () => {
    const old = { levels: 2, regions: encodeRegionIndex(levels.slice(0, 2)).regions };
    expect(decodeRegionIndex(old).searchableLevels).toBe(2);
  });
});
