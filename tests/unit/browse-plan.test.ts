/** bench/browse.ts chooses what to browse from a built site's files; these are its choices. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { TileInfo } from "../../contract/atlas.ts";
import { pickFeatures, staticFeatureIds, toScreen, wheelScale, zoomAround, zoomTargets } from "../../bench/browse-plan.ts";

describe("pickFeatures", () => {
  it("takes the ids nearest the middle with and without a static page", () => {
    // 10 features, middle 4; pages for 0, 1, 4 and 7.
    expect(pickFeatures(10, new Set([0, 1, 4, 7]))).toEqual({ withPage: 4, withoutPage: 3 });
    // Ties go to the lower id: 2 and 6 are both 2 from the middle.
    expect(pickFeatures(10, new Set([2, 6]))).toEqual({ withPage: 2, withoutPage: 4 });
  });

  it("finds no missing page on a site with every page, and no page on a site with none", () => {
    const all = new Set(Array.from({ length: 9 }, (_, i) => i));
    expect(pickFeatures(9, all)).toEqual({ withPage: 4, withoutPage: null });
    expect(pickFeatures(9, new Set())).toEqual({ withPage: null, withoutPage: 4 });
  });

  it("ignores page folders past the last feature", () => {
    expect(pickFeatures(3, new Set([50, 0]))).toEqual({ withPage: 0, withoutPage: 1 });
    expect(pickFeatures(0, new Set([0]))).toEqual({ withPage: null, withoutPage: null });
  });

  it("reaches the ends when only they lack a page", () => {
    const pages = new Set(Array.from({ length: 99 }, (_, i) => i + 1)); // 1 … 99 of 100
    expect(pickFeatures(100, pages).withoutPage).toBe(0);
  });
});

describe("staticFeatureIds", () => {
  let dir = "";
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("reads the feature page folders of one atlas, and only canonical ids", () => {
    dir = mkdtempSync(join(tmpdir(), "browse-plan-"));
    for (const name of ["0", "17", "0017", "x", "12a"]) {
      mkdirSync(join(dir, "demo", "feature", name), { recursive: true });
      writeFileSync(join(dir, "demo", "feature", name, "index.html"), "");
    }
    expect([...staticFeatureIds(dir, "demo")].sort((a, b) => a - b)).toEqual([0, 17]);
    expect(staticFeatureIds(dir, "other").size).toBe(0);
  });
});

describe("zoom geometry", () => {
  it("keeps the layout point under the pointer where it was on screen", () => {
    const v = { x: 0.5, y: 0.45, zoom: 1.3, width: 1280, height: 660 };
    const p: [number, number] = [0.62, 0.31];
    const s = wheelScale(1000);
    expect(Math.log2(s)).toBeCloseTo(1, 3);
    const after = zoomAround(v, p, s);
    expect(after.zoom).toBeCloseTo(v.zoom + Math.log2(s), 12);
    const [a, b] = [toScreen(v, p), toScreen(after, p)];
    expect(b.x).toBeCloseTo(a.x, 9);
    expect(b.y).toBeCloseTo(a.y, 9);
    // Screen y grows downwards while layout y grows upwards: a point below the centre in layout is lower on screen.
    expect(a.y).toBeGreaterThan(v.height / 2);
  });

  it("aims at the centres of the deepest tiles, nearest the middle first, and nowhere in a single tile", () => {
    const tile = (key: string, extent: [number, number, number, number]): TileInfo => ({ key, path: `tiles/${key}.arrow`, rows: 1, totalRows: 1, extent });
    const root = tile("0/0/0", [0, 0, 1, 1]);
    expect(zoomTargets([root], [0, 0, 1, 1])).toEqual([]);
    const tiles = [root, tile("1/0/0", [0, 0, 0.5, 0.5]), tile("2/0/0", [0.1, 0.1, 0.2, 0.2]), tile("2/1/1", [0.3, 0.3, 0.4, 0.5])];
    const targets = zoomTargets(tiles, [0, 0, 1, 1]);
    expect(targets).toHaveLength(2);
    expect(targets.flat().map((c) => Number(c.toFixed(9)))).toEqual([0.35, 0.4, 0.15, 0.15]);
  });
});
