/**
 * The atlas map: every feature as a point, placed by decoder similarity, coloured by how often it
 * fires. deck.gl draws the points straight from the tiles' typed arrays (one PointLayer, a
 * ScatterplotLayer drawn as GL points, per quadtree tile); this module decides which tiles to
 * show, and handles hover, selection, the side panel and the URL.
 *
 * Test hooks — `window.__atlas` (for end-to-end tests; stable API):
 *   ready: Promise<void>           resolves once the first tile has been drawn
 *   atlasId: string                the atlas this map shows
 *   pointCount(): number           points in all loaded tiles
 *   drawnCount(rect?): number      points in the tile layers of the last rendered frame; with a
 *                                  rect [minX, minY, maxX, maxY] (layout units), only those inside it
 *   loadedTiles(): string[]        keys ("z/x/y") of the loaded tiles, in load order
 *   selected(): number | null      the selected feature id
 *   screenPosition(id): {x, y} | null
 *                                  viewport CSS pixels of a feature drawn in the last frame
 *                                  (what page.mouse.move expects); null if it is not drawn
 *   viewState(): {x, y, zoom, width, height}
 *                                  centre in layout units; zoom as in the URL (2^zoom × 256 px per unit)
 *   flyTo(id): Promise<void>       centre on a feature and select it; resolves when the move ends
 *   select(id | null): Promise<void>  select without moving; resolves when the panel is filled
 *   visibleRegionLabels(): {slug, name, level, x, y, width, height}[]
 *                                  region names drawn now, as boxes in viewport CSS pixels
 *   hoveredRegion(): string | null slug of the region whose name is under the pointer
 *   focusedRegion(): string | null slug of the region fitted by a click, search or `?r=`
 *   fitRegion(slug): Promise<boolean>  fit the map to a region and focus it; false if unknown
 *   regionPlacementMs(): number    time the last placement of region names took
 *   splitPartners(): {atlas, id, x, y}[]
 *                                  feature-split partners drawn now (splits-layer.ts), x/y in viewport CSS pixels
 */
import { Deck, LinearInterpolator, OrthographicView, type Layer, type PickingInfo } from "@deck.gl/core";
import { ScatterplotLayer } from "@deck.gl/layers";
import { PointLayer } from "./point-layer.ts";
import type { FeatureRecord, Manifest, Region } from "../../contract/atlas.ts";
import { describeLog10Density, featureName, formatCount } from "../lib/format.ts";
import { loadFeature, loadManifest } from "./atlas-data.ts";
import { densityDomain, fillColors, rampGradient, type DensityDomain } from "./colors.ts";
import { REGION_SELECT_EVENT, SEARCH_SELECT_EVENT, type RegionSelectDetail, type SearchSelectDetail } from "./events.ts";
import { renderFeature, renderMessage } from "./panel.ts";
import { mountFeaturesInView } from "./features-in-view.ts";
import { RegionLayer, type RegionLabelBox } from "./regions-layer.ts";
import { currentTheme, onThemeChange, type Theme } from "./theme.ts";
import { selectTiles, type Rect } from "./tile-selection.ts";
import { TileStore, type LoadedTile } from "./tiles.ts";
import { readUrlView, writeUrlView } from "./url-state.ts";
import { readSplitConfigs, SplitsLayer } from "./splits-layer.ts";

export interface AtlasTestApi {
  ready: Promise<void>;
  /** Id of the atlas this map shows (the atlas switcher's test tells maps apart by it). */
  atlasId: string;
  pointCount(): number;
  drawnCount(rect?: Rect): number;
  loadedTiles(): string[];
  selected(): number | null;
  screenPosition(id: number): { x: number; y: number } | null;
  viewState(): { x: number; y: number; zoom: number; width: number; height: number };
  flyTo(id: number): Promise<void>;
  select(id: number | null): Promise<void>;
  visibleRegionLabels(): RegionLabelBox[];
  hoveredRegion(): string | null;
  focusedRegion(): string | null;
  fitRegion(slug: string): Promise<boolean>;
  regionPlacementMs(): number;
  splitPartners(): { atlas: string; id: number; x: number; y: number }[];
}

interface View {
  /** World units: layout units × WORLD_SCALE. */
  target: [number, number, number];
  zoom: number;
  minZoom: number;
  maxZoom: number;
  [extra: string]: unknown;
}

/**
 * deck.gl world units per layout unit. With 256, zoom 0 shows the unit square 256 px wide (as a
 * web map shows the world at zoom 0), so zoom values in URLs stay small and readable (~0–14).
 */
const WORLD_SCALE = 256;
/** Layers keep layout units; this matrix takes them to world units on the GPU. */
const MODEL_MATRIX = new Float32Array([WORLD_SCALE, 0, 0, 0, 0, WORLD_SCALE, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
/** Zoom range around the fitted view: far enough out to see the whole, in to single points of 1M. */
const ZOOM_OUT = 2;
const ZOOM_IN = 12;
/** Zoom (relative to the fitted view) that a fly-to goes to at least. */
const FLY_ZOOM = 2.5;
const URL_DEBOUNCE_MS = 250;
const FLY_MS = 700;
const NEIGHBOURS_MARKED = 12;
/** Space kept around a region fitted to the view, CSS pixels. */
const FIT_PADDING = 56;
const SLUG = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

const reducedMotion = (): boolean => window.matchMedia("(prefers-reduced-motion: reduce)").matches;

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

interface TileData {
  length: number;
  attributes: {
    getPosition: { value: Float32Array; size: 2 };
    getFillColor: { value: Uint8Array; size: 4; normalized: true };
  };
}

class AtlasMap {
  private readonly atlasId: string;
  private readonly dataBase: string;
  private readonly pageBase: string;
  private manifest!: Manifest;
  private store!: TileStore;
  private deck: Deck<OrthographicView> | null = null;
  private view!: View;
  private fitZoom = 0;
  private theme: Theme = currentTheme();
  private domain: DensityDomain | null = null;
  private readonly tileData = new Map<string, TileData>();
  private tileLayers: PointLayer[] = [];
  /** Tile keys the current view wants, parents first (some may still be loading). */
  private wanted: string[] = [];
  private drawn = 0;
  /** Keys of the tile layers drawn in the last frame (test hooks read it). */
  private drawnKeys: string[] = [];
  private selectedId: number | null = null;
  private selectedPos: [number, number] | null = null;
  /**
   * Layer data of the selection ring and the neighbour rings. Recomputed only when the selection
   * or the loaded tiles change — not per frame — and kept as the same arrays in between, so deck
   * does not re-upload them while the map moves.
   */
  private selectedData: [number, number][] = [];
  private markedData: [number, number][] = [];
  private selectedRecord: FeatureRecord | null = null;
  private selectToken = 0;
  private urlTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly readyDeferred = deferred();
  private firstDrawn = false;
  private regions: RegionLayer | null = null;
  private regionCard: HTMLElement | null = null;
  private splits: SplitsLayer | null = null;

  private readonly mapEl: HTMLDivElement;
  private readonly tooltip: HTMLElement;
  private readonly panel: HTMLElement;
  private readonly panelBody: HTMLElement;
  private readonly status: HTMLElement;
  private readonly legend: HTMLElement | null;

  constructor(private readonly root: HTMLElement) {
    const q = <T extends HTMLElement>(sel: string): T => {
      const found = root.querySelector<T>(sel);
      if (!found) throw new Error(`map page is missing ${sel}`);
      return found;
    };
    this.mapEl = q("[data-map]");
    this.tooltip = q("[data-tooltip]");
    this.panel = q("[data-panel]");
    this.panelBody = q("[data-panel-body]");
    this.status = q("[data-map-status]");
    this.legend = root.querySelector("[data-legend]");
    this.atlasId = this.mapEl.dataset["atlas"] ?? "";
    this.dataBase = this.mapEl.dataset["dataUrl"] ?? "";
    this.pageBase = this.mapEl.dataset["pageUrl"] ?? "/";
  }

  get api(): AtlasTestApi {
    return {
      ready: this.readyDeferred.promise,
      atlasId: this.atlasId,
      pointCount: () => {
        let n = 0;
        if (this.store) for (const t of this.store.all()) n += t.length;
        return n;
      },
      drawnCount: (rect) => (rect ? this.drawnIn(rect) : this.drawn),
      loadedTiles: () => (this.store ? [...this.store.all()].map((t) => t.key) : []),
      selected: () => this.selectedId,
      screenPosition: (id) => this.screenPosition(id),
      viewState: () => ({
        x: this.view ? this.centre()[0] : NaN,
        y: this.view ? this.centre()[1] : NaN,
        zoom: this.view?.zoom ?? NaN,
        width: this.width(),
        height: this.height(),
      }),
      flyTo: (id) => this.flyTo(id),
      select: (id) => this.select(id),
      visibleRegionLabels: () => this.regions?.visibleLabels() ?? [],
      hoveredRegion: () => this.regions?.hovered?.slug ?? null,
      focusedRegion: () => this.regions?.focused?.slug ?? null,
      fitRegion: async (slug) => {
        const region = await this.regions?.find(slug);
        if (!region) return false;
        await this.fitRegion(region, 0);
        return true;
      },
      regionPlacementMs: () => this.regions?.lastPlacementMs ?? NaN,
      splitPartners: () => (this.splits?.drawn() ?? []).map((p) => ({ atlas: p.atlas, id: p.id, ...this.project(p.position) })),
    };
  }

  async start(): Promise<void> {
    try {
      this.manifest = await loadManifest(this.dataBase);
    } catch (error) {
      this.fail(`The atlas data could not be loaded. ${(error as Error).message}`);
      return;
    }
    this.store = new TileStore(
      this.dataBase,
      this.manifest,
      (tile) => this.onTileLoaded(tile),
      (error) => {
        console.error(error);
        if (!this.firstDrawn) this.fail(`The map could not be loaded. ${error.message}`);
      },
    );

    this.fitZoom = this.computeFitZoom();
    const minZoom = this.fitZoom - ZOOM_OUT;
    const maxZoom = this.fitZoom + ZOOM_IN;
    const url = readUrlView(window.location.search, { features: this.manifest.counts.features, minZoom, maxZoom });
    const [bx0, by0, bx1, by1] = this.manifest.bounds;
    const [cx, cy] = url.x !== undefined && url.y !== undefined ? [url.x, url.y] : [(bx0 + bx1) / 2, (by0 + by1) / 2];
    this.view = {
      target: [cx * WORLD_SCALE, cy * WORLD_SCALE, 0],
      zoom: url.z ?? this.fitZoom,
      minZoom,
      maxZoom,
    };

    this.createDeck();
    const splitConfigs = readSplitConfigs(this.mapEl);
    if (splitConfigs.length > 0) this.splits = new SplitsLayer(splitConfigs, () => this.render());
    if (this.manifest.regions) {
      this.regions = new RegionLayer(this.mapEl, this.dataBase, this.pageBase, this.manifest, () =>
        [".map-legend", ".map-controls", "[data-panel]", ".map-region-card", ".fiv-toggle", ".fiv-panel"].flatMap((sel) => [...this.root.querySelectorAll<HTMLElement>(sel)]),
      );
    }
    this.bindUi();

    // `?r=<slug>` (the region pages' "show on map") fits the map to the region, unless the link
    // also carries a view of its own.
    const r = new URLSearchParams(window.location.search).get("r");
    if (r && SLUG.test(r) && this.regions) {
      const keepView = url.x !== undefined;
      void this.regions
        .find(r)
        .then((region) => {
          if (!region) return;
          if (keepView) this.focusRegion(region);
          else void this.fitRegion(region, 0);
        })
        .catch((error: unknown) => console.warn(`region "${r}" could not be shown:`, error));
    }

    if (url.f !== undefined) {
      // `?f=<id>` alone (the "show on map" links) centres on the feature; with x/y it only selects.
      const centre = url.x === undefined;
      void this.select(url.f).then(() => {
        if (centre && this.selectedPos) void this.setView(this.centredOn(this.selectedPos, url.z ?? this.fitZoom + FLY_ZOOM));
      });
    }

    // The root first: it sets the colour scale, and every other tile is its descendant.
    const root = await this.store.request("0/0/0");
    if (root) this.updateTiles();
  }

  // ---- deck.gl ----

  private createDeck(): void {
    this.deck = new Deck<OrthographicView>({
      parent: this.mapEl,
      views: new OrthographicView({ id: "map", flipY: false, controller: { keyboard: true, inertia: 300 } }),
      viewState: this.view,
      layers: [],
      pickingRadius: 6,
      useDevicePixels: true,
      onViewStateChange: ({ viewState, interactionState }) => {
        this.view = viewState as View;
        this.deck?.setProps({ viewState: this.view });
        this.updateTiles();
        this.scheduleUrl();
        if (interactionState?.isDragging || interactionState?.isZooming) this.hideTooltip();
        return viewState;
      },
      onResize: () => this.updateTiles(),
      onHover: (info) => this.onHover(info),
      onClick: (info) => this.onClick(info),
      onAfterRender: () => this.onAfterRender(),
      onError: (error) => {
        console.error(error);
        if (!this.firstDrawn) {
          const webgl = /webgl|context/i.test(error.message);
          this.fail(webgl ? "This browser could not start WebGL 2, which the map needs." : `The map could not be drawn: ${error.message}`);
        }
      },
      getCursor: ({ isDragging, isHovering }) =>
        isDragging ? "grabbing" : isHovering || this.regions?.hovered ? "pointer" : "grab",
    });
    const canvas = this.mapEl.querySelector("canvas");
    if (canvas) {
      canvas.tabIndex = 0;
      canvas.setAttribute("role", "application");
      canvas.setAttribute("aria-roledescription", "map");
      canvas.setAttribute(
        "aria-label",
        `Map of ${formatCount(this.manifest.counts.features)} features. Arrow keys pan, plus and minus zoom, Enter selects the feature nearest the centre.`,
      );
      canvas.addEventListener("keydown", (e) => {
        if (e.key !== "Enter") return;
        const info = this.deck?.pickObject({ x: this.width() / 2, y: this.height() / 2, radius: 40 });
        const hit = info ? this.pointAt(info) : null;
        if (hit) void this.select(hit.tile.ids[hit.index]!);
      });
    }
  }

  private width(): number {
    return this.deck?.width || this.mapEl.clientWidth || window.innerWidth;
  }

  private height(): number {
    return this.deck?.height || this.mapEl.clientHeight || window.innerHeight;
  }

  private computeFitZoom(): number {
    const [x0, y0, x1, y1] = this.manifest.bounds;
    const w = Math.max(1e-6, x1 - x0);
    const h = Math.max(1e-6, y1 - y0);
    const scale = Math.min(this.width() / w, this.height() / h) * 0.88;
    return Math.log2(Math.max(1e-6, scale / WORLD_SCALE));
  }

  /** CSS pixels per layout unit. */
  private pixelsPerUnit(zoom: number = this.view.zoom): number {
    return 2 ** zoom * WORLD_SCALE;
  }

  /** The view's centre in layout units. */
  private centre(): [number, number] {
    return [this.view.target[0] / WORLD_SCALE, this.view.target[1] / WORLD_SCALE];
  }

  /** The visible rectangle in layout units. */
  private viewRect(): Rect {
    const scale = this.pixelsPerUnit();
    const hw = this.width() / 2 / scale;
    const hh = this.height() / 2 / scale;
    const [cx, cy] = this.centre();
    return [cx - hw, cy - hh, cx + hw, cy + hh];
  }

  /** Move the view to centre `next.centre` (layout units) at `next.zoom`, animated when durationMs > 0. */
  private setView(next: { centre: [number, number]; zoom: number }, durationMs = 0): Promise<void> {
    const done = deferred();
    const zoom = Math.min(this.view.maxZoom, Math.max(this.view.minZoom, next.zoom));
    const target: [number, number, number] = [next.centre[0] * WORLD_SCALE, next.centre[1] * WORLD_SCALE, 0];
    const view: View = { target, zoom, minZoom: this.view.minZoom, maxZoom: this.view.maxZoom };
    if (durationMs > 0 && !reducedMotion()) {
      Object.assign(view, {
        transitionDuration: durationMs,
        transitionInterpolator: new LinearInterpolator({ transitionProps: ["target", "zoom"] }),
        transitionEasing: (t: number) => 1 - (1 - t) ** 3,
        onTransitionEnd: () => done.resolve(),
        onTransitionInterrupt: () => done.resolve(),
      });
      this.view = view;
      this.deck?.setProps({ viewState: view });
    } else {
      this.view = view;
      this.deck?.setProps({ viewState: view });
      this.updateTiles();
      this.scheduleUrl();
      done.resolve();
    }
    return done.promise;
  }

  // ---- tiles and layers ----

  private onTileLoaded(tile: LoadedTile): void {
    if (tile.key === "0/0/0") {
      this.domain = densityDomain(tile.log10Density);
      this.renderLegend();
    }
    this.tileData.set(tile.key, this.makeTileData(tile));
    if (this.selectedRecord) this.refreshMarks();
    this.updateTiles();
  }

  private makeTileData(tile: LoadedTile): TileData {
    return {
      length: tile.length,
      attributes: {
        getPosition: { value: tile.positions, size: 2 },
        getFillColor: { value: fillColors(tile.log10Density, this.domain, this.theme), size: 4, normalized: true },
      },
    };
  }

  private updateTiles(): void {
    if (!this.store || !this.deck) return;
    this.wanted = selectTiles(this.store.infos, this.viewRect(), this.pixelsPerUnit());
    for (const key of this.wanted) void this.store.request(key);
    this.regions?.update({
      centre: this.centre(),
      pixelsPerUnit: this.pixelsPerUnit(),
      width: this.width(),
      height: this.height(),
      pointRadius: this.pointRadius(),
    });
    this.render();
  }

  private pointRadius(): number {
    // Grows gently with zoom: the tiles add points as one zooms in, so the screen never fills up.
    const r = 2.2 * 2 ** ((this.view.zoom - this.fitZoom) / 3);
    return Math.min(7, Math.max(1.8, r));
  }

  private render(): void {
    if (!this.deck) return;
    const radius = this.pointRadius();
    const dark = this.theme === "dark";
    const layers: Layer[] = [];
    this.tileLayers = [];
    for (const key of this.wanted) {
      const data = this.tileData.get(key);
      if (!data) continue;
      const layer = new PointLayer({
        id: `tile-${key}`,
        data,
        modelMatrix: MODEL_MATRIX,
        radiusUnits: "pixels",
        radiusScale: radius,
        getRadius: 1,
        stroked: false,
        pickable: true,
        autoHighlight: true,
        highlightColor: dark ? [255, 255, 255, 235] : [20, 22, 30, 235],
      });
      this.tileLayers.push(layer);
      layers.push(layer);
    }
    layers.push(...this.selectionLayers(radius, dark), ...(this.splits?.layers(this.pixelsPerUnit(), radius, dark, MODEL_MATRIX) ?? []));
    this.deck.setProps({ layers });
    this.inView?.refresh();
  }

  private selectionLayers(radius: number, dark: boolean): Layer[] {
    if (!this.selectedPos) return [];
    const ring: [number, number, number, number] = dark ? [255, 255, 255, 255] : [17, 19, 26, 255];
    const layers: Layer[] = [];
    if (this.markedData.length > 0) {
      layers.push(
        new ScatterplotLayer<[number, number]>({
          id: "selection-neighbours",
          data: this.markedData,
          modelMatrix: MODEL_MATRIX,
          getPosition: (d) => d,
          radiusUnits: "pixels",
          getRadius: radius + 3,
          filled: false,
          stroked: true,
          lineWidthUnits: "pixels",
          getLineWidth: 1.5,
          getLineColor: [ring[0], ring[1], ring[2], 150],
          updateTriggers: { getRadius: radius, getLineColor: dark },
        }),
      );
    }
    layers.push(
      new ScatterplotLayer<[number, number]>({
        id: "selection",
        data: this.selectedData,
        modelMatrix: MODEL_MATRIX,
        getPosition: (d) => d,
        radiusUnits: "pixels",
        getRadius: radius + 6,
        filled: false,
        stroked: true,
        lineWidthUnits: "pixels",
        getLineWidth: 2.5,
        getLineColor: ring,
        updateTriggers: { getRadius: radius, getLineColor: dark },
      }),
    );
    return layers;
  }

  /** Refresh the ring data: the selected point, and its neighbours that are in loaded tiles. */
  private refreshMarks(): void {
    this.selectedData = this.selectedPos ? [this.selectedPos] : [];
    const marked: [number, number][] = [];
    for (const n of this.selectedRecord?.neighbours.slice(0, NEIGHBOURS_MARKED) ?? []) {
      const hit = this.store.find(n.id);
      if (hit) marked.push([hit.tile.positions[hit.index * 2]!, hit.tile.positions[hit.index * 2 + 1]!]);
    }
    this.markedData = marked;
  }

  private onAfterRender(): void {
    let n = 0;
    const keys: string[] = [];
    for (const layer of this.tileLayers) {
      if (!layer.isLoaded) continue;
      n += (layer.props.data as unknown as TileData).length;
      keys.push(layer.id.slice(5));
    }
    this.drawn = n;
    this.drawnKeys = keys;
    if (n > 0 && !this.firstDrawn) {
      this.firstDrawn = true;
      this.status.hidden = true;
      this.root.dataset["ready"] = "true";
      this.readyDeferred.resolve();
    }
  }

  private drawnIn(rect: Rect): number {
    let n = 0;
    for (const key of this.drawnKeys) {
      const p = this.store.get(key)?.positions;
      if (!p) continue;
      for (let i = 0; i < p.length; i += 2) if (p[i]! >= rect[0] && p[i]! <= rect[2] && p[i + 1]! >= rect[1] && p[i + 1]! <= rect[3]) n++;
    }
    return n;
  }

  private screenPosition(id: number): { x: number; y: number } | null {
    if (!this.deck || !this.store) return null;
    for (const key of this.drawnKeys) {
      const tile = this.store.get(key);
      const index = tile ? tile.ids.indexOf(id) : -1;
      if (!tile || index < 0) continue;
      return this.project([tile.positions[index * 2]!, tile.positions[index * 2 + 1]!]);
    }
    return null;
  }

  /** Viewport CSS pixels of a point in layout units. */
  private project(pos: [number, number]): { x: number; y: number } {
    const viewport = this.deck?.getViewports()[0];
    if (!viewport || !this.deck) return { x: NaN, y: NaN };
    const [px, py] = viewport.project([pos[0] * WORLD_SCALE, pos[1] * WORLD_SCALE]) as [number, number];
    const rect = this.deck.getCanvas()?.getBoundingClientRect() ?? this.mapEl.getBoundingClientRect();
    return { x: rect.left + px, y: rect.top + py };
  }

  // ---- hover, click, selection ----

  private pointAt(info: PickingInfo): { tile: LoadedTile; index: number } | null {
    const id = info.layer?.id;
    if (!info.picked || !id?.startsWith("tile-") || info.index < 0) return null;
    const tile = this.store.get(id.slice(5));
    return tile && info.index < tile.length ? { tile, index: info.index } : null;
  }

  private onHover(info: PickingInfo): void {
    // A region name covers the points under it, so it wins over them.
    const region = info.x >= 0 && info.y >= 0 ? (this.regions?.labelAt(info.x, info.y) ?? null) : null;
    this.regions?.setHovered(region);
    if (region) {
      const kind = this.regions!.levelName(region.level);
      this.showTooltip(info, region.name, `${kind.charAt(0).toUpperCase()}${kind.slice(1)} of ${formatCount(region.members)} features · click to zoom in`);
      return;
    }
    const split = this.splits?.hover(info);
    if (split) return this.showTooltip(info, split.heading, split.detail);
    const hit = this.pointAt(info);
    if (!hit) {
      this.hideTooltip();
      return;
    }
    const id = hit.tile.ids[hit.index]!;
    const label = hit.tile.labels.get(hit.index) ?? "";
    this.showTooltip(info, featureName(id, label), `#${id} · ${describeLog10Density(hit.tile.log10Density[hit.index]!)}`);
  }

  private showTooltip(info: PickingInfo, heading: string, detail: string): void {
    const title = document.createElement("strong");
    title.textContent = heading;
    const meta = document.createElement("span");
    meta.textContent = detail;
    this.tooltip.replaceChildren(title, meta);
    this.tooltip.hidden = false;
    // Keep the tooltip on the uncovered map: flip it left/up near the right/bottom edge, where the
    // side panel (or bottom sheet) counts as the edge.
    const pad = 14;
    const w = this.tooltip.offsetWidth;
    const h = this.tooltip.offsetHeight;
    let right = this.width();
    let bottom = this.height();
    if (!this.panel.hidden) {
      const map = this.mapEl.getBoundingClientRect();
      const panel = this.panel.getBoundingClientRect();
      if (panel.width > map.width * 0.8) bottom = Math.min(bottom, panel.top - map.top);
      else right = Math.min(right, panel.left - map.left);
    }
    const x = info.x + pad + w > right ? info.x - pad - w : info.x + pad;
    const y = info.y + pad + h > bottom ? info.y - pad - h : info.y + pad;
    this.tooltip.style.transform = `translate(${Math.max(4, x)}px, ${Math.max(4, y)}px)`;
  }

  private hideTooltip(): void {
    this.tooltip.hidden = true;
  }

  private onClick(info: PickingInfo): void {
    // Split partners are drawn over everything, region names included.
    if (this.splits?.click(info)) return;
    const region = this.regions?.labelAt(info.x, info.y);
    if (region) {
      this.hideTooltip();
      void this.fitRegion(region, FLY_MS);
      return;
    }
    const hit = this.pointAt(info);
    if (hit) void this.select(hit.tile.ids[hit.index]!);
    else {
      if (this.selectedId !== null) void this.select(null);
      this.focusRegion(null);
    }
  }

  // ---- regions ----

  /** Fit the view to a region (left of the panel, if open) and focus it. */
  private fitRegion(region: Region, durationMs: number): Promise<void> {
    this.focusRegion(region);
    const [x0, y0, x1, y1] = region.bounds;
    let w = this.width();
    let h = this.height();
    if (!this.panel.hidden) {
      const map = this.mapEl.getBoundingClientRect();
      const panel = this.panel.getBoundingClientRect();
      if (panel.width > map.width * 0.8) h -= Math.max(0, map.bottom - panel.top);
      else w -= Math.max(0, map.right - panel.left);
    }
    // The region card floats over the top of the map: keep the region below it.
    const card = this.regionCard?.getBoundingClientRect();
    const top = card ? Math.max(FIT_PADDING, card.bottom - this.mapEl.getBoundingClientRect().top + 12) : FIT_PADDING;
    const scale = Math.min((w - 2 * FIT_PADDING) / Math.max(1e-6, x1 - x0), (h - top - FIT_PADDING) / Math.max(1e-6, y1 - y0));
    const zoom = Math.log2(Math.max(1e-6, scale) / WORLD_SCALE);
    const view = this.centredOn([(x0 + x1) / 2, (y0 + y1) / 2], zoom);
    // Screen y grows downwards: moving the region down by half the extra top margin moves the centre up.
    view.centre[1] += (top - FIT_PADDING) / 2 / this.pixelsPerUnit(view.zoom);
    return this.setView(view, durationMs);
  }

  /** Outline a region and show its card (null clears both). */
  private focusRegion(region: Region | null): void {
    if (!this.regions || region?.slug === this.regions.focused?.slug) return;
    this.regions.setFocused(region);
    this.renderRegionCard(region);
    this.regions.relayout();
    this.scheduleUrl();
  }

  /** The card of the focused region: what it is, and a way to its page. Text only, from textContent. */
  private renderRegionCard(region: Region | null): void {
    if (!region) {
      this.regionCard?.remove();
      this.regionCard = null;
      return;
    }
    if (!this.regionCard) {
      this.regionCard = document.createElement("section");
      this.regionCard.className = "map-region-card";
      this.regionCard.setAttribute("aria-label", "Region");
      this.root.append(this.regionCard);
    }
    const kind = document.createElement("p");
    kind.className = "region-card-kind";
    kind.textContent = `${this.regions!.levelName(region.level)} · ${formatCount(region.members)} features`;
    const name = document.createElement("a");
    name.className = "region-card-name";
    name.href = this.regions!.regionHref(region.slug);
    name.textContent = region.name;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "icon-button region-card-close";
    close.setAttribute("aria-label", "Close the region card");
    close.title = "Close";
    close.textContent = "×";
    close.addEventListener("click", () => this.focusRegion(null));
    this.regionCard.replaceChildren(kind, name, close);
  }

  /** Select a feature (null clears). Resolves once the panel shows it. */
  async select(id: number | null): Promise<void> {
    const token = ++this.selectToken;
    this.selectedId = id;
    this.selectedRecord = null;
    this.scheduleUrl();
    void this.splits?.select(null, null, null);
    if (id === null) {
      this.selectedPos = null;
      this.refreshMarks();
      this.panel.hidden = true;
      this.root.classList.remove("has-panel");
      this.regions?.relayout();
      this.render();
      return;
    }
    const hit = this.store?.find(id);
    this.selectedPos = hit ? [hit.tile.positions[hit.index * 2]!, hit.tile.positions[hit.index * 2 + 1]!] : null;
    this.panel.hidden = false;
    this.root.classList.add("has-panel");
    this.regions?.relayout();
    this.panel.dataset["featureId"] = String(id);
    renderMessage(this.panelBody, id, "Loading…");
    this.refreshMarks();
    this.render();
    let record: FeatureRecord | null = null;
    try {
      record = await loadFeature(this.dataBase, this.manifest, id);
    } catch (error) {
      if (token !== this.selectToken) return;
      console.error(error);
      renderMessage(this.panelBody, id, "This feature's details could not be loaded.");
      return;
    }
    if (token !== this.selectToken) return;
    if (!record) {
      renderMessage(this.panelBody, id, "This atlas has no such feature.");
      return;
    }
    this.selectedRecord = record;
    this.selectedPos ??= [record.x, record.y];
    renderFeature(this.panelBody, record, {
      featureHref: (n) => `${this.pageBase}feature/${n}/`,
      onNeighbour: (n) => void this.flyTo(n),
    });
    this.panelBody.scrollTop = 0;
    void this.splits?.select(id, this.selectedPos, this.panelBody);
    this.refreshMarks();
    this.render();
  }

  /** Centre on a feature (zooming in if far out) and select it. */
  async flyTo(id: number): Promise<void> {
    const selecting = this.select(id);
    let pos = this.selectedPos;
    if (!pos) {
      await selecting;
      pos = this.selectedPos;
    }
    if (!pos || this.selectedId !== id) return;
    const zoom = Math.max(this.view.zoom, this.fitZoom + FLY_ZOOM);
    await Promise.all([this.setView(this.centredOn(pos, zoom), FLY_MS), selecting]);
  }

  /**
   * The view that shows `pos` in the middle of the part of the map the panel leaves uncovered
   * (left of the side panel, above the bottom sheet).
   */
  private centredOn(pos: [number, number], zoom: number): { centre: [number, number]; zoom: number } {
    const z = Math.min(this.view.maxZoom, Math.max(this.view.minZoom, zoom));
    const scale = this.pixelsPerUnit(z);
    let dx = 0;
    let dy = 0;
    if (!this.panel.hidden) {
      const map = this.mapEl.getBoundingClientRect();
      const panel = this.panel.getBoundingClientRect();
      const sheet = panel.width > map.width * 0.8;
      if (sheet) dy = -Math.max(0, map.bottom - panel.top) / 2;
      else dx = -Math.max(0, map.right - panel.left) / 2;
    }
    // Screen y grows downwards, layout y upwards.
    return { centre: [pos[0] - dx / scale, pos[1] + dy / scale], zoom: z };
  }

  // ---- page chrome ----

  private scheduleUrl(): void {
    clearTimeout(this.urlTimer);
    this.urlTimer = setTimeout(() => {
      const [x, y] = this.centre();
      const next = new URL(writeUrlView(window.location.href, { x, y, z: this.view.zoom }, this.selectedId, this.pixelsPerUnit()), window.location.href);
      // `r` stays in the URL while its region is in focus, so a shared link shows the same outline.
      const focused = this.regions?.focused?.slug;
      if (focused) next.searchParams.set("r", focused);
      else next.searchParams.delete("r");
      window.history.replaceState(window.history.state, "", next.pathname + next.search + next.hash);
    }, URL_DEBOUNCE_MS);
  }

  private renderLegend(): void {
    if (!this.legend) return;
    const bar = this.legend.querySelector<HTMLElement>("[data-legend-bar]");
    const lo = this.legend.querySelector<HTMLElement>("[data-legend-lo]");
    const hi = this.legend.querySelector<HTMLElement>("[data-legend-hi]");
    if (!this.domain) {
      this.legend.hidden = true;
      return;
    }
    const pct = (log10: number): string => {
      const p = 10 ** log10 * 100;
      return `${new Intl.NumberFormat("en-US", { maximumSignificantDigits: 1 }).format(p)} %`;
    };
    if (bar) bar.style.background = rampGradient(this.theme);
    if (lo) lo.textContent = pct(this.domain[0]);
    if (hi) hi.textContent = pct(this.domain[1]);
    this.legend.hidden = false;
  }

  /** The list alternative to the map ("Features in view"), see features-in-view.ts. */
  private inView: { refresh(): void } | null = null;

  private bindUi(): void {
    this.inView = mountFeaturesInView(this.root, {
      tiles: () => this.wanted.map((key) => this.store.get(key)),
      rect: () => this.viewRect(),
      select: (id) => void this.flyTo(id),
    });
    window.addEventListener(SEARCH_SELECT_EVENT, (event) => {
      const { detail } = event as CustomEvent<SearchSelectDetail>;
      if (detail.atlas !== this.atlasId) return;
      event.preventDefault();
      void this.flyTo(detail.id);
    });
    window.addEventListener(REGION_SELECT_EVENT, (event) => {
      const { detail } = event as CustomEvent<RegionSelectDetail>;
      if (detail.atlas !== this.atlasId || !this.regions) return;
      event.preventDefault();
      void this.regions
        .find(detail.slug)
        .then((region) => region && this.fitRegion(region, FLY_MS))
        .catch((error: unknown) => console.warn(`region "${detail.slug}" could not be shown:`, error));
    });

    this.root.querySelector("[data-panel-close]")?.addEventListener("click", () => void this.select(null));
    document.addEventListener("keydown", (e) => {
      if (e.key !== "Escape") return;
      const target = e.target as HTMLElement | null;
      if (target?.closest("[data-search]")) return;
      // Esc peels one thing at a time: the selected feature first, then the focused region.
      if (this.selectedId !== null) void this.select(null);
      else this.focusRegion(null);
    });

    const zoomBy = (d: number): void => void this.setView({ centre: this.centre(), zoom: this.view.zoom + d }, 250);
    this.root.querySelector("[data-zoom-in]")?.addEventListener("click", () => zoomBy(1));
    this.root.querySelector("[data-zoom-out]")?.addEventListener("click", () => zoomBy(-1));
    this.root.querySelector("[data-zoom-fit]")?.addEventListener("click", () => {
      const [x0, y0, x1, y1] = this.manifest.bounds;
      void this.setView({ centre: [(x0 + x1) / 2, (y0 + y1) / 2], zoom: this.computeFitZoom() }, 400);
    });

    onThemeChange((theme) => {
      this.theme = theme;
      for (const tile of this.store.all()) this.tileData.set(tile.key, this.makeTileData(tile));
      this.renderLegend();
      this.render();
    });

    this.mapEl.addEventListener("pointerleave", () => {
      this.hideTooltip();
      this.regions?.setHovered(null);
    });
  }

  private fail(message: string): void {
    this.status.hidden = false;
    this.status.classList.add("error");
    const more = document.createElement("span");
    more.className = "status-more";
    const link = document.createElement("a");
    link.href = `${this.pageBase}feature/0/`;
    link.textContent = "browse the features page by page";
    more.append("You can still ", link, ", or search for one above.");
    this.status.replaceChildren(message, more);
  }
}

const root = document.querySelector<HTMLElement>("[data-map-root]");
if (root) {
  const map = new AtlasMap(root);
  // Not a declared Window property: the e2e tests declare their own view of it.
  (window as unknown as { __atlas: AtlasTestApi }).__atlas = map.api;
  void map.start();
}
