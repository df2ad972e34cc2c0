/**
 * Every feature's map position, for drawing neighbourhoods at build time (feature pages, embeds,
 * preview images). Node only.
 *
 * Read once per atlas from the point tiles (which together hold every point exactly once) into
 * typed arrays — 8 bytes a feature for the positions by id, 4 for the grid, ~17 for the R-tree — so
 * a 1M-feature atlas costs ~30 MB and a second or two, after which each page's query touches a few
 * grid cells (samples) or tree nodes (nearest points).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { tableFromIPC } from "apache-arrow";
import Flatbush from "flatbush";
import type { FeatureRecord, Manifest } from "../../contract/atlas.ts";
import { decodeTileCoords } from "../../contract/tile-coords.ts";
import { atlasRoot, scanAtlases, type AtlasFolder } from "./atlas-dir.ts";
import { neighbourhoodWindow, type MiniMapInput, type Pt, type Rect } from "./svg-charts.ts";

export interface LayoutIndex {
  n: number;
  bounds: Rect;
  /** x, y of feature i at [2i], [2i + 1]; NaN for a feature no tile holds. */
  positions: Float32Array;
  /** The first points of the root tile (the map's own level-of-detail order): a fair sample of the whole. */
  overview: Pt[];
  /** Features inside `rect`, nearest to `centre` first, at most `limit`. */
  pointsIn(rect: Rect, centre: Pt, limit: number): { id: number; x: number; y: number }[];
  /** At most `max` features inside `rect`, spread evenly over it (a stride through grid order), unsorted. */
  sampleIn(rect: Rect, max: number): { id: number; x: number; y: number }[];
  position(id: number): Pt | null;
}

const OVERVIEW_POINTS = 160;

/** Build the index from positions by id (exported for tests; the site uses `layoutIndex`). */
export function makeLayoutIndex(positions: Float32Array, bounds: Rect, overview: Pt[]): LayoutIndex {
  const n = positions.length / 2;
  // About four points a cell.
  const side = Math.max(1, Math.ceil(Math.sqrt(n / 4)));
  const [bx0, by0, bx1, by1] = bounds;
  const cw = Math.max(1e-9, bx1 - bx0) / side;
  const ch = Math.max(1e-9, by1 - by0) / side;
  const cellX = (x: number): number => Math.min(side - 1, Math.max(0, Math.floor((x - bx0) / cw)));
  const cellY = (y: number): number => Math.min(side - 1, Math.max(0, Math.floor((y - by0) / ch)));
  const start = new Uint32Array(side * side + 1);
  for (let i = 0; i < n; i++) {
    const x = positions[2 * i]!;
    if (Number.isNaN(x)) continue;
    start[cellY(positions[2 * i + 1]!) * side + cellX(x) + 1]!++;
  }
  for (let c = 0; c < side * side; c++) start[c + 1]! += start[c]!;
  const fill = start.slice(0, side * side);
  const items = new Uint32Array(start[side * side]!);
  for (let i = 0; i < n; i++) {
    const x = positions[2 * i]!;
    if (Number.isNaN(x)) continue;
    items[fill[cellY(positions[2 * i + 1]!) * side + cellX(x)]!++] = i;
  }

  // Nearest-first queries go through flatbush's packed R-tree, not the grid: a UMAP map packs
  // whole clusters into a few grid cells, and on the 1M-feature synthetic atlas the grid's ring
  // search visited thousands of points a page (41 of 92 s of CPU in a budget site build, and much
  // of its 20 s of garbage collection). Float32 boxes hold the float32 positions exactly at half the
  // memory (~17 MB at 1M features).
  const treeIds = new Uint32Array(items.length);
  let tree: Flatbush | null = null;
  if (items.length > 0) {
    tree = new Flatbush(items.length, 16, Float32Array);
    let t = 0;
    for (let i = 0; i < n; i++) {
      const x = positions[2 * i]!;
      if (Number.isNaN(x)) continue;
      treeIds[t++] = i;
      tree.add(x, positions[2 * i + 1]!);
    }
    tree.finish();
  }

  return {
    n,
    bounds,
    positions,
    overview,
    position(id) {
      if (!(id >= 0 && id < n)) return null;
      const x = positions[2 * id]!;
      return Number.isNaN(x) ? null : { x, y: positions[2 * id + 1]! };
    },
    sampleIn(rect, max) {
      const [rx0, ry0, rx1, ry1] = rect;
      const inside = (id: number): boolean => {
        const x = positions[2 * id]!;
        const y = positions[2 * id + 1]!;
        return x >= rx0 && x <= rx1 && y >= ry0 && y <= ry1;
      };
      const point = (id: number) => ({ id, x: positions[2 * id]!, y: positions[2 * id + 1]! });
      // The cells of one grid row inside the window are contiguous in `items`, so the candidates
      // (points of the covered cells) are a few ranges, counted without visiting a point: a window
      // over half of a 1M-feature map has ~500k points, and visiting each cost ~100 ms a page.
      const x0 = cellX(rx0);
      const x1 = cellX(rx1);
      const ranges: [number, number][] = [];
      let total = 0;
      for (let cy = cellY(ry0); cy <= cellY(ry1); cy++) {
        const a = start[cy * side + x0]!;
        const b = start[cy * side + x1 + 1]!;
        if (b > a) {
          ranges.push([a, b]);
          total += b - a;
        }
      }
      const out: { id: number; x: number; y: number }[] = [];
      if (total <= 4 * max) {
        // Few candidates: keep those inside, then take every stride-th, in grid order.
        const within: number[] = [];
        for (const [a, b] of ranges) for (let k = a; k < b; k++) if (inside(items[k]!)) within.push(items[k]!);
        const stride = Math.max(1, within.length / Math.max(1, max));
        for (let next = 0; Math.floor(next) < within.length && out.length < max; next += stride) out.push(point(within[Math.floor(next)]!));
        return out;
      }
      // Many: one pick per stride of candidates; a pick outside the window (in a boundary cell)
      // moves on to the next candidate inside, within its stride.
      const stride = total / max;
      let r = 0;
      let offset = 0;
      for (let k = 0; k < max; k++) {
        const end = Math.min(total, Math.floor((k + 1) * stride));
        for (let pos = Math.floor(k * stride); pos < end; pos++) {
          while (pos >= offset + ranges[r]![1] - ranges[r]![0]) {
            offset += ranges[r]![1] - ranges[r]![0];
            r++;
          }
          const id = items[ranges[r]![0] + pos - offset]!;
          if (inside(id)) {
            out.push(point(id));
            break;
          }
        }
      }
      return out;
    },
    pointsIn(rect, centre, limit) {
      const [rx0, ry0, rx1, ry1] = rect;
      if (!tree || limit <= 0) return [];
      const inside = (t: number): boolean => {
        const id = treeIds[t]!;
        const x = positions[2 * id]!;
        const y = positions[2 * id + 1]!;
        return x >= rx0 && x <= rx1 && y >= ry0 && y <= ry1;
      };
      const dist = (t: number): number => (positions[2 * treeIds[t]!]! - centre.x) ** 2 + (positions[2 * treeIds[t]! + 1]! - centre.y) ** 2;
      // Nothing inside the rectangle is farther than its farthest corner, which bounds the search
      // when the centre lies outside it.
      const reach = Math.hypot(Math.max(Math.abs(rx0 - centre.x), Math.abs(rx1 - centre.x)), Math.max(Math.abs(ry0 - centre.y), Math.abs(ry1 - centre.y)));
      // One more than asked: when the (limit+1)th is as near as the limit-th, every point at that
      // distance is fetched and the tie settled by id, so the answer is exactly "sort the
      // rectangle by distance, then id" whatever order the tree's queue kept.
      let found = tree.neighbors(centre.x, centre.y, limit + 1, reach * (1 + 1e-12), inside);
      if (found.length > limit && dist(found[limit]!) === dist(found[limit - 1]!)) {
        found = tree.neighbors(centre.x, centre.y, Infinity, Math.sqrt(dist(found[limit]!)) * (1 + 1e-12), inside);
      }
      return found
        .map((t) => ({ id: treeIds[t]!, x: positions[2 * treeIds[t]!]!, y: positions[2 * treeIds[t]! + 1]!, d: dist(t) }))
        .sort((a, b) => a.d - b.d || a.id - b.id)
        .slice(0, limit)
        .map(({ id, x, y }) => ({ id, x, y }));
    },
  };
}

/** Read every tile of an atlas folder into a LayoutIndex. */
export function readLayoutIndex(dir: string, manifest: Manifest): LayoutIndex {
  const n = manifest.counts.features;
  const positions = new Float32Array(2 * n).fill(NaN);
  const overview: Pt[] = [];
  manifest.tiles.forEach((tile, t) => {
    const file = path.join(dir, tile.path);
    let table;
    try {
      table = tableFromIPC(readFileSync(file));
    } catch (error) {
      throw new Error(`${file}: cannot read point tile ${tile.key} (${(error as Error).message})`);
    }
    const ids = table.getChild("id")?.toArray() as Uint32Array | undefined;
    const qx = table.getChild("x")?.toArray() as Uint16Array | undefined;
    const qy = table.getChild("y")?.toArray() as Uint16Array | undefined;
    if (!ids || !qx || !qy) throw new Error(`${file}: point tile ${tile.key} lacks the id, x or y column`);
    const { x: xs, y: ys } = decodeTileCoords(tile.key, qx, qy);
    for (let r = 0; r < ids.length; r++) {
      const id = ids[r]!;
      if (id >= n) throw new Error(`${file}: point tile ${tile.key} row ${r} has feature id ${id}, but the atlas has ${n}`);
      positions[2 * id] = xs[r]!;
      positions[2 * id + 1] = ys[r]!;
      if (t === 0 && overview.length < OVERVIEW_POINTS) overview.push({ x: xs[r]!, y: ys[r]! });
    }
  });
  return makeLayoutIndex(positions, manifest.bounds, overview);
}

let folders: AtlasFolder[] | undefined;

/** The folder of atlas `atlasId` under the atlas root (ATLAS_DIR). */
export function atlasFolder(atlasId: string): AtlasFolder {
  folders ??= scanAtlases(atlasRoot());
  const folder = folders.find((a) => a.manifest.id === atlasId);
  if (!folder) throw new Error(`no atlas with id "${atlasId}" under ${atlasRoot()}`);
  return folder;
}

const cache = new Map<string, LayoutIndex>();

/** The layout index of atlas `atlasId`, read on first use and kept for the rest of the build. */
export function layoutIndex(atlasId: string): LayoutIndex {
  let index = cache.get(atlasId);
  if (!index) {
    const folder = atlasFolder(atlasId);
    index = readLayoutIndex(folder.dir, folder.manifest);
    cache.set(atlasId, index);
  }
  return index;
}

/**
 * What a feature's mini-map shows: its decoder neighbours placed by their map positions, the
 * window around them, and up to `limit` other features inside that window, nearest first.
 */
export function neighbourhoodOf(
  index: LayoutIndex,
  f: Pick<FeatureRecord, "id" | "x" | "y" | "neighbours">,
  limit = 160,
): Omit<MiniMapInput, "size" | "colours" | "label"> {
  const neighbours = f.neighbours.flatMap((n) => {
    const p = index.position(n.id);
    return p ? [{ id: n.id, cosine: n.cosine, x: p.x, y: p.y }] : [];
  });
  const window = neighbourhoodWindow(f, neighbours, index.bounds);
  // A quarter nearest the feature (from a small square around it, so the sort stays small at 1M
  // features), the rest spread evenly over the window, so the dots show the density of the whole
  // window rather than a blob around the feature.
  const r = (window[2] - window[0]) / 8;
  const near = index.pointsIn([f.x - r, f.y - r, f.x + r, f.y + r], f, Math.ceil(limit / 4) + 1).filter((p) => p.id !== f.id);
  const taken = new Set(near.map((p) => p.id));
  const context = [...near];
  for (const p of index.sampleIn(window, limit)) {
    if (context.length >= limit) break;
    if (p.id !== f.id && !taken.has(p.id)) context.push(p);
  }
  return { feature: { id: f.id, x: f.x, y: f.y }, neighbours, context, window, overview: { points: index.overview, bounds: index.bounds } };
}
