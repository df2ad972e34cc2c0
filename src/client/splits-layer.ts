/**
 * Feature splitting on the map: with a feature selected, a section in the panel lists its
 * partners in the other widths of the same dictionary (contract/splits.ts), and a toggle draws
 * them on the map.
 *
 * Where they are drawn: around the selected point, as a small constellation joined to it by lines.
 * The partners live in the other atlas's layout, which is a different UMAP run, so their own
 * coordinates mean nothing on this map; their arrangement relative to each other does. So each
 * partner is placed at the selected point plus its offset from the partners' centre in the other
 * layout, scaled to a fixed size on screen (CONSTELLATION_PX). Clicking one opens the other
 * atlas's map on it.
 *
 * The toggle is a button with aria-pressed in the panel (keyboard: Tab, Enter/Space); its state is
 * `?splits=1` in the URL, which the map's own URL writer keeps (it rewrites only its own keys).
 * Everything from the files is untrusted text: textContent only.
 */
import { LineLayer, ScatterplotLayer } from "@deck.gl/layers";
import type { Layer, PickingInfo } from "@deck.gl/core";
import type { SplitPartner, SplitShard, SplitsIndex } from "../../contract/splits.ts";
import { featureName, formatCosine, formatCount } from "../lib/format.ts";

/** One other width, as the map page lists it in `data-splits`. */
export interface SplitConfig {
  pair: string;
  relation: "children" | "parents";
  side: "small" | "large";
  other: { id: string; title: string; features: number };
  /** URL of the pair folder, ending in `/`. */
  url: string;
  /** URL of the other atlas's map page, ending in `/`. */
  mapUrl: string;
  /** URL of the other atlas's pages, ending in `/` (feature pages are `feature/<id>/` below it). */
  pageUrl: string;
}

/** A partner as drawn: which atlas, which feature, and where (layout units of this map). */
export interface DrawnPartner {
  atlas: string;
  id: number;
  position: [number, number];
}

/** How far the constellation reaches from the selected point, in CSS pixels. */
const CONSTELLATION_PX = 70;
const URL_KEY = "splits";

const indexes = new Map<string, Promise<SplitsIndex>>();
const shards = new Map<string, Promise<SplitShard>>();

async function fetchJson<T>(url: string, cache: Map<string, Promise<T>>): Promise<T> {
  let pending = cache.get(url);
  if (!pending) {
    pending = fetch(url).then((r) => {
      if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
      return r.json() as Promise<T>;
    });
    pending.catch(() => cache.delete(url));
    cache.set(url, pending);
  }
  return pending;
}

async function partnersOf(config: SplitConfig, id: number): Promise<SplitPartner[]> {
  const index = await fetchJson(`${config.url}splits.json`, indexes);
  const info = index[config.side].shards.find((s) => id >= s.first && id < s.first + s.count);
  if (!info) return [];
  const shard = await fetchJson(`${config.url}${info.path}`, shards);
  return shard.features[id - shard.first] ?? [];
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function readSplitConfigs(mapEl: HTMLElement): SplitConfig[] {
  try {
    const parsed = JSON.parse(mapEl.dataset["splits"] ?? "[]") as SplitConfig[];
    return Array.isArray(parsed) ? parsed : [];
  } catch {
    return [];
  }
}

export class SplitsLayer {
  private on: boolean;
  private selected: { id: number; pos: [number, number] | null } | null = null;
  private partners: { config: SplitConfig; list: SplitPartner[] }[] = [];
  private token = 0;
  private drawnNow: DrawnPartner[] = [];
  private readonly buttons = new Set<HTMLButtonElement>();

  constructor(
    private readonly configs: SplitConfig[],
    /** Redraw the map (the layers changed). */
    private readonly redraw: () => void,
  ) {
    this.on = new URLSearchParams(window.location.search).get(URL_KEY) === "1";
  }

  get enabled(): boolean {
    return this.on;
  }

  /** Partners drawn in the last `layers` call (test hook). */
  drawn(): DrawnPartner[] {
    return this.drawnNow;
  }

  setEnabled(on: boolean): void {
    this.on = on;
    const url = new URL(window.location.href);
    if (on) url.searchParams.set(URL_KEY, "1");
    else url.searchParams.delete(URL_KEY);
    window.history.replaceState(window.history.state, "", url.pathname + url.search + url.hash);
    for (const b of this.buttons) this.syncButton(b);
    this.redraw();
  }

  /**
   * A feature was selected (null: cleared), and its panel is `body` (already filled). Appends the
   * splits section to the panel once the partners are loaded.
   */
  async select(id: number | null, pos: [number, number] | null, body: HTMLElement | null): Promise<void> {
    const token = ++this.token;
    this.selected = id === null ? null : { id, pos };
    this.partners = [];
    this.buttons.clear();
    if (id === null || this.configs.length === 0) {
      this.redraw();
      return;
    }
    let loaded: { config: SplitConfig; list: SplitPartner[] }[];
    try {
      loaded = await Promise.all(this.configs.map(async (config) => ({ config, list: await partnersOf(config, id) })));
    } catch (error) {
      console.warn("feature splits could not be loaded:", error);
      return;
    }
    if (token !== this.token) return;
    this.partners = loaded;
    if (body) body.append(this.section());
    this.redraw();
  }

  /** The selected point moved into view (its tile loaded after the selection). */
  setPosition(pos: [number, number] | null): void {
    if (this.selected && pos) this.selected.pos = pos;
  }

  private syncButton(b: HTMLButtonElement): void {
    b.setAttribute("aria-pressed", String(this.on));
    b.textContent = this.on ? "Hide on the map" : "Show on the map";
  }

  private section(): HTMLElement {
    const wrap = el("section", "panel-splits");
    wrap.dataset["splits"] = "";
    wrap.setAttribute("aria-label", "Across widths");
    for (const { config, list } of this.partners) {
      const width = `${formatCount(config.other.features)}-feature dictionary`;
      const mutual = list.filter((p) => p.mutual);
      const children = config.relation === "children";
      const shown = children ? (mutual.length > 0 ? mutual : list.slice(0, 3)) : list.slice(0, 3);
      const heading = children
        ? mutual.length > 0
          ? `In the ${width} this feature splits into`
          : `In the ${width}, nearest`
        : `In the ${width} this feature is part of`;
      const h = el("h3", undefined, heading);
      const ol = el("ol", "panel-neighbours");
      for (const p of shown) {
        const li = el("li");
        const a = el("a", "neighbour");
        a.href = `${config.pageUrl}feature/${p.id}/`;
        a.dataset["splitLink"] = String(p.id);
        a.append(el("span", "n-label", featureName(p.id, p.label)), el("span", "n-id", `#${p.id}`));
        const value = el("span", "value", formatCosine(p.cosine));
        value.title = "cosine similarity";
        li.append(a, value);
        ol.append(li);
      }
      wrap.append(h, ol);
    }
    if (this.partners.some((p) => p.list.length > 0)) {
      const row = el("p", "panel-actions");
      const button = el("button", "button");
      button.type = "button";
      button.dataset["splitsToggle"] = "";
      button.title = "Draw them around the selected feature, arranged as they lie on their own map";
      this.syncButton(button);
      button.addEventListener("click", () => this.setEnabled(!this.on));
      this.buttons.add(button);
      row.append(button);
      wrap.append(row);
    }
    return wrap;
  }

  /** The deck.gl layers for the current frame (none unless toggled on with partners loaded). */
  layers(pixelsPerUnit: number, radius: number, dark: boolean, modelMatrix: Float32Array): Layer[] {
    this.drawnNow = [];
    const pos = this.selected?.pos;
    if (!this.on || !pos) return [];
    const reach = CONSTELLATION_PX / pixelsPerUnit;
    const drawn: (DrawnPartner & { label: string; mutual: boolean })[] = [];
    for (const { config, list } of this.partners) {
      const shown = config.relation === "children" ? list.filter((p) => p.mutual) : list.slice(0, 1);
      const use = shown.length > 0 ? shown : list.slice(0, 1);
      if (use.length === 0) continue;
      const cx = use.reduce((a, p) => a + p.x, 0) / use.length;
      const cy = use.reduce((a, p) => a + p.y, 0) / use.length;
      const spread = Math.max(1e-9, ...use.map((p) => Math.hypot(p.x - cx, p.y - cy)));
      use.forEach((p, i) => {
        // A lone partner (or several at one spot) gets a fixed direction, so it never hides under the selection.
        const single = use.length === 1 || spread < 1e-6;
        const angle = (i / Math.max(1, use.length)) * 2 * Math.PI + Math.PI / 4;
        const dx = single ? Math.cos(angle) * reach * 0.7 : ((p.x - cx) / spread) * reach;
        const dy = single ? Math.sin(angle) * reach * 0.7 : ((p.y - cy) / spread) * reach;
        drawn.push({ atlas: config.other.id, id: p.id, position: [pos[0] + dx, pos[1] + dy], label: featureName(p.id, p.label), mutual: p.mutual });
      });
    }
    this.drawnNow = drawn.map(({ atlas, id, position }) => ({ atlas, id, position }));
    if (drawn.length === 0) return [];
    const ink: [number, number, number] = dark ? [250, 204, 21] : [180, 83, 9];
    return [
      new LineLayer<(typeof drawn)[number]>({
        id: "splits-lines",
        data: drawn,
        modelMatrix,
        getSourcePosition: () => pos,
        getTargetPosition: (d) => d.position,
        getColor: [...ink, 170],
        getWidth: 1.5,
        widthUnits: "pixels",
        updateTriggers: { getSourcePosition: pos, getColor: dark },
      }),
      new ScatterplotLayer<(typeof drawn)[number]>({
        id: "splits-partners",
        data: drawn,
        modelMatrix,
        getPosition: (d) => d.position,
        radiusUnits: "pixels",
        getRadius: radius + 3,
        getFillColor: [...ink, 235],
        stroked: true,
        lineWidthUnits: "pixels",
        getLineWidth: 1.5,
        getLineColor: dark ? [17, 19, 26, 255] : [255, 255, 255, 255],
        pickable: true,
        updateTriggers: { getRadius: radius, getFillColor: dark, getLineColor: dark },
      }),
    ];
  }

  /** Tooltip text for a picked partner, or null when the pick is not one. */
  hover(info: PickingInfo): { heading: string; detail: string } | null {
    const p = this.picked(info);
    if (!p) return null;
    const config = this.configs.find((c) => c.other.id === p.atlas)!;
    const partner = this.partners.find((x) => x.config === config)?.list.find((x) => x.id === p.id);
    return {
      heading: featureName(p.id, partner?.label ?? null),
      detail: `#${p.id} in the ${formatCount(config.other.features)}-feature dictionary · cosine ${formatCosine(partner?.cosine ?? 0)} · click to open its map`,
    };
  }

  /** Handle a click; true when it was on a partner (the other atlas's map opens on it). */
  click(info: PickingInfo): boolean {
    const p = this.picked(info);
    if (!p) return false;
    const config = this.configs.find((c) => c.other.id === p.atlas)!;
    window.location.assign(`${config.mapUrl}?f=${p.id}${this.on ? `&${URL_KEY}=1` : ""}`);
    return true;
  }

  private picked(info: PickingInfo): DrawnPartner | null {
    if (!info.picked || info.layer?.id !== "splits-partners" || info.index < 0) return null;
    return this.drawnNow[info.index] ?? null;
  }
}
