import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import {
  FORMAT_VERSION,
  searchChunkSchema,
  searchDirectorySchema,
  searchMorePageSchema,
  searchTerms,
  type SearchChunk,
  type SearchDirectory,
} from "../../contract/atlas.ts";
import { buildSearchIndex, shortestBound, type SearchEntry, type SearchIndexOptions } from "../../precompute/search/chunks.ts";
import { chunksForPrefix, indexKey, indexTerms, routeKey } from "../../src/client/search-index.ts";
import { syntheticEntries } from "./helpers/search-labels.ts";

const repoRoot = resolve(import.meta.dirname, "../..");
const fixtures = resolve(repoRoot, "../shared/fixtures");

/** The annotated features of the feature-circuits Gemma-2-2B file; id = 0-based line number. */
function annotationEntries(): SearchEntry[] {
  const lines = readFileSync(resolve(fixtures, "feature-circuits-annotations/gemma-2-2b.jsonl"), "utf8").split("\n");
  const out: SearchEntry[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    const rec = JSON.parse(line) as { Name: string; Annotation?: string };
    if (rec.Annotation) out.push({ id: i, label: rec.Annotation });
  });
  return out;
}

interface Built {
  files: Map<string, string>;
  directory: SearchDirectory;
  chunks: SearchChunk[];
  bounds: string[];
  result: ReturnType<typeof buildSearchIndex>;
}

function build(entries: readonly SearchEntry[], opts: SearchIndexOptions = {}): Built {
  const files = new Map<string, string>();
  const put = (path: string, json: string): string => {
    expect(files.has(path), path).toBe(false);
    files.set(path, json);
    return path;
  };
  const result = buildSearchIndex(
    entries,
    { chunk: (i, json) => put(`search/${i}.json`, json), more: (c, k, json) => put(`search/${c}-more-${k}.json`, json), directory: (json) => put("search/directory.json", json) },
    opts,
  );
  const directory = searchDirectorySchema.parse(JSON.parse(files.get(result.directory)!));
  const chunks = directory.chunks.map(([, path]) => searchChunkSchema.parse(JSON.parse(files.get(path)!)));
  return { files, directory, chunks, bounds: directory.chunks.map((c) => c[0]), result };
}

/** The atlas-wide importance order the index promises: fewer label terms, higher density (unknown last), smaller id. */
function expectedRanks(entries: readonly SearchEntry[]): Map<number, number> {
  const docs = entries
    .map((e) => ({ ...e, terms: indexTerms(e.label).length, d: Number.isFinite(e.density ?? NaN) ? e.density! : -Infinity }))
    .filter((e) => e.terms > 0)
    .sort((a, b) => a.terms - b.terms || b.d - a.d || a.id - b.id);
  return new Map(docs.map((e, rank) => [e.id, rank]));
}

/** Every posting of `key`: the chunk's head, then its more pages, as [rank, id] pairs. */
function allPostings(b: Built, key: string): [number, number][] {
  const chunk = b.chunks[routeKey(b.bounds, key)]!;
  const entry = chunk.terms.find((t) => t[0] === key);
  if (!entry) return [];
  const ids = new Map(chunk.features.map(([rank, id]) => [rank, id]));
  const out: [number, number][] = entry[2].map((r) => [r, ids.get(r)!]);
  for (const path of entry[3]) {
    const page = searchMorePageSchema.parse(JSON.parse(b.files.get(path)!));
    for (const [rank, id] of page.features) out.push([rank, id]);
  }
  return out;
}

describe("buildSearchIndex", () => {
  const entries = annotationEntries();

  it("reads the 444 annotated features of the fixture", () => {
    expect(entries.length).toBe(444);
  });

  for (const max of [undefined, 2048]) {
    describe(`with ${max ?? "the default"} chunk bytes`, () => {
      const b = build(entries, max ? { maxChunkBytes: max } : {});
      const ranks = expectedRanks(entries);

      it("writes a directory of sorted, distinct bounds, the first empty, naming every chunk", () => {
        expect(b.directory.formatVersion).toBe(FORMAT_VERSION);
        expect(b.bounds[0]).toBe("");
        for (let i = 1; i < b.bounds.length; i++) expect(b.bounds[i - 1]! < b.bounds[i]!).toBe(true);
        if (max) expect(b.chunks.length).toBeGreaterThan(8);
        expect(b.result.chunks).toBe(b.chunks.length);
        expect(b.result.features).toBe(entries.length);
      });

      it("keeps each chunk's keys and prefix lists inside its directory range, sorted", () => {
        b.chunks.forEach((c, i) => {
          const lo = b.bounds[i]!;
          const hi = b.bounds[i + 1];
          for (const key of [...c.terms.map((t) => t[0]), ...c.prefixes.map((p) => p[0])]) {
            expect(key >= lo && (hi === undefined || key < hi), `${key} in chunk ${i}`).toBe(true);
          }
          const keys = c.terms.map((t) => t[0]);
          expect(keys).toEqual([...keys].sort());
          const ranksListed = c.features.map(([r]) => r);
          expect(ranksListed).toEqual([...ranksListed].sort((a, c) => a - c));
        });
      });

      it("round-trips every posting: each feature is found under each of its keys, in rank order, with its label", () => {
        const byId = new Map(entries.map((e) => [e.id, e.label]));
        const postings = new Map<string, number[]>();
        for (const e of entries) for (const { key } of indexTerms(e.label)) postings.set(key, [...(postings.get(key) ?? []), e.id]);
        let terms = 0;
        for (const [key, ids] of postings) {
          const got = allPostings(b, key);
          expect(got.map(([, id]) => id).sort((x, y) => x - y)).toEqual([...ids].sort((x, y) => x - y));
          expect(got.map(([r]) => r)).toEqual(ids.map((id) => ranks.get(id)!).sort((x, y) => x - y));
          for (const [r, id] of got) expect(ranks.get(id)).toBe(r);
          const entry = b.chunks[routeKey(b.bounds, key)]!.terms.find((t) => t[0] === key)!;
          expect(entry[1]).toBe(ids.length);
          terms++;
        }
        expect(b.result.terms).toBe(terms);
        for (const c of b.chunks) for (const [, id, label] of c.features) expect(label).toBe(byId.get(id));
      });

      it("gives every prefix that runs across chunks the best features of all its keys, in the chunk it routes to", () => {
        const keys = [...new Set(entries.flatMap((e) => indexTerms(e.label).map((t) => t.key)))].sort();
        const prefixes = new Set(keys.flatMap((k) => Array.from({ length: k.length }, (_, i) => k.slice(0, i + 1))));
        let spanning = 0;
        for (const p of prefixes) {
          const span = chunksForPrefix(b.bounds, p);
          const home = b.chunks[span[0]!]!;
          const list = home.prefixes.find((x) => x[0] === p);
          const withKeys = span.filter((i) => b.chunks[i]!.terms.some((t) => t[0].startsWith(p)));
          if (withKeys.length <= 1) continue;
          spanning++;
          expect(list, p).toBeDefined();
          const union = new Set<number>();
          for (const k of keys) if (k.startsWith(p)) for (const [r] of allPostings(b, k)) union.add(r);
          const best = [...union].sort((x, y) => x - y);
          expect(list![1]).toBe(best.length);
          expect(list![2]).toEqual(best.slice(0, list![2].length));
          expect(list![2].length).toBeGreaterThan(0);
          expect(list![2].length).toBeLessThanOrEqual(24);
        }
        if (max) expect(spanning).toBeGreaterThan(5);
      });
    });
  }

  it("bounds every chunk in bytes, and a common word by its head and its pages", () => {
    const max = 8 * 1024;
    const synthetic = syntheticEntries(20_000, 3);
    const b = build(synthetic, { maxChunkBytes: max, headPostings: 32 });
    for (const [path, json] of b.files) if (path !== b.result.directory) expect(Buffer.byteLength(json), path).toBeLessThanOrEqual(max);
    // The most common word: its chunk lists 32 postings, the rest are in pages.
    const counts = new Map<string, number>();
    for (const e of synthetic) for (const { key } of indexTerms(e.label)) counts.set(key, (counts.get(key) ?? 0) + 1);
    const [common, n] = [...counts].sort((a, c) => c[1] - a[1])[0]!;
    expect(n).toBeGreaterThan(500);
    const entry = b.chunks[routeKey(b.bounds, common)]!.terms.find((t) => t[0] === common)!;
    expect(entry[1]).toBe(n);
    expect(entry[2].length).toBe(32);
    expect(entry[3].length).toBeGreaterThan(1);
    expect(allPostings(b, common).length).toBe(n);
    expect(b.result.largestChunk).toBeLessThanOrEqual(max);
    // Many chunks share a long prefix here ("sto…"): bounds still never repeat.
    for (let i = 1; i < b.bounds.length; i++) expect(b.bounds[i - 1]! < b.bounds[i]!, b.bounds[i]).toBe(true);
  });

  it("exceeds the byte cap only for a label longer than the cap, and keeps that label whole", () => {
    const long = `storm ${"x".repeat(5000)}`;
    const b = build([{ id: 0, label: long }, ...syntheticEntries(500, 5).map((e) => ({ ...e, id: e.id + 1 }))], { maxChunkBytes: 2048 });
    const over = [...b.files].filter(([path, json]) => path !== b.result.directory && Buffer.byteLength(json) > 2048);
    expect(over.length).toBeGreaterThan(0);
    for (const [, json] of over) expect(json).toContain(long);
  });

  it("ranks by fewer label terms, then density, then id", () => {
    const b = build([
      { id: 4, label: "storm surge", density: 0.5 },
      { id: 3, label: "storm", density: 0.001 },
      { id: 2, label: "storm", density: 0.01 },
      { id: 1, label: "storm front", density: NaN },
      { id: 0, label: "storm", density: NaN },
    ]);
    expect(allPostings(b, indexKey("storm")!).map(([, id]) => id)).toEqual([2, 3, 0, 4, 1]);
  });

  it("is byte-identical whatever the order of the input", () => {
    const synthetic = syntheticEntries(3000, 9);
    const a = build(synthetic, { maxChunkBytes: 4096 });
    const b = build([...synthetic].reverse(), { maxChunkBytes: 4096 });
    expect([...b.files]).toEqual([...a.files]);
  });

  it("cuts bounds to the shortest prefix that sorts after the previous chunk", () => {
    expect(shortestBound("apple", "apricot")).toBe("apr");
    expect(shortestBound("kath", "katharsis")).toBe("katha");
    expect(shortestBound("a", "b")).toBe("b");
  });

  it("encodes terms idempotently, so the client can search with index keys", () => {
    for (const e of entries) {
      for (const term of searchTerms(e.label)) {
        const key = indexKey(term)!;
        expect(indexKey(key)).toBe(key);
      }
    }
    expect(indexKey("lyrical")).toBe(indexKey("lirical"));
    expect(indexKey("2024")).toBe("2024");
  });

  it("skips labels without terms, and writes an empty directory for no labels", () => {
    const empty = build([]);
    expect(empty.directory.chunks).toEqual([]);
    const b = build([{ id: 3, label: "— … —" }, { id: 4, label: "storm" }]);
    expect(b.chunks.flatMap((c) => c.features)).toEqual([[0, 4, "storm"]]);
  });

  it("names the feature on bad input", () => {
    const sink = { chunk: () => "", more: () => "", directory: () => "" };
    expect(() => buildSearchIndex([{ id: 7, label: "a" }, { id: 7, label: "b" }], sink)).toThrow(/feature 7 has two labels/);
    expect(() => buildSearchIndex([{ id: -1, label: "a" }], sink)).toThrow(/feature id -1/);
    expect(() => buildSearchIndex([], sink, { maxChunkBytes: 0 })).toThrow(/maxChunkBytes/);
  });
});
