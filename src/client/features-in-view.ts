/**
 * The map's text alternative: a "Features in view" button that opens a list of up to 50 features
 * drawn in the current view (nearest the centre first), each a button that selects the feature on
 * the map. Keyboard: Tab to the toggle, Enter opens the list and focuses its first entry, ↑/↓
 * (and Home/End) move, Enter selects, Escape closes and returns focus to the toggle. The list
 * follows the view while it is open. Mounted by map.ts, which passes what it knows through
 * `InViewSource`; this module owns its own DOM.
 */
import { featureName } from "../lib/format.ts";
import "../styles/features-in-view.css";

export interface InViewPoint {
  id: number;
  x: number;
  y: number;
  label: string;
}

/** What a loaded point tile offers (src/client/tiles.ts LoadedTile). */
export interface TileLike {
  ids: Uint32Array;
  /** x, y interleaved. */
  positions: Float32Array;
  labels: { get(index: number): string | null };
}

export interface InViewSource {
  /** The tiles the current view draws (undefined for one still loading). */
  tiles(): Iterable<TileLike | undefined>;
  /** Visible rectangle in layout units: [minX, minY, maxX, maxY]. */
  rect(): [number, number, number, number];
  select(id: number): void;
}

export const IN_VIEW_LIMIT = 50;
const REFRESH_MS = 150;

/** The points of `tiles` inside `rect`, labels read only for those. */
export function* tilePoints(tiles: Iterable<TileLike | undefined>, rect: [number, number, number, number]): Generator<InViewPoint> {
  const [x0, y0, x1, y1] = rect;
  for (const t of tiles) {
    if (!t) continue;
    for (let i = 0; i < t.ids.length; i++) {
      const x = t.positions[2 * i]!;
      const y = t.positions[2 * i + 1]!;
      if (x < x0 || x > x1 || y < y0 || y > y1) continue;
      yield { id: t.ids[i]!, x, y, label: t.labels.get(i) ?? "" };
    }
  }
}

/** The features of `points` inside `rect`, nearest its centre first (ties by id), at most `limit`. */
export function featuresInView(points: Iterable<InViewPoint>, rect: [number, number, number, number], limit = IN_VIEW_LIMIT): InViewPoint[] {
  const [x0, y0, x1, y1] = rect;
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  const seen = new Set<number>();
  const inside: (InViewPoint & { d: number })[] = [];
  for (const p of points) {
    if (seen.has(p.id) || p.x < x0 || p.x > x1 || p.y < y0 || p.y > y1) continue;
    seen.add(p.id);
    inside.push({ ...p, d: (p.x - cx) ** 2 + (p.y - cy) ** 2 });
  }
  inside.sort((a, b) => a.d - b.d || a.id - b.id);
  return inside.slice(0, limit).map(({ id, x, y, label }) => ({ id, x, y, label }));
}

export function mountFeaturesInView(root: HTMLElement, source: InViewSource): { refresh(): void } {
  const wrap = document.createElement("div");
  wrap.className = "fiv";
  const toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = "fiv-toggle";
  toggle.textContent = "Features in view";
  toggle.setAttribute("aria-expanded", "false");
  toggle.setAttribute("aria-controls", "fiv-panel");
  const panel = document.createElement("div");
  panel.id = "fiv-panel";
  panel.className = "fiv-panel";
  panel.hidden = true;
  const heading = document.createElement("h2");
  heading.className = "fiv-title";
  heading.id = "fiv-title";
  const list = document.createElement("ul");
  list.className = "fiv-list";
  list.setAttribute("aria-labelledby", "fiv-title");
  panel.append(heading, list);
  wrap.append(toggle, panel);
  root.append(wrap);

  let open = false;
  let shown: InViewPoint[] = [];

  const render = (): void => {
    const rect = source.rect();
    const next = featuresInView(tilePoints(source.tiles(), rect), rect);
    const same = next.length === shown.length && next.every((p, i) => p.id === shown[i]!.id);
    if (same && list.childElementCount > 0) return;
    const focusedId = (document.activeElement as HTMLElement | null)?.dataset?.["id"];
    shown = next;
    heading.textContent = next.length
      ? `${next.length === IN_VIEW_LIMIT ? `The ${IN_VIEW_LIMIT}` : next.length} features nearest the centre of the view`
      : "No features in view";
    list.replaceChildren(
      ...next.map((p) => {
        const li = document.createElement("li");
        const b = document.createElement("button");
        b.type = "button";
        b.dataset["id"] = String(p.id);
        b.textContent = featureName(p.id, p.label);
        const id = document.createElement("span");
        id.className = "fiv-id";
        id.textContent = ` #${p.id}`;
        b.append(id);
        b.addEventListener("click", () => source.select(p.id));
        li.append(b);
        return li;
      }),
    );
    if (focusedId) list.querySelector<HTMLElement>(`[data-id="${focusedId}"]`)?.focus();
  };

  const setOpen = (value: boolean, focusList = false): void => {
    open = value;
    panel.hidden = !value;
    toggle.setAttribute("aria-expanded", String(value));
    if (value) {
      render();
      if (focusList) list.querySelector<HTMLElement>("button")?.focus();
    }
  };

  toggle.addEventListener("click", () => setOpen(!open, !open));
  panel.addEventListener("keydown", (e) => {
    const buttons = [...list.querySelectorAll<HTMLButtonElement>("button")];
    const at = buttons.indexOf(document.activeElement as HTMLButtonElement);
    let to = -1;
    if (e.key === "ArrowDown") to = Math.min(buttons.length - 1, at + 1);
    else if (e.key === "ArrowUp") to = Math.max(0, at - 1);
    else if (e.key === "Home") to = 0;
    else if (e.key === "End") to = buttons.length - 1;
    else if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      setOpen(false);
      toggle.focus();
      return;
    }
    const target = to >= 0 ? buttons[to] : undefined;
    if (target) {
      e.preventDefault();
      target.focus();
    }
  });

  let timer: ReturnType<typeof setTimeout> | undefined;
  return {
    // Called on every frame the map draws: the list follows once the view settles.
    refresh: () => {
      if (!open) return;
      clearTimeout(timer);
      timer = setTimeout(render, REFRESH_MS);
    },
  };
}
