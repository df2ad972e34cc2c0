import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { searchDirectorySchema, searchTerms } from "../../contract/atlas.ts";
import { buildSearchIndex, type SearchEntry, type SearchIndexOptions } from "../../precompute/search/chunks.ts";
import { SearchIndex, chunksForPrefix, indexKey, prefixEditDistance, routeKey, type FetchLike, type SearchSource } from "../../src/client/search-index.ts";
import { syntheticEntries } from "./helpers/search-labels.ts";

const repoRoot = resolve(import.meta.dirname, "../..");
const fixtures = resolve(repoRoot, "../shared/fixtures");

/** The annotated features of the feature-circuits Gemma-2-2B file; id = 0-based line number. */
function annotationEntries(): { entries: SearchEntry[]; lines: number } {
  const lines = readFileSync(resolve(fixtures, "feature-circuits-annotations/gemma-2-2b.jsonl"), "utf8").split("\n");
  const entries: SearchEntry[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    const rec = JSON.parse(line) as { Annotation?: string };
    if (rec.Annotation) entries.push({ id: i, label: rec.Annotation });
  });
  return { entries, lines: lines.filter((l) => l.trim()).length };
}

const tempDirs: string[] = [];
afterAll(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

/** Write the index as an atlas's `search/` folder holds it; returns the folder, the source and the directory. */
function writeAtlas(entries: readonly SearchEntry[], features: number, opts: SearchIndexOptions = {}): { dir: string; source: SearchSource; bounds: string[]; paths: string[] } {
  const dir = mkdtempSync(join(tmpdir(), "search-index-"));
  tempDirs.push(dir);
  mkdirSync(join(dir, "search"));
  const put = (path: string, json: string): string => (writeFileSync(join(dir, path), json), path);
  const built = buildSearchIndex(
    entries,
    { chunk: (i, json) => put(`search/${i}.json`, json), more: (c, k, json) => put(`search/${c}-more-${k}.json`, json), directory: (json) => put("search/directory.json", json) },
    opts,
  );
  const directory = searchDirectorySchema.parse(JSON.parse(readFileSync(join(dir, built.directory), "utf8")));
  return { dir, source: { directory: built.directory, features }, bounds: directory.chunks.map((c) => c[0]), paths: directory.chunks.map((c) => c[1]) };
}

/** A fetch that serves files from `dir` under `base` and records every path it was asked for. */
function fileFetch(dir: string, base: string): { fetch: FetchLike; fetched: string[]; bytes: () => number } {
  const fetched: string[] = [];
  let bytes = 0;
  const fetch: FetchLike = async (url) => {
    expect(url.startsWith(base)).toBe(true);
    const path = url.slice(base.length);
    fetched.push(path);
    try {
      const text = readFileSync(join(dir, path), "utf8");
      bytes += Buffer.byteLength(text);
      return { ok: true, status: 200, json: async () => JSON.parse(text) as unknown };
    } catch {
      return { ok: false, status: 404, json: async () => null };
    }
  };
  return { fetch, fetched, bytes: () => bytes };
}

const BASE = "https://example.org/atlases/gemma/";
const { entries, lines } = annotationEntries();
const labelOf = new Map(entries.map((e) => [e.id, e.label]));

for (const target of [undefined, 1024]) {
  describe(`SearchIndex over the fixture labels, ${target ?? "default"} chunk bytes`, () => {
    const { dir, source: manifest, bounds, paths } = writeAtlas(entries, lines, target ? { maxChunkBytes: target, headPostings: 8 } : {});
    const chunkCount = paths.length;

    it(`has ${target ? "many chunks" : "a few chunks"}`, () => {
      if (target) expect(chunkCount).toBeGreaterThan(20);
      else expect(chunkCount).toBeGreaterThanOrEqual(1);
    });

    it("finds every feature by each word of its label, and by its whole label, given pages enough", async () => {
      const { fetch } = fileFetch(dir, BASE);
      const index = new SearchIndex(BASE, manifest, fetch, { maxMorePages: 1000 });
      for (const e of entries) {
        for (const word of new Set(searchTerms(e.label))) {
          const hits = await index.search(word, 10_000);
          expect(hits.map((h) => h.id), `${e.id} "${word}"`).toContain(e.id);
        }
        const hits = await index.search(e.label, 10_000);
        const hit = hits.find((h) => h.id === e.id);
        expect(hit?.label).toBe(e.label);
      }
    });

    it("matches every query term (AND) and returns labels from the chunks", async () => {
      const { fetch } = fileFetch(dir, BASE);
      const index = new SearchIndex(BASE, manifest, fetch);
      const hits = await index.search("plural verbs", 10_000);
      const want = entries.filter((e) => {
        const keys = searchTerms(e.label).map((t) => indexKey(t)!);
        return keys.some((k) => k.startsWith(indexKey("plural")!)) && keys.some((k) => k.startsWith(indexKey("verbs")!));
      });
      expect(want.length).toBeGreaterThan(5);
      expect(hits.map((h) => h.id).sort((a, b) => a - b)).toEqual(want.map((e) => e.id));
      for (const h of hits) expect(h.label).toBe(labelOf.get(h.id));
    });

    it("matches a prefix", async () => {
      const { fetch } = fileFetch(dir, BASE);
      const index = new SearchIndex(BASE, manifest, fetch);
      const withWord = entries.filter((e) => searchTerms(e.label).includes("participial")).map((e) => e.id);
      expect(withWord.length).toBeGreaterThan(0);
      for (const q of ["particip", "partici"]) {
        const ids = (await index.search(q, 10_000)).map((h) => h.id);
        for (const id of withWord) expect(ids).toContain(id);
      }
      // "prepositional" and "prepositions" share the prefix; both kinds of label come back.
      const labels = (await index.search("prepositi", 10_000)).map((h) => h.label!);
      expect(labels.some((l) => /prepositional/i.test(l))).toBe(true);
      expect(labels.some((l) => /prepositions/i.test(l))).toBe(true);
    });

    it("tolerates typos after the second letter", async () => {
      const { fetch } = fileFetch(dir, BASE);
      const index = new SearchIndex(BASE, manifest, fetch);
      const withWord = entries.filter((e) => searchTerms(e.label).includes("participial")).map((e) => e.id);
      // swapped letters, a dropped letter, a doubled letter, a sound-alike letter, an extra letter
      for (const typo of ["participail", "partcipial", "parrticipial", "partisipial", "participiaal", "particippial"]) {
        const ids = (await index.search(typo, 10_000)).map((h) => h.id);
        for (const id of withWord) expect(ids, typo).toContain(id);
      }
      const prof = entries.filter((e) => searchTerms(e.label).includes("profession")).map((e) => e.id);
      expect(prof.length).toBeGreaterThan(0);
      const ids = (await index.search("proffesion", 10_000)).map((h) => h.id);
      for (const id of prof) expect(ids).toContain(id);
      // A typo in the first two letters routes to the wrong chunks: documented, and not matched.
      expect(await index.search("aprticipial", 10_000)).toEqual([]);
    });

    it("fetches the directory, then only the chunk the query routes to, once each", async () => {
      const { fetch, fetched } = fileFetch(dir, BASE);
      const index = new SearchIndex(BASE, manifest, fetch);
      await index.ready();
      expect(fetched).toEqual([manifest.directory]);
      await index.search("singular", 5);
      const home = paths[routeKey(bounds, indexKey("singular")!)]!;
      expect(fetched).toEqual([manifest.directory, home]);
      const before = fetched.length;
      await index.search("singular", 5);
      expect(fetched.length).toBe(before);
      expect(new Set(fetched).size).toBe(fetched.length);
    });

    it("prefetches the chunk each word routes to, so the search that follows fetches nothing more", async () => {
      const { fetch, fetched } = fileFetch(dir, BASE);
      const index = new SearchIndex(BASE, manifest, fetch);
      const query = "inanimate subjects singular";
      index.prefetch(query);
      const routes = new Set(["inanimate", "subjects", "singular"].map((w) => paths[routeKey(bounds, indexKey(w)!)]!));
      await expect.poll(() => new Set(fetched.slice(1))).toEqual(routes);
      expect(fetched[0]).toBe(manifest.directory);
      const before = fetched.length;
      const hits = await index.search(query, 10_000);
      // Only "more" pages (read after matching, when the head lists are not enough) may follow.
      expect(fetched.slice(before).filter((p) => !p.includes("-more-"))).toEqual([]);
      const fresh = await new SearchIndex(BASE, manifest, fileFetch(dir, BASE).fetch).search(query, 10_000);
      expect(hits).toEqual(fresh);
      // Nothing to route: no fetch at all, not even the directory.
      const idle = fileFetch(dir, BASE);
      new SearchIndex(BASE, manifest, idle.fetch).prefetch("  ,. ");
      expect(idle.fetched).toEqual([]);
    });

    it("answers a prefix that spans chunks from the one chunk it routes to", async () => {
      const spanning = ["p", "s", "pro", "pl"].filter((p) => chunksForPrefix(bounds, indexKey(p)!).length > 1);
      if (target) expect(spanning.length).toBeGreaterThan(0);
      for (const p of spanning) {
        const { fetch, fetched } = fileFetch(dir, BASE);
        const hits = await new SearchIndex(BASE, manifest, fetch).search(p, 10);
        expect(hits.length).toBeGreaterThan(0);
        expect(fetched.slice(1)).toEqual([paths[routeKey(bounds, indexKey(p)!)]!]);
        for (const h of hits) expect(searchTerms(h.label!).some((t) => indexKey(t)!.startsWith(indexKey(p)!))).toBe(true);
      }
    });

    it("fetches one chunk per term of a multi-term query", async () => {
      const { fetch, fetched } = fileFetch(dir, BASE);
      const index = new SearchIndex(BASE, manifest, fetch);
      const hits = await index.search("inanimate subjects", 10_000);
      expect(hits.length).toBeGreaterThan(0);
      for (const h of hits) expect(h.label!.toLowerCase()).toMatch(/inanimate.*subjects|subjects.*inanimate/);
      const routes = new Set(["inanimate", "subjects"].map((w) => paths[routeKey(bounds, indexKey(w)!)]!));
      const chunks = fetched.filter((p) => p.startsWith("search/") && !p.includes("more") && p !== manifest.directory);
      expect(new Set(chunks)).toEqual(routes);
    });

    it("answers a feature id directly, first, and only when it exists", async () => {
      const { fetch } = fileFetch(dir, BASE);
      const index = new SearchIndex(BASE, manifest, fetch);
      expect((await index.search("12"))[0]).toEqual({ id: 12, label: null });
      expect((await index.search(" #3 "))[0]).toEqual({ id: 3, label: null });
      expect((await index.search(String(lines - 1)))[0]?.id).toBe(lines - 1);
      expect((await index.search(String(lines))).some((h) => h.id === lines)).toBe(false);
      // "0" is also a label term in this file ("layer 0 …"): the id comes first, then label matches.
      const zero = await index.search("0", 10_000);
      expect(zero[0]).toEqual({ id: 0, label: null });
      expect(zero.length).toBeGreaterThan(1);
    });

    it("gives the same results in the same order every time", async () => {
      const a = new SearchIndex(BASE, manifest, fileFetch(dir, BASE).fetch);
      const b = new SearchIndex(BASE, manifest, fileFetch(dir, BASE).fetch);
      for (const q of ["plural", "nouns", "pro", "animate subjects", "nps"]) {
        const ra = await a.search(q, 50);
        expect(await b.search(q, 50)).toEqual(ra);
        expect(await a.search(q, 50)).toEqual(ra);
      }
    });
  });
}

describe("SearchIndex over 20,000 synthetic labels with very common words", () => {
  const synthetic = syntheticEntries(20_000, 3);
  const max = 16 * 1024;
  const { dir, source, bounds, paths } = writeAtlas(synthetic, synthetic.length, { maxChunkBytes: max });
  const keysOf = new Map(synthetic.map((e) => [e.id, searchTerms(e.label).map((t) => indexKey(t)!)]));
  const counts = new Map<string, number>();
  for (const keys of keysOf.values()) for (const k of new Set(keys)) counts.set(k, (counts.get(k) ?? 0) + 1);
  const byCount = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const [common] = byCount[0]!;
  const [second] = byCount[1]!;
  const word = (key: string): string => searchTerms(synthetic.find((e) => keysOf.get(e.id)!.includes(key))!.label).find((t) => indexKey(t) === key)!;

  it("answers the commonest word from one bounded chunk, best features first", async () => {
    const { fetch, fetched, bytes } = fileFetch(dir, BASE);
    const index = new SearchIndex(BASE, source, fetch);
    await index.ready();
    const directoryBytes = bytes();
    const hits = await index.search(word(common), 20);
    expect(hits.length).toBe(20);
    expect(fetched.length).toBe(2);
    expect(bytes() - directoryBytes).toBeLessThanOrEqual(max);
    // Exact word matches, and among them the importance order (rank ascending).
    expect(hits.every((h) => h.score === 5)).toBe(true);
    const ranks = hits.map((h) => h.rank!);
    expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
  });

  it("reads a common word's further pages only when an AND query needs them, and finds what a full scan finds", async () => {
    const both = synthetic.filter((e) => keysOf.get(e.id)!.includes(common) && keysOf.get(e.id)!.includes(second));
    expect(both.length).toBeGreaterThan(10);
    const { fetch, fetched } = fileFetch(dir, BASE);
    const index = new SearchIndex(BASE, source, fetch, { maxMorePages: 100 });
    const hits = await index.search(`${word(common)} ${word(second)}`, 10_000);
    expect(fetched.some((p) => p.includes("-more-"))).toBe(true);
    // Every label with both words exactly is found (labels with one as a prefix of a longer word come too).
    const ids = new Set(hits.map((h) => h.id));
    for (const e of both) expect(ids.has(e.id), e.label).toBe(true);
  });

  it("with the default page limit, still returns full pages of AND matches for two common words", async () => {
    const { fetch, fetched, bytes } = fileFetch(dir, BASE);
    const index = new SearchIndex(BASE, source, fetch);
    const hits = await index.search(`${word(common)} ${word(second)}`, 10);
    expect(hits.length).toBe(10);
    expect(fetched.filter((p) => p.includes("-more-")).length).toBeLessThanOrEqual(4);
    expect(bytes()).toBeLessThanOrEqual(7 * max + 40 * paths.length);
  });

  it("answers every one-letter query from the directory and one chunk", async () => {
    for (const letter of new Set(bounds.slice(1).map((b) => b[0]!))) {
      const { fetch, fetched } = fileFetch(dir, BASE);
      const hits = await new SearchIndex(BASE, source, fetch).search(letter, 12);
      expect(hits.length, letter).toBe(12);
      expect(fetched.length, letter).toBe(2);
    }
  });
});

describe("SearchIndex ranking and errors", () => {
  const small: SearchEntry[] = [
    { id: 5, label: "brainstorm" },
    { id: 4, label: "storms and floods" },
    { id: 3, label: "storm" },
    { id: 2, label: "storm surge warnings" },
    { id: 1, label: "stormy weather" },
  ];

  it("ranks the whole label, then exact words, then prefixes, then shorter labels, then smaller ids", async () => {
    const { dir, source: manifest } = writeAtlas(small, 6);
    const index = new SearchIndex(BASE, manifest, fileFetch(dir, BASE).fetch);
    const hits = await index.search("storm");
    expect(hits.map((h) => h.id)).toEqual([3, 2, 1, 4]);
    expect(hits.map((h) => h.score)).toEqual([6, 5, 4, 4]);
    expect(await index.search("storm", 2)).toEqual(hits.slice(0, 2));
    expect(await index.search("  ")).toEqual([]);
    expect(await index.search("nothing-like-it")).toEqual([]);
  });

  it("puts exact matches first even when sound-alikes and prefixes are more important", async () => {
    const entries: SearchEntry[] = [
      { id: 0, label: "sturmy", density: 0.99 }, // sound-alike prefix: key "storme" starts with "storm"
      { id: 1, label: "sturm", density: 0.9 }, // sound-alike: key "storm", another word
      { id: 2, label: "stormy", density: 0.8 }, // prefix of a word
      { id: 3, label: "storm surge", density: 0.7 }, // the word itself
      { id: 4, label: "storm storm", density: 0.001 }, // the word itself, one key
      { id: 5, label: "  Storm! ", density: 1e-6 }, // the whole label
    ];
    const { dir, source } = writeAtlas(entries, 6);
    const hits = await new SearchIndex(BASE, source, fileFetch(dir, BASE).fetch).search("storm");
    // Importance alone would give 0, 1, 2, 4, 5, 3.
    expect(hits.map((h) => h.rank)).toEqual([4, 3, 5, 2, 1, 0]);
    expect(hits.map((h) => h.id)).toEqual([5, 4, 3, 2, 1, 0]);
    expect(hits.map((h) => h.score)).toEqual([6, 5, 5, 4, 3, 2]);
  });

  it("puts a label equal to a multi-word query first, ignoring case, spacing and punctuation", async () => {
    const entries: SearchEntry[] = [
      { id: 0, label: "york new", density: 0.9 },
      { id: 1, label: "new york city", density: 0.8 },
      { id: 2, label: "New-York", density: 0.001 },
      { id: 3, label: "new yorkshire", density: 0.95 },
    ];
    const { dir, source } = writeAtlas(entries, 4);
    const index = new SearchIndex(BASE, source, fileFetch(dir, BASE).fetch);
    const hits = await index.search("new  YORK.");
    expect(hits.map((h) => h.id)).toEqual([2, 0, 1, 3]);
    expect(hits[0]!.score).toBe(6);
    expect(hits[3]!.score).toBeGreaterThan(4);
    expect(hits[3]!.score).toBeLessThan(5);
    // Word order matters for equality only: "york new" is not the label "new york".
    expect((await index.search("york new")).map((h) => h.id)).toEqual([0, 2, 1, 3]);
  });

  it("reaches a label holding the query word behind a common sound-alike, from one chunk, with no extra fetch", async () => {
    // 400 labels holding "thy" (key "the", as "the" is) outrank the five holding "the" itself:
    // the key lists no more than 48 postings a word, yet "the" must be found, and first.
    const entries: SearchEntry[] = [
      ...Array.from({ length: 400 }, (_, i) => ({ id: i, label: i % 2 ? "thy" : "Thy will", density: 0.5 - i * 1e-4 })),
      ...["storm", "rain", "wind", "sea"].map((w, i) => ({ id: 400 + i, label: `the ${w}`, density: 1e-4 * (i + 1) })),
      { id: 404, label: "The", density: 1e-6 },
    ];
    // The default chunk, and one whose key budget (a quarter of 2 KB) holds about 25 postings in all.
    for (const maxChunkBytes of [undefined, 2048]) {
      const { dir, source } = writeAtlas(entries, entries.length, maxChunkBytes ? { maxChunkBytes } : {});
      const { fetch, fetched } = fileFetch(dir, BASE);
      const hits = await new SearchIndex(BASE, source, fetch).search("the", 10);
      expect(hits.map((h) => h.id)).toEqual([404, 403, 402, 401, 400, 1, 3, 5, 7, 9]);
      expect(hits.map((h) => h.score)).toEqual([6, 5, 5, 5, 5, 3, 3, 3, 3, 3]);
      expect(Math.min(...hits.slice(0, 5).map((h) => h.rank!))).toBeGreaterThan(48);
      expect(fetched.length).toBe(2);
      // The other way round: "thy" finds its own labels first, the one-word ones before the rest.
      const thy = await new SearchIndex(BASE, source, fileFetch(dir, BASE).fetch).search("thy", 10);
      expect(thy.map((h) => h.id)).toEqual([1, 3, 5, 7, 9, 11, 13, 15, 17, 19]);
      expect(thy[0]!.score).toBe(6);
    }
  });

  it("reads the query word's own pages while sound-alikes fill the results but too few hold the word", async () => {
    const entries: SearchEntry[] = [
      ...Array.from({ length: 300 }, (_, i) => ({ id: i, label: "thy rain", density: 0.5 })),
      ...Array.from({ length: 500 }, (_, i) => ({ id: 1000 + i, label: "rain cloud", density: 0.4 })),
      ...Array.from({ length: 70 }, (_, i) => ({ id: 2000 + i, label: "the sea", density: 1e-3 })),
      ...Array.from({ length: 30 }, (_, i) => ({ id: 3000 + i, label: "The rain", density: 1e-5 - i * 1e-8 })),
    ];
    const { dir, source } = writeAtlas(entries, 4000);
    const { fetch, fetched } = fileFetch(dir, BASE);
    // "the" drives (key "the" has 400 postings, "rain" 830); the 48 "thy rain" listed with it
    // would fill the results, but the labels holding "the" and "rain" are on its first page.
    const hits = await new SearchIndex(BASE, source, fetch).search("the rain", 20);
    expect(hits.map((h) => h.id)).toEqual(Array.from({ length: 20 }, (_, i) => 3000 + i));
    expect(hits.every((h) => h.score === 6)).toBe(true);
    expect(fetched.filter((p) => p.includes("-more-")).length).toBe(1);
  });

  it("reports a missing chunk by path, and retries it on the next search", async () => {
    const { dir, source: manifest, paths } = writeAtlas(small, 6);
    const path = paths[0]!;
    const moved = readFileSync(join(dir, path), "utf8");
    rmSync(join(dir, path));
    const { fetch, fetched } = fileFetch(dir, BASE);
    const index = new SearchIndex(BASE, manifest, fetch);
    await expect(index.search("storm")).rejects.toThrow(`search chunk ${path}: HTTP 404`);
    writeFileSync(join(dir, path), moved);
    expect((await index.search("storm")).length).toBe(4);
    expect(fetched.filter((p) => p === path).length).toBe(2);
  });

  it("refuses a chunk of another format, naming it", async () => {
    const { dir, source: manifest, paths } = writeAtlas(small, 6);
    const path = paths[0]!;
    const chunk = JSON.parse(readFileSync(join(dir, path), "utf8")) as { formatVersion: number };
    chunk.formatVersion = 999;
    writeFileSync(join(dir, path), JSON.stringify(chunk));
    const index = new SearchIndex(BASE.slice(0, -1), manifest, fileFetch(dir, BASE).fetch);
    await expect(index.search("storm")).rejects.toThrow(new RegExp(`${path} does not match the atlas format`));
  });
});

describe("prefixEditDistance", () => {
  it("measures edits against the closest prefix", () => {
    expect(prefixEditDistance("horek", "horekame", 2)).toBe(0);
    expect(prefixEditDistance("horekaem", "horekame", 2)).toBe(1);
    expect(prefixEditDistance("horkame", "horekame", 2)).toBe(1);
    expect(prefixEditDistance("hxrxkxme", "horekame", 2)).toBe(3);
    expect(prefixEditDistance("abc", "", 5)).toBe(3);
  });
});
