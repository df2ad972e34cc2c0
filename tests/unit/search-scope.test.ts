import { describe, expect, it } from "vitest";
import { ALL_ATLASES, atlasesInScope, mergeScoped, type SearchTarget } from "../../src/client/search-scope.ts";

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
