/**
 * Wording and number formatting shared by the static pages and the map's side panel, so a feature
 * reads the same everywhere. Pure functions, safe in both Node and the browser.
 */
import type { Example } from "../../contract/atlas.ts";

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const percent = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 2 });

export function formatCount(n: number): string {
  return integer.format(n);
}

/** The heading of a feature: its label, or "Feature #id" when it has none. */
export function featureName(id: number, label: string | null | undefined): string {
  return label && label.trim() ? label : `Feature #${id}`;
}

/**
 * Density in words: "fires on 0.02 % of tokens (about 1 in 5,000)". The "1 in N" form is what
 * people can picture for rare features; percentages alone get lost among the zeros.
 */
export function describeDensity(density: number | null | undefined): string {
  if (density == null || !Number.isFinite(density)) return "firing density unknown";
  if (density <= 0) return "never fired on the sampled tokens";
  const text = `fires on ${percent.format(density * 100)} % of tokens`;
  if (density >= 0.05) return text;
  return `${text} (about 1 in ${formatCount(Math.round(1 / density))})`;
}

/** The same from a tile's log10Density column (NaN when unknown). */
export function describeLog10Density(log10Density: number): string {
  return describeDensity(Number.isNaN(log10Density) ? null : 10 ** log10Density);
}

export function formatCosine(cosine: number): string {
  return cosine.toFixed(3);
}

/** Activation values: three significant digits is plenty to compare them. */
export function formatActivation(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 0.001 || abs >= 1e6)) return value.toExponential(2);
  return Number(value.toPrecision(3)).toString();
}

/**
 * Examples that are single tokens (the GloVe demo: one word per example) read best as a bar
 * chart of words; longer windows are shown as highlighted text.
 */
export function isWordList(examples: Example[]): boolean {
  return examples.length > 0 && examples.every((e) => e.tokens.length === 1);
}

/** Largest activation over all examples, so highlights are comparable between windows. */
export function maxActivation(examples: Example[]): number {
  let max = 0;
  for (const e of examples) if (Number.isFinite(e.maxValue) && e.maxValue > max) max = e.maxValue;
  return max;
}

/** Highlight strength in [0, 1] of a token value given the feature's max activation. */
export function intensity(value: number, max: number): number {
  if (!(max > 0) || !(value > 0)) return 0;
  return Math.min(1, value / max);
}

/** Make invisible tokens visible: newlines and tabs would otherwise vanish from a one-line window. */
export function displayToken(token: string): string {
  return token.replace(/\r?\n/g, "⏎").replace(/\t/g, "⇥");
}
