import { describe, expect, it } from "vitest";
import { ASSET_RESERVE, parsePageList, rankFeatures, REGION_SHARE, splitBudget, takeSorted, type AtlasCosts } from "../../src/lib/page-set.ts";
import { pageOptions, redirectsFile, rewriteFallback } from "../../src/lib/build-options.ts";
import { parseRewrites, rewriteTarget } from "../../scripts/serve-static.ts";

const facts = (densities: number[], labelled: number[]) => ({
  log10Density: Float32Array.from(densities),
  labelled: Uint8Array.from(labelled),
});

describe("rankFeatures", () => {
  const f = facts([-3, -1, NaN, -1, -5, -2], [0, 0, 1, 1, 1, 0]);

  it("densest: by density, most frequent first, unknown last, ties by id", () => {
    expect([...rankFeatures(f, "densest")]).toEqual([1, 3, 5, 0, 4, 2]);
  });

  it("labelled: labelled features first, each group by density", () => {
    expect([...rankFeatures(f, "labelled")]).toEqual([3, 4, 2, 1, 5, 0]);
  });

  it("is deterministic and total on a large input with many ties", () => {
    const n = 50_000;
    const d = Float32Array.from({ length: n }, (_, i) => -((i * 7919) % 13));
    const l = Uint8Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const a = rankFeatures({ log10Density: d, labelled: l }, "labelled");
    const b = rankFeatures({ log10Density: d.slice(), labelled: l.slice() }, "labelled");
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    expect(new Set(a).size).toBe(n);
    // Every labelled feature precedes every unlabelled one.
    const firstUnlabelled = a.findIndex((id) => l[id] === 0);
    expect(a.slice(firstUnlabelled).every((id) => l[id] === 0)).toBe(true);
  });

  it("takeSorted keeps the best `count` and returns them in id order", () => {
    expect([...takeSorted(rankFeatures(f, "densest"), 3)]).toEqual([1, 3, 5]);
    expect([...takeSorted(rankFeatures(f, "densest"), 100)]).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

describe("parsePageList", () => {
  it("reads bare ids and ids of this atlas in file order, skipping comments, blanks, repeats and other atlases", () => {
    const text = "# chosen by hand\n5\n\nother/3\ndemo/2\n5\n  7  # trailing comment\n";
    expect(parsePageList(text, "pages.txt", "demo", 10)).toEqual([5, 2, 7]);
  });

  it("names the file and line of a bad entry and of an id out of range", () => {
    expect(() => parsePageList("1\nfeature 2\n", "pages.txt", "demo", 10)).toThrow(/pages\.txt:2: expected a feature id/);
    expect(() => parsePageList("1\n\ndemo/10\n", "pages.txt", "demo", 10)).toThrow(/pages\.txt:3: feature 10 is out of range: atlas "demo" has features 0–9/);
  });
});

describe("splitBudget", () => {
  const atlas = (over: Partial<AtlasCosts> = {}): AtlasCosts => ({
    id: "a",
    features: 1_048_576,
    dataFiles: 2_000,
    fixedPages: 3,
    regionImages: 0,
    regionsPerLevel: [],
    perFeature: 1,
    ...over,
  });

  it("gives features everything after the fixed files, and never more than the budget", () => {
    const s = splitBudget(20_000, 5, [atlas()]);
    expect(s.fixed).toBe(5 + ASSET_RESERVE + 2_000 + 3);
    expect(s.atlases[0]!.features).toBe(20_000 - s.fixed);
    expect(s.fixed + s.regionFiles + s.featureFiles).toBe(20_000);
  });

  it("counts embed cards and per-feature images against the budget", () => {
    const s = splitBudget(20_000, 5, [atlas({ perFeature: 3 })]);
    expect(s.atlases[0]!.features).toBe(Math.floor((20_000 - s.fixed) / 3));
    expect(s.featureFiles).toBe(3 * s.atlases[0]!.features);
  });

  it("gives regions their images, then whole levels coarsest first, within REGION_SHARE", () => {
    const s = splitBudget(20_000, 5, [atlas({ regionImages: 1_500, regionsPerLevel: [20, 300, 4_000, 30_000] })]);
    const left = 20_000 - s.fixed;
    expect(s.atlases[0]!.regionImages).toBe(true);
    // 1,500 + 20 + 300 fit in a quarter of ~17,900; the 4,000 of level 2 do not.
    expect(s.atlases[0]!.regionLevels).toBe(2);
    expect(s.regionFiles).toBe(1_820);
    expect(s.regionFiles).toBeLessThanOrEqual(Math.floor(left * REGION_SHARE));
    expect(s.fixed + s.regionFiles + s.featureFiles).toBe(20_000);
  });

  it("shares features equally among atlases, a small one passing what it does not need to the big ones", () => {
    const s = splitBudget(10_000, 0, [atlas({ id: "big", features: 900_000, dataFiles: 100 }), atlas({ id: "small", features: 50, dataFiles: 10 })]);
    expect(s.atlases[1]!.features).toBe(50);
    expect(s.atlases[0]!.features).toBe(10_000 - s.fixed - 50);
    const even = splitBudget(10_000, 0, [atlas({ id: "x", features: 900_000, dataFiles: 0 }), atlas({ id: "y", features: 800_000, dataFiles: 0 })]);
    expect(Math.abs(even.atlases[0]!.features - even.atlases[1]!.features)).toBeLessThanOrEqual(1);
    expect(even.featureFiles).toBe(10_000 - even.fixed);
  });

  it("refuses a budget the data files alone exceed, saying what to change", () => {
    expect(() => splitBudget(20_000, 5, [atlas({ dataFiles: 25_000 })])).toThrow(/needs 25,072 files before any feature or region page.*larger shards/);
  });

  it("is a pure function of its inputs", () => {
    const input = [atlas({ regionImages: 100, regionsPerLevel: [8, 50] }), atlas({ id: "b", features: 4_096, dataFiles: 82, perFeature: 2 })];
    expect(splitBudget(20_000, 7, input)).toEqual(splitBudget(20_000, 7, input));
  });
});

describe("page options", () => {
  it("default to every page", () => {
    expect(pageOptions({})).toEqual({ mode: "all" });
  });

  it("read a budget, its policy and list", () => {
    expect(pageOptions({ PAGES: "budget", PAGE_BUDGET: "20_000" })).toEqual({ mode: "budget", files: 20_000, policy: "labelled" });
    expect(pageOptions({ PAGES: "budget", PAGE_BUDGET: "500", PAGE_POLICY: "list", PAGE_LIST: "ids.txt" })).toEqual({ mode: "budget", files: 500, policy: "list", list: "ids.txt" });
  });

  it("reject what they cannot use, naming the variable", () => {
    expect(() => pageOptions({ PAGES: "some" })).toThrow(/PAGES must be/);
    expect(() => pageOptions({ PAGES: "budget" })).toThrow(/PAGE_BUDGET/);
    expect(() => pageOptions({ PAGES: "budget", PAGE_BUDGET: "-3" })).toThrow(/PAGE_BUDGET/);
    expect(() => pageOptions({ PAGES: "budget", PAGE_BUDGET: "9", PAGE_POLICY: "random" })).toThrow(/PAGE_POLICY/);
    expect(() => pageOptions({ PAGES: "budget", PAGE_BUDGET: "9", PAGE_POLICY: "list" })).toThrow(/PAGE_LIST/);
    expect(() => rewriteFallback("yes")).toThrow(/PAGE_FALLBACK/);
  });
});

describe("the rewrite rules and their emulation", () => {
  const rules = parseRewrites(redirectsFile("/", ["demo", "gpt2"]) + "/old /new 301\n");

  it("rewrite feature URLs of each atlas to the fallback page, and nothing else", () => {
    expect(rules).toHaveLength(2);
    expect(rewriteTarget(rules, "/demo/feature/123/")).toBe("/fallback/");
    expect(rewriteTarget(rules, "/gpt2/feature/7")).toBe("/fallback/");
    expect(rewriteTarget(rules, "/demo/region/x/")).toBeNull();
    expect(rewriteTarget(rules, "/other/feature/1/")).toBeNull();
    expect(rewriteTarget(rules, "/old")).toBeNull();
  });

  it("honour a site base and placeholders", () => {
    expect(redirectsFile("/atlas", ["demo"])).toContain("/atlas/demo/feature/* /atlas/fallback/ 200");
    expect(rewriteTarget([{ from: "/:atlas/f/:id", to: "/x/:atlas-:id" }], "/demo/f/9")).toBe("/x/demo-9");
  });
});
