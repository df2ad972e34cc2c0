/**
 * The content of each preview image: a feature (label, density, its neighbourhood), a region
 * (name, size, its members on the map) or a whole atlas. Node only (reads the layout index).
 */
import type { FeatureRecord, Manifest, Region } from "../../contract/atlas.ts";
import { describeDensity, featureName, formatCount } from "./format.ts";
import { tokenText } from "./feature-view.ts";
import { layoutIndex, neighbourhoodOf } from "./layout-index.ts";
import type { PreviewCard } from "./og-image.ts";
import type { Rect } from "./svg-charts.ts";

function sentence(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export function featureCard(manifest: Manifest, f: FeatureRecord): PreviewCard {
  const index = layoutIndex(manifest.id);
  // Without a label the title already says "Feature #id"; the strongest tokens say more.
  const top = [...new Set(f.examples.slice(0, 8).map((e) => tokenText(e.tokens[e.maxIndex] ?? "")))].slice(0, 4);
  return {
    kicker: manifest.title,
    eyebrow: f.label ? `Feature #${f.id}` : "Unlabelled feature",
    title: featureName(f.id, f.label),
    facts: [sentence(describeDensity(f.density)), ...(top.length && !f.label ? [`Top activations: ${top.join(", ")}`] : [])],
    ...(f.dead ? {} : { map: neighbourhoodOf(index, f) }),
  };
}

/** A square around `bounds`, padded and at least `minSide` wide, so the map keeps its aspect ratio. */
function squareAround(bounds: Rect, pad = 0.15, minSide = 0): Rect {
  const [x0, y0, x1, y1] = bounds;
  const r = Math.max(minSide / 2, (Math.max(x1 - x0, y1 - y0, 1e-4) / 2) * (1 + pad));
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  return [cx - r, cy - r, cx + r, cy + r];
}

export function regionCard(manifest: Manifest, region: Region): PreviewCard {
  const index = layoutIndex(manifest.id);
  // As wide as a feature's mini-map at least, so a small region shows its surroundings too.
  const extent = Math.max(index.bounds[2] - index.bounds[0], index.bounds[3] - index.bounds[1]);
  const window = squareAround(region.bounds, 0.15, 0.12 * extent);
  const centre = { x: region.centroid[0], y: region.centroid[1] };
  const top = region.top.flatMap((id) => {
    const p = index.position(id);
    return p ? [{ id, cosine: 1, ...p }] : [];
  });
  return {
    kicker: manifest.title,
    eyebrow: `Region · ${formatCount(region.members)} features`,
    title: region.name,
    facts: [],
    map: {
      feature: null,
      neighbours: top,
      context: index.pointsIn(window, centre, 200),
      window,
      overview: { points: index.overview, bounds: index.bounds },
    },
  };
}

export function atlasCard(manifest: Manifest): PreviewCard {
  const index = layoutIndex(manifest.id);
  const window = squareAround(manifest.bounds, 0.04);
  const c = { x: (window[0] + window[2]) / 2, y: (window[1] + window[3]) / 2 };
  return {
    kicker: "Feature Atlas",
    eyebrow: `${formatCount(manifest.counts.features)} features`,
    title: manifest.title,
    facts: [[manifest.dictionary.model, manifest.dictionary.hookName].filter(Boolean).join(" · ")].filter(Boolean),
    map: { feature: null, neighbours: [], context: index.overview.length ? index.overview : index.pointsIn(window, c, 300), window },
  };
}
