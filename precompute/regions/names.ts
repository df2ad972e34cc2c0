/**
 * Automatic region names from the members' labels, and URL slugs.
 *
 * A region is named by the label terms that set it apart from its siblings (the regions with the
 * same parent; for level 0, all level-0 regions), by class-based TF-IDF as in BERTopic: each
 * sibling is one "document" made of its members' labels, and a term scores
 *   count(t, region) · log(1 + A / count(t, siblings))
 * where A is the mean number of terms per sibling. Comparing against siblings (rather than the
 * whole atlas) is what a reader needs when zooming in: "storms · hurricane · coast" inside a
 * "weather" parent, not "weather" again. The score is then multiplied by the term's inverse
 * document frequency over all labelled features, log(N / df): with a few siblings of one topic,
 * c-TF-IDF alone lets a word found everywhere (a labeller's filler such as "general") name a small
 * region because chance spread it unevenly among them; in the planted-topic test it did.
 *
 * Form: up to three terms, lowercase, joined by " · ". Lowercase because labels are lowercase
 * words and title-casing "glove"-style tokens ("Nba", "Dvd") reads worse; " · " because the
 * name is a set of keywords, not a phrase, and the separator says so (a hand-written name, a
 * phrase, then looks different on the map).
 */
import { searchTerms } from "../../contract/atlas.ts";

/** Words that carry no topic. Short English function words; tokens under 3 letters are dropped anyway. */
const STOP_WORDS = new Set(
  (
    "the and for are but not you all any can had her was one our out his has him how its may new now old see " +
    "two way who did get got let put say she too use with that this from they them then than there their these " +
    "those what when where which while whom whose will would should could shall might must have been being into " +
    "onto over under about above below after before again also just only very more most much many such some same " +
    "other each every both few own off per via yet ever even upon among within without between through during " +
    "against because until unless whether either neither nor does doing done here why your yours ours hers theirs " +
    "itself himself herself themselves myself yourself something anything nothing everything someone anyone none " +
    "feature features token tokens word words text related mostly often usually various"
  ).split(" "),
);

/** Shortest token kept as a term. */
const MIN_TERM_LENGTH = 3;
/** Terms per automatic name. */
const NAME_TERMS = 3;
export const NAME_SEPARATOR = " · ";

/** The raw terms of one label: tokenised as the search index does, without stop-words and short tokens. */
export function labelTerms(label: string | null | undefined): string[] {
  if (!label) return [];
  const out = new Set<string>();
  for (const t of searchTerms(label)) {
    if (t.length < MIN_TERM_LENGTH || STOP_WORDS.has(t) || /^\d+$/.test(t)) continue;
    out.add(t);
  }
  return [...out];
}

/**
 * The vocabulary of all labels, with plural forms folded into their singular when both occur
 * ("storms" and "storm" count as one term). Each term key shows as its most frequent surface form.
 */
export interface Vocabulary {
  /** Term keys of each feature's label (unique per feature); empty for unlabelled features. */
  featureTerms: string[][];
  /** Display form of each term key. */
  display: Map<string, string>;
  /** log(labelled features / features whose label has the term), per term key. */
  idf: Map<string, number>;
}

export function buildVocabulary(labels: readonly (string | null)[]): Vocabulary {
  const raw = labels.map(labelTerms);
  const freq = new Map<string, number>();
  for (const terms of raw) for (const t of terms) freq.set(t, (freq.get(t) ?? 0) + 1);
  const keyOf = (t: string): string => {
    if (t.endsWith("ies") && freq.has(t.slice(0, -3) + "y")) return t.slice(0, -3) + "y";
    if (t.endsWith("es") && freq.has(t.slice(0, -2))) return t.slice(0, -2);
    if (t.endsWith("s") && !t.endsWith("ss") && freq.has(t.slice(0, -1))) return t.slice(0, -1);
    return t;
  };
  const display = new Map<string, string>();
  const shown = new Map<string, number>();
  for (const t of [...freq.keys()].sort()) {
    const key = keyOf(t);
    const f = freq.get(t)!;
    if (!display.has(key) || f > shown.get(key)!) {
      display.set(key, t);
      shown.set(key, f);
    }
  }
  const featureTerms = raw.map((terms) => [...new Set(terms.map(keyOf))]);
  const df = new Map<string, number>();
  let labelled = 0;
  for (const terms of featureTerms) {
    if (terms.length) labelled++;
    for (const t of terms) df.set(t, (df.get(t) ?? 0) + 1);
  }
  const idf = new Map<string, number>();
  for (const [t, f] of df) idf.set(t, Math.log(labelled / f));
  return { featureTerms, display, idf };
}

/** Two terms are "the same word" when they share a prefix of all but the last two letters of the shorter (and at least four): storm/stormy, nation/national, politics/political. */
export function sameStem(a: string, b: string): boolean {
  const n = Math.min(a.length, b.length);
  let p = 0;
  while (p < n && a[p] === b[p]) p++;
  return p >= Math.max(4, n - 2) || a === b;
}

export interface NamingNode {
  /** Index of the parent node in the same array, or −1 at level 0. */
  parent: number;
  /** Term key → number of members whose label has it. */
  counts: Map<string, number>;
  /**
   * Term key → the same count with each member weighted by its cosine to the region's mean
   * direction (0 when negative): the scores use these. On the GloVe demo, where most label words
   * occur in one or two features only, plain counts named big regions after words that two
   * peripheral members happen to share ("breast · bulb · decorating" for a region of objects and
   * materials, now "laser · lamp · thickness"); weighting by cosine² or cosine⁴ went too far the
   * other way, naming a region after single words of its most central member ("afield").
   */
  weights: Map<string, number>;
  /** Members with at least one term. */
  labelled: number;
  /** Fallback name when the members have no usable label terms, e.g. "region 2-17". */
  fallback: string;
}

export interface AutoName {
  name: string;
  /** Chosen term keys, most distinctive first. */
  terms: string[];
}

/**
 * Name every node. Nodes must come parents first (by level), so that a child can avoid its
 * parent's name; sibling groups are the nodes sharing a `parent` (−1 for level 0).
 */
export function autoNames(nodes: readonly NamingNode[], vocab: Vocabulary): AutoName[] {
  const groups = new Map<number, number[]>();
  nodes.forEach((node, i) => {
    const g = groups.get(node.parent);
    if (g) g.push(i);
    else groups.set(node.parent, [i]);
  });
  const candidates: Scored[][] = new Array(nodes.length);
  for (const members of groups.values()) {
    const total = new Map<string, number>();
    let words = 0;
    for (const i of members) {
      for (const [t, c] of nodes[i]!.weights) {
        total.set(t, (total.get(t) ?? 0) + c);
        words += c;
      }
    }
    const A = words / members.length;
    for (const i of members) {
      const node = nodes[i]!;
      // A term carried by one member of a region says little about the region; ask for two when
      // the region has enough labelled members for that to be possible.
      const minCount = node.labelled >= 4 ? 2 : 1;
      const scored: Scored[] = [];
      for (const [t, c] of node.weights) {
        const score = c * Math.log(1 + A / total.get(t)!) * (vocab.idf.get(t) ?? 0);
        // 0 · ∞ when no sibling member with the term has a positive weight: such a term ranks last.
        scored.push([t, Number.isNaN(score) ? -Infinity : score]);
      }
      const strong = scored.filter(([t]) => node.counts.get(t)! >= minCount);
      candidates[i] = strong.length >= 2 ? strong : scored;
    }
  }

  const out: AutoName[] = new Array(nodes.length);
  const chosenKeys: string[] = new Array(nodes.length);
  const namesByParent = new Map<number, Set<string>>();
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i]!;
    const avoid = new Set<string>();
    if (node.parent >= 0) avoid.add(chosenKeys[node.parent]!);
    const taken = namesByParent.get(node.parent) ?? new Set<string>();
    for (const k of taken) avoid.add(k);
    const all = candidates[i]!;
    const terms = pickTerms(bestTerms(all, RANKED_PREFIX), avoid, all.length > RANKED_PREFIX) ?? pickTerms(bestTerms(all, all.length), avoid, false)!;
    const key = [...terms].sort().join(" ");
    chosenKeys[i] = key;
    taken.add(key);
    namesByParent.set(node.parent, taken);
    const words = terms.map((t) => vocab.display.get(t) ?? t);
    const name = words.length >= 2 ? words.join(NAME_SEPARATOR) : words.length === 1 ? `${words[0]} region` : node.fallback;
    out[i] = { name, terms };
  }
  return out;
}

/** A term key and its score. */
type Scored = [string, number];

/**
 * Candidates ranked per node before falling back to ranking them all. `pickTerms` reads only the
 * first few distinct-stem terms, but a level-0 region of the 1M benchmark has all 16,835 label
 * words as candidates, and sorting every candidate of every region was most of the naming time.
 */
const RANKED_PREFIX = 64;

/** The `k` best terms of `scored`, by score, then term: the order a full sort would give. */
function bestTerms(scored: readonly Scored[], k: number): string[] {
  const better = (a: Scored, b: Scored): boolean => a[1] > b[1] || (a[1] === b[1] && a[0] < b[0]);
  if (k >= scored.length) return [...scored].sort((a, b) => (better(a, b) ? -1 : better(b, a) ? 1 : 0)).map(([t]) => t);
  const top: Scored[] = [];
  for (const e of scored) {
    if (top.length === k && !better(e, top[k - 1]!)) continue;
    let p = top.length < k ? top.length : k - 1;
    if (top.length < k) top.push(e);
    while (p > 0 && better(e, top[p - 1]!)) {
      top[p] = top[p - 1]!;
      p--;
    }
    top[p] = e;
  }
  return top.map(([t]) => t);
}

/**
 * The first NAME_TERMS distinct-stem terms of `ranked`; when that set (order aside) is one to
 * avoid (the parent's, or a sibling's), the weakest choice is swapped for the next candidates.
 * When `ranked` is only the best part of a longer list (`truncated`) and runs out before the
 * choice is settled, returns null: the caller ranks the whole list.
 */
function pickTerms(ranked: string[], avoid: Set<string>, truncated: boolean): string[] | null {
  const picked: string[] = [];
  const rest: string[] = [];
  let settled = false;
  for (const t of ranked) {
    if (picked.some((p) => sameStem(p, t))) continue;
    if (picked.length < NAME_TERMS) picked.push(t);
    else rest.push(t);
    if (rest.length >= 8) {
      settled = true;
      break;
    }
  }
  if (truncated && !settled) return null;
  const keyOf = (terms: string[]): string => [...terms].sort().join(" ");
  if (!avoid.has(keyOf(picked))) return picked;
  for (const alt of rest) {
    if (picked.slice(0, -1).some((p) => sameStem(p, alt))) continue;
    const trial = [...picked.slice(0, -1), alt];
    if (!avoid.has(keyOf(trial))) return trial;
  }
  return picked;
}

/** Longest slug before a collision suffix: leaves room for "-999" within the contract's 64. */
const SLUG_BASE_MAX = 58;

/** URL-safe form of a name: ASCII lowercase letters and digits joined by single hyphens; "" when nothing is left. */
export function slugify(name: string): string {
  const s = name
    .normalize("NFKD")
    .replace(/\p{M}+/gu, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  if (s.length <= SLUG_BASE_MAX) return s;
  const cut = s.slice(0, SLUG_BASE_MAX + 1);
  const at = cut.lastIndexOf("-");
  return (at > 8 ? cut.slice(0, at) : s.slice(0, SLUG_BASE_MAX)).replace(/-+$/, "");
}

/**
 * Unique slugs: `fixed` entries (carried over from a previous build or given by hand) keep theirs
 * when free, in order; every other node gets slugify(name), or `fallback` when that is empty, with
 * -2, -3 … on collision, in node order.
 */
export function assignSlugs(
  names: readonly string[],
  fallback: readonly string[],
  fixed: ReadonlyMap<number, string>,
): { slugs: string[]; dropped: { index: number; slug: string }[] } {
  const used = new Set<string>();
  const slugs: string[] = new Array(names.length);
  const dropped: { index: number; slug: string }[] = [];
  for (const [i, s] of [...fixed].sort((a, b) => a[0] - b[0])) {
    if (used.has(s)) dropped.push({ index: i, slug: s });
    else {
      used.add(s);
      slugs[i] = s;
    }
  }
  for (let i = 0; i < names.length; i++) {
    if (slugs[i] !== undefined) continue;
    const base = slugify(names[i]!) || fallback[i]!;
    let s = base;
    for (let k = 2; used.has(s); k++) s = `${base}-${k}`;
    used.add(s);
    slugs[i] = s;
  }
  return { slugs, dropped };
}
