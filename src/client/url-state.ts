/**
 * The map's view in the URL: `?x=&y=` (centre, layout units), `z` (zoom: 2^z × 256 CSS pixels
 * per layout unit, so the whole layout is 256 px wide at z = 0) and `f` (selected feature id).
 * Anything malformed or out of range is dropped, so a hand-edited or truncated link still opens a
 * working map. Pure; unit-testable.
 */

export interface UrlView {
  x?: number;
  y?: number;
  z?: number;
  f?: number;
}

export interface UrlLimits {
  /** Number of features: valid ids are 0 … features − 1. */
  features: number;
  minZoom: number;
  maxZoom: number;
}

// Layout coordinates live in [0, 1]; a centre a little outside is still a sensible view.
const COORD_MIN = -1;
const COORD_MAX = 2;
const ZOOM_SLACK = 3;

function finite(raw: string | null): number | undefined {
  if (raw === null || raw.trim() === "") return undefined;
  const n = Number(raw);
  return Number.isFinite(n) ? n : undefined;
}

export function readUrlView(search: string, limits: UrlLimits): UrlView {
  const params = new URLSearchParams(search);
  const view: UrlView = {};
  const x = finite(params.get("x"));
  const y = finite(params.get("y"));
  // A centre needs both coordinates; half of one is ignored rather than guessed.
  if (x !== undefined && y !== undefined && x >= COORD_MIN && x <= COORD_MAX && y >= COORD_MIN && y <= COORD_MAX) {
    view.x = x;
    view.y = y;
  }
  // A link made on another screen size may sit just outside this screen's range: clamp that;
  // a zoom far outside it is a broken link, ignored.
  const z = finite(params.get("z"));
  if (z !== undefined && z >= limits.minZoom - ZOOM_SLACK && z <= limits.maxZoom + ZOOM_SLACK) {
    view.z = Math.min(limits.maxZoom, Math.max(limits.minZoom, z));
  }
  const f = params.get("f");
  if (f !== null && /^\d{1,10}$/.test(f) && Number(f) < limits.features) view.f = Number(f);
  return view;
}

/** Enough decimals that the centre is exact to about a pixel at this scale. */
function coordDigits(pixelsPerUnit: number): number {
  return Math.min(9, Math.max(3, Math.ceil(Math.log10(Math.max(1, pixelsPerUnit)))));
}

function trim(s: string): string {
  return s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s;
}

/**
 * `href` with the view written into its query, other parameters kept. `pixelsPerUnit` (CSS
 * pixels per layout unit at this zoom) sets how many decimals x and y need.
 */
export function writeUrlView(
  href: string,
  view: { x: number; y: number; z: number },
  selected: number | null,
  pixelsPerUnit: number,
): string {
  const url = new URL(href);
  const digits = coordDigits(pixelsPerUnit);
  url.searchParams.set("x", trim(view.x.toFixed(digits)));
  url.searchParams.set("y", trim(view.y.toFixed(digits)));
  url.searchParams.set("z", trim(view.z.toFixed(2)));
  if (selected === null) url.searchParams.delete("f");
  else url.searchParams.set("f", String(selected));
  return url.pathname + url.search + url.hash;
}
