/**
 * Search over an atlas's labels in the browser, fetching only the index files a query needs.
 *
 * The index (`precompute/search/chunks.ts` writes it; contract/atlas.ts describes the files) is a
 * small directory of sorted term ranges and one chunk per range. A query fetches the directory once
 * (about 45 bytes per chunk), then, per query term, the one chunk its key routes to. Each chunk holds
 * its keys' best postings (by the atlas-wide importance rank) with their labels, and, for prefixes
 * that run on into later chunks, a short list of the best features of the whole prefix. A very
 * common word's further postings sit in "more" pages, fetched only when a query needs them (a
 * multi-word query whose rarest word is still common). This module is framework-free: the search
 * box UI sits on top of it.
 *
 * Matching, per query term (terms are AND-ed, and every term matches as a prefix):
 * 1. The term is encoded as the index was (SEARCH_ENCODER_OPTIONS: sound-alike letters merged,
 *    repeated letters collapsed), so "lirical" finds "lyrical" and "hurrycane" finds "hurricane".
 * 2. In the chunk the key routes to: every key starting with it (a binary search), plus the
 *    chunk's list for the prefix when its keys run on into later chunks. Candidates of a prefix
 *    that spans chunks are therefore its best features, not all of them.
 * 3. Only when that finds nothing: typo fallback. Keys within edit distance 1 (2 for encoded keys
 *    of 8+ letters) of a prefix of an index key, sharing its first two letters, are searched
 *    instead, in the few chunks around where the term would sort. So "hurricaen" and "lyrcal" still
 *    work, but a typo in the first two letters does not: routing is by the start of the term.
 * The term with the fewest postings drives the query; the others are checked on its candidates'
 * labels.
 *
 * A numeric query ("1234" or "#1234") also names a feature directly: that feature comes first,
 * with its label when a label match found it and null otherwise (the UI shows "Feature #1234"
 * and can fetch the shard); the label search for the digits runs as usual after it.
 *
 * Ranking is deterministic: per query term 3 points when the label has that exact (encoded) term,
 * 2 for a prefix match, 1 for a typo match; ties go to the more important feature (fewer label
 * terms, then higher density, then smaller id: the index's rank).
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

/** How well a label (as its index keys) matches one query key: 3 exact, 2 prefix, 1 near miss, 0 not at all. */
function matchQuality(key: string, labelKeys: readonly string[], fuzzy: boolean): number {
  if (labelKeys.includes(key)) return 3;
  if (labelKeys.some((k) => k.startsWith(key))) return 2;
  return fuzzy && labelKeys.some((k) => isNearMiss(key, k)) ? 1 : 0;
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

/** What one query term found: candidates by rank, how many postings it has in all, and its unread pages. */
interface TermMatch {
  key: string;
  candidates: Map<number, Candidate>;
  total: number;
  /** More pages of the exact key, not fetched yet. */
  more: string[];
}

/** Index keys of a label, memoised: a result's label is checked against every query term. */
const labelKeyMemo = new Map<string, string[]>();
function labelKeys(label: string): string[] {
  let keys = labelKeyMemo.get(label);
  if (!keys) {
    if (labelKeyMemo.size >= 100_000) labelKeyMemo.clear();
    labelKeyMemo.set(label, (keys = indexTerms(label).map((t) => t.key)));
  }
  return keys;
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

  /** Features matching every term of `query`, best first; see the module comment for the rules. */
  async search(query: string, limit = 20): Promise<SearchHit[]> {
    const keys = indexTerms(query).map((t) => t.key);
    const ranked: (Candidate & { score: number })[] = [];
    if (keys.length) {
      const matches = await Promise.all(keys.map((k) => this.#match(k)));
      // The term with the fewest postings drives; the others are checked on its candidates' labels.
      let primary = matches[0]!;
      for (const m of matches) if (m.total < primary.total || (m.total === primary.total && m.key.length > primary.key.length)) primary = m;
      const seen = new Set<number>();
      const consider = (candidates: Iterable<Candidate>): void => {
        for (const c of candidates) {
          if (seen.has(c.rank)) continue;
          seen.add(c.rank);
          const own = labelKeys(c.label);
          let score = 0;
          for (const k of keys) {
            const q = matchQuality(k, own, this.#fuzzy);
            if (q === 0) {
              score = 0;
              break;
            }
            score += q;
          }
          if (score > 0) ranked.push({ ...c, score });
        }
      };
      consider(primary.candidates.values());
      // A common driving term lists only its best postings up front; read on while results are short.
      for (let page = 0; ranked.length < limit && page < Math.min(this.#maxMorePages, primary.more.length); page++) {
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

  /** Candidates for one query key (see the module comment), from the chunk it routes to. */
  async #match(key: string): Promise<TermMatch> {
    const { bounds, paths } = await this.#dir();
    const out: TermMatch = { key, candidates: new Map(), total: 0, more: [] };
    if (paths.length === 0) return out;
    const home = routeKey(bounds, key);
    const span = chunksForPrefix(bounds, key);
    const chunk = await this.#load(paths[home]!);
    collectPrefix(chunk, key, out);
    const list = chunk.prefixes.get(key);
    if (list) {
      for (const r of list[2]) addCandidate(chunk, r, out);
      out.total = Math.max(out.total, list[1]);
    } else if (span.length > 1) {
      // The builder lists every prefix that crosses a boundary; this only runs on an index whose
      // lists are missing, and reads the chunks the prefix spans (a few at most).
      const rest = await Promise.all(span.slice(1, 4).map((i) => this.#load(paths[i]!)));
      for (const c of rest) collectPrefix(c, key, out);
    }
    if (out.candidates.size || !this.#fuzzy || allowedEdits(key.length) === 0) return out;

    // Typo fallback: the chunks around where `key` would sort, within its first two letters.
    const around = chunksForPrefix(bounds, key.slice(0, 2));
    around.sort((a, b) => Math.abs(a - home) - Math.abs(b - home) || a - b);
    const nearby = await Promise.all(around.slice(0, this.#maxFuzzyChunks).map((i) => this.#load(paths[i]!)));
    for (const c of nearby) {
      for (const term of c.terms) {
        if (!isNearMiss(key, term[0])) continue;
        for (const r of term[2]) addCandidate(c, r, out);
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

/** Every key of the chunk that starts with `key`: their listed postings, and the exact key's more pages. */
function collectPrefix(chunk: LoadedChunk, key: string, out: TermMatch): void {
  for (let i = lowerBound(chunk.terms, key); i < chunk.terms.length && chunk.terms[i]![0].startsWith(key); i++) {
    const [k, count, head, more] = chunk.terms[i]!;
    for (const r of head) addCandidate(chunk, r, out);
    out.total += count;
    if (k === key) out.more = more;
  }
}
