/**
 * Point tiles: a quadtree over the unit square in which every node keeps the first `capacity`
 * points that reach it and hands the rest down to the child containing them, so a node's rows are
 * a sample of everything below it and the map can stop descending once a view is dense enough.
 * Rows are written in the order they were inserted, which makes the row order inside each tile the
 * level of detail too (the map may draw only a prefix of a tile).
 *
 * The insertion order is what decides which points a zoomed-out view shows. Inserting in input
 * order (e.g. id order, or whatever order the layout wrote) puts whole regions at the bottom of the
 * tree, so clusters that happen to come last vanish when zoomed out (deepscatter issue #77: "spots
 * disappear when zoomed out"; the maintainer's fix is to shuffle before tiling). So we insert in a
 * seeded random order, mildly biased towards labelled and dense features; see `insertionOrder`.
 * (quadfeather, deepscatter's tiler, fills tiles first-come in input order too and leaves the
 * shuffle to the caller; here it is part of the tiler, so it cannot be forgotten.)
 *
 * x and y are stored as Uint16 steps across the tile's square (contract/tile-coords.ts): 4 bytes
 * a point instead of 8.
 */
import { Field, Float32, RecordBatch, Schema, Struct, Table, Uint16, Uint32, Utf8, makeData, tableToIPC } from "apache-arrow";
import { TILE_COLUMNS } from "../../contract/atlas.ts";
import { dequantiseCoord, quantiseCoord } from "../../contract/tile-coords.ts";
import { ROOT_KEY, childFor, formatKey, tileBounds, type TileKey } from "../../contract/tile-keys.ts";
import { rng } from "../random.ts";

export interface TilePoints {
  /** Feature id of each point. */
  ids: Uint32Array;
  /** [n × 2] layout positions, point i at (xy[2i], xy[2i+1]), in [0, 1]². */
  xy: Float32Array;
  /** log10 firing density of each point (parallel to `ids`); NaN when unknown. */
  log10Density: Float32Array;
  /** Labels indexed by feature id (not by point); null or "" when the feature has none. */
  labels: readonly (string | null | undefined)[];
  /**
   * Optional sampling weight of each point (parallel to `ids`), finite and > 0. It replaces the
   * default label/density weight of `insertionOrder`; a point of weight 2 is twice as likely as one
   * of weight 1 to be drawn next.
   */
  importance?: Float64Array;
}

export interface TileOptions {
  /** Most rows a tile keeps before passing points to its children. */
  capacity: number;
  /** Build seed; the tiler draws from its own stream of it. */
  seed: number;
}

export interface BuiltTile {
  /** `z/x/y`. */
  key: string;
  /** Rows in this tile alone. */
  rows: number;
  /** Rows in this tile and all its descendants. */
  totalRows: number;
  /** Tight bounds of this tile's own points: [minX, minY, maxX, maxY]. */
  extent: [number, number, number, number];
  /** Arrow IPC stream with the columns of TILE_COLUMNS. */
  bytes: Uint8Array;
}

/**
 * Below this depth a tile is 2^-20 of the layout wide, far below a pixel at any zoom the map
 * allows. Identical (or nearly identical) points could otherwise split forever, so the node at this
 * depth keeps everything that reaches it, even beyond capacity.
 */
export const MAX_DEPTH = 20;

/**
 * Weights of the default insertion order: 1 for every point, +1 when it has a label, and up to +1
 * for density (its percentile among points with a known density). So no point is more than 3× as
 * likely as another to be drawn at any step: labelled and frequently firing features, the ones a
 * reader recognises, tend to appear on the zoomed-out map, while the root stays close to a fair
 * spatial sample (a region's share of the root is off from its share of the data by at most 3×,
 * never zero as with id order).
 */
export const LABEL_WEIGHT = 1;
export const DENSITY_WEIGHT = 1;

/**
 * The order in which points are inserted into the quadtree, as point indices. A weighted random
 * permutation (Efraimidis–Spirakis: sort by u^(1/w) descending, computed as ln(u)/w), so every
 * prefix of it is a weighted random sample without replacement. Ties, which need equal draws,
 * fall back to the feature id so the order is total.
 */
export function insertionOrder(points: TilePoints, seed: number): Uint32Array {
  const n = points.ids.length;
  const weights = points.importance ? checkedImportance(points) : defaultWeights(points);
  const random = rng(seed, "tiles");
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = Math.log(1 - random()) / weights[i]!;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const ids = points.ids;
  order.sort((a, b) => keys[b]! - keys[a]! || ids[a]! - ids[b]!);
  return order;
}

function checkedImportance(points: TilePoints): Float64Array {
  const w = points.importance!;
  if (w.length !== points.ids.length) {
    throw new Error(`tiles: importance has ${w.length} values for ${points.ids.length} points`);
  }
  for (let i = 0; i < w.length; i++) {
    if (!(Number.isFinite(w[i]!) && w[i]! > 0)) {
      throw new Error(`tiles: importance of feature ${points.ids[i]} is ${w[i]}; weights must be finite and > 0`);
    }
  }
  return w;
}

function defaultWeights(points: TilePoints): Float64Array {
  const n = points.ids.length;
  const w = new Float64Array(n).fill(1);
  const known: number[] = [];
  for (let i = 0; i < n; i++) {
    if (Number.isFinite(points.log10Density[i]!)) known.push(i);
    const label = points.labels[points.ids[i]!];
    if (label) w[i]! += LABEL_WEIGHT;
  }
  // Percentiles rather than raw values: log10 densities have a long tail (dead features at
  // log10(eps) ≈ −10) that would squash everyone else into the same weight.
  const d = points.log10Density;
  known.sort((a, b) => d[a]! - d[b]! || points.ids[a]! - points.ids[b]!);
  for (let r = 0; r < known.length; r++) {
    w[known[r]!]! += known.length > 1 ? (DENSITY_WEIGHT * r) / (known.length - 1) : DENSITY_WEIGHT;
  }
  return w;
}

function validate(points: TilePoints, opts: TileOptions): void {
  const n = points.ids.length;
  if (!Number.isInteger(opts.capacity) || opts.capacity < 1) {
    throw new Error(`tiles: capacity must be a positive integer, got ${opts.capacity}`);
  }
  if (n === 0) throw new Error("tiles: no points to tile");
  if (points.xy.length !== 2 * n) throw new Error(`tiles: xy has ${points.xy.length} values for ${n} points (expected ${2 * n})`);
  if (points.log10Density.length !== n) {
    throw new Error(`tiles: log10Density has ${points.log10Density.length} values for ${n} points`);
  }
  for (let i = 0; i < n; i++) {
    const x = points.xy[2 * i]!;
    const y = points.xy[2 * i + 1]!;
    if (!(x >= 0 && x <= 1 && y >= 0 && y <= 1)) {
      throw new Error(`tiles: feature ${points.ids[i]} (point ${i}) is at (${x}, ${y}), outside the unit square`);
    }
  }
}

interface Node {
  key: TileKey;
  /** Point indices that reached this node, in insertion order. */
  members: Uint32Array;
}

/**
 * Build the quadtree and encode every non-empty node as an Arrow tile. Tiles come out parents
 * before children: by depth, then by key string, as the manifest lists them.
 */
export function buildTiles(points: TilePoints, opts: TileOptions): BuiltTile[] {
  validate(points, opts);
  const { xy } = points;
  const out: BuiltTile[] = [];
  // Inserting point by point and splitting a node's overflow into its children in arrival order
  // is the same as this top-down partition of the insertion order, which is linear per level.
  let level: Node[] = [{ key: ROOT_KEY, members: insertionOrder(points, opts.seed) }];
  while (level.length) {
    const next: Node[] = [];
    for (const node of level) {
      const { key, members } = node;
      const keep = members.length <= opts.capacity || key.z >= MAX_DEPTH ? members.length : opts.capacity;
      const own = members.subarray(0, keep);
      const tile = encodeTile(key, own, points);
      out.push({ key: formatKey(key), rows: own.length, totalRows: members.length, extent: tile.extent, bytes: tile.bytes });
      if (keep === members.length) continue;
      const rest = members.subarray(keep);
      const children = new Map<string, { key: TileKey; list: number[] }>();
      for (const p of rest) {
        const child = childFor(key, xy[2 * p]!, xy[2 * p + 1]!);
        const k = formatKey(child);
        let c = children.get(k);
        if (!c) children.set(k, (c = { key: child, list: [] }));
        c.list.push(p);
      }
      for (const c of children.values()) next.push({ key: c.key, members: Uint32Array.from(c.list) });
    }
    level = next;
  }
  return out.sort((a, b) => depthOf(a.key) - depthOf(b.key) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function depthOf(key: string): number {
  return Number(key.slice(0, key.indexOf("/")));
}

/**
 * Columns are non-nullable: unknown density is NaN and a missing label is "", as TILE_COLUMNS
 * says, so the map never has to check a validity bitmap.
 */
const TILE_SCHEMA = new Schema([
  new Field("id", new Uint32(), false),
  new Field("x", new Uint16(), false),
  new Field("y", new Uint16(), false),
  new Field("log10Density", new Float32(), false),
  new Field("label", new Utf8(), false),
]);

// The schema above is spelled out for Arrow; this keeps it from drifting from the contract.
{
  const names = TILE_SCHEMA.fields.map((f) => `${f.name}:${String(f.type)}`).join(",");
  const want = Object.entries(TILE_COLUMNS).map(([name, type]) => `${name}:${type}`).join(",");
  if (names !== want) throw new Error(`tiles: Arrow schema ${names} does not match TILE_COLUMNS ${want}`);
}

const utf8 = new TextEncoder();

/** Encode a tile's rows; the extent is that of the positions as readers decode them. */
function encodeTile(key: TileKey, own: Uint32Array, points: TilePoints): { bytes: Uint8Array; extent: [number, number, number, number] } {
  const n = own.length;
  const [bx0, by0, bx1, by1] = tileBounds(key);
  const w = bx1 - bx0;
  const h = by1 - by0;
  const id = new Uint32Array(n);
  const x = new Uint16Array(n);
  const y = new Uint16Array(n);
  const d = new Float32Array(n);
  const encoded: Uint8Array[] = new Array(n);
  const offsets = new Int32Array(n + 1);
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (let r = 0; r < n; r++) {
    const p = own[r]!;
    const fid = points.ids[p]!;
    id[r] = fid;
    x[r] = quantiseCoord(points.xy[2 * p]!, bx0, w);
    y[r] = quantiseCoord(points.xy[2 * p + 1]!, by0, h);
    const dx = dequantiseCoord(x[r]!, bx0, w);
    const dy = dequantiseCoord(y[r]!, by0, h);
    if (dx < minX) minX = dx;
    if (dx > maxX) maxX = dx;
    if (dy < minY) minY = dy;
    if (dy > maxY) maxY = dy;
    d[r] = points.log10Density[p]!;
    const bytes = utf8.encode(points.labels[fid] ?? "");
    encoded[r] = bytes;
    offsets[r + 1] = offsets[r]! + bytes.length;
  }
  const text = new Uint8Array(offsets[n]!);
  for (let r = 0; r < n; r++) text.set(encoded[r]!, offsets[r]!);

  const [fId, fX, fY, fD, fLabel] = TILE_SCHEMA.fields as [Field<Uint32>, Field<Uint16>, Field<Uint16>, Field<Float32>, Field<Utf8>];
  const children = [
    makeData({ type: fId.type, length: n, nullCount: 0, data: id }),
    makeData({ type: fX.type, length: n, nullCount: 0, data: x }),
    makeData({ type: fY.type, length: n, nullCount: 0, data: y }),
    makeData({ type: fD.type, length: n, nullCount: 0, data: d }),
    makeData({ type: fLabel.type, length: n, nullCount: 0, valueOffsets: offsets, data: text }),
  ];
  const batch = new RecordBatch(TILE_SCHEMA, makeData({ type: new Struct(TILE_SCHEMA.fields), length: n, nullCount: 0, children }));
  return { bytes: tableToIPC(new Table(TILE_SCHEMA, [batch]), "stream"), extent: [minX, minY, maxX, maxY] };
}
