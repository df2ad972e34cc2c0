/**
 * Where region names go on the map: which regions are named at a zoom, and a collision-free
 * placement of their names on screen. Pure functions on numbers (no DOM, no deck.gl), so the
 * rules can be tested without a browser.
 *
 * Which names: a level is named once its typical (median) region is LEVEL_ON_PX wide on screen,
 * so zoomed out only the continents are named and each finer level joins as one zooms in. Within
 * a named level a region needs REGION_MIN_PX of its own, and it stops being named once it is so
 * big that one is inside it rather than looking at it (REGION_MAX_FRACTION of the view) — then
 * its sub-regions' names take over. The coarsest level has no minimum (there is always something
 * named) and the finest no maximum (nothing finer would replace it).
 *
 * Where: greedy placement in priority order (coarser level first, then more members, then file
 * order), each name centred on its region's centroid — or, when that spot is taken, moved a little
 * within its region (above, below, left, right) — and dropped when every spot would overlap a
 * name already placed, the map's own controls, or the edge of the view. Greedy by a fixed
 * priority is what keeps the names steady while panning: a name only disappears when a more
 * important one comes near it, never because of the order in which they entered the view.
 */

/** A rectangle in CSS pixels: top-left corner and size. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export const LEVEL_ON_PX = 100;
export const REGION_MIN_PX = 56;
export const REGION_MAX_FRACTION = 0.85;
/** Empty space kept between two names, in CSS pixels. */
export const LABEL_GAP = 10;

export interface NamingView {
  /** CSS pixels per layout unit. */
  pixelsPerUnit: number;
  width: number;
  height: number;
}

/** How big a region looks: the longer side of its bounds, in CSS pixels. */
export function regionSizePx(bounds: readonly [number, number, number, number], pixelsPerUnit: number): number {
  return Math.max(bounds[2] - bounds[0], bounds[3] - bounds[1]) * pixelsPerUnit;
}

/** Whether a level's names are shown at all: its median region size (layout units) is big enough on screen. */
export function levelNamed(level: number, typicalSize: number, view: NamingView): boolean {
  return level === 0 || typicalSize * view.pixelsPerUnit >= LEVEL_ON_PX;
}

/**
 * Whether a region of a named level gets a name: big enough to carry one, and not yet so big that
 * the next level (when that level is named too) should speak for it.
 */
export function regionNamed(level: number, sizePx: number, view: NamingView, finerLevelNamed: boolean): boolean {
  if (level > 0 && sizePx < REGION_MIN_PX) return false;
  if (finerLevelNamed && sizePx > REGION_MAX_FRACTION * Math.min(view.width, view.height)) return false;
  return true;
}

export interface LabelCandidate<T> {
  item: T;
  /** Centre of the name on screen, CSS pixels. */
  cx: number;
  cy: number;
  width: number;
  height: number;
  /** Other spots to try, in order, when the centre is taken: shifts of the centre in CSS pixels. */
  offsets?: readonly (readonly [number, number])[];
}

export interface PlacedLabel<T> {
  item: T;
  box: Box;
}

function overlaps(a: Box, b: Box, gap: number): boolean {
  return a.x < b.x + b.width + gap && b.x < a.x + a.width + gap && a.y < b.y + b.height + gap && b.y < a.y + a.height + gap;
}

/**
 * Place names greedily, in the order given (highest priority first). A name is placed when its
 * box lies inside `area` and keeps `gap` pixels from every name placed before it and from every
 * obstacle. A uniform grid keeps each test to the few boxes nearby, so thousands of candidates
 * cost well under a millisecond.
 */
export function placeLabels<T>(
  candidates: readonly LabelCandidate<T>[],
  area: Box,
  obstacles: readonly Box[] = [],
  gap: number = LABEL_GAP,
): PlacedLabel<T>[] {
  const cell = 96;
  const grid = new Map<number, Box[]>();
  const cols = Math.max(1, Math.ceil((area.width + 2 * cell) / cell));
  const cellsOf = (b: Box): number[] => {
    const x0 = Math.floor((b.x - gap - area.x) / cell) + 1;
    const x1 = Math.floor((b.x + b.width + gap - area.x) / cell) + 1;
    const y0 = Math.floor((b.y - gap - area.y) / cell) + 1;
    const y1 = Math.floor((b.y + b.height + gap - area.y) / cell) + 1;
    const out: number[] = [];
    for (let gy = y0; gy <= y1; gy++) for (let gx = Math.max(0, x0); gx <= Math.min(cols - 1, x1); gx++) out.push(gy * cols + gx);
    return out;
  };
  const add = (b: Box): void => {
    for (const c of cellsOf(b)) {
      const list = grid.get(c);
      if (list) list.push(b);
      else grid.set(c, [b]);
    }
  };
  for (const o of obstacles) add(o);

  const fits = (box: Box): boolean => {
    if (box.x < area.x || box.y < area.y || box.x + box.width > area.x + area.width || box.y + box.height > area.y + area.height) return false;
    for (const cellId of cellsOf(box)) {
      for (const other of grid.get(cellId) ?? []) if (overlaps(box, other, gap)) return false;
    }
    return true;
  };
  const centre: readonly [number, number] = [0, 0];
  const placed: PlacedLabel<T>[] = [];
  for (const c of candidates) {
    for (const [dx, dy] of [centre, ...(c.offsets ?? [])]) {
      const box: Box = { x: Math.round(c.cx + dx - c.width / 2), y: Math.round(c.cy + dy - c.height / 2), width: c.width, height: c.height };
      if (!fits(box)) continue;
      add(box);
      placed.push({ item: c.item, box });
      break;
    }
  }
  return placed;
}

/** Whether a point lies in a box. */
export function boxContains(b: Box, x: number, y: number): boolean {
  return x >= b.x && x <= b.x + b.width && y >= b.y && y <= b.y + b.height;
}

/**
 * A region's outline grown by `radius` (the outline drawn around its points): the Minkowski sum
 * of its convex hull and a disc, as a polygon with round corners. Hulls of one or two points (tiny
 * regions) become a disc or a stadium. Layout units in and out.
 */
export function roundedHull(hull: readonly (readonly [number, number])[], radius: number, stepRad = Math.PI / 10): [number, number][] {
  const pts = hull.map((p) => [p[0], p[1]] as [number, number]);
  if (pts.length === 0) return [];
  if (pts.length === 1) {
    const [x, y] = pts[0]!;
    const out: [number, number][] = [];
    for (let a = 0; a < 2 * Math.PI - 1e-9; a += stepRad) out.push([x + radius * Math.cos(a), y + radius * Math.sin(a)]);
    return out;
  }
  // The arcs below turn left at every corner, which needs counter-clockwise order.
  let area = 0;
  for (let i = 0; i < pts.length; i++) {
    const a = pts[i]!;
    const b = pts[(i + 1) % pts.length]!;
    area += a[0] * b[1] - b[0] * a[1];
  }
  if (area < 0) pts.reverse();
  const n = pts.length;
  const out: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    const prev = pts[(i - 1 + n) % n]!;
    const p = pts[i]!;
    const next = pts[(i + 1) % n]!;
    // Outward normals of the edges into and out of p (right of the direction of travel).
    const from = Math.atan2(p[1] - prev[1], p[0] - prev[0]) - Math.PI / 2;
    let to = Math.atan2(next[1] - p[1], next[0] - p[0]) - Math.PI / 2;
    while (to < from) to += 2 * Math.PI;
    const steps = Math.max(1, Math.ceil((to - from) / stepRad));
    for (let s = 0; s <= steps; s++) {
      const a = from + ((to - from) * s) / steps;
      out.push([p[0] + radius * Math.cos(a), p[1] + radius * Math.sin(a)]);
    }
  }
  return out;
}

/** The median of the longer bounds side of a level's regions: its typical size in layout units. */
export function typicalSize(regions: readonly { bounds: readonly [number, number, number, number] }[]): number {
  if (regions.length === 0) return 0;
  const sizes = regions.map((r) => Math.max(r.bounds[2] - r.bounds[0], r.bounds[3] - r.bounds[1])).sort((a, b) => a - b);
  const mid = sizes.length >> 1;
  return sizes.length % 2 ? sizes[mid]! : (sizes[mid - 1]! + sizes[mid]!) / 2;
}

/**
 * Split a long name over two lines at the " · " nearest its middle, so that names stay compact
 * boxes rather than long strips (which collide with everything). Short names stay on one line.
 */
export function wrapName(name: string, maxLine = 22): string[] {
  if (name.length <= maxLine) return [name];
  const sep = " · ";
  let best = -1;
  for (let i = name.indexOf(sep); i >= 0; i = name.indexOf(sep, i + 1)) {
    if (best < 0 || Math.abs(i - name.length / 2) < Math.abs(best - name.length / 2)) best = i;
  }
  if (best < 0) return [name];
  return [name.slice(0, best), name.slice(best + sep.length)];
}

/**
 * Spots near the centre where a region's name may go instead, in order of preference: above,
 * below, left, right, each by most of the name's size but by at most 70 % of the region's
 * half-extent on screen (`halfW`, `halfH`, pixels), so that the name stays over its region.
 */
export function labelOffsets(width: number, height: number, halfW: number, halfH: number): [number, number][] {
  const dy = Math.min(height * 0.9, halfH * 0.7);
  const dx = Math.min(width * 0.4, halfW * 0.7);
  const out: [number, number][] = [];
  if (dy >= 4) out.push([0, -dy], [0, dy]);
  if (dx >= 4) out.push([-dx, 0], [dx, 0]);
  return out;
}
