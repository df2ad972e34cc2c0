/**
 * Region names on the map, and the outline of the region under the pointer or in focus.
 * *
 * The names are HTML text in an overlay above the canvas, placed by our own screen-space greedy
 * placement (region-labels.ts) on every view change, rather than a deck.gl TextLayer with the
 * CollisionFilterExtension: that extension is another package (@deck.gl/extensions), it decides
 * visibility on the GPU so neither hit-testing a name nor a test can learn which names are drawn,
 * and SDF text in WebGL needs a font atlas. HTML text is crisp at every zoom, takes the theme's
 * colours and halo from CSS, is measured exactly by the browser (letter-spacing and font
 * fallbacks included), and is set with textContent only — names come from labels, which are
 * untrusted. The overlay ignores the pointer: the map hit-tests the placed boxes itself (labelAt),
 * so dragging or wheeling over a name still moves the map.
 *
 * The outlines are an SVG under the canvas (deck clears to transparent, so it shows through),
 * computed in screen space on each view change: two polygons of ~100 points. A deck.gl
 * PolygonLayer would draw the same but add ~100 KB (25 KB gzipped) of tesselation and path code
 * to the map bundle.
 *
 * Level files are fetched as the zoom approaches the level, so zoomed out costs one small file.
 */
import type { Manifest, Region, RegionLevelFile } from "../../contract/atlas.ts";
import { fetchRegionIndex, levelWord, type RegionIndex } from "../lib/region-index.ts";
import {
  LEVEL_ON_PX,
  boxContains,
  labelOffsets,
  levelNamed,
  placeLabels,
  regionNamed,
  regionSizePx,
  roundedHull,
  typicalSize,
  wrapName,
  type Box,
  type LabelCandidate,
  type NamingView,
  type PlacedLabel,
} from "./region-labels.ts";

export interface RegionView extends NamingView {
  /** View centre, layout units. */
  centre: [number, number];
  /** Radius of the drawn points, CSS pixels: outlines keep this much clear of them. */
  pointRadius: number;
}

/** A drawn name, in viewport CSS pixels (what page.mouse expects). */
export interface RegionLabelBox {
  slug: string;
  name: string;
  level: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

interface LevelState {
  regions: Region[];
  /** Indices in naming priority: more members first, then file order. */
  order: number[];
  typical: number;
}

const SVG_NS = "http://www.w3.org/2000/svg";

const fetchJson = async (url: string): Promise<unknown> => {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
};

export class RegionLayer {
  private readonly overlay: HTMLDivElement;
  private readonly levels: (LevelState | undefined)[];
  private readonly loading = new Set<number>();
  private readonly elements = new Map<string, HTMLDivElement>();
  private readonly sizes = new Map<string, { width: number; height: number }>();
  private placed: PlacedLabel<Region>[] = [];
  private shown = new Set<string>();
  private view: RegionView | null = null;
  private hoveredRegion: Region | null = null;
  private focusedRegion: Region | null = null;
  private readonly outlines: SVGSVGElement;
  private readonly faintOutlines: SVGPathElement;
  private readonly focusOutline: SVGPolygonElement;
  private readonly hoverOutline: SVGPolygonElement;
  private index: Promise<RegionIndex> | null = null;
  /** Time the last layout took (candidates, measuring new names, placement, DOM and outlines), ms. */
  lastPlacementMs = 0;

  constructor(
    private readonly mapEl: HTMLElement,
    private readonly dataBase: string,
    private readonly pageBase: string,
    private readonly manifest: Manifest,
    /** Elements names must keep clear of (legend, buttons, panel). */
    private readonly obstacles: () => HTMLElement[],
  ) {
    this.overlay = document.createElement("div");
    this.overlay.className = "region-labels";
    // The names repeat what search and the region pages offer to assistive technology; read
    // aloud as the map moves they would be noise.
    this.overlay.setAttribute("aria-hidden", "true");
    mapEl.append(this.overlay);
    this.outlines = document.createElementNS(SVG_NS, "svg");
    this.outlines.setAttribute("class", "region-outlines");
    this.outlines.setAttribute("aria-hidden", "true");
    this.faintOutlines = document.createElementNS(SVG_NS, "path");
    this.faintOutlines.setAttribute("class", "region-outline faint");
    this.focusOutline = document.createElementNS(SVG_NS, "polygon");
    this.focusOutline.setAttribute("class", "region-outline focused");
    this.hoverOutline = document.createElementNS(SVG_NS, "polygon");
    this.hoverOutline.setAttribute("class", "region-outline hovered");
    this.outlines.append(this.faintOutlines, this.focusOutline, this.hoverOutline);
    // First child: painted before (under) deck's canvas, which is transparent where nothing is drawn.
    mapEl.prepend(this.outlines);
    this.levels = new Array<LevelState | undefined>(manifest.regions?.levels.length ?? 0);
  }

  get levelCount(): number {
    return this.levels.length;
  }

  /** Lay the names out for a new view (call on every view change; costs well under a millisecond). */
  update(view: RegionView): void {
    this.view = view;
    this.requestLevels(view);
    this.layout();
  }

  /** Lay the names out again for the same view: the chrome they avoid (panel, card) changed. */
  relayout(): void {
    this.layout();
  }

  private requestLevels(view: RegionView): void {
    const [x0, y0, x1, y1] = this.manifest.bounds;
    const area = Math.max(1e-9, (x1 - x0) * (y1 - y0));
    this.manifest.regions?.levels.forEach((entry, L) => {
      if (this.levels[L] || this.loading.has(L)) return;
      // Fetch a level a little before it is named: a square share of the map, shrunk as real
      // regions are (they cover less than the whole bounds), at half the naming threshold.
      const estimatePx = Math.sqrt(area / entry.count) * 0.6 * view.pixelsPerUnit;
      if (L === 0 || estimatePx >= LEVEL_ON_PX / 2) void this.loadLevel(L);
    });
  }

  private loadLevel(L: number): Promise<LevelState | null> {
    const entry = this.manifest.regions?.levels[L];
    if (!entry) return Promise.resolve(null);
    const have = this.levels[L];
    if (have) return Promise.resolve(have);
    this.loading.add(L);
    return fetchJson(`${this.dataBase}${entry.path}`)
      .then((json) => {
        const file = json as RegionLevelFile;
        const regions = file.regions;
        const order = regions.map((_, i) => i).sort((a, b) => regions[b]!.members - regions[a]!.members || a - b);
        const state: LevelState = { regions, order, typical: typicalSize(regions) };
        this.levels[L] = state;
        this.layout();
        return state;
      })
      .catch((error: unknown) => {
        // Names are an extra: the map works without them, so say why once and carry on.
        console.warn(`region names of level ${L} could not be loaded:`, error);
        return null;
      })
      .finally(() => this.loading.delete(L));
  }

  private layout(): void {
    const view = this.view;
    if (!view) return;
    const t0 = performance.now();
    const { width, height, pixelsPerUnit: ppu } = view;
    const [cx, cy] = view.centre;
    const named = this.levels.map((s, L) => Boolean(s) && levelNamed(L, s!.typical, view));
    const candidates: LabelCandidate<Region>[] = [];
    const unmeasured: Region[] = [];
    const margin = 200;
    this.levels.forEach((state, L) => {
      if (!state || !named[L]) return;
      const finerNamed = named[L + 1] ?? false;
      for (const i of state.order) {
        const r = state.regions[i]!;
        const sx = (r.centroid[0] - cx) * ppu + width / 2;
        const sy = height / 2 - (r.centroid[1] - cy) * ppu;
        if (sx < -margin || sy < -margin || sx > width + margin || sy > height + margin) continue;
        if (!regionNamed(L, regionSizePx(r.bounds, ppu), view, finerNamed)) continue;
        const size = this.sizes.get(r.id);
        if (!size) unmeasured.push(r);
        candidates.push({ item: r, cx: sx, cy: sy, width: size?.width ?? 0, height: size?.height ?? 0 });
      }
    });
    if (unmeasured.length > 0) this.measure(unmeasured);
    for (const c of candidates) {
      const size = this.sizes.get(c.item.id)!;
      c.width = size.width;
      c.height = size.height;
      const [x0, y0, x1, y1] = c.item.bounds;
      c.offsets = labelOffsets(size.width, size.height, ((x1 - x0) * ppu) / 2, ((y1 - y0) * ppu) / 2);
    }
    const area: Box = { x: 4, y: 4, width: width - 8, height: height - 8 };
    this.placed = placeLabels(candidates, area, this.obstacleBoxes());
    this.draw();
    this.lastPlacementMs = performance.now() - t0;
  }

  /** Boxes of the chrome floating over the map, relative to the map. */
  private obstacleBoxes(): Box[] {
    const map = this.mapEl.getBoundingClientRect();
    const out: Box[] = [];
    for (const el of this.obstacles()) {
      if (el.hidden || el.offsetParent === null) continue;
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.height > 0) out.push({ x: r.left - map.left, y: r.top - map.top, width: r.width, height: r.height });
    }
    return out;
  }

  private element(r: Region): HTMLDivElement {
    let el = this.elements.get(r.id);
    if (!el) {
      el = document.createElement("div");
      const depth = r.level === 0 ? "coarse" : r.level === this.levels.length - 1 ? "fine" : "mid";
      el.className = `region-label region-label-${depth}`;
      el.dataset["slug"] = r.slug;
      el.textContent = wrapName(r.name).join("\n");
      this.elements.set(r.id, el);
    }
    return el;
  }

  /** Measure names in one batch: attach them unseen, read every size (one layout), detach. */
  private measure(regions: Region[]): void {
    const els = regions.map((r) => this.element(r));
    for (const el of els) {
      el.classList.add("measuring");
      this.overlay.append(el);
    }
    regions.forEach((r, i) => this.sizes.set(r.id, { width: Math.ceil(els[i]!.offsetWidth), height: Math.ceil(els[i]!.offsetHeight) }));
    regions.forEach((r, i) => {
      els[i]!.classList.remove("measuring");
      if (!this.shown.has(r.id)) els[i]!.remove();
    });
  }

  private draw(): void {
    const next = new Set<string>();
    for (const { item, box } of this.placed) {
      const el = this.element(item);
      next.add(item.id);
      el.style.transform = `translate(${box.x}px, ${box.y}px)`;
      el.classList.toggle("hovered", item.slug === this.hoveredRegion?.slug);
      el.classList.toggle("focused", item.slug === this.focusedRegion?.slug);
      if (!el.isConnected) this.overlay.append(el);
    }
    for (const id of this.shown) if (!next.has(id)) this.elements.get(id)?.remove();
    this.shown = next;
    this.drawOutlines();
  }

  /** The region whose name is drawn at (x, y), map CSS pixels. */
  labelAt(x: number, y: number): Region | null {
    // Last placed is drawn last, i.e. on top; boxes never overlap anyway.
    for (let i = this.placed.length - 1; i >= 0; i--) {
      const p = this.placed[i]!;
      if (boxContains(p.box, x, y)) return p.item;
    }
    return null;
  }

  get hovered(): Region | null {
    return this.hoveredRegion;
  }

  get focused(): Region | null {
    return this.focusedRegion;
  }

  setHovered(region: Region | null): void {
    if (region === this.hoveredRegion) return;
    this.hoveredRegion = region;
    this.draw();
  }

  setFocused(region: Region | null): void {
    if (region?.slug === this.focusedRegion?.slug) return;
    this.focusedRegion = region;
    this.draw();
  }

  visibleLabels(): RegionLabelBox[] {
    const map = this.mapEl.getBoundingClientRect();
    return this.placed.map(({ item, box }) => ({
      slug: item.slug,
      name: item.name,
      level: item.level,
      x: map.left + box.x,
      y: map.top + box.y,
      width: box.width,
      height: box.height,
    }));
  }

  levelName(level: number): string {
    return levelWord(level, this.levels.length);
  }

  regionHref(slug: string): string {
    return `${this.pageBase}region/${slug}/`;
  }

  /**
   * Find a region by slug: among the loaded levels, else through the region index, else (a big
   * atlas's index leaves its finest levels out) in those levels' files, coarsest first.
   */
  async find(slug: string): Promise<Region | null> {
    for (const state of this.levels) {
      const hit = state?.regions.find((r) => r.slug === slug);
      if (hit) return hit;
    }
    this.index ??= fetchRegionIndex(`${this.pageBase}regions.json`);
    let index: RegionIndex;
    try {
      index = await this.index;
    } catch (error) {
      this.index = null;
      throw error;
    }
    const entry = index.entries.find((e) => e.slug === slug);
    const candidates = entry ? [entry.level] : Array.from({ length: index.levels - index.searchableLevels }, (_, i) => index.searchableLevels + i);
    for (const L of candidates) {
      const hit = (await this.loadLevel(L))?.regions.find((r) => r.slug === slug);
      if (hit) return hit;
    }
    return null;
  }

  /** The outline of a region on screen: its hull grown past the points on its rim. */
  private outlinePoints(r: Region, view: RegionView): string {
    return this.outline(r, view)
      .map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`)
      .join(" ");
  }

  private outline(r: Region, view: RegionView): [number, number][] {
    const { width, height, pixelsPerUnit: ppu } = view;
    const [cx, cy] = view.centre;
    const hull = (r.hull.length > 0 ? r.hull : [r.centroid]).map(([x, y]) => [(x - cx) * ppu + width / 2, height / 2 - (y - cy) * ppu] as [number, number]);
    return roundedHull(hull, view.pointRadius + 7);
  }

  private drawOutlines(): void {
    const view = this.view;
    const focused = this.focusedRegion;
    const hovered = this.hoveredRegion?.slug === focused?.slug ? null : this.hoveredRegion;
    // Faint outlines of the coarsest regions named, so that one sees what each big name covers.
    const coarsest = Math.min(...this.placed.map((p) => p.item.level));
    const faint = view
      ? this.placed
          .filter((p) => p.item.level === coarsest && p.item.slug !== focused?.slug && p.item.slug !== hovered?.slug)
          .map((p) => `M${this.outline(p.item, view).map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join("L")}Z`)
          .join("")
      : "";
    if (faint) this.faintOutlines.setAttribute("d", faint);
    else this.faintOutlines.removeAttribute("d");
    for (const [polygon, region] of [
      [this.focusOutline, focused],
      [this.hoverOutline, hovered],
    ] as const) {
      if (view && region) polygon.setAttribute("points", this.outlinePoints(region, view));
      else polygon.removeAttribute("points");
    }
  }
}
