/**
 * The pure half of bench/browse.ts: which features, tiles and views to browse, chosen from a
 * built site's own files, so that the bench runs unchanged on a 4,096-feature demo and on a
 * million-feature budget site. The map geometry here mirrors src/client/map.ts (deck.gl's
 * OrthographicView at 256 world units per layout unit); the bench checks its predictions against
 * the live map and fails when they disagree, so a change there cannot pass silently.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { TileInfo } from "../contract/atlas.ts";
import { parseKey } from "../contract/tile-keys.ts";
import type { Rect } from "../src/client/tile-selection.ts";

/** The map's view as `window.__atlas.viewState()` reports it: centre in layout units, zoom, CSS size. */
export interface View {
  x: number;
  y: number;
  zoom: number;
  width: number;
  height: number;
}

/** deck.gl world units per layout unit in src/client/map.ts (WORLD_SCALE there). */
const WORLD_SCALE = 256;

export function pixelsPerUnit(zoom: number): number {
  return 2 ** zoom * WORLD_SCALE;
}

/** The layout rectangle a view shows, as the map computes it (its `viewRect`). */
export function viewRect(v: View): Rect {
  const s = pixelsPerUnit(v.zoom);
  const hw = v.width / 2 / s;
  const hh = v.height / 2 / s;
  return [v.x - hw, v.y - hh, v.x + hw, v.y + hh];
}

/** `r` shrunk by `fraction` of its width and height on every side. */
export function shrinkRect(r: Rect, fraction: number): Rect {
  const dx = (r[2] - r[0]) * fraction;
  const dy = (r[3] - r[1]) * fraction;
  return [r[0] + dx, r[1] + dy, r[2] - dx, r[3] - dy];
}

/** CSS pixels, relative to the map element's top left, of a layout point (screen y grows downwards). */
export function toScreen(v: View, p: [number, number]): { x: number; y: number } {
  const s = pixelsPerUnit(v.zoom);
  return { x: v.width / 2 + (p[0] - v.x) * s, y: v.height / 2 - (p[1] - v.y) * s };
}

/**
 * deck.gl's scale for one wheel event of `delta` CSS pixels (Controller._onWheel, speed 0.01):
 * 2 / (1 + e^(−|delta|·speed)). A delta of 1,000 is a factor of 1.9999, one zoom level.
 */
export function wheelScale(delta: number, speed = 0.01): number {
  return 2 / (1 + Math.exp(-Math.abs(delta * speed)));
}

/** The view after zooming by `scale` around layout point `p`, which stays under the pointer. */
export function zoomAround(v: View, p: [number, number], scale: number): View {
  return { ...v, zoom: v.zoom + Math.log2(scale), x: p[0] + (v.x - p[0]) / scale, y: p[1] + (v.y - p[1]) / scale };
}

/**
 * Places worth zooming into: the centres of the deepest tiles' point extents, nearest the layout's
 * centre first. Zooming around one of them is sure to open tiles down to the deepest level, if
 * the tree has more than its root. Empty when the atlas is a single tile.
 */
export function zoomTargets(tiles: readonly TileInfo[], bounds: readonly [number, number, number, number]): [number, number][] {
  if (tiles.length < 2) return [];
  const depth = Math.max(...tiles.map((t) => parseKey(t.key).z));
  const cx = (bounds[0] + bounds[2]) / 2;
  const cy = (bounds[1] + bounds[3]) / 2;
  return tiles
    .filter((t) => parseKey(t.key).z === depth)
    .map((t): [number, number] => [(t.extent[0] + t.extent[2]) / 2, (t.extent[1] + t.extent[3]) / 2])
    .sort((a, b) => Math.hypot(a[0] - cx, a[1] - cy) - Math.hypot(b[0] - cx, b[1] - cy) || a[0] - b[0] || a[1] - b[1]);
}

/** Points the map draws once every tile of `keys` is loaded: the sum of their own rows. */
export function rowsOf(tiles: ReadonlyMap<string, TileInfo>, keys: readonly string[]): number {
  let n = 0;
  for (const k of keys) n += tiles.get(k)?.rows ?? 0;
  return n;
}

/**
 * Feature ids with a static page in a built site: the `dist/<atlas>/feature/<id>/` folders. A
 * site built with PAGES=all has one per feature; under a page budget, the chosen set only.
 */
export function staticFeatureIds(dist: string, atlas: string): Set<number> {
  let names: string[];
  try {
    names = readdirSync(join(dist, atlas, "feature"));
  } catch {
    return new Set();
  }
  const ids = new Set<number>();
  for (const name of names) if (/^(0|[1-9]\d*)$/.test(name)) ids.add(Number(name));
  return ids;
}

/**
 * One feature with a static page and one without, each the id nearest the middle of the atlas
 * (the lower on a tie): in the middle, because the first and last ids are the ones a budget
 * policy or a hand-made list is likeliest to favour. `withoutPage` is null when every feature
 * has its page (a site built with PAGES=all), `withPage` when none has (or the site has no pages).
 * Ids in `withPages` at or past `count` (a stale folder) are ignored.
 */
export function pickFeatures(count: number, withPages: ReadonlySet<number>): { withPage: number | null; withoutPage: number | null } {
  if (count <= 0) return { withPage: null, withoutPage: null };
  const mid = Math.floor((count - 1) / 2);
  let withPage: number | null = null;
  for (const id of withPages) {
    if (id >= count) continue;
    const d = Math.abs(id - mid);
    if (withPage === null || d < Math.abs(withPage - mid) || (d === Math.abs(withPage - mid) && id < withPage)) withPage = id;
  }
  let withoutPage: number | null = null;
  for (let d = 0; d < count && withoutPage === null; d++) {
    for (const id of [mid - d, mid + d]) {
      if (id >= 0 && id < count && !withPages.has(id)) {
        withoutPage = id;
        break;
      }
    }
  }
  return { withPage, withoutPage };
}

/** Median, least and greatest of a non-empty list. */
export function spread(xs: readonly number[]): { median: number; min: number; max: number } {
  if (xs.length === 0) throw new Error("spread of an empty list");
  const s = [...xs].sort((a, b) => a - b);
  const median = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]! };
}
