import { describe, expect, it } from "vitest";
import { tableFromIPC } from "apache-arrow";
import { TILE_COLUMNS, tileSchema } from "../../contract/atlas.ts";
import { parentKey, parseKey, tileBounds, formatKey } from "../../contract/tile-keys.ts";
import { COORD_STEPS, coordStep, decodeTileCoords } from "../../contract/tile-coords.ts";
import { mulberry32, gaussian } from "../../precompute/random.ts";
import { MAX_DEPTH, buildTiles, insertionOrder, type BuiltTile, type TilePoints } from "../../precompute/tiles/quadtree.ts";

function decode(bytes: Uint8Array, key = "0/0/0") {
  const t = tableFromIPC(bytes);
  const qx = t.getChild("x")!.toArray() as Uint16Array;
  const qy = t.getChild("y")!.toArray() as Uint16Array;
  const { x, y } = decodeTileCoords(key, qx, qy);
  return {
    fields: t.schema.fields.map((f) => [f.name, String(f.type)]),
    ids: Array.from(t.getChild("id")!.toArray() as Uint32Array),
    qx: Array.from(qx),
    qy: Array.from(qy),
    x: Array.from(x),
    y: Array.from(y),
    d: Array.from(t.getChild("log10Density")!.toArray() as Float32Array),
    labels: t.getChild("label")!.toArray() as string[],
  };
}

/** n points: a uniform background plus a few tight Gaussian clusters, ids 0…n−1. */
function syntheticPoints(n: number, seed: number, labelledEvery = 7): TilePoints {
  const r = mulberry32(seed);
  const ids = new Uint32Array(n);
  const xy = new Float32Array(2 * n);
  const log10Density = new Float32Array(n);
  const labels: (string | null)[] = [];
  const centres = [[0.2, 0.3], [0.7, 0.75], [0.85, 0.1]] as const;
  for (let i = 0; i < n; i++) {
    ids[i] = i;
    let x: number, y: number;
    if (i % 2 === 0) {
      x = r();
      y = r();
    } else {
      const c = centres[i % 3]!;
      x = Math.min(1, Math.max(0, c[0] + 0.03 * gaussian(r)));
      y = Math.min(1, Math.max(0, c[1] + 0.03 * gaussian(r)));
    }
    xy[2 * i] = x;
    xy[2 * i + 1] = y;
    log10Density[i] = i % 11 === 0 ? NaN : -1 - 5 * r();
    labels.push(i % labelledEvery === 0 ? `feature ${i} label` : null);
  }
  return { ids, xy, log10Density, labels };
}

function byKey(tiles: BuiltTile[]): Map<string, BuiltTile> {
  return new Map(tiles.map((t) => [t.key, t]));
}

describe("buildTiles", () => {
  const points = syntheticPoints(20_000, 1);
  const capacity = 1000;
  const tiles = buildTiles(points, { capacity, seed: 42 });

  it("writes the contract's columns, in order, with the input values (positions within half a step)", () => {
    const want = Object.entries(TILE_COLUMNS);
    let worst = 0;
    for (const t of [...tiles.slice(0, 5), ...tiles.slice(-5)]) {
      const tile = decode(t.bytes, t.key);
      expect(tile.fields).toEqual(want);
      const z = parseKey(t.key).z;
      // Half a quantisation step, plus Float32 rounding of the decoded value (2^-24 near 1).
      const tolerance = coordStep(z) / 2 + 2 ** -24;
      let err = 0;
      const d: number[] = [];
      const labels: string[] = [];
      for (let r = 0; r < tile.ids.length; r++) {
        const id = tile.ids[r]!;
        err = Math.max(err, Math.abs(tile.x[r]! - points.xy[2 * id]!), Math.abs(tile.y[r]! - points.xy[2 * id + 1]!));
        d.push(points.log10Density[id]!);
        labels.push(points.labels[id] ?? "");
      }
      expect(err).toBeLessThanOrEqual(tolerance);
      worst = Math.max(worst, err / coordStep(z));
      expect(tile.d).toEqual(d);
      expect(tile.labels).toEqual(labels);
    }
    // The steps are really used: errors reach close to half a step somewhere, not zero everywhere.
    expect(worst).toBeGreaterThan(0.4);
  });

  it("puts every point in exactly one tile, inside the tile's square, with tight extents", () => {
    const seen = new Uint8Array(points.ids.length);
    for (const t of tiles) {
      expect(() => tileSchema.parse({ ...t, path: "tiles/x.arrow" })).not.toThrow();
      const tile = decode(t.bytes, t.key);
      expect(tile.ids.length).toBe(t.rows);
      expect(Math.max(...tile.qx, ...tile.qy)).toBeLessThanOrEqual(COORD_STEPS);
      const [bx0, by0, bx1, by1] = tileBounds(parseKey(t.key));
      let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
      for (let r = 0; r < t.rows; r++) {
        seen[tile.ids[r]!]!++;
        const x = tile.x[r]!, y = tile.y[r]!;
        expect(x >= bx0 && x <= bx1 && y >= by0 && y <= by1).toBe(true);
        minX = Math.min(minX, x); minY = Math.min(minY, y); maxX = Math.max(maxX, x); maxY = Math.max(maxY, y);
      }
      expect(t.extent).toEqual([minX, minY, maxX, maxY]);
    }
    expect(seen.every((c) => c === 1)).toBe(true);
  });

  it("fills a tile to capacity before it has children, and counts descendants in totalRows", () => {
    const map = byKey(tiles);
    const childTotals = new Map<string, number>();
    for (const t of tiles) {
      const parent = parentKey(parseKey(t.key));
      if (parent) {
        const pk = formatKey(parent);
        expect(map.has(pk)).toBe(true);
        expect(map.get(pk)!.rows).toBe(capacity);
        childTotals.set(pk, (childTotals.get(pk) ?? 0) + t.totalRows);
      }
      expect(t.rows).toBeLessThanOrEqual(capacity);
    }
    for (const t of tiles) expect(t.totalRows).toBe(t.rows + (childTotals.get(t.key) ?? 0));
    expect(tiles[0]!.key).toBe("0/0/0");
    expect(tiles[0]!.totalRows).toBe(points.ids.length);
  });

  it("lists parents before children: by depth, then by key", () => {
    const keys = tiles.map((t) => t.key);
    const sorted = [...keys].sort((a, b) => parseKey(a).z - parseKey(b).z || (a < b ? -1 : a > b ? 1 : 0));
    expect(keys).toEqual(sorted);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("is byte-identical for the same input and seed, and differs for another seed", () => {
    const again = buildTiles(syntheticPoints(20_000, 1), { capacity, seed: 42 });
    expect(again.length).toBe(tiles.length);
    for (let i = 0; i < tiles.length; i++) {
      expect(again[i]!.key).toBe(tiles[i]!.key);
      expect(Buffer.from(again[i]!.bytes).equals(Buffer.from(tiles[i]!.bytes))).toBe(true);
    }
    const other = buildTiles(points, { capacity, seed: 43 });
    expect(Buffer.from(other[0]!.bytes).equals(Buffer.from(tiles[0]!.bytes))).toBe(false);
  });
});

describe("the root tile is a fair sample", () => {
  /** Share of the points in each cell of a g × g grid. */
  function gridShares(xs: number[], ys: number[], g: number): number[] {
    const counts = new Array<number>(g * g).fill(0);
    for (let i = 0; i < xs.length; i++) {
      const cx = Math.min(g - 1, Math.floor(xs[i]! * g));
      const cy = Math.min(g - 1, Math.floor(ys[i]! * g));
      counts[cy * g + cx]!++;
    }
    return counts.map((c) => c / xs.length);
  }

  it("follows the data's spatial distribution even when the input is sorted by x (deepscatter #77)", () => {
    const base = syntheticPoints(40_000, 2);
    // Reorder points and ids by x, as a layout that emits points left to right would.
    const order = Array.from(base.ids).sort((a, b) => base.xy[2 * a]! - base.xy[2 * b]! || a - b);
    const ids = Uint32Array.from(order);
    const xy = new Float32Array(2 * order.length);
    const d = new Float32Array(order.length);
    order.forEach((p, i) => {
      xy[2 * i] = base.xy[2 * p]!;
      xy[2 * i + 1] = base.xy[2 * p + 1]!;
      d[i] = base.log10Density[p]!;
    });
    const tiles = buildTiles({ ids, xy, log10Density: d, labels: base.labels }, { capacity: 2000, seed: 7 });
    const root = decode(tiles[0]!.bytes);
    expect(root.ids.length).toBe(2000);
    const all = gridShares(Array.from(xy.filter((_, i) => i % 2 === 0)), Array.from(xy.filter((_, i) => i % 2 === 1)), 4);
    const sample = gridShares(root.x, root.y, 4);
    for (let c = 0; c < 16; c++) {
      // Every occupied cell is represented, within the 3× bound of the weighting (and noise).
      if (all[c]! > 0.01) {
        expect(sample[c]!).toBeGreaterThan(all[c]! / 3);
        expect(sample[c]!).toBeLessThan(all[c]! * 3);
      }
    }
    // The leftmost and rightmost fifths are both present, unlike an id-ordered (here x-ordered) fill.
    expect(root.x.filter((x) => x < 0.2).length).toBeGreaterThan(150);
    expect(root.x.filter((x) => x > 0.8).length).toBeGreaterThan(150);
  });

  it("favours labelled and dense features, but by at most the documented weights", () => {
    const pts = syntheticPoints(40_000, 3, 10);
    const tiles = buildTiles(pts, { capacity: 4000, seed: 11 });
    const root = decode(tiles[0]!.bytes);
    const labelledShare = root.labels.filter((l) => l !== "").length / root.labels.length;
    // 10% of features are labelled; a labelled feature weighs up to 3 against at least 1.
    expect(labelledShare).toBeGreaterThan(0.13);
    expect(labelledShare).toBeLessThan(0.3);
    const known = root.d.filter((d) => Number.isFinite(d));
    const meanRoot = known.reduce((a, b) => a + b, 0) / known.length;
    let sum = 0, count = 0;
    for (const d of pts.log10Density) if (Number.isFinite(d)) { sum += d; count++; }
    expect(meanRoot).toBeGreaterThan(sum / count + 0.1);
  });

  it("uses explicit importance weights when given", () => {
    const pts = syntheticPoints(2000, 4);
    const importance = new Float64Array(2000).fill(1e-6);
    for (let i = 0; i < 50; i++) importance[i * 40] = 1e6;
    const order = insertionOrder({ ...pts, importance }, 5);
    const first = new Set(Array.from(order.subarray(0, 50)));
    for (let i = 0; i < 50; i++) expect(first.has(i * 40)).toBe(true);
  });
});

describe("every tile, and every prefix of a tile, is a fair sample", () => {
  const points = syntheticPoints(60_000, 8, 10);
  const capacity = 1000;
  const tiles = buildTiles(points, { capacity, seed: 3 });
  const decoded = tiles.map((t) => ({ key: parseKey(t.key), tile: t, rows: decode(t.bytes, t.key) }));

  /** Shares of the 4 quadrants of `square` among the points (xs, ys). */
  function quadrantShares(square: [number, number, number, number], xs: number[], ys: number[]): number[] {
    const mx = (square[0] + square[2]) / 2, my = (square[1] + square[3]) / 2;
    const c = [0, 0, 0, 0];
    for (let i = 0; i < xs.length; i++) c[(xs[i]! >= mx ? 1 : 0) + (ys[i]! >= my ? 2 : 0)]!++;
    return c.map((v) => v / xs.length);
  }

  it("a tile's rows follow the layout of everything in its subtree, at every depth", () => {
    let checked = 0;
    for (const { key, tile, rows } of decoded) {
      if (tile.rows < capacity || tile.totalRows < 4 * capacity) continue;
      // The subtree: this tile and every tile under it.
      const xs: number[] = [], ys: number[] = [];
      for (const other of decoded) {
        const dz = other.key.z - key.z;
        if (dz < 0 || other.key.x >> dz !== key.x || other.key.y >> dz !== key.y) continue;
        xs.push(...other.rows.x);
        ys.push(...other.rows.y);
      }
      expect(xs.length).toBe(tile.totalRows);
      const square = tileBounds(key);
      const all = quadrantShares(square, xs, ys);
      const sample = quadrantShares(square, rows.x, rows.y);
      for (let q = 0; q < 4; q++) {
        if (all[q]! < 0.05) continue;
        expect(sample[q]!).toBeGreaterThan(all[q]! / 3);
        expect(sample[q]!).toBeLessThan(all[q]! * 3);
      }
      checked++;
    }
    // The root and tiles below it were checked, not only the root.
    expect(checked).toBeGreaterThan(5);
    expect(decoded.some((t) => t.key.z >= 2 && t.tile.rows === capacity && t.tile.totalRows >= 4 * capacity)).toBe(true);
  });

  it("the first quarter of a tile is already fair, and favours important points more than the last", () => {
    const root = decoded[0]!.rows;
    const quarter = capacity / 4;
    const all = quadrantShares([0, 0, 1, 1], Array.from(points.xy.filter((_, i) => i % 2 === 0)), Array.from(points.xy.filter((_, i) => i % 2 === 1)));
    const head = quadrantShares([0, 0, 1, 1], root.x.slice(0, quarter), root.y.slice(0, quarter));
    for (let q = 0; q < 4; q++) {
      expect(head[q]!).toBeGreaterThan(all[q]! / 3);
      expect(head[q]!).toBeLessThan(all[q]! * 3);
    }
    // Row order is importance order: across all full tiles, labelled features (weight +1) are
    // commoner in the first quarter of a tile than in its last quarter.
    let first = 0, last = 0;
    for (const { tile, rows } of decoded) {
      if (tile.rows < capacity) continue;
      first += rows.labels.slice(0, quarter).filter((l) => l !== "").length;
      last += rows.labels.slice(-quarter).filter((l) => l !== "").length;
    }
    expect(first).toBeGreaterThan(last * 1.1);
  });
});

describe("edge cases", () => {
  it("stops splitting identical points at MAX_DEPTH and lets that tile exceed capacity", () => {
    const n = 300;
    const pts: TilePoints = {
      ids: Uint32Array.from({ length: n }, (_, i) => i),
      xy: new Float32Array(2 * n).fill(0.3),
      log10Density: new Float32Array(n).fill(-2),
      labels: [],
    };
    const tiles = buildTiles(pts, { capacity: 10, seed: 1 });
    expect(tiles.length).toBe(MAX_DEPTH + 1);
    const last = tiles[tiles.length - 1]!;
    expect(parseKey(last.key).z).toBe(MAX_DEPTH);
    expect(last.rows).toBe(n - 10 * MAX_DEPTH);
    expect(tiles.slice(0, -1).every((t) => t.rows === 10)).toBe(true);
  });

  it("puts everything in the root when it fits", () => {
    const pts = syntheticPoints(50, 5);
    const tiles = buildTiles(pts, { capacity: 50, seed: 1 });
    expect(tiles.map((t) => [t.key, t.rows, t.totalRows])).toEqual([["0/0/0", 50, 50]]);
  });

  it("names the feature when a point is outside the unit square or not a number", () => {
    const pts = syntheticPoints(10, 6);
    pts.ids[3] = 1234;
    pts.xy[7] = 1.5;
    expect(() => buildTiles(pts, { capacity: 4, seed: 1 })).toThrow(/feature 1234 .*outside the unit square/);
    pts.xy[7] = NaN;
    expect(() => buildTiles(pts, { capacity: 4, seed: 1 })).toThrow(/feature 1234/);
  });

  it("refuses mismatched arrays and a bad capacity", () => {
    const pts = syntheticPoints(10, 7);
    expect(() => buildTiles({ ...pts, xy: pts.xy.subarray(0, 18) }, { capacity: 4, seed: 1 })).toThrow(/xy has 18 values for 10 points/);
    expect(() => buildTiles(pts, { capacity: 0, seed: 1 })).toThrow(/capacity/);
    expect(() => buildTiles({ ...pts, importance: new Float64Array(10) }, { capacity: 4, seed: 1 })).toThrow(/importance of feature 0/);
  });
});
