import { describe, expect, it } from "vitest";
import type { TileInfo } from "../../contract/atlas.ts";
import { OPEN_TILE_PX, selectTiles } from "../../src/client/tile-selection.ts";

/** A root and its four children, every tile holding `rows` points. */
function quad(rows: number): Map<string, TileInfo> {
  const keys = ["0/0/0", "1/0/0", "1/1/0", "1/0/1", "1/1/1"];
  return new Map(keys.map((key, i) => [key, { key, path: `tiles/${i}.arrow`, rows, totalRows: i === 0 ? 5 * rows : rows, extent: [0, 0, 1, 1] }]));
}

describe("selectTiles", () => {
  const view: [number, number, number, number] = [0, 0, 1, 1];

  it("opens a default-size tile once it is wider than OPEN_TILE_PX, showing the children in view", () => {
    expect(selectTiles(quad(4096), view, OPEN_TILE_PX)).toEqual(["0/0/0"]);
    expect(selectTiles(quad(4096), view, OPEN_TILE_PX + 1)).toEqual(["0/0/0", "1/0/0", "1/1/0", "1/0/1", "1/1/1"]);
    expect(selectTiles(quad(4096), [0, 0, 0.4, 0.4], OPEN_TILE_PX + 1)).toEqual(["0/0/0", "1/0/0"]);
    // Small tiles open at the same width as default ones.
    expect(selectTiles(quad(16), view, OPEN_TILE_PX + 1)).toHaveLength(5);
  });

  it("opens a tile of 4× the points at twice the width, keeping the points per screen", () => {
    expect(selectTiles(quad(16_384), view, 2 * OPEN_TILE_PX)).toEqual(["0/0/0"]);
    expect(selectTiles(quad(16_384), view, 2 * OPEN_TILE_PX + 1)).toHaveLength(5);
  });
});
