/**
 * Labels for synthetic dictionaries, so that the large benchmarks build labelled atlases as real
 * ones are (labels feed the region names, the tiles' label column and the search index).
 *
 * Words come from the demo's labels (GloVe vocabulary, about 17,000 distinct words) in a seeded
 * order, drawn Zipf-like (a few common, most rare). Each planted cluster has three theme words
 * that its members' labels lean on, so that a region's name has something to find, as it has in a
 * trained dictionary whose neighbouring features share topics.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { rng } from "../precompute/random.ts";

/** The demo labels' distinct all-letter words of three or more letters, sorted. */
export function labelVocabulary(): string[] {
  const labels = JSON.parse(readFileSync(resolve(import.meta.dirname, "..", "data", "demo", "labels.json"), "utf8")) as Record<string, string>;
  const words = new Set<string>();
  for (const l of Object.values(labels)) for (const w of l.split(/\s+/)) if (/^[a-z]{3,}$/.test(w)) words.add(w);
  return [...words].sort();
}

/** A seeded Zipf-like word picker: the vocabulary is shuffled first, so that the common words are not all early in the alphabet. */
export function wordPicker(random: () => number): () => string {
  const words = labelVocabulary();
  for (let i = words.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [words[i], words[j]] = [words[j]!, words[i]!];
  }
  return () => words[Math.min(words.length - 1, Math.floor(words.length * random() ** 3))]!;
}

/** One label of three or four distinct-ish words: one or two from the theme, the rest common words. */
export function themedLabel(theme: readonly string[], word: () => string, random: () => number): string {
  const parts = [theme[Math.floor(random() * theme.length)]!, random() < 0.5 ? theme[Math.floor(random() * theme.length)]! : word(), word()];
  if (random() < 0.4) parts.push(word());
  return [...new Set(parts)].join(" ");
}

/**
 * A label for every feature of a planted cluster (`cluster[i]` ≥ 0; dead rows, −1, get none), as
 * the `{ "<id>": "<label>" }` object that `--labels` reads. Seeded: the same clusters and seed
 * give the same labels.
 */
export function syntheticLabels(cluster: Int32Array, seed = 7): Record<string, string> {
  const random = rng(seed, "synthetic-labels");
  const word = wordPicker(random);
  let clusters = 0;
  for (const c of cluster) clusters = Math.max(clusters, c + 1);
  const themes = Array.from({ length: clusters }, () => [word(), word(), word()]);
  const out: Record<string, string> = {};
  for (let i = 0; i < cluster.length; i++) {
    const c = cluster[i]!;
    if (c >= 0) out[i] = themedLabel(themes[c]!, word, random);
  }
  return out;
}
