/** Synthetic labels for the search tests: word-like, Zipf-distributed, seeded. */
import { mulberry32 } from "../../../precompute/random.ts";
import type { SearchEntry } from "../../../precompute/search/chunks.ts";

/** Word-like labels of 2–7 words drawn Zipf-style from a seeded vocabulary of syllable strings, with densities. */
export function syntheticEntries(n: number, seed: number, vocabulary = 3000): SearchEntry[] {
  const r = mulberry32(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const onsets = ["b", "c", "d", "f", "g", "h", "l", "m", "n", "p", "r", "s", "t", "v", "w", "st", "tr", "pl", "ch", "sh"];
  const vowels = ["a", "e", "i", "o", "u", "ea", "ou"];
  const codas = ["", "n", "r", "s", "t", "l", "nd", "ng", "ck"];
  const vocab = new Set<string>();
  while (vocab.size < vocabulary) {
    let w = "";
    for (let s = 1 + Math.floor(r() * 3); s > 0; s--) w += pick(onsets) + pick(vowels) + pick(codas);
    vocab.add(w);
  }
  const words = [...vocab];
  const cdf: number[] = [];
  let total = 0;
  for (let k = 0; k < words.length; k++) cdf.push((total += 1 / (k + 20)));
  const zipf = () => {
    const u = r() * total;
    let lo = 0, hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return words[lo]!;
  };
  return Array.from({ length: n }, (_, id) => ({
    id,
    label: Array.from({ length: 2 + Math.floor(r() * 6) }, zipf).join(" "),
    density: r() < 0.1 ? NaN : 10 ** (-1 - 4 * r()),
  }));
}

