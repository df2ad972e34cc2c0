/**
 * Where a region sits on the map: its centre, bounds and outline in layout coordinates.
 *
 * A graph community is usually one blob in the UMAP layout, but a few members can sit far away
 * (a feature whose neighbours are split between two islands lands between them). An outline drawn
 * around every member would then cover its neighbours' ground, so the shape is computed on the
 * region's "core": members whose distance from the coordinate-wise median is within Tukey's upper
 * fence (Q3 + 1.5 · IQR) of those distances. Outliers still count as members; they only do not
 * stretch the drawing.
 */
import Flatbush from "flatbush";

export interface RegionShape {
  centroid: [number, number];
  bounds: [number, number, number, number];
  hull: [number, number][];
  /** Members left out of the shape as outliers. */
  outliers: number;
}

/** Coordinates are stored to 1e-5 of the unit square: far below a pixel, and short in JSON. */
const round = (v: number): number => Math.round(v * 1e5) / 1e5;

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** The shape of the members `ids` given the layout `xy` ([n × 2]). */
export function regionShape(ids: ArrayLike<number>, xy: Float32Array, maxHullPoints: number): RegionShape {
  const m = ids.length;
  const xs = new Float64Array(m);
  const ys = new Float64Array(m);
  for (let t = 0; t < m; t++) {
    xs[t] = xy[ids[t]! * 2]!;
    ys[t] = xy[ids[t]! * 2 + 1]!;
  }
  const mx = quantile(Float64Array.from(xs).sort(), 0.5);
  const my = quantile(Float64Array.from(ys).sort(), 0.5);
  const dist = new Float64Array(m);
  for (let t = 0; t < m; t++) dist[t] = Math.hypot(xs[t]! - mx, ys[t]! - my);
  const sorted = Float64Array.from(dist).sort();
  const q1 = quantile(sorted, 0.25);
  const q3 = quantile(sorted, 0.75);
  // Small regions have noisy quartiles; below 8 members every point is core.
  const fence = m < 8 ? Infinity : q3 + 1.5 * (q3 - q1);

  const pts: [number, number][] = [];
  let sx = 0;
  let sy = 0;
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (let t = 0; t < m; t++) {
    if (dist[t]! > fence) continue;
    const x = xs[t]!;
    const y = ys[t]!;
    pts.push([x, y]);
    sx += x;
    sy += y;
    if (x < minX) minX = x;
    if (y < minY) minY = y;
    if (x > maxX) maxX = x;
    if (y > maxY) maxY = y;
  }
  const hull = simplifyHull(convexHull(pts), maxHullPoints);
  return {
    centroid: [round(sx / pts.length), round(sy / pts.length)],
    bounds: [round(minX), round(minY), round(maxX), round(maxY)],
    hull: hull.map(([x, y]) => [round(x), round(y)]),
    outliers: m - pts.length,
  };
}

const cross = (o: [number, number], a: [number, number], b: [number, number]): number =>
  (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);

/**
 * Convex hull by Andrew's monotone chain, counter-clockwise, starting from the lowest-x point,
 * without repeating the first point. Collinear points are dropped; one or two distinct points
 * give a hull of that many points.
 */
export function convexHull(points: [number, number][]): [number, number][] {
  const p = points.slice().sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (p.length < 3) return dedupe(p);
  const lower: [number, number][] = [];
  for (const q of p) {
    while (lower.length >= 2 && cross(lower[lower.length - 2]!, lower[lower.length - 1]!, q) <= 0) lower.pop();
    lower.push(q);
  }
  const upper: [number, number][] = [];
  for (let i = p.length - 1; i >= 0; i--) {
    const q = p[i]!;
    while (upper.length >= 2 && cross(upper[upper.length - 2]!, upper[upper.length - 1]!, q) <= 0) upper.pop();
    upper.push(q);
  }
  lower.pop();
  upper.pop();
  const hull = lower.concat(upper);
  return hull.length ? hull : dedupe(p);
}

function dedupe(p: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  for (const q of p) if (!out.some((o) => o[0] === q[0] && o[1] === q[1])) out.push(q);
  return out;
}

/**
 * Visvalingam–Whyatt: drop the vertex whose triangle with its two neighbours has the smallest
 * area until at most `max` remain. On a convex polygon this keeps it convex and loses the least
 * area per step. Hulls are short (tens of points), so the quadratic scan is fine.
 */
export function simplifyHull(hull: [number, number][], max: number): [number, number][] {
  const h = hull.slice();
  while (h.length > Math.max(3, max)) {
    let best = 0;
    let bestArea = Infinity;
    for (let i = 0; i < h.length; i++) {
      const a = h[(i + h.length - 1) % h.length]!;
      const c = h[(i + 1) % h.length]!;
      const area = Math.abs(cross(a, h[i]!, c));
      if (area < bestArea) {
        bestArea = area;
        best = i;
      }
    }
    h.splice(best, 1);
  }
  return h;
}

/** Bits per axis of the grid `visitOrder` sorts on: cells of 1/1024 of the unit square. */
const VISIT_BITS = 10;

/**
 * Positions 0 … queries.length − 1 of `queries`, sorted by the Z-order (Morton) code of the grid
 * cell each query's point falls in, ties by position. Feature ids follow the dictionary, which has
 * no relation to the map, so answering queries in id order sends each one to a different corner
 * of the tree and the cache holds nothing useful; nearby queries in a row share most of their path
 * (at 1M points, all 1M queries with k = 10: 40.0 and 42.0 s in id order, 36.1 and 26.9 s in Z
 * order, the same bytes).
 */
export function visitOrder(xy: Float32Array, queries: readonly number[]): Int32Array {
  const side = 1 << VISIT_BITS;
  // code · 2^32 + position: exact in a float64 (20 + 32 bits), so a plain numeric sort, with no
  // comparator call, orders by code and then by position.
  const keys = new Float64Array(queries.length);
  for (let q = 0; q < queries.length; q++) {
    const i = queries[q]!;
    // Layout coordinates are in [0, 1]; the clamp keeps anything else in the edge cells.
    const cx = Math.min(side - 1, Math.max(0, Math.floor(xy[i * 2]! * side)));
    const cy = Math.min(side - 1, Math.max(0, Math.floor(xy[i * 2 + 1]! * side)));
    keys[q] = (spread(cx) | (spread(cy) << 1)) * 4294967296 + q;
  }
  keys.sort();
  const order = new Int32Array(queries.length);
  for (let q = 0; q < queries.length; q++) order[q] = keys[q]! % 4294967296;
  return order;
}

/** The low 16 bits of v with a zero between each: 0b1011 → 0b1000101. */
function spread(v: number): number {
  let x = v & 0xffff;
  x = (x | (x << 8)) & 0x00ff00ff;
  x = (x | (x << 4)) & 0x0f0f0f0f;
  x = (x | (x << 2)) & 0x33333333;
  x = (x | (x << 1)) & 0x55555555;
  return x;
}

/**
 * The k nearest of `ids` to each of `queries` on the layout (Euclidean): [queries × k] feature ids
 * and distances, nearest first, ties by id; −1 and Infinity pad when fewer than k other points
 * exist.
 *
 * Through flatbush's packed R-tree (O(log n + k) a query whatever the density). A uniform grid of
 * about two points per cell did this before and was the slowest part of the regions stage: a UMAP
 * layout packs clusters into a few cells, and at 65,536 synthetic features (768-d) the grid took
 * 7.3 of the stage's 15 s; flatbush takes well under a second there.
 *
 * Queries are answered in Z order on the map (`visitOrder`), so consecutive ones walk the same
 * tree nodes; each answer does not depend on the order.
 */
export function layoutKnn(xy: Float32Array, ids: readonly number[], queries: readonly number[], k: number): { indices: Int32Array; distances: Float64Array } {
  const indices = new Int32Array(queries.length * k).fill(-1);
  const distances = new Float64Array(queries.length * k).fill(Infinity);
  if (ids.length === 0 || k === 0) return { indices, distances };
  const tree = new Flatbush(ids.length);
  for (const i of ids) tree.add(xy[i * 2]!, xy[i * 2 + 1]!);
  tree.finish();
  const order: number[] = [];
  const dist: number[] = [];
  for (const q of visitOrder(xy, queries)) {
    const i = queries[q]!;
    const x = xy[i * 2]!;
    const y = xy[i * 2 + 1]!;
    // Two more than needed: one may be the query itself, and when the (k+1)th is as far as the
    // kth, the tie is settled by id over every point at that distance, not by the tree's queue.
    let found = tree.neighbors(x, y, k + 2).filter((t) => ids[t] !== i);
    const hyp = (t: number): number => Math.hypot(xy[ids[t]! * 2]! - x, xy[ids[t]! * 2 + 1]! - y);
    if (found.length > k && hyp(found[k]!) === hyp(found[k - 1]!)) {
      found = tree.neighbors(x, y, Infinity, hyp(found[k]!) * (1 + 1e-12)).filter((t) => ids[t] !== i);
    }
    order.length = 0;
    dist.length = 0;
    for (const t of found) {
      order.push(order.length);
      dist.push(hyp(t));
    }
    order.sort((a, b) => dist[a]! - dist[b]! || ids[found[a]!]! - ids[found[b]!]!);
    const base = q * k;
    for (let r = 0; r < Math.min(k, order.length); r++) {
      indices[base + r] = ids[found[order[r]!]!]!;
      distances[base + r] = dist[order[r]!]!;
    }
  }
  return { indices, distances };
}
