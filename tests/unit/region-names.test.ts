import { describe, expect, it } from "vitest";
import { autoNames, buildVocabulary, sameStem, type NamingNode } from "../../precompute/regions/names.ts";

/** One level-0 node whose members carry `weights` (one member per term, so every term has the same idf). */
function single(weights: [string, number][]): { node: NamingNode; vocab: ReturnType<typeof buildVocabulary> } {
  const vocab = buildVocabulary(weights.map(([t]) => t));
  const node: NamingNode = {
    parent: -1,
    counts: new Map(weights.map(([t]) => [t, 1])),
    weights: new Map(weights),
    labelled: 1,
    fallback: "region 0-0",
  };
  return { node, vocab };
}

describe("automatic region names", () => {
  it("rank by score with distinct stems, also when the best hundred candidates share one stem", () => {
    // 100 variants of one word outscore everything else; the name takes the best of them and then
    // the next two words, which lie past the first hundred candidates.
    const variants = Array.from({ length: 100 }, (_, k): [string, number] => [`thunder${String(k).padStart(3, "0")}`, 100 - k / 1000]);
    expect(sameStem(variants[0]![0], variants[99]![0])).toBe(true);
    const others: [string, number][] = [["harbour", 5], ["lighthouse", 4], ["ferry", 3], ["anchor", 2]];
    const { node, vocab } = single([...others, ...variants]);
    const [name] = autoNames([node], vocab);
    expect(name!.terms).toEqual(["thunder000", "harbour", "lighthouse"]);
  });

  it("rank a term no member weighs (weight 0, score 0 · ∞) last, not by its spelling", () => {
    // Its score was NaN, and a sort comparing NaN by spelling put "aardvark" first.
    const { node, vocab } = single([["harbour", 3], ["aardvark", 0], ["ferry", 2], ["anchor", 1]]);
    expect(autoNames([node], vocab)[0]!.terms).toEqual(["harbour", "ferry", "anchor"]);
  });

  it("break equal scores by the term, whatever order the candidates come in", () => {
    const words = ["delta", "alpha", "gamma", "beta"];
    const names = [words, [...words].reverse()].map((order) => {
      const { node, vocab } = single(order.map((t): [string, number] => [t, 1]));
      return autoNames([node], vocab)[0]!.terms;
    });
    expect(names[0]).toEqual(["alpha", "beta", "delta"]);
    expect(names[1]).toEqual(names[0]);
  });
});
