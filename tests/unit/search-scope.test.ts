import { describe, expect, it } from "vitest";
import { ALL_ATLASES, atlasesInScope, mergeScoped, mergeScopedRegions, rankResults, type RankedResult, type ScopedHit, type SearchTarget } from "../../src/client/search-scope.ts";

const targets: SearchTarget[] = [
  { id: "a", title: "Atlas A", directory: "search/directory.1.json", features: 10 },
  { id: "b", title: "Atlas B", directory: "search/directory.2.json", features: 20 },
];

describe("atlasesInScope", () => {
  it("covers every atlas for the all scope, one for an id, none for an unknown id", () => {
    expect(atlasesInScope(ALL_ATLASES, targets).map((t) => t.id)).toEqual(["a", "b"]);
    expect(atlasesInScope("b", targets).map((t) => t.id)).toEqual(["b"]);
    expect(atlasesInScope("zz", targets)).toEqual([]);
  });
});

describe("mergeScoped", () => {
  const a = { atlas: "a", hits: [{ id: 12, label: null }, { id: 1, label: "storm", score: 3 }, { id: 2, label: "storm surge", score: 3 }, { id: 3, label: "stormy", score: 2 }] };
  const b = { atlas: "b", hits: [{ id: 12, label: null }, { id: 7, label: "storm", score: 3 }, { id: 8, label: "storms", score: 2 }] };

  it("puts id matches first, then score, interleaving atlases at equal score, each atlas's order kept", () => {
    expect(mergeScoped([a, b], 100).map((h) => `${h.atlas}${h.id}`)).toEqual(["a12", "b12", "a1", "b7", "a2", "b8", "a3"]);
  });

  it("names each result's atlas and keeps its label and score", () => {
    const merged = mergeScoped([a, b], 100);
    expect(merged.find((h) => h.atlas === "b" && h.id === 8)).toEqual({ atlas: "b", id: 8, label: "storms", score: 2 });
    expect(merged[0]).toEqual({ atlas: "a", id: 12, label: null });
  });

  it("is deterministic: the same lists give the same order, and the list order breaks remaining ties", () => {
    expect(mergeScoped([a, b], 100)).toEqual(mergeScoped([a, b], 100));
    expect(mergeScoped([b, a], 100).map((h) => `${h.atlas}${h.id}`)).toEqual(["b12", "a12", "b7", "a1", "a2", "b8", "a3"]);
  });

  it("cuts at the limit, and a single list passes through in order", () => {
    expect(mergeScoped([a, b], 3).map((h) => `${h.atlas}${h.id}`)).toEqual(["a12", "b12", "a1"]);
    expect(mergeScoped([a], 100).map((h) => h.id)).toEqual([12, 1, 2, 3]);
    expect(mergeScoped([], 5)).toEqual([]);
  });
});

describe("mergeScopedRegions", () => {
  const a = { atlas: "a", hits: [{ slug: "x", score: 5 }, { slug: "y", score: 2 }] };
  const b = { atlas: "b", hits: [{ slug: "p", score: 6 }, { slug: "q", score: 5 }, { slug: "r", score: 5 }] };

  it("orders by score, equal scores interleaving atlases by place, then list order; cuts at the limit", () => {
    const show = (l: { atlas: string; hit: { slug: string } }[]) => l.map((r) => `${r.atlas}${r.hit.slug}`);
    expect(show(mergeScopedRegions([a, b], 10))).toEqual(["bp", "ax", "bq", "br", "ay"]);
    expect(show(mergeScopedRegions([b, a], 10))).toEqual(["bp", "ax", "bq", "br", "ay"]);
    expect(show(mergeScopedRegions([a, b], 2))).toEqual(["bp", "ax"]);
    expect(mergeScopedRegions([], 3)).toEqual([]);
  });
});

describe("rankResults", () => {
  type R = { slug: string; score: number };
  const region = (slug: string, score: number, atlas = "a") => ({ atlas, hit: { slug, score } });
  const feature = (id: number, score?: number, atlas = "a"): ScopedHit => ({ atlas, id, label: `f${id}`, ...(score === undefined ? {} : { score }) });
  const show = (l: RankedResult<R>[]) => l.map((r) => (r.kind === "region" ? `r:${r.hit.slug}` : `f:${r.hit.id}`));

  it("ranks by score whatever the kind; equal scores put regions first; each list keeps its order", () => {
    const regions = [region("exact", 5), region("sound", 2)];
    const features = [feature(1, 6), feature(2, 5), feature(3, 5), feature(4, 4)];
    expect(show(rankResults(regions, features, 12))).toEqual(["f:1", "r:exact", "f:2", "f:3", "f:4", "r:sound"]);
  });

  it("keeps bare id matches first, above a region equal to the query", () => {
    expect(show(rankResults([region("whole", 6)], [feature(7), feature(1, 6)], 12))).toEqual(["f:7", "r:whole", "f:1"]);
  });

  it("keeps every feature, and leaves out regions below the last feature of a full list", () => {
    const features = [feature(1, 5), feature(2, 4), feature(3, 4)];
    const regions = [region("above", 4.5), region("tied", 4), region("below", 3)];
    expect(show(rankResults(regions, features, 3))).toEqual(["f:1", "r:above", "r:tied", "f:2", "f:3"]);
    expect(show(rankResults(regions, features, 4))).toEqual(["f:1", "r:above", "r:tied", "f:2", "f:3", "r:below"]);
    expect(show(rankResults(regions, [], 3))).toEqual(["r:above", "r:tied", "r:below"]);
    expect(rankResults(regions, features, 3)).toEqual(rankResults(regions, features, 3));
  });

  it("carries each result's atlas", () => {
    const out = rankResults([region("x", 5, "b")], [feature(1, 5, "c")], 12);
    expect(out.map((r) => [r.kind, r.atlas])).toEqual([["region", "b"], ["feature", "c"]]);
  });
});
