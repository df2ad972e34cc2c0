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

/**
 * The k nearest of `ids` to each of `queries` on the layout (Euclidean), by a uniform grid of about
 * two points per cell: [queries × k] feature ids and distances, nearest first, ties by id; −1 and
 * Infinity pad when fewer than k other points exist. Expected O(queries · k) for layouts without
 * extreme density contrast.
 */
export function layoutKnn(xy: Float32Array, ids: readonly number[], queries: readonly number[], k: number): { indices: Int32Array; distances: Float64Array } {
  const cells = Math.max(1, Math.floor(Math.sqrt(ids.length / 2)));
  const cellOf = (v: number): number => Math.min(cells - 1, Math.max(0, Math.floor(v * cells)));
  // Counting sort of the points into cells.
  const start = new Int32Array(cells * cells + 1);
  for (const i of ids) start[cellOf(xy[i * 2]!) * cells + cellOf(xy[i * 2 + 1]!) + 1]!++;
  for (let c = 0; c < cells * cells; c++) start[c + 1]! += start[c]!;
  const fill = start.slice(0, cells * cells);
  const inCell = new Int32Array(ids.length);
  for (const i of ids) inCell[fill[cellOf(xy[i * 2]!) * cells + cellOf(xy[i * 2 + 1]!)]!++] = i;

  const indices = new Int32Array(queries.length * k).fill(-1);
  const distances = new Float64Array(queries.length * k).fill(Infinity);
  for (let q = 0; q < queries.length; q++) {
    const i = queries[q]!;
    const x = xy[i * 2]!;
    const y = xy[i * 2 + 1]!;
    const cx = cellOf(x);
    const cy = cellOf(y);
    const base = q * k;
    let found = 0;
    const consider = (j: number): void => {
      if (j === i) return;
      const dist = Math.hypot(xy[j * 2]! - x, xy[j * 2 + 1]! - y);
      if (found === k && (dist > distances[base + k - 1]! || (dist === distances[base + k - 1]! && j > indices[base + k - 1]!))) return;
      if (found < k) found++;
      let p = found - 1;
      while (p > 0 && (distances[base + p - 1]! > dist || (distances[base + p - 1]! === dist && indices[base + p - 1]! > j))) {
        distances[base + p] = distances[base + p - 1]!;
        indices[base + p] = indices[base + p - 1]!;
        p--;
      }
      distances[base + p] = dist;
      indices[base + p] = j;
    };
    for (let r = 0; r <= cells; r++) {
      // Ring r: the cells at Chebyshev distance exactly r from the query's cell.
      for (let gx = cx - r; gx <= cx + r; gx++) {
        if (gx < 0 || gx >= cells) continue;
        const edge = gx === cx - r || gx === cx + r;
        for (let gy = cy - r; gy <= cy + r; gy += edge ? 1 : 2 * r) {
          if (gy >= 0 && gy < cells) {
            const c = gx * cells + gy;
            for (let t = start[c]!; t < start[c + 1]!; t++) consider(inCell[t]!);
          }
          if (r === 0) break;
        }
      }
      // Every point within r cell widths of the query is in rings 0 … r.
      if (found === k && distances[base + k - 1]! <= r / cells) break;
    }
  }
  return { indices, distances };
}
