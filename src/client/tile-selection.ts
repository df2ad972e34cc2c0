/**
 * Which quadtree tiles the map needs for a view. Pure, so it can be tested without a browser.
 *
 * Rows within the quadtree are ordered by level of detail: a tile holds a sample of its square
 * and its children hold the rest. So the map always shows the root, and opens a tile (shows its
 * children) once the tile is big on screen and in view — zooming in reveals more points exactly
 * where one looks, and the number of points drawn stays roughly constant per screen.
 */
import type { TileInfo } from "../../contract/atlas.ts";
import { childKeys, formatKey, parseKey, tileBounds } from "../../contract/tile-keys.ts";

/** A rectangle in layout units: [minX, minY, maxX, maxY] (y up). */
export type Rect = [number, number, number, number];

/** Open a tile of up to OPEN_TILE_ROWS points once its square is wider than this on screen, in CSS pixels. */
export const OPEN_TILE_PX = 512;

/**
 * A tile with more rows than this (an atlas written with a larger `--tile-capacity`, for a host
 * with a file cap) opens when proportionally wider: OPEN_TILE_PX × √(rows / OPEN_TILE_ROWS), so
 * the points per screen stay those of a default atlas. Opening 16,384-point tiles at 512 px drew
 * four times the points: 3.5 MB before the first frame at 1M features, and zooms that took
 * seconds in software-rendered Chromium. Smaller tiles open at 512 px as before.
 */
export const OPEN_TILE_ROWS = 4096;

export function intersects(a: Rect, b: Rect): boolean {
  return a[0] <= b[2] && b[0] <= a[2] && a[1] <= b[3] && b[1] <= a[3];
}

/**
 * Keys of the tiles to show for a view, parents before children. `tiles` maps key → tile of the
 * manifest (keys missing from it have no points); `pixelsPerUnit` is the zoom scale (2^zoom).
 */
export function selectTiles(
  tiles: ReadonlyMap<string, TileInfo>,
  view: Rect,
  pixelsPerUnit: number,
  openPx: number = OPEN_TILE_PX,
): string[] {
  const root = "0/0/0";
  if (!tiles.has(root)) return [];
  const out: string[] = [];
  const queue: string[] = [root];
  while (queue.length > 0) {
    const key = queue.shift()!;
    out.push(key);
    const k = parseKey(key);
    const square = tileBounds(k);
    const widthPx = (square[2] - square[0]) * pixelsPerUnit;
    const rows = tiles.get(key)!.rows;
    if (widthPx <= openPx * Math.max(1, Math.sqrt(rows / OPEN_TILE_ROWS)) || !intersects(square, view)) continue;
    for (const child of childKeys(k)) {
      const childKey = formatKey(child);
      if (tiles.has(childKey) && intersects(tileBounds(child), view)) queue.push(childKey);
    }
  }
  return out;
}
