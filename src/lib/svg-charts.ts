/**
 * Small charts drawn at build time as SVG strings: the activation histogram and the neighbourhood
 * mini-map. Inline on the feature page (so they show with JavaScript off, and follow the theme
 * through CSS classes), and rasterised into the link-preview images (with explicit colours).
 * Pure functions.
 *
 * Bytes matter — an atlas may have a million feature pages — so dots are drawn as one `<path>` of
 * zero-length round-capped segments (`M12 34h0`, ~8 bytes a dot) on an integer grid.
 */
import type { Histogram } from "../../contract/atlas.ts";
import { formatActivation, formatCount } from "./format.ts";

export type Rect = [minX: number, minY: number, maxX: number, maxY: number];
export interface Pt {
  x: number;
  y: number;
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Dots at integer coordinates as one path: `M x y h0` per dot, duplicates dropped. */
export function dotPath(points: Iterable<[number, number]>): string {
  const seen = new Set<string>();
  let d = "";
  for (const [x, y] of points) {
    const key = `${Math.round(x)} ${Math.round(y)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    d += `M${key}h0`;
  }
  return d;
}

// ---- histogram ------------------------------------------------------------------------------

export interface HistogramSummary {
  total: number;
  min: number;
  max: number;
  /** Centre of the tallest bar. */
  mode: number;
}

export function summariseHistogram(h: Histogram): HistogramSummary {
  let total = 0;
  let tallest = 0;
  for (let i = 0; i < h.heights.length; i++) {
    total += h.heights[i]!;
    if (h.heights[i]! > h.heights[tallest]!) tallest = i;
  }
  return { total, min: h.values[0]!, max: h.values.at(-1)!, mode: h.values[tallest]! };
}

/**
 * The histogram of a feature's non-zero activations: one bar per input bar, x in activation units,
 * y in token counts (linear). Colours come from CSS (`.hist-bar`, `.hist-axis`, `.hist-text`).
 */
export function histogramSvg(h: Histogram, opts: { width?: number; height?: number } = {}): string {
  const width = opts.width ?? 360;
  const height = opts.height ?? 110;
  const padL = 8;
  const padR = 8;
  const padT = 16;
  const padB = 22;
  const n = h.heights.length;
  const maxH = Math.max(1e-9, ...h.heights);
  const w = (width - padL - padR) / n;
  const base = height - padB;
  const scale = (base - padT) / maxH;
  let d = "";
  for (let i = 0; i < n; i++) {
    const bh = h.heights[i]! * scale;
    if (bh <= 0) continue;
    // At least a hairline, so a bar of one token still shows next to bars of thousands.
    const top = Math.min(base - 0.8, base - bh);
    const x = padL + i * w;
    d += `M${x.toFixed(1)} ${base}V${top.toFixed(1)}h${Math.max(0.6, w - 0.8).toFixed(1)}V${base}z`;
  }
  const s = summariseHistogram(h);
  const label =
    `Histogram of ${formatCount(s.total)} sampled non-zero activations, from ${formatActivation(s.min)} to ` +
    `${formatActivation(s.max)}; the tallest bar is at ${formatActivation(s.mode)}.`;
  return (
    `<svg class="histogram" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${esc(label)}">` +
    `<path class="hist-bar" d="${d}"/>` +
    `<path class="hist-axis" d="M${padL} ${base + 0.5}H${width - padR}"/>` +
    `<text class="hist-text" x="${padL}" y="${height - 6}">${esc(formatActivation(s.min))}</text>` +
    `<text class="hist-text" x="${width - padR}" y="${height - 6}" text-anchor="end">${esc(formatActivation(s.max))}</text>` +
    `<text class="hist-text" x="${padL}" y="${padT - 5}">${esc(formatCount(maxH))} tokens</text>` +
    `</svg>`
  );
}

// ---- neighbourhood mini-map -----------------------------------------------------------------

export interface Neighbour extends Pt {
  id: number;
  cosine: number;
}

/**
 * The square of the layout the mini-map shows, centred on the feature: wide enough for most of
 * its decoder neighbours (the 75th-percentile distance, so one far-flung neighbour does not shrink
 * everything else to a dot), at least 4 % and at most 30 % of the atlas's extent.
 */
export function neighbourhoodWindow(feature: Pt, neighbours: Pt[], bounds: Rect): Rect {
  const extent = Math.max(1e-6, bounds[2] - bounds[0], bounds[3] - bounds[1]);
  const dists = neighbours
    .filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y))
    .map((p) => Math.max(Math.abs(p.x - feature.x), Math.abs(p.y - feature.y)))
    .sort((a, b) => a - b);
  const q = dists.length ? dists[Math.min(dists.length - 1, Math.floor(dists.length * 0.75))]! : 0;
  const r = Math.min(0.3 * extent, Math.max(0.04 * extent, q * 1.25));
  return [feature.x - r, feature.y - r, feature.x + r, feature.y + r];
}

export interface MiniMapColours {
  background: string;
  frame: string;
  context: string;
  neighbour: string;
  link: string;
  feature: string;
  featureRing: string;
  overview: string;
  overviewWindow: string;
}

export interface MiniMapInput {
  /** The feature at the centre, joined to its neighbours; null for a region (its members only). */
  feature: (Pt & { id: number }) | null;
  neighbours: Neighbour[];
  /** Other features inside `window` (the feature and its neighbours may be among them). */
  context: Pt[];
  window: Rect;
  /** A sample of the whole atlas for the inset, and the atlas bounds; omit for no inset. */
  overview?: { points: Pt[]; bounds: Rect };
  /** Side of the square in px. Default 240. */
  size?: number;
  /** Explicit colours (for rasterising); without them, CSS classes (`.mm-*`) style the map. */
  colours?: MiniMapColours;
  /** Accessible label; a default is written from the counts. */
  label?: string;
}

/** The mini-map as an SVG string (no XML declaration; add one for a standalone file). */
export function miniMapSvg(m: MiniMapInput): string {
  const size = m.size ?? 240;
  const [x0, y0, x1, y1] = m.window;
  const sx = (size - 16) / Math.max(1e-9, x1 - x0);
  // Layout y grows upwards, SVG y downwards.
  const px = (x: number): number => 8 + (x - x0) * sx;
  const py = (y: number): number => 8 + (y1 - y) * sx;
  const clampPx = (v: number): number => Math.min(size - margin, Math.max(margin, v));
  const c = m.colours;
  const attr = (cls: string, paint: Partial<Record<"fill" | "stroke", string | undefined>>): string =>
    c ? Object.entries(paint).map(([k, v]) => (v ? ` ${k}="${v}"` : "")).join("") : ` class="${cls}"`;

  const dotR = size / 80;
  const margin = dotR * 1.5 + 1;
  const inWindow = m.context.filter((p) => p.x >= x0 && p.x <= x1 && p.y >= y0 && p.y <= y1);
  const ctx = dotPath(inWindow.map((p) => [px(p.x), py(p.y)] as [number, number]));
  const placed = m.neighbours
    .filter((n) => Number.isFinite(n.x) && Number.isFinite(n.y))
    .map((n) => ({ n, x: clampPx(px(n.x)), y: clampPx(py(n.y)) }));
  let links = "";
  let ring = "";
  const f = m.feature ? { x: px(m.feature.x), y: py(m.feature.y) } : null;
  for (const p of placed) {
    if (f) links += `M${f.x.toFixed(1)} ${f.y.toFixed(1)}L${p.x.toFixed(1)} ${p.y.toFixed(1)}`;
    ring += `M${p.x.toFixed(1)} ${p.y.toFixed(1)}h0`;
  }
  const label =
    m.label ??
    (m.feature
      ? `Where feature ${m.feature.id} sits on the map: ${formatCount(inWindow.length)} nearby features as grey dots, ` +
        `its ${placed.length} nearest by decoder cosine joined to it by lines.`
      : `${formatCount(inWindow.length)} features of this part of the map as grey dots, ${placed.length} highlighted.`);
  let svg =
    `<svg class="minimap" viewBox="0 0 ${size} ${size}" width="${size}" height="${size}" role="img" aria-label="${esc(label)}">` +
    `<rect x="0.5" y="0.5" width="${size - 1}" height="${size - 1}" rx="8"${attr("mm-frame", { fill: c?.background, stroke: c?.frame })}/>` +
    `<path d="${ctx}" stroke-width="${(dotR * 1.6).toFixed(1)}" stroke-linecap="round"${attr("mm-ctx", { stroke: c?.context })}/>` +
    (links ? `<path d="${links}" stroke-width="1"${attr("mm-link", { stroke: c?.link })}/>` : "") +
    `<path d="${ring}" stroke-width="${(dotR * 3).toFixed(1)}" stroke-linecap="round"${attr("mm-nb", { stroke: c?.neighbour })}/>` +
    (f
      ? `<circle cx="${f.x.toFixed(1)}" cy="${f.y.toFixed(1)}" r="${(dotR * 2.6).toFixed(1)}" stroke-width="${(dotR * 1.2).toFixed(1)}"${attr("mm-feature", { fill: c?.feature, stroke: c?.featureRing })}/>`
      : "");
  if (m.overview && m.overview.points.length > 0) {
    const [bx0, by0, bx1, by1] = m.overview.bounds;
    const inset = Math.round(size * 0.27);
    const ox = size - inset - 6;
    const oy = 6;
    const os = (inset - 6) / Math.max(1e-9, bx1 - bx0, by1 - by0);
    const ix = (x: number): number => ox + 3 + (x - bx0) * os;
    const iy = (y: number): number => oy + 3 + (by1 - y) * os;
    const dots = dotPath(m.overview.points.map((p) => [ix(p.x), iy(p.y)] as [number, number]));
    const wx = ix(Math.max(bx0, x0));
    const wy = iy(Math.min(by1, y1));
    const ww = Math.max(2, ix(Math.min(bx1, x1)) - wx);
    const wh = Math.max(2, iy(Math.max(by0, y0)) - wy);
    svg +=
      `<rect x="${ox}" y="${oy}" width="${inset}" height="${inset}" rx="4"${attr("mm-inset", { fill: c?.background, stroke: c?.frame })}/>` +
      `<path d="${dots}" stroke-width="1.4" stroke-linecap="round"${attr("mm-ov", { stroke: c?.overview })}/>` +
      `<rect x="${wx.toFixed(1)}" y="${wy.toFixed(1)}" width="${ww.toFixed(1)}" height="${wh.toFixed(1)}" fill="none" stroke-width="1.5"${attr("mm-ovwin", { stroke: c?.overviewWindow })}/>`;
  }
  return `${svg}</svg>`;
}
