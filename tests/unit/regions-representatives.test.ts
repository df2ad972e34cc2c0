import { describe, expect, it } from "vitest";
import { gaussian, rng } from "../../precompute/random.ts";
import { representatives, type RegionTree } from "../../precompute/regions/representatives.ts";

/**
 * Unit rows in a few directions plus noise, and a four-level tree over them whose leaves are of
 * every size the kernel stages differently: one member, a few, and more than one stage (64 rows).
 */
function fixture(d: number, seed: number): { unit: Float32Array; tree: RegionTree } {
  const random = rng(seed, "rows");
  const normal = (): number => gaussian(random);
  const leafSizes = [1, 3, 70, 12, 5, 130, 2, 40];
  const n = leafSizes.reduce((a, b) => a + b, 0);
  // Ids are shuffled over the leaves, so members are not contiguous rows.
  const ids = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  const unit = new Float32Array(n * d);
  const leaves: number[][] = [];
  let at = 0;
  for (const [leaf, size] of leafSizes.entries()) {
    const centre = Array.from({ length: d }, () => normal());
    const list = ids.slice(at, at + size).sort((a, b) => a - b);
    at += size;
    leaves.push(list);
    for (const i of list) {
      let s = 0;
      for (let t = 0; t < d; t++) s += (unit[i * d + t] = centre[t]! + (0.5 + leaf / 4) * normal()) ** 2;
      for (let t = 0; t < d; t++) unit[i * d + t]! /= Math.sqrt(s);
    }
  }
  // Level 0: 2 regions; level 1: 3; level 2: 4; level 3: the 8 leaves. Four levels, so a coarse
  // sum is only right when the level below it was summed first.
  const level2Of = [0, 0, 1, 2, 2, 3, 3, 3];
  const level1Of = [0, 0, 1, 2];
  const level0Of = [0, 1, 1];
  const union = (lists: number[][]): number[] => lists.flat().sort((a, b) => a - b);
  const level2 = [0, 1, 2, 3].map((p) => union(leaves.filter((_, l) => level2Of[l] === p)));
  const level1 = [0, 1, 2].map((p) => union(level2.filter((_, r) => level1Of[r] === p)));
  const level0 = [0, 1].map((p) => union(level1.filter((_, r) => level0Of[r] === p)));
  const members = [...level0, ...level1, ...level2, ...leaves];
  const parent = Int32Array.from([-1, -1, ...level0Of, ...level1Of.map((p) => 2 + p), ...level2Of.map((p) => 5 + p)]);
  return { unit, tree: { members, parent, levelStart: [0, 2, 5, 9, 17] } };
}

/** The definition, one region at a time in float64: mean direction, cosines, top by cosine then id. */
function reference(unit: Float32Array, d: number, list: readonly number[], topK: number): { cos: number[]; top: number[]; cohesion: number } {
  const mean = new Float64Array(d);
  for (const i of list) for (let t = 0; t < d; t++) mean[t]! += unit[i * d + t]!;
  const norm = Math.hypot(...mean);
  const cos = list.map((i) => {
    let s = 0;
    for (let t = 0; t < d; t++) s += unit[i * d + t]! * mean[t]!;
    return s / norm;
  });
  const top = list
    .map((id, q) => ({ id, c: cos[q]! }))
    .sort((a, b) => b.c - a.c || a.id - b.id)
    .slice(0, topK)
    .map((e) => e.id);
  return { cos, top, cohesion: Math.min(1, Math.round((norm / list.length) * 1e4) / 1e4) };
}

describe("region representatives", () => {
  for (const d of [37, 128]) {
    it(`match the per-region definition at every level (d = ${d})`, () => {
      const { unit, tree } = fixture(d, d);
      const got = representatives(unit, d, tree, 12);
      tree.members.forEach((list, r) => {
        const want = reference(unit, d, list, 12);
        expect(got.cosines[r]!.length).toBe(list.length);
        for (let q = 0; q < list.length; q++) expect(got.cosines[r]![q]).toBeCloseTo(want.cos[q]!, 5);
        expect(got.top[r]).toEqual(want.top);
        expect(got.cohesion[r]).toBeCloseTo(want.cohesion, 3);
      });
    });
  }

  it("rank equal cosines by the smaller id, whatever order the rows are visited in", () => {
    // Four identical rows in one leaf and its parent: every cosine is equal.
    const d = 8;
    const unit = new Float32Array(4 * d);
    for (let i = 0; i < 4; i++) unit[i * d] = 1;
    const tree: RegionTree = { members: [[0, 1, 2, 3], [0, 1, 2, 3]], parent: Int32Array.from([-1, 0]), levelStart: [0, 1, 2] };
    const got = representatives(unit, d, tree, 3);
    expect(got.top).toEqual([[0, 1, 2], [0, 1, 2]]);
    expect(got.cohesion).toEqual([1, 1]);
  });

  it("handle a single level and no regions", () => {
    const { unit } = fixture(16, 3);
    const one = representatives(unit, 16, { members: [[4, 9, 11]], parent: Int32Array.from([-1]), levelStart: [0, 1] }, 2);
    expect(one.top[0]).toEqual(reference(unit, 16, [4, 9, 11], 2).top);
    expect(representatives(unit, 16, { members: [], parent: new Int32Array(0), levelStart: [0] }, 2).top).toEqual([]);
  });
});
