/**
 * The search index, cut so that a browser fetches a small directory and then only the chunks a
 * query's terms fall in (Pagefind's approach; see contract/atlas.ts, SearchDirectory and
 * SearchChunk, for the files).
 *
 * Every label is split into words (`searchTerms`) and each word into its index key (`indexKey`,
 * shared with the browser). Features get one atlas-wide importance rank (fewer label keys first,
 * then higher density, then smaller id), and posting lists hold ranks best first, so the head of a
 * list is its best part:
 * - a key's postings are split by word form: "the" and "they" share the key "the" (the encoder
 *   merges sound-alike letters), but each keeps its own list. Ordered by importance alone, the
 *   48 postings a common key keeps in its chunk could all be "they", and a query for "the" would
 *   never see a label holding "the" itself. A form's list puts the labels that are exactly the
 *   word first (a label equal to a one-word query), then goes by rank;
 * - a key keeps at most `headPostings` postings per form, and `headBytes` of postings and labels
 *   over all its forms, in its chunk, handed out one posting per form in turn (commonest form
 *   first), so a rare form of a common key is listed whole and a common one keeps its best;
 *   the rest go to the form's "more" pages, fetched only when a query needs them, unless they are
 *   few (`inlineTail`) and the key's bytes allow: then the form is listed whole. So a common
 *   word costs the same as a rare one until a query needs more than its first postings;
 * - a prefix whose keys run across a chunk boundary gets a bounded list of the best features of
 *   all its keys, stored in the chunk the prefix routes to, so "s" or "hur" costs one chunk, not
 *   every chunk from "s" to "sz".
 * Keys, in order, are packed greedily into chunks of at most `maxChunkBytes` of JSON. Which
 * prefixes need a list depends on where chunks are cut, and the lists move the cuts, so the two
 * are settled by iterating until the set of lists stops growing (at most 8 rounds).
 *
 * Why not flexsearch inside a chunk any more: its forward (prefix) index stores a posting list for
 * every prefix of every word, and an exported index has no directory of its terms, so a prefix
 * that spans chunks can only be answered by fetching them all. Measured on the 341,479 GloVe
 * words (`npx tsx bench/search.ts --case glove --flexsearch`): flexsearch's export of the labels
 * is 25.7 MB with forward tokenizing and 8.45 MB with strict (which loses prefix search), in both
 * cases without the labels themselves; this index is 16.5 MB with every label in it (over half of
 * it is the [rank, id, label] triples). Here a prefix is a binary search in a sorted key list,
 * and prefix lists exist only where chunk boundaries make them necessary, bounded. The flexsearch
 * Encoder (sound-alike letters, repeated letters) is kept for the keys.
 */
import { FORMAT_VERSION, searchTerms, type SearchChunk, type SearchDirectory, type SearchForm, type SearchMorePage } from "../../contract/atlas.ts";
import { indexKey } from "../../src/client/search-index.ts";

export interface SearchEntry {
  id: number;
  label: string;
  /** Fraction of tokens the feature fires on; higher ranks first among equal labels. NaN or absent: unknown (ranked last). */
  density?: number;
}

export interface SearchIndexOptions {
  /** Largest chunk file, in bytes of JSON; only a single longer label exceeds it. Default 32 KB. */
  maxChunkBytes?: number;
  /** Postings a word form keeps in its chunk before the rest go to more pages. Default 48. */
  headPostings?: number;
  /** Bytes of postings (ranks and labels) a key keeps in its chunk, over all its forms. Default maxChunkBytes / 4. */
  headBytes?: number;
  /** Postings a prefix list keeps. Default 24. */
  prefixPostings?: number;
  /** Postings in one more page. Default 512 (and at most maxChunkBytes of JSON). */
  pagePostings?: number;
  /**
   * A form whose tail (the postings after its head) is at most this long keeps it in the chunk
   * instead of a more page, while the key's `headBytes` allow. Default `headPostings`; 0 turns it off.
   */
  inlineTail?: number;
}

export const DEFAULT_MAX_CHUNK_BYTES = 32 * 1024;

/** Callbacks that store a file and return its atlas-relative path (the writer names it by content). */
export interface SearchFileSink {
  chunk(index: number, json: string): string;
  /** Page `page` (counted over the whole chunk, so names never repeat) of a key in chunk `chunk`. */
  more(chunk: number, page: number, json: string): string;
  directory(json: string): string;
}

export interface BuiltSearchIndex {
  directory: string;
  chunks: number;
  terms: number;
  features: number;
  /** Bytes of all files written, by kind. */
  bytes: { directory: number; chunks: number; more: number };
  /** Largest chunk file, bytes. */
  largestChunk: number;
}

type Feature = [rank: number, id: number, label: string];

interface Doc {
  id: number;
  label: string;
  density: number;
  /** Distinct index keys of the label: the first criterion of importance. */
  keyCount: number;
  /** Distinct words of the label that have an index key, in label order (shared strings). */
  words: string[];
  /** The label's one word, when it has exactly one: such a feature leads that word's list. */
  whole: string | null;
  rank: number;
  /** JSON of [rank, id, label] plus its comma. */
  bytes: number;
}

interface Form {
  word: string;
  /** All postings of the form, in its order (whole-label matches, then rank). */
  list: number[];
  head: number[];
  rest: number[];
}

interface Item {
  key: string;
  kind: "prefix" | "term";
  /** Postings kept in the chunk: of all forms together for a term (each rank once), ascending for a prefix. */
  head: number[];
  /** All postings of the key (for a term) or the prefix (for a prefix list). */
  count: number;
  /** Bytes of the entry's own JSON, without its features. */
  bytes: number;
  /** A term's word forms, sorted by word. */
  forms: Form[];
}

const CHUNK_ENVELOPE = JSON.stringify({ formatVersion: FORMAT_VERSION, terms: [], prefixes: [], features: [] } satisfies SearchChunk).length;
const PAGE_ENVELOPE = JSON.stringify({ formatVersion: FORMAT_VERSION, features: [] } satisfies SearchMorePage).length;
/** Bytes a more-page path takes in a chunk: `"search/123-more-4.0123456789ab.json",`, with room to spare. */
const MORE_PATH_BYTES = 48;

function jsonBytes(v: unknown): number {
  return Buffer.byteLength(JSON.stringify(v));
}

/** The shortest prefix of `first` that sorts after `previousLast` (first > previousLast). */
export function shortestBound(previousLast: string, first: string): string {
  let i = 0;
  while (i < first.length && i < previousLast.length && first.charCodeAt(i) === previousLast.charCodeAt(i)) i++;
  return first.slice(0, i + 1);
}

function compareDocs(a: Doc, b: Doc): number {
  const da = Number.isFinite(a.density) ? a.density : -Infinity;
  const db = Number.isFinite(b.density) ? b.density : -Infinity;
  return a.keyCount - b.keyCount || db - da || a.id - b.id;
}

export function buildSearchIndex(entries: readonly SearchEntry[], sink: SearchFileSink, opts: SearchIndexOptions = {}): BuiltSearchIndex {
  const maxChunkBytes = opts.maxChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES;
  const headPostings = opts.headPostings ?? 48;
  const headBytes = opts.headBytes ?? Math.floor(maxChunkBytes / 4);
  const prefixPostings = opts.prefixPostings ?? 24;
  const pagePostings = opts.pagePostings ?? 512;
  const inlineTail = opts.inlineTail ?? headPostings;
  for (const [name, v] of Object.entries({ maxChunkBytes, headPostings, headBytes, prefixPostings, pagePostings })) {
    if (!(Number.isInteger(v) && v > 0)) throw new Error(`search: ${name} must be a positive integer, got ${v}`);
  }
  if (!(Number.isInteger(inlineTail) && inlineTail >= 0)) throw new Error(`search: inlineTail must be a non-negative integer, got ${inlineTail}`);

  const docs: Doc[] = [];
  const seenIds = new Set<number>();
  const interned = new Map<string, string>();
  for (const e of entries) {
    if (!Number.isInteger(e.id) || e.id < 0) throw new Error(`search: feature id ${e.id} is not a non-negative integer`);
    if (typeof e.label !== "string") throw new Error(`search: label of feature ${e.id} is not a string`);
    if (seenIds.has(e.id)) throw new Error(`search: feature ${e.id} has two labels`);
    seenIds.add(e.id);
    const all = searchTerms(e.label);
    const words: string[] = [];
    const keys = new Set<string>();
    for (const w of all) {
      const key = indexKey(w);
      if (key === null) continue;
      // One string per distinct word: a million labels repeat a few tens of thousands of words.
      let word = interned.get(w);
      if (word === undefined) interned.set(w, (word = w));
      if (!words.includes(word)) words.push(word);
      keys.add(key);
    }
    const whole = all.length === 1 ? words[0] ?? null : null;
    if (words.length) docs.push({ id: e.id, label: e.label, density: e.density ?? NaN, keyCount: keys.size, words, whole, rank: 0, bytes: 0 });
  }
  docs.sort(compareDocs);
  docs.forEach((d, rank) => {
    d.rank = rank;
    d.bytes = jsonBytes([rank, d.id, d.label]) + 1;
  });

  // Posting lists in rank order, because docs are: per key, and per key and word.
  const postings = new Map<string, number[]>();
  const formPostings = new Map<string, Map<string, number[]>>();
  for (const d of docs) {
    for (const word of d.words) {
      const key = indexKey(word)!;
      let list = postings.get(key);
      if (!list) postings.set(key, (list = []));
      // Two words of one key ("they said the") post the feature to the key once.
      if (list.at(-1) !== d.rank) list.push(d.rank);
      let forms = formPostings.get(key);
      if (!forms) formPostings.set(key, (forms = new Map()));
      let formList = forms.get(word);
      if (!formList) forms.set(word, (formList = []));
      formList.push(d.rank);
    }
  }
  const keys = [...postings.keys()].sort();

  const postingBytes = (r: number): number => docs[r]!.bytes + String(r).length + 1;

  const headOf = (list: readonly number[], maxCount: number): number[] => {
    const head: number[] = [];
    let bytes = 0;
    for (const r of list) {
      const b = postingBytes(r);
      if (head.length >= maxCount || (head.length > 0 && bytes + b > headBytes)) break;
      head.push(r);
      bytes += b;
    }
    return head;
  };

  const termItems: Item[] = keys.map((key) => {
    const count = postings.get(key)!.length;
    const forms: Form[] = [...formPostings.get(key)!]
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([word, ranks]) => {
        // A label that is exactly this word is what a one-word query wants first: it leads.
        const whole = ranks.filter((r) => docs[r]!.whole === word);
        const list = whole.length ? [...whole, ...ranks.filter((r) => docs[r]!.whole !== word)] : ranks;
        return { word, list, head: [], rest: [] };
      });
    // One posting per form in turn, commonest form first, until every form has its share or the
    // key's bytes run out: a key's share of its chunk stays what it was with one list.
    const turns = [...forms].sort((a, b) => b.list.length - a.list.length || (a.word < b.word ? -1 : 1));
    let bytes = 0;
    let given = 0;
    for (let turn = 0, full = false; !full; turn++) {
      let grew = false;
      for (const f of turns) {
        if (turn >= Math.min(f.list.length, headPostings)) continue;
        const b = postingBytes(f.list[turn]!);
        if (given > 0 && bytes + b > headBytes) {
          full = true;
          break;
        }
        f.head.push(f.list[turn]!);
        bytes += b;
        given++;
        grew = true;
      }
      if (!grew) break;
    }
    // A short tail joins its head: a more page of a few postings costs a file and a request to
    // spare the chunk a kilobyte or two, and on a page-budget site every file counts. Labels built
    // from a few thousand words (the 1M benchmark's) give most words a list just over the head:
    // there 7,651 of 17,214 more pages held ≤ 48 postings. Shortest tails first, as each is a file.
    if (inlineTail > 0) {
      const short = forms
        .map((f) => ({ f, tail: f.list.length - f.head.length }))
        .filter(({ tail }) => tail > 0 && tail <= inlineTail)
        .sort((a, b) => a.tail - b.tail || (a.f.word < b.f.word ? -1 : 1));
      for (const { f } of short) {
        let tailBytes = 0;
        for (let i = f.head.length; i < f.list.length; i++) tailBytes += postingBytes(f.list[i]!);
        if (bytes + tailBytes > headBytes) continue;
        f.head.push(...f.list.slice(f.head.length));
        bytes += tailBytes;
      }
    }
    let pages = 0;
    for (const f of forms) {
      f.rest = f.list.slice(f.head.length);
      pages += countPages(f.rest, docs, maxChunkBytes, pagePostings);
    }
    const head = [...new Set(forms.flatMap((f) => f.head))];
    const entry = [key, count, forms.map((f) => [f.word, f.list.length, f.head, []] satisfies SearchForm)];
    return { key, kind: "term", head, count, bytes: jsonBytes(entry) + 1 + pages * MORE_PATH_BYTES, forms };
  });

  /** The best postings over all keys in keys[lo, hi), and how many there are in all. */
  const prefixItem = (prefix: string): Item => {
    let lo = lowerBound(keys, prefix);
    const hi = lowerBound(keys, prefix + "\uffff");
    const all = new Set<number>();
    for (; lo < hi; lo++) for (const r of postings.get(keys[lo]!)!) all.add(r);
    const sorted = [...all].sort((a, b) => a - b);
    const head = headOf(sorted, prefixPostings);
    return { key: prefix, kind: "prefix", head, count: sorted.length, bytes: jsonBytes([prefix, sorted.length, head]) + 1, forms: [] };
  };

  const prefixItems = new Map<string, Item>();
  let chunks: Item[][] = [];
  for (let round = 0; round < 8; round++) {
    const items = [...termItems, ...prefixItems.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.kind === "prefix" ? -1 : 1));
    chunks = cut(items, docs, maxChunkBytes);
    let added = 0;
    for (let j = 1; j < chunks.length; j++) {
      const last = chunks[j - 1]!.at(-1)!.key;
      const first = chunks[j]![0]!.key;
      for (let len = 1; len <= Math.min(last.length, first.length) && last.charCodeAt(len - 1) === first.charCodeAt(len - 1); len++) {
        const p = first.slice(0, len);
        if (!prefixItems.has(p)) {
          prefixItems.set(p, prefixItem(p));
          added++;
        }
      }
    }
    if (added === 0) break;
  }

  const bytes = { directory: 0, chunks: 0, more: 0 };
  let largestChunk = 0;
  const directoryChunks: SearchDirectory["chunks"] = [];
  chunks.forEach((items, c) => {
    const terms: SearchChunk["terms"] = [];
    const prefixes: SearchChunk["prefixes"] = [];
    const named = new Set<number>();
    let pages = 0;
    for (const item of items) {
      for (const r of item.head) named.add(r);
      if (item.kind === "prefix") {
        prefixes.push([item.key, item.count, item.head]);
        continue;
      }
      const forms: SearchForm[] = item.forms.map((f) => {
        const more: string[] = [];
        for (let start = 0; start < f.rest.length; ) {
          const end = pageEnd(f.rest, start, docs, maxChunkBytes, pagePostings);
          const page: Feature[] = f.rest.slice(start, end).map((r) => [r, docs[r]!.id, docs[r]!.label]);
          start = end;
          const json = JSON.stringify({ formatVersion: FORMAT_VERSION, features: page } satisfies SearchMorePage);
          bytes.more += Buffer.byteLength(json);
          more.push(sink.more(c, pages++, json));
        }
        return [f.word, f.list.length, f.head, more];
      });
      terms.push([item.key, item.count, forms]);
    }
    const features: Feature[] = [...named].sort((a, b) => a - b).map((r) => [r, docs[r]!.id, docs[r]!.label]);
    const json = JSON.stringify({ formatVersion: FORMAT_VERSION, terms, prefixes, features } satisfies SearchChunk);
    const size = Buffer.byteLength(json);
    bytes.chunks += size;
    largestChunk = Math.max(largestChunk, size);
    const bound = c === 0 ? "" : shortestBound(chunks[c - 1]!.at(-1)!.key, items[0]!.key);
    directoryChunks.push([bound, sink.chunk(c, json)]);
  });
  const directoryJson = JSON.stringify({ formatVersion: FORMAT_VERSION, chunks: directoryChunks } satisfies SearchDirectory);
  bytes.directory = Buffer.byteLength(directoryJson);
  return { directory: sink.directory(directoryJson), chunks: chunks.length, terms: keys.length, features: docs.length, bytes, largestChunk };
}

/** First index whose key is ≥ `key`. */
function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Pack items, in order, into chunks of at most `max` bytes of JSON. The estimate is exact for the
 * entries and the features (each feature counted once per chunk), up to the more-page paths,
 * which get a fixed allowance per page. A prefix list and the key equal to it are one unit: a cut
 * between them would give two chunks the same bound.
 */
function cut(items: readonly Item[], docs: readonly Doc[], max: number): Item[][] {
  const chunks: Item[][] = [];
  let current: Item[] = [];
  let bytes = CHUNK_ENVELOPE;
  let named = new Set<number>();
  const cost = (unit: readonly Item[], seen: ReadonlySet<number>): number => {
    let added = 0;
    const mine = new Set<number>();
    for (const item of unit) {
      added += item.bytes;
      for (const r of item.head) {
        if (seen.has(r) || mine.has(r)) continue;
        mine.add(r);
        added += docs[r]!.bytes;
      }
    }
    return added;
  };
  for (let i = 0; i < items.length; ) {
    let j = i + 1;
    while (j < items.length && items[j]!.key === items[i]!.key) j++;
    const unit = items.slice(i, j);
    i = j;
    let added = cost(unit, named);
    if (current.length > 0 && bytes + added > max) {
      chunks.push(current);
      current = [];
      bytes = CHUNK_ENVELOPE;
      named = new Set();
      added = cost(unit, named);
    }
    current.push(...unit);
    bytes += added;
    for (const item of unit) for (const r of item.head) named.add(r);
  }
  if (current.length) chunks.push(current);
  return chunks;
}

/** How many more pages a posting list's tail fills; the writer below cuts them the same way. */
function countPages(rest: readonly number[], docs: readonly Doc[], max: number, perPage: number): number {
  let pages = 0;
  for (let start = 0; start < rest.length; pages++) start = pageEnd(rest, start, docs, max, perPage);
  return pages;
}

/** End (exclusive) of the more page that starts at `start`. */
function pageEnd(rest: readonly number[], start: number, docs: readonly Doc[], max: number, perPage: number): number {
  let end = start;
  let bytes = PAGE_ENVELOPE;
  while (end < rest.length) {
    const b = docs[rest[end]!]!.bytes;
    if (end - start >= perPage || (end > start && bytes + b > max)) break;
    bytes += b;
    end++;
  }
  return end;
}
