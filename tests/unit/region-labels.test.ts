/**
 * The map's region-name rules (src/client/region-labels.ts): greedy placement never overlaps and
 * honours priority, the area and obstacles; which levels and regions are named at a zoom; the
 * outline drawn around a hovered region; wrapping of long names.
 */
import { describe, expect, it } from "vitest";
import {
  LEVEL_ON_PX,
  REGION_MAX_FRACTION,
  REGION_MIN_PX,
  labelOffsets,
  levelNamed,
  placeLabels,
  regionNamed,
  roundedHull,
  typicalSize,
  wrapName,
  type Box,
  type LabelCandidate,
} from "../../src/client/region-labels.ts";

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const overlap = (a: Box, b: Box, gap: number): boolean =>
  a.x < b.x + b.width + gap && b.x < a.x + a.width + gap && a.y < b.y + b.height + gap && b.y < a.y + a.height + gap;

describe("placeLabels", () => {
  const area: Box = { x: 0, y: 0, width: 1200, height: 800 };

  it("places no two names closer than the gap, thousands of candidates", () => {
    const rand = seeded(7);
    const candidates: LabelCandidate<number>[] = Array.from({ length: 3000 }, (_, i) => ({
      item: i,
      cx: rand() * 1300 - 50,
      cy: rand() * 900 - 50,
      width: 40 + rand() * 160,
      height: rand() < 0.5 ? 17 : 34,
    }));
    const placed = placeLabels(candidates, area, [], 6);
    expect(placed.length).toBeGreaterThan(40);
    for (let i = 0; i < placed.length; i++) {
      const a = placed[i]!.box;
      expect(a.x).toBeGreaterThanOrEqual(0);
      expect(a.y).toBeGreaterThanOrEqual(0);
      expect(a.x + a.width).toBeLessThanOrEqual(1200);
      expect(a.y + a.height).toBeLessThanOrEqual(800);
      for (let j = i + 1; j < placed.length; j++) expect(overlap(a, placed[j]!.box, 6)).toBe(false);
    }
    // Every dropped candidate that lies inside the area collides with a placed one (greedy is maximal).
    const kept = new Set(placed.map((p) => p.item));
    for (const c of candidates) {
      if (kept.has(c.item)) continue;
      const box = { x: Math.round(c.cx - c.width / 2), y: Math.round(c.cy - c.height / 2), width: c.width, height: c.height };
      const inside = box.x >= 0 && box.y >= 0 && box.x + box.width <= 1200 && box.y + box.height <= 800;
      if (inside) expect(placed.some((p) => overlap(box, p.box, 6))).toBe(true);
    }
  });

  it("keeps the earlier (higher-priority) of two colliding names", () => {
    const a = { item: "coarse", cx: 100, cy: 100, width: 120, height: 20 };
    const b = { item: "fine", cx: 130, cy: 105, width: 80, height: 16 };
    expect(placeLabels([a, b], area).map((p) => p.item)).toEqual(["coarse"]);
    expect(placeLabels([b, a], area).map((p) => p.item)).toEqual(["fine"]);
  });

  it("moves a name to its next spot when the centre is taken, and drops it when every spot is", () => {
    const first = { item: "a", cx: 200, cy: 100, width: 100, height: 20 };
    const moved = { item: "b", cx: 260, cy: 100, width: 100, height: 20, offsets: [[0, -30], [0, 30]] as [number, number][] };
    const placed = placeLabels([first, moved], area, [], 6);
    expect(placed.map((p) => p.item)).toEqual(["a", "b"]);
    expect(placed[1]!.box).toEqual({ x: 210, y: 60, width: 100, height: 20 });
    const stuck = { ...moved, offsets: [[0, 10]] as [number, number][] };
    expect(placeLabels([first, stuck], area, [], 6).map((p) => p.item)).toEqual(["a"]);
  });

  it("offers spots above, below, left and right, no farther than the region reaches", () => {
    expect(labelOffsets(100, 20, 500, 500)).toEqual([
      [0, -18],
      [0, 18],
      [-40, 0],
      [40, 0],
    ]);
    // A small region keeps its name close to its centre.
    expect(labelOffsets(100, 20, 20, 10)).toEqual([
      [0, -7],
      [0, 7],
      [-14, 0],
      [14, 0],
    ]);
    expect(labelOffsets(100, 20, 2, 2)).toEqual([]);
  });

  it("keeps clear of obstacles and of the edge", () => {
    const legend: Box = { x: 0, y: 700, width: 220, height: 100 };
    const under = { item: 1, cx: 100, cy: 740, width: 60, height: 16 };
    const edge = { item: 2, cx: 1190, cy: 400, width: 60, height: 16 };
    const free = { item: 3, cx: 600, cy: 400, width: 60, height: 16 };
    expect(placeLabels([under, edge, free], area, [legend]).map((p) => p.item)).toEqual([3]);
  });
});

describe("which regions are named", () => {
  const view = { pixelsPerUnit: 1000, width: 1200, height: 800 };

  it("names the coarsest level always and a finer one once its typical region is big enough", () => {
    expect(levelNamed(0, 0.001, view)).toBe(true);
    expect(levelNamed(1, (LEVEL_ON_PX - 1) / 1000, view)).toBe(false);
    expect(levelNamed(1, LEVEL_ON_PX / 1000, view)).toBe(true);
  });

  it("drops names of regions too small to carry one, and of regions one is inside of", () => {
    expect(regionNamed(1, REGION_MIN_PX - 1, view, true)).toBe(false);
    expect(regionNamed(0, 5, view, true)).toBe(true);
    const huge = REGION_MAX_FRACTION * 800 + 1;
    expect(regionNamed(1, huge, view, true)).toBe(false);
    // …unless nothing finer is named yet to take over.
    expect(regionNamed(1, huge, view, false)).toBe(true);
  });

  it("measures a level by its median region", () => {
    const r = (w: number, h: number) => ({ bounds: [0, 0, w, h] as [number, number, number, number] });
    expect(typicalSize([r(0.1, 0.05), r(0.02, 0.3), r(0.2, 0.1)])).toBeCloseTo(0.2);
    expect(typicalSize([])).toBe(0);
  });
});

describe("roundedHull", () => {
  it("grows a convex hull by the radius on every side, whatever its orientation", () => {
    const square: [number, number][] = [
      [0, 0],
      [1, 0],
      [1, 1],
      [0, 1],
    ];
    for (const hull of [square, [...square].reverse()]) {
      const out = roundedHull(hull, 0.1);
      const xs = out.map((p) => p[0]);
      const ys = out.map((p) => p[1]);
      expect(Math.min(...xs)).toBeCloseTo(-0.1);
      expect(Math.max(...xs)).toBeCloseTo(1.1);
      expect(Math.min(...ys)).toBeCloseTo(-0.1);
      expect(Math.max(...ys)).toBeCloseTo(1.1);
      // Every output point is exactly `radius` from the square.
      for (const [x, y] of out) {
        const dx = Math.max(0 - x, 0, x - 1);
        const dy = Math.max(0 - y, 0, y - 1);
        expect(Math.hypot(dx, dy)).toBeCloseTo(0.1, 6);
      }
    }
  });

  it("makes a disc of one point and a stadium of two", () => {
    const disc = roundedHull([[0.5, 0.5]], 0.2);
    expect(disc.length).toBeGreaterThan(8);
    for (const [x, y] of disc) expect(Math.hypot(x - 0.5, y - 0.5)).toBeCloseTo(0.2, 6);
    const stadium = roundedHull(
      [
        [0, 0],
        [1, 0],
      ],
      0.1,
    );
    expect(Math.min(...stadium.map((p) => p[0]))).toBeCloseTo(-0.1);
    expect(Math.max(...stadium.map((p) => p[1]))).toBeCloseTo(0.1);
  });
});

describe("wrapName", () => {
  it("keeps short names whole and splits long ones at the separator nearest the middle", () => {
    expect(wrapName("laser · lamp · thickness")).toEqual(["laser · lamp", "thickness"]);
    expect(wrapName("deer · frog · elk")).toEqual(["deer · frog · elk"]);
    expect(wrapName("disturbing · frightening · troubling")).toEqual(["disturbing · frightening", "troubling"]);
    expect(wrapName("a-very-long-single-word-without-separators")).toEqual(["a-very-long-single-word-without-separators"]);
  });
});
