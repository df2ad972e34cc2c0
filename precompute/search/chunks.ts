/**
 * The search index, cut into chunks so that the browser fetches only what a query needs
 * (Pagefind's approach): every label is split into terms, the distinct terms are sorted, and the
 * sorted list is cut into contiguous ranges of roughly `targetChunkBytes` of output each. A chunk
 * is a flexsearch index of, for each feature with a term in its range, just those terms, plus the
 * full labels of those features so results can be shown without another fetch.
 *
 * Terms are the `searchTerms` tokens encoded as flexsearch encodes them (`indexTerms` in
 * `src/client/search-index.ts`, shared with the browser), so that a query routes to a chunk by the
 * same key the chunk's index stores, and spelling variants the encoder merges land together.
 * A term is never split across chunks, so one very common term makes an oversized chunk.
 */
import { FORMAT_VERSION, type SearchChunk } from "../../contract/atlas.ts";
import { createChunkIndex, indexTerms } from "../../src/client/search-index.ts";

export interface SearchEntry {
  id: number;
  label: string;
}

export interface BuiltSearchChunk {
  /** Smallest term (encoded) in the chunk. */
  from: string;
  /** Largest term (encoded) in the chunk. */
  to: string;
  /** Number of distinct terms. */
  terms: number;
  /** The chunk file: a SearchChunk as JSON. */
  json: string;
}

export interface SearchChunkOptions {
  /**
   * Aim for chunks of about this many bytes of JSON. Default 48 KB: about 12 KB once gzipped
   * (measured), one round trip on any connection, while a 4,096-feature atlas still needs only a
   * handful of chunks. Smaller chunks mean less fetched per query but more files.
   */
  targetChunkBytes?: number;
}

export const DEFAULT_TARGET_CHUNK_BYTES = 48 * 1024;

interface Doc {
  id: number;
  label: string;
  terms: { term: string; key: string }[];
}

/**
 * Bytes a chunk's JSON grows by when `key` joins it, estimated from the export format: one map
 * entry `["prefix",[[id,…]]]` per prefix of the key (forward tokenizing), each listing every feature
 * with the key, JSON-escaped inside the export string; plus the register and label of each feature
 * new to the chunk. It over-counts features listed under one prefix by two of their terms.
 */
function addedBytes(key: string, docs: readonly Doc[], prefixes: Set<string>, seen: Set<number>): number {
  let bytes = 0;
  let idBytes = 0;
  for (const d of docs) {
    const b = String(d.id).length + 1;
    idBytes += b;
    if (!seen.has(d.id)) bytes += b + b + 4 + Buffer.byteLength(JSON.stringify(d.label));
  }
  for (let j = 1; j <= key.length; j++) {
    if (!prefixes.has(key.slice(0, j))) bytes += j + 12;
    bytes += idBytes;
  }
  return bytes;
}

/** Fixed cost of a chunk: the JSON envelope and the export keys. */
const CHUNK_OVERHEAD = 80;

export async function buildSearchChunks(entries: readonly SearchEntry[], opts: SearchChunkOptions = {}): Promise<BuiltSearchChunk[]> {
  const target = opts.targetChunkBytes ?? DEFAULT_TARGET_CHUNK_BYTES;
  if (!(target > 0)) throw new Error(`search: targetChunkBytes must be positive, got ${target}`);

  const docs: Doc[] = [];
  for (const e of entries) {
    if (!Number.isInteger(e.id) || e.id < 0) throw new Error(`search: feature id ${e.id} is not a non-negative integer`);
    if (typeof e.label !== "string") throw new Error(`search: label of feature ${e.id} is not a string`);
    const terms = indexTerms(e.label);
    if (terms.length) docs.push({ id: e.id, label: e.label, terms });
  }
  docs.sort((a, b) => a.id - b.id);
  for (let i = 1; i < docs.length; i++) {
    if (docs[i]!.id === docs[i - 1]!.id) throw new Error(`search: feature ${docs[i]!.id} has two labels`);
  }

  // Postings in id order, because docs are; chunks then add their features in id order.
  const postings = new Map<string, Doc[]>();
  for (const d of docs) {
    for (const { key } of d.terms) {
      let list = postings.get(key);
      if (!list) postings.set(key, (list = []));
      list.push(d);
    }
  }
  const keys = [...postings.keys()].sort();

  const ranges: string[][] = [];
  let current: string[] = [];
  let bytes = CHUNK_OVERHEAD;
  let prefixes = new Set<string>();
  let seen = new Set<number>();
  for (const key of keys) {
    const list = postings.get(key)!;
    const added = addedBytes(key, list, prefixes, seen);
    if (current.length && bytes + added > target) {
      ranges.push(current);
      current = [];
      bytes = CHUNK_OVERHEAD;
      prefixes = new Set();
      seen = new Set();
    }
    bytes += current.length ? added : addedBytes(key, list, prefixes, seen);
    current.push(key);
    for (let j = 1; j <= key.length; j++) prefixes.add(key.slice(0, j));
    for (const d of list) seen.add(d.id);
  }
  if (current.length) ranges.push(current);

  return ranges.map((range) => {
    const from = range[0]!;
    const to = range[range.length - 1]!;
    const members = new Map<number, Doc>();
    for (const key of range) for (const d of postings.get(key)!) members.set(d.id, d);
    const ordered = [...members.values()].sort((a, b) => a.id - b.id);

    const index = createChunkIndex();
    for (const d of ordered) {
      const own = d.terms.filter((t) => t.key >= from && t.key <= to).map((t) => t.term);
      index.add(d.id, own.join(" "));
    }
    const exported: [string, string][] = [];
    // With a synchronous handler flexsearch exports synchronously, in a fixed order.
    index.export((key, data) => {
      exported.push([key, data]);
    });
    const chunk: SearchChunk = {
      formatVersion: FORMAT_VERSION,
      index: exported,
      labels: ordered.map((d) => [d.id, d.label]),
    };
    return { from, to, terms: range.length, json: JSON.stringify(chunk) };
  });
}
