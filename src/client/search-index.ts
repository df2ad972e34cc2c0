/**
 * Search over an atlas's labels in the browser, fetching only the index files a query needs.
 *
 * The index (`precompute/search/chunks.ts` writes it; contract/atlas.ts describes the files) is a
 * small directory of sorted term ranges and one chunk per range. A query fetches the directory once
 * (about 45 bytes per chunk), then, per query word, the one chunk its key routes to. Each chunk holds
 * its keys' best postings with their labels, split by word form (the key "the" has a list for
 * "the" and one for "they"), and, for prefixes that run on into later chunks, a short list of the
 * best features of the whole prefix. A common word's further postings sit in "more" pages, fetched
 * only when a query needs them (a multi-word query whose rarest word is still common). This module
 * is framework-free: the search box UI sits on top of it.
 *
 * Finding candidates, per query word (words are AND-ed, and every word matches as a prefix):
 * 1. The word is encoded as the index was (SEARCH_ENCODER_OPTIONS: sound-alike letters merged,
 *    repeated letters collapsed), so "lirical" finds "lyrical" and "hurrycane" finds "hurricane".
 * 2. In the chunk the key routes to: every form of every key starting with it (a binary search),
 *    plus the chunk's list for the prefix when its keys run on into later chunks. Candidates of a
 *    prefix that spans chunks are therefore its best features, not all of them. The form equal to
 *    the word itself has its own list, so labels holding the word are reached however common its
 *    sound-alikes are.
 * 3. Only when that finds nothing: typo fallback. Keys within edit distance 1 (2 for encoded keys
 *    of 8+ letters) of a prefix of an index key, sharing its first two letters, are searched
 *    instead, in the few chunks around where the word would sort. So "hurricaen" and "lyrcal"
 *    still work, but a typo in the first two letters does not: routing is by the start of the word.
 * The word with the fewest postings drives the query; the others are checked on its candidates'
 * labels. While fewer than `limit` results hold the driving word itself, its further pages are
 * read (at most `maxMorePages`).
 *
 * A numeric query ("1234" or "#1234") also names a feature directly: that feature comes first,
 * with its label when a label match found it and null otherwise (the UI shows "Feature #1234"
 * and can fetch the shard); the label search for the digits runs as usual after it.
 *
 * Ranking is deterministic. Each query word matches a label as its word exactly (5), as the start
 * of one of its words (4: "hurr" in "hurricane"), as a sound-alike word (3: same key, "they" for
 * "the"), as the start of a sound-alike word (2), or as a typo (1). A label's score is the worst
 * of its words' matches plus a fifth of how far their mean is above it; a label equal to the query
 * (words compared after `searchTerms`: case, accents, spacing and punctuation ignored) scores 6.
 * So: the whole label first, then labels with every word exactly, then prefixes, sound-alikes and
 * typos. Ties go to the more important feature (fewer label keys, then higher density, then
 * smaller id: the index's rank).
 */
import { Encoder } from "flexsearch";
import {
  parseWithFriendlyErrors,
  searchChunkSchema,
  searchDirectorySchema,
  searchMorePageSchema,
  searchTerms,
  SEARCH_ENCODER_OPTIONS,
  type SearchChunk,
} from "../../contract/atlas.ts";

export interface SearchHit {
  id: number;
  /** The feature's label; null for a bare id match whose label is not known yet. */
  label: string | null;
  /** Ranking score (higher is better); absent for a bare id match. */
  score?: number;
  /** The feature's importance rank in its atlas (0 = first); absent for a bare id match. */
  rank?: number;
}

/** Where an atlas's search index is: its directory file and the number of features (for id queries). */
export interface SearchSource {
  /** Path of the directory file relative to the atlas's data folder (manifest `search.directory`). */
  directory: string;
  /** Number of features in the atlas: ids 0 … features − 1 exist. */
  features: number;
}

export interface SearchIndexOptions {
  /** Most chunks scanned for one term's typo fallback. Default 3. */
  maxFuzzyChunks?: number;
  /** Most more pages fetched for one query. Default 4. */
  maxMorePages?: number;
  /** Whether to try near-miss terms when a term matches nothing. Default true. */
  fuzzy?: boolean;
}

export type FetchLike = (url: string) => Promise<Pick<Response, "ok" | "status" | "json">>;

const encoder = new Encoder(SEARCH_ENCODER_OPTIONS);

/**
 * The index key of one `searchTerms` token: the token as the encoder gives it. Null in the rare
 * case the encoder does not give exactly one word (e.g. a token over its 1024-character limit);
 * such tokens are not indexed.
 */
export function indexKey(term: string): string | null {
  let key = keyMemo.get(term);
  if (key === undefined) {
    const encoded = encoder.encode(term);
    key = encoded.length === 1 && encoded[0] ? encoded[0] : null;
    // flexsearch's own encoder cache empties every 50 ms; labels repeat terms across many queries.
    if (keyMemo.size >= 200_000) keyMemo.clear();
    keyMemo.set(term, key);
  }
  return key;
}

const keyMemo = new Map<string, string | null>();

/** The tokens of a text with their index keys, first occurrence of each key only, in text order. */
export function indexTerms(text: string): { term: string; key: string }[] {
  const out: { term: string; key: string }[] = [];
  const seen = new Set<string>();
  for (const term of searchTerms(text)) {
    const key = indexKey(term);
    if (key === null || seen.has(key)) continue;
    seen.add(key);
    out.push({ term, key });
  }
  return out;
}

/** A string greater than every string that starts with the prefix (UTF-16 code unit order). */
function prefixEnd(prefix: string): string {
  return prefix + "\uffff";
}

/** Index of the chunk whose range holds `key`: the last whose lower bound is ≤ key. */
export function routeKey(bounds: readonly string[], key: string): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (bounds[mid]! <= key) lo = mid + 1;
    else hi = mid;
  }
  return Math.max(0, lo - 1);
}

/** Indices of the chunks that can hold keys starting with `prefix`, in order. */
export function chunksForPrefix(bounds: readonly string[], prefix: string): number[] {
  if (bounds.length === 0) return [];
  const out: number[] = [];
  for (let i = routeKey(bounds, prefix), last = routeKey(bounds, prefixEnd(prefix)); i <= last; i++) out.push(i);
  return out;
}

/** First index in sorted `terms` whose key is ≥ `key`. */
function lowerBound(terms: SearchChunk["terms"], key: string): number {
  let lo = 0;
  let hi = terms.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (terms[mid]![0] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Smallest optimal-string-alignment distance (edits, adjacent swaps included) between `q` and any
 * prefix of `t`, or `max + 1` once it is certain to exceed `max`.
 */
export function prefixEditDistance(q: string, t: string, max: number): number {
  const m = q.length;
  const n = t.length;
  if (n < m - max) return max + 1;
  if (rows[0]!.length < n + 1) rows = [0, 1, 2].map(() => new Int32Array(2 * (n + 1))) as [Int32Array, Int32Array, Int32Array];
  // Rows over t's prefixes; the answer is the best cell of the last row (all of q against t[0..j)).
  let [prev2, prev, cur] = rows;
  for (let j = 0; j <= n; j++) prev[j] = j;
  for (let i = 1; i <= m; i++) {
    cur[0] = i;
    let rowMin = i;
    for (let j = 1; j <= n; j++) {
      const cost = q.charCodeAt(i - 1) === t.charCodeAt(j - 1) ? 0 : 1;
      let v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && q.charCodeAt(i - 1) === t.charCodeAt(j - 2) && q.charCodeAt(i - 2) === t.charCodeAt(j - 1)) {
        v = Math.min(v, prev2[j - 2]! + 1);
      }
      cur[j] = v;
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > max) return max + 1;
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  let best = prev[0]!;
  for (let j = 1; j <= n; j++) if (prev[j]! < best) best = prev[j]!;
  return best;
}

/** Scratch rows for prefixEditDistance, grown on demand: it runs thousands of times per typo. */
let rows: [Int32Array, Int32Array, Int32Array] = [new Int32Array(64), new Int32Array(64), new Int32Array(64)];

/** Edits the typo fallback allows for an encoded term of this length. */
function allowedEdits(length: number): number {
  return length >= 8 ? 2 : length >= 4 ? 1 : 0;
}

/** Whether `candidate` is a tolerated misspelling of (a prefix of) it: same first two letters, few edits. */
function isNearMiss(key: string, candidate: string): boolean {
  const edits = allowedEdits(key.length);
  return edits > 0 && candidate.startsWith(key.slice(0, 2)) && prefixEditDistance(key, candidate, edits) <= edits;
}

/**
 * A label as ranking sees it: its words, their keys, and the words joined (for whole-label
 * equality). Region names are ranked with it too (region-search.ts), so both lists share one scale.
 */
export interface LabelWords {
  words: string[];
  keys: string[];
  text: string;
}

/** A query word: as typed (after `searchTerms`) and as its index key. */
export interface QueryWord {
  word: string;
  key: string;
}

/** Match qualities of one query word in a label (see the module comment); WHOLE is the whole label. */
const EXACT = 5;
const PREFIX = 4;
const SOUND_ALIKE = 3;
const SOUND_ALIKE_PREFIX = 2;
const TYPO = 1;
const WHOLE = 6;

/** How well a label matches one query word: EXACT … TYPO, or 0 when it does not. */
function matchQuality(q: QueryWord, label: LabelWords, fuzzy: boolean): number {
  if (label.words.includes(q.word)) return EXACT;
  if (label.words.some((w) => w.startsWith(q.word))) return PREFIX;
  if (label.keys.includes(q.key)) return SOUND_ALIKE;
  if (label.keys.some((k) => k.startsWith(q.key))) return SOUND_ALIKE_PREFIX;
  return fuzzy && label.keys.some((k) => isNearMiss(q.key, k)) ? TYPO : 0;
}

/**
 * A label's score for the query (see the module comment), or 0 when some word does not match.
 * `text` is the whole query as `queryText` gives it.
 */
export function labelScore(query: readonly QueryWord[], text: string, label: LabelWords, fuzzy: boolean): number {
  let worst = WHOLE;
  let sum = 0;
  for (const q of query) {
    const quality = matchQuality(q, label, fuzzy);
    if (quality === 0) return 0;
    worst = Math.min(worst, quality);
    sum += quality;
  }
  if (query.length === 0) return 0;
  if (label.text === text) return WHOLE;
  return worst + (sum / query.length - worst) / 5;
}

/** The query as whole-label equality compares it: its `searchTerms`, joined by single spaces. */
export function queryText(query: string): string {
  return searchTerms(query).join(" ");
}

/** The distinct words of a query that have an index key, in query order. */
export function queryWords(query: string): QueryWord[] {
  const out: QueryWord[] = [];
  const seen = new Set<string>();
  for (const word of searchTerms(query)) {
    const key = indexKey(word);
    if (key === null || seen.has(word)) continue;
    seen.add(word);
    out.push({ word, key });
  }
  return out;
}

interface Candidate {
  rank: number;
  id: number;
  label: string;
}

interface LoadedChunk {
  path: string;
  terms: SearchChunk["terms"];
  prefixes: Map<string, SearchChunk["prefixes"][number]>;
  features: Map<number, { id: number; label: string }>;
}

/** What one query word found: candidates by rank, how many postings it has in all, and its unread pages. */
interface TermMatch {
  query: QueryWord;
  candidates: Map<number, Candidate>;
  total: number;
  /** Whether the index has the word itself (a form of its key equal to it). */
  exact: boolean;
  /** More pages, not fetched yet: the word's own when `exact`, else every form's of its key. */
  more: string[];
}

/** Words and keys of a text, for `labelScore`. */
export function parseLabel(label: string): LabelWords {
  const words = searchTerms(label);
  const keys: string[] = [];
  for (const w of words) {
    const k = indexKey(w);
    if (k !== null && !keys.includes(k)) keys.push(k);
  }
  return { words, keys, text: words.join(" ") };
}

/** `parseLabel`, memoised: a result's label is checked against every query word. */
const labelMemo = new Map<string, LabelWords>();
function labelWords(label: string): LabelWords {
  let out = labelMemo.get(label);
  if (!out) {
    if (labelMemo.size >= 100_000) labelMemo.clear();
    labelMemo.set(label, (out = parseLabel(label)));
  }
  return out;
}

export class SearchIndex {
  readonly #baseUrl: string;
  readonly #source: SearchSource;
  readonly #fetch: FetchLike;
  readonly #loaded = new Map<string, Promise<LoadedChunk>>();
  #directory: Promise<{ bounds: string[]; paths: string[] }> | null = null;
  readonly #maxFuzzyChunks: number;
  readonly #maxMorePages: number;
  readonly #fuzzy: boolean;

  constructor(baseUrl: string, source: SearchSource, fetchImpl: FetchLike = (url) => fetch(url), options: SearchIndexOptions = {}) {
    this.#baseUrl = baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`;
    this.#source = source;
    this.#fetch = fetchImpl;
    this.#maxFuzzyChunks = options.maxFuzzyChunks ?? 3;
    this.#maxMorePages = options.maxMorePages ?? 4;
    this.#fuzzy = options.fuzzy ?? true;
  }

  /** Fetch the directory now (the search box calls this on focus), so the first query needs only its chunks. */
  ready(): Promise<void> {
    return this.#dir().then(() => undefined);
  }

  /**
   * Start fetching the chunks the words of `query` route to, without matching anything. The search
   * box calls this on every input, ahead of its debounce, so that by the time the query runs its
   * chunks are usually here: a pasted four-word label fetches its four chunks while the debounce
   * waits instead of after it. Failures are left for `search` to retry and report.
   */
  prefetch(query: string): void {
    const words = queryWords(query);
    if (words.length === 0) return;
    this.#dir()
      .then(({ bounds, paths }) => {
        if (paths.length === 0) return;
        for (const { key } of words) this.#load(paths[routeKey(bounds, key)]!).catch(() => {});
      })
      .catch(() => {});
  }

  /** Features matching every word of `query`, best first; see the module comment for the rules. */
  async search(query: string, limit = 20): Promise<SearchHit[]> {
    const words = queryWords(query);
    const ranked: (Candidate & { score: number })[] = [];
    if (words.length) {
      const text = queryText(query);
      const matches = await Promise.all(words.map((w) => this.#match(w)));
      // The word with the fewest postings drives; the others are checked on its candidates' labels.
      let primary = matches[0]!;
      for (const m of matches) if (m.total < primary.total || (m.total === primary.total && m.query.key.length > primary.query.key.length)) primary = m;
      const seen = new Set<number>();
      // Results holding the driving word itself: its further pages are read until there are enough.
      let holding = 0;
      const consider = (candidates: Iterable<Candidate>): void => {
        for (const c of candidates) {
          if (seen.has(c.rank)) continue;
          seen.add(c.rank);
          const label = labelWords(c.label);
          const score = labelScore(words, text, label, this.#fuzzy);
          if (score === 0) continue;
          ranked.push({ ...c, score });
          if (!primary.exact || label.words.includes(primary.query.word)) holding++;
        }
      };
      consider(primary.candidates.values());
      for (let page = 0; holding < limit && page < Math.min(this.#maxMorePages, primary.more.length); page++) {
        consider(await this.#loadMore(primary.more[page]!));
      }
      ranked.sort((a, b) => b.score - a.score || a.rank - b.rank);
    }

    const hits: SearchHit[] = [];
    const idMatch = /^\s*#?(\d+)\s*$/.exec(query);
    const direct = idMatch ? Number(idMatch[1]) : -1;
    if (direct >= 0 && direct < this.#source.features && Number.isSafeInteger(direct)) {
      hits.push({ id: direct, label: ranked.find((r) => r.id === direct)?.label ?? null });
    }
    for (const r of ranked) {
      if (hits.length >= limit) break;
      if (r.id !== direct) hits.push({ id: r.id, label: r.label, score: r.score, rank: r.rank });
    }
    return hits.slice(0, limit);
  }

  /** Candidates for one query word (see the module comment), from the chunk its key routes to. */
  async #match(query: QueryWord): Promise<TermMatch> {
    const { key } = query;
    const { bounds, paths } = await this.#dir();
    const out: TermMatch = { query, candidates: new Map(), total: 0, exact: false, more: [] };
    if (paths.length === 0) return out;
    const home = routeKey(bounds, key);
    const span = chunksForPrefix(bounds, key);
    const chunk = await this.#load(paths[home]!);
    collectPrefix(chunk, query, out);
    const list = chunk.prefixes.get(key);
    if (list) {
      for (const r of list[2]) addCandidate(chunk, r, out);
      out.total = Math.max(out.total, list[1]);
    } else if (span.length > 1) {
      // The builder lists every prefix that crosses a boundary; this only runs on an index whose
      // lists are missing, and reads the chunks the prefix spans (a few at most).
      const rest = await Promise.all(span.slice(1, 4).map((i) => this.#load(paths[i]!)));
      for (const c of rest) collectPrefix(c, query, out);
    }
    if (out.candidates.size || !this.#fuzzy || allowedEdits(key.length) === 0) return out;

    // Typo fallback: the chunks around where `key` would sort, within its first two letters.
    const around = chunksForPrefix(bounds, key.slice(0, 2));
    around.sort((a, b) => Math.abs(a - home) - Math.abs(b - home) || a - b);
    const nearby = await Promise.all(around.slice(0, this.#maxFuzzyChunks).map((i) => this.#load(paths[i]!)));
    for (const c of nearby) {
      for (const term of c.terms) {
        if (!isNearMiss(key, term[0])) continue;
        for (const form of term[2]) for (const r of form[2]) addCandidate(c, r, out);
        out.total += term[1];
      }
    }
    return out;
  }

  #dir(): Promise<{ bounds: string[]; paths: string[] }> {
    if (!this.#directory) {
      const pending = this.#fetchJson(this.#source.directory, "search directory").then((json) => {
        const dir = parseWithFriendlyErrors(searchDirectorySchema, json, this.#source.directory);
        return { bounds: dir.chunks.map((c) => c[0]), paths: dir.chunks.map((c) => c[1]) };
      });
      pending.catch(() => (this.#directory = null));
      this.#directory = pending;
    }
    return this.#directory;
  }

  async #fetchJson(path: string, what: string): Promise<unknown> {
    const res = await this.#fetch(this.#baseUrl + path);
    if (!res.ok) throw new Error(`${what} ${path}: HTTP ${res.status}`);
    return res.json();
  }

  /** Fetch, check and index a chunk, once; a failed fetch is forgotten so a later search retries. */
  #load(path: string): Promise<LoadedChunk> {
    let p = this.#loaded.get(path);
    if (!p) {
      // A full schema check costs about a millisecond on a 32 KB chunk, far less than the fetch,
      // and turns a stale or truncated file into a message naming it.
      p = this.#fetchJson(path, "search chunk").then((json) => {
        const chunk = parseWithFriendlyErrors(searchChunkSchema, json, path);
        return {
          path,
          terms: chunk.terms,
          prefixes: new Map(chunk.prefixes.map((p) => [p[0], p])),
          features: new Map(chunk.features.map(([rank, id, label]) => [rank, { id, label }])),
        };
      });
      this.#loaded.set(path, p);
      p.catch(() => this.#loaded.delete(path));
    }
    return p;
  }

  async #loadMore(path: string): Promise<Candidate[]> {
    const page = parseWithFriendlyErrors(searchMorePageSchema, await this.#fetchJson(path, "search page"), path);
    return page.features.map(([rank, id, label]) => ({ rank, id, label }));
  }
}

function addCandidate(chunk: LoadedChunk, rank: number, out: TermMatch): void {
  if (out.candidates.has(rank)) return;
  const f = chunk.features.get(rank);
  if (f) out.candidates.set(rank, { rank, id: f.id, label: f.label });
}

/**
 * Every key of the chunk that starts with the word's key: the listed postings of all their forms,
 * and the more pages of the word itself (or, when the index lacks the word, of every form of its key).
 */
function collectPrefix(chunk: LoadedChunk, query: QueryWord, out: TermMatch): void {
  for (let i = lowerBound(chunk.terms, query.key); i < chunk.terms.length && chunk.terms[i]![0].startsWith(query.key); i++) {
    const [k, count, forms] = chunk.terms[i]!;
    for (const form of forms) for (const r of form[2]) addCandidate(chunk, r, out);
    out.total += count;
    if (k !== query.key) continue;
    const own = forms.find((f) => f[0] === query.word);
    out.exact = own !== undefined;
    out.more = own ? own[3] : forms.flatMap((f) => f[3]);
  }
}
