/**
 * Search over an atlas' labels in the browser, fetching only the index chunks a query needs.
 *
 * The index is cut Pagefind-style into chunks by ranges of sorted terms (`precompute/search/`
 * writes them; the manifest lists each chunk's [from, to]). Each chunk is a flexsearch index of
 * the features that have a term in its range, plus those features' full labels, so one fetch per
 * query term is usually enough to show results. This module is framework-free: the search box UI
 * sits on top of it.
 *
 * Matching, per query term (terms are AND-ed, and every term matches as a prefix):
 * 1. The term is encoded as the index was (FLEXSEARCH_OPTIONS.encoder: sound-alike letters merged,
 *    repeated letters collapsed), so "lirical" finds "lyrical" and "hurrycane" finds "hurricane".
 * 2. The chunks whose range can hold a term starting with it are fetched (at most
 *    `maxChunksPerTerm`, the ones nearest the term: a one-letter prefix in a large atlas could
 *    otherwise mean dozens of chunks) and searched with flexsearch's forward (prefix) index.
 * 3. Only when that finds nothing: typo fallback. Terms within edit distance 1 (2 for encoded
 *    terms of 8+ letters) of a prefix of an index term, sharing its first two letters, are searched
 *    instead, in the few chunks around where the term would sort. So "hurricaen" and "lyrcal" still
 *    work, but a typo in the first two letters does not: routing is by the start of the term.
 *
 * A numeric query ("1234" or "#1234") also names a feature directly: that feature comes first,
 * with its label when a label match found it and null otherwise (the UI shows "Feature #1234"
 * and can fetch the shard); the label search for the digits runs as usual after it.
 *
 * Ranking is deterministic: per query term 3 points when the label has that exact (encoded) term,
 * 2 for a prefix match, 1 for a typo match; ties go to the label with fewer terms, then to the
 * smaller id.
 */
import { Encoder, Index } from "flexsearch";
import {
  FLEXSEARCH_OPTIONS,
  parseWithFriendlyErrors,
  searchChunkSchema,
  searchTerms,
  type Manifest,
  type SearchChunkInfo,
} from "../../contract/atlas.ts";

export interface SearchHit {
  id: number;
  /** The feature's label; null for a bare id match whose label is not known yet. */
  label: string | null;
  /** Ranking score (higher is better); absent for a bare id match. */
  score?: number;
}

export interface SearchIndexOptions {
  /** Most chunks fetched for one query term's prefix range. Default 4. */
  maxChunksPerTerm?: number;
  /** Most chunks scanned for one term's typo fallback. Default 3. */
  maxFuzzyChunks?: number;
  /** Whether to try near-miss terms when a term matches nothing. Default true. */
  fuzzy?: boolean;
}

export type FetchLike = (url: string) => Promise<Pick<Response, "ok" | "status" | "json">>;

const encoder = new Encoder(FLEXSEARCH_OPTIONS.encoder);

/**
 * The index key of one `searchTerms` token: the token as flexsearch stores it. Null in the rare
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

/** An empty flexsearch index configured as every chunk is: build and load must agree. */
export function createChunkIndex(): Index {
  return new Index(FLEXSEARCH_OPTIONS);
}

/** A string greater than every string that starts with the prefix (UTF-16 code unit order). */
function prefixEnd(prefix: string): string {
  return prefix + "\uffff";
}

/** Index of the first chunk whose range ends at or after `key`; chunks.length when none. */
function firstChunkEndingAtOrAfter(chunks: readonly SearchChunkInfo[], key: string): number {
  let lo = 0;
  let hi = chunks.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (chunks[mid]!.to < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Indices of the chunks (sorted by `from`, non-overlapping) whose [from, to] range intersects the
 * keys starting with `prefix`, in order.
 */
export function chunksForPrefix(chunks: readonly SearchChunkInfo[], prefix: string): number[] {
  const end = prefixEnd(prefix);
  const out: number[] = [];
  for (let i = firstChunkEndingAtOrAfter(chunks, prefix); i < chunks.length && chunks[i]!.from <= end; i++) out.push(i);
  return out;
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

/** How well a label (as its index keys) matches one query key: 3 exact, 2 prefix, 1 near miss, 0 not at all. */
function matchQuality(key: string, labelKeys: readonly string[], fuzzy: boolean): number {
  if (labelKeys.includes(key)) return 3;
  if (labelKeys.some((k) => k.startsWith(key))) return 2;
  return fuzzy && labelKeys.some((k) => isNearMiss(key, k)) ? 1 : 0;
}

interface Candidate {
  label: string;
  /** The label's index keys. */
  keys: string[];
}

interface LoadedChunk {
  info: SearchChunkInfo;
  index: Index;
  labels: Map<number, string>;
  /** Index keys of labels, filled as results need them. */
  labelKeys: Map<number, string[]>;
  /** Distinct index keys in the chunk's range, sorted; built on first typo fallback. */
  keys?: string[];
}

export class SearchIndex {
  readonly #baseUrl: string;
  readonly #chunks: readonly SearchChunkInfo[];
  readonly #features: number;
  readonly #fetch: FetchLike;
  readonly #loaded = new Map<number, Promise<LoadedChunk>>();
  readonly #maxChunksPerTerm: number;
  readonly #maxFuzzyChunks: number;
  readonly #fuzzy: boolean;

  constructor(
    baseUrl: string,
    manifest: Pick<Manifest, "search" | "counts">,
    fetchImpl: FetchLike = (url) => fetch(url),
    options: SearchIndexOptions = {},
  ) {
    this.#baseUrl = baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`;
    this.#chunks = manifest.search.chunks;
    this.#features = manifest.counts.features;
    this.#fetch = fetchImpl;
    this.#maxChunksPerTerm = options.maxChunksPerTerm ?? 4;
    this.#maxFuzzyChunks = options.maxFuzzyChunks ?? 3;
    this.#fuzzy = options.fuzzy ?? true;
  }

  /** Features matching every term of `query`, best first; see the module comment for the rules. */
  async search(query: string, limit = 20): Promise<SearchHit[]> {
    const keys = indexTerms(query).map((t) => t.key);
    const ranked: { id: number; label: string; score: number; length: number }[] = [];
    if (keys.length) {
      // Fetch for one term only, the one whose prefix spans the fewest chunks (then the longest):
      // each candidate comes with its full label, so the other terms are checked on the labels.
      const spans = keys.map((k) => chunksForPrefix(this.#chunks, k).length);
      let primary = 0;
      for (let i = 1; i < keys.length; i++) {
        if (spans[i]! < spans[primary]! || (spans[i] === spans[primary] && keys[i]!.length > keys[primary]!.length)) primary = i;
      }
      const candidates = await this.#match(keys[primary]!);
      for (const [id, { label, keys: labelKeys }] of candidates) {
        let score = 0;
        for (const k of keys) {
          const q = matchQuality(k, labelKeys, this.#fuzzy);
          if (q === 0) {
            score = 0;
            break;
          }
          score += q;
        }
        if (score > 0) ranked.push({ id, label, score, length: labelKeys.length });
      }
      ranked.sort((a, b) => b.score - a.score || a.length - b.length || a.id - b.id);
    }

    const hits: SearchHit[] = [];
    const idMatch = /^\s*#?(\d+)\s*$/.exec(query);
    const direct = idMatch ? Number(idMatch[1]) : -1;
    if (direct >= 0 && direct < this.#features && Number.isSafeInteger(direct)) {
      hits.push({ id: direct, label: ranked.find((r) => r.id === direct)?.label ?? null });
    }
    for (const r of ranked) {
      if (hits.length >= limit) break;
      if (r.id !== direct) hits.push({ id: r.id, label: r.label, score: r.score });
    }
    return hits.slice(0, limit);
  }

  /** Features with a term starting with `key` (or, failing that, a near miss of it), with labels. */
  async #match(key: string): Promise<Map<number, Candidate>> {
    const out = new Map<number, Candidate>();
    const chunks = await Promise.all(chunksForPrefix(this.#chunks, key).slice(0, this.#maxChunksPerTerm).map((i) => this.#load(i)));
    for (const c of chunks) collect(c, key, out);
    if (out.size || !this.#fuzzy || allowedEdits(key.length) === 0) return out;

    // Typo fallback: the chunks around where `key` would sort, within its first two letters.
    const around = chunksForPrefix(this.#chunks, key.slice(0, 2));
    const pos = firstChunkEndingAtOrAfter(this.#chunks, key);
    around.sort((a, b) => Math.abs(a - pos) - Math.abs(b - pos) || a - b);
    const nearby = await Promise.all(around.slice(0, this.#maxFuzzyChunks).map((i) => this.#load(i)));
    for (const c of nearby) {
      for (const candidate of chunkKeys(c)) {
        if (isNearMiss(key, candidate)) collect(c, candidate, out);
      }
    }
    return out;
  }

  /** Fetch, check and import chunk `i`, once; a failed fetch is forgotten so a later search retries. */
  #load(i: number): Promise<LoadedChunk> {
    let p = this.#loaded.get(i);
    if (!p) {
      const info = this.#chunks[i]!;
      p = this.#fetchChunk(info);
      this.#loaded.set(i, p);
      p.catch(() => this.#loaded.delete(i));
    }
    return p;
  }

  async #fetchChunk(info: SearchChunkInfo): Promise<LoadedChunk> {
    const url = this.#baseUrl + info.path;
    const res = await this.#fetch(url);
    if (!res.ok) throw new Error(`search chunk ${info.path}: HTTP ${res.status}`);
    // A full schema check costs about a millisecond on a 40 KB chunk (see the tests), far less than
    // the fetch, and turns a stale or truncated file into a message naming it.
    const chunk = parseWithFriendlyErrors(searchChunkSchema, await res.json(), info.path);
    const index = createChunkIndex();
    for (const [k, v] of chunk.index) index.import(k, v);
    return { info, index, labels: new Map(chunk.labels), labelKeys: new Map() };
  }
}

function collect(chunk: LoadedChunk, key: string, out: Map<number, Candidate>): void {
  const ids = chunk.index.search(key, { limit: Math.max(1, chunk.labels.size) }) as number[];
  for (const id of ids) {
    if (out.has(id)) continue;
    const label = chunk.labels.get(id);
    if (label === undefined) continue;
    let keys = chunk.labelKeys.get(id);
    if (!keys) chunk.labelKeys.set(id, (keys = indexTerms(label).map((t) => t.key)));
    out.set(id, { label, keys });
  }
}

function chunkKeys(chunk: LoadedChunk): string[] {
  if (!chunk.keys) {
    const keys = new Set<string>();
    const { from, to } = chunk.info;
    for (const label of chunk.labels.values()) {
      for (const { key } of indexTerms(label)) if (key >= from && key <= to) keys.add(key);
    }
    chunk.keys = [...keys].sort();
  }
  return chunk.keys;
}
