/**
 * Point colours from firing density. Viridis is perceptually uniform and reads for colour-blind
 * viewers; each theme uses the part of it that stands out from its background (the dark purple
 * end vanishes on a dark map, the yellow end on a light one).
 */
import type { Theme } from "./theme.ts";

type Rgb = [number, number, number];

// Viridis sampled at 9 even stops (matplotlib's table).
const VIRIDIS: Rgb[] = [
  [68, 1, 84],
  [72, 40, 120],
  [62, 73, 137],
  [49, 104, 142],
  [38, 130, 142],
  [31, 158, 137],
  [53, 183, 121],
  [110, 206, 88],
  [253, 231, 37],
];

const RANGE: Record<Theme, [number, number]> = {
  light: [0.0, 0.8],
  dark: [0.28, 1.0],
};

const UNKNOWN: Record<Theme, Rgb> = {
  light: [150, 155, 165],
  dark: [120, 126, 138],
};

const ALPHA = 215;

function viridis(t: number): Rgb {
  const s = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(s));
  const f = s - i;
  const a = VIRIDIS[i]!;
  const b = VIRIDIS[i + 1]!;
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

/** The colour for position t ∈ [0, 1] of the density domain (0 rare, 1 frequent). */
export function rampColor(t: number, theme: Theme): Rgb {
  const [lo, hi] = RANGE[theme];
  return viridis(lo + (hi - lo) * t);
}

/** CSS linear-gradient stops for the legend. */
export function rampGradient(theme: Theme): string {
  const stops: string[] = [];
  for (let i = 0; i <= 8; i++) {
    const [r, g, b] = rampColor(i / 8, theme).map(Math.round) as Rgb;
    stops.push(`rgb(${r} ${g} ${b}) ${(i / 8) * 100}%`);
  }
  return `linear-gradient(to right, ${stops.join(", ")})`;
}

/** The log10-density range the ramp spans: [lo, hi], from the 2nd to the 98th percentile. */
export type DensityDomain = [number, number];

/** Robust domain of a sample of log10 densities (NaN = unknown is skipped); null when none is known. */
export function densityDomain(log10Density: Float32Array): DensityDomain | null {
  const known = Array.from(log10Density).filter(Number.isFinite).sort((a, b) => a - b);
  if (known.length === 0) return null;
  const at = (q: number): number => known[Math.min(known.length - 1, Math.floor(q * (known.length - 1)))]!;
  let lo = at(0.02);
  let hi = at(0.98);
  if (hi - lo < 1e-6) {
    lo -= 0.5;
    hi += 0.5;
  }
  return [lo, hi];
}

/** RGBA per point, ready to hand to deck.gl as a binary `getFillColor` attribute. */
export function fillColors(log10Density: Float32Array, domain: DensityDomain | null, theme: Theme): Uint8Array {
  const out = new Uint8Array(log10Density.length * 4);
  const unknown = UNKNOWN[theme];
  // 64 precomputed ramp steps: enough to look continuous, and no per-point interpolation.
  const steps = 64;
  const table = new Uint8Array(steps * 3);
  for (let i = 0; i < steps; i++) table.set(rampColor(i / (steps - 1), theme).map(Math.round), i * 3);
  const [lo, hi] = domain ?? [0, 1];
  const scale = (steps - 1) / (hi - lo);
  for (let i = 0; i < log10Density.length; i++) {
    const v = log10Density[i]!;
    const o = i * 4;
    if (domain && Number.isFinite(v)) {
      const s = Math.min(steps - 1, Math.max(0, Math.round((v - lo) * scale))) * 3;
      out[o] = table[s]!;
      out[o + 1] = table[s + 1]!;
      out[o + 2] = table[s + 2]!;
    } else {
      out[o] = unknown[0];
      out[o + 1] = unknown[1];
      out[o + 2] = unknown[2];
    }
    out[o + 3] = ALPHA;
  }
  return out;
}
