/** The home page's grouping of atlases by model and hook point, the switcher's siblings, L0 sources and build dates. */
import { describe, expect, it } from "vitest";
import type { Manifest } from "../../contract/atlas.ts";
import { buildDate, formatBuildDate, groupAtlases, groupKey, siblingsOf, summarise } from "../../src/lib/site-index.ts";

function manifest(id: string, model: string | null, hookName: string | null, dSae: number, extra: { k?: number | null; rawConfig?: Record<string, unknown>; activity?: Manifest["activity"] } = {}): Manifest {
  return {
    id,
    title: `Atlas ${id}`,
    description: "",
    dictionary: { format: "saelens", architecture: "topk", model, hookName, dIn: 100, dSae, dtype: "F32", k: extra.k ?? null, neuronpediaId: null, rawConfig: extra.rawConfig ?? {} },
    counts: { features: dSae, dead: 0, labelled: dSae, withExamples: 0, withDensity: 0 },
    ...(extra.activity ? { activity: extra.activity } : {}),
  } as unknown as Manifest;
}

const day = new Date("2026-11-26T10:00:00Z");

describe("home page groups", () => {
  const ms = [
    manifest("gpt2-a", "gpt2-small", "blocks.7.hook_resid_pre", 24576),
    manifest("demo-16k", "glove", "word_embedding", 16384),
    manifest("demo", "glove", "word_embedding", 4096),
    manifest("gpt2-b", "gpt2-small", "blocks.8.hook_resid_pre", 24576),
    manifest("mystery", null, null, 512),
  ];
  const summaries = ms.map((m) => summarise(m, day));
  const key = new Map(ms.map((m) => [m.id, groupKey(m)]));

  it("groups by model and hook point, groups in the order of their first atlas", () => {
    const groups = groupAtlases(summaries, (s) => key.get(s.id)!, ["demo", "demo-16k"]);
    expect(groups.map((g) => [g.model, g.hookName, g.atlases.map((a) => a.id)])).toEqual([
      ["glove", "word_embedding", ["demo", "demo-16k"]],
      ["gpt2-small", "blocks.7.hook_resid_pre", ["gpt2-a"]],
      ["gpt2-small", "blocks.8.hook_resid_pre", ["gpt2-b"]],
      [null, null, ["mystery"]],
    ]);
  });

  it("without a config order, by id, then narrowest first within a group", () => {
    const groups = groupAtlases(summaries, (s) => key.get(s.id)!);
    expect(groups.map((g) => g.atlases.map((a) => a.id))).toEqual([["demo", "demo-16k"], ["gpt2-a"], ["gpt2-b"], ["mystery"]]);
    const reversed = groupAtlases(summaries, (s) => key.get(s.id)!, ["demo-16k"]);
    expect(reversed[0]!.atlases.map((a) => a.id)).toEqual(["demo-16k", "demo"]);
  });

  it("siblings share model and hook point, and never include the atlas itself", () => {
    expect(siblingsOf(ms, "demo").map((m) => m.id)).toEqual(["demo-16k"]);
    expect(siblingsOf(ms, "demo-16k").map((m) => m.id)).toEqual(["demo"]);
    expect(siblingsOf(ms, "gpt2-a")).toEqual([]);
    expect(siblingsOf(ms, "nope")).toEqual([]);
  });
});

describe("atlas figures", () => {
  it("L0: TopK k, then a config's average_l0, then the sum of densities", () => {
    expect(summarise(manifest("a", "m", "h", 10, { k: 32, activity: { meanL0: 31.2, medianDensity: 0.01 } }), day).l0).toEqual({ value: 32, source: "k" });
    expect(summarise(manifest("a", "m", "h", 10, { rawConfig: { average_l0: 71 } }), day).l0).toEqual({ value: 71, source: "config" });
    const measured = summarise(manifest("a", "m", "h", 10, { activity: { meanL0: 12.5, medianDensity: 0.002 } }), day);
    expect(measured.l0).toEqual({ value: 12.5, source: "densities" });
    expect(measured.medianDensity).toBe(0.002);
    expect(summarise(manifest("a", "m", "h", 10), day)).toMatchObject({ l0: null, medianDensity: null });
  });

  it("the build date is the manifest's mtime unless SOURCE_DATE_EPOCH is set", () => {
    expect(buildDate(day, undefined)).toBe(day);
    expect(buildDate(day, "not a number")).toBe(day);
    expect(buildDate(day, "1700000000").toISOString()).toBe("2023-11-14T22:13:20.000Z");
    expect(formatBuildDate(new Date("2026-11-26T23:30:00Z"))).toBe("26 Nov 2026");
  });
});
