import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { searchTerms, type Manifest } from "../../contract/atlas.ts";
import { buildSearchChunks, type SearchEntry } from "../../precompute/search/chunks.ts";
import { SearchIndex, chunksForPrefix, indexKey, prefixEditDistance, type FetchLike } from "../../src/client/search-index.ts";

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

type Search = Pick<Manifest, "search" | "counts">;

/** Write the chunks as an atlas' `search/` folder would hold them and return a manifest excerpt. */
async function writeAtlas(entries: SearchEntry[], features: number, targetChunkBytes?: number): Promise<{ dir: string; manifest: Search }> {
  const built = await buildSearchChunks(entries, targetChunkBytes ? { targetChunkBytes } : {});
  const dir = mkdtempSync(join(tmpdir(), "search-index-"));
  tempDirs.push(dir);
  mkdirSync(join(dir, "search"));
  const chunks = built.map((c, i) => {
    const path = `search/${i}.json`;
    writeFileSync(join(dir, path), c.json);
    return { from: c.from, to: c.to, terms: c.terms, path };
  });
  return {
    dir,
    manifest: {
      search: { engine: "flexsearch", chunks },
      counts: { features, dead: 0, labelled: entries.length, withExamples: 0, withDensity: 0 },
    },
  };
}

/** A fetch that serves files from `dir` under `base` and records every path it was asked for. */
function fileFetch(dir: string, base: string): { fetch: FetchLike; fetched: string[] } {
  const fetched: string[] = [];
  const fetch: FetchLike = async (url) => {
    expect(url.startsWith(base)).toBe(true);
    const path = url.slice(base.length);
    fetched.push(path);
    try {
      const text = readFileSync(join(dir, path), "utf8");
      return { ok: true, status: 200, json: async () => JSON.parse(text) as unknown };
    } catch {
      return { ok: false, status: 404, json: async () => null };
    }
  };
  return { fetch, fetched };
}

const BASE = "https://example.org/atlases/gemma/";
const { entries, lines } = annotationEntries();
const labelOf = new Map(entries.map((e) => [e.id, e.label]));

for (const target of [undefined, 1024]) {
  describe(`SearchIndex over the fixture labels, ${target ?? "default"} chunk bytes`, async () => {
    const { dir, manifest } = await writeAtlas(entries, lines, target);
    const chunkCount = manifest.search.chunks.length;

    it(`has ${target ? "many chunks" : "a few chunks"}`, () => {
      if (target) expect(chunkCount).toBeGreaterThan(20);
      else expect(chunkCount).toBeGreaterThanOrEqual(1);
    });

    it("finds every feature by each word of its label, and by its whole label", async () => {
      const { fetch } = fileFetch(dir, BASE);
      const index = new SearchIndex(BASE, manifest, fetch);
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

    it("fetches only the chunks whose term range can hold the query, once each", async () => {
      const { fetch, fetched } = fileFetch(dir, BASE);
      const index = new SearchIndex(BASE, manifest, fetch);
      await index.search("singular");
      const allowed = chunksForPrefix(manifest.search.chunks, indexKey("singular")!).map((i) => manifest.search.chunks[i]!.path);
      expect(fetched.length).toBeGreaterThan(0);
      expect(fetched.length).toBeLessThanOrEqual(allowed.length);
      for (const p of fetched) expect(allowed).toContain(p);
      if (target) expect(fetched.length).toBeLessThan(chunkCount / 4);
      const before = fetched.length;
      await index.search("singular");
      await index.search("singul");
      expect(fetched.length).toBe(before);
      expect(new Set(fetched).size).toBe(fetched.length);
    });

    it("fetches the chunks of only one term of a multi-term query", async () => {
      const { fetch, fetched } = fileFetch(dir, BASE);
      const index = new SearchIndex(BASE, manifest, fetch);
      const hits = await index.search("inanimate subjects", 10_000);
      expect(hits.length).toBeGreaterThan(0);
      for (const h of hits) expect(h.label!.toLowerCase()).toMatch(/inanimate.*subjects|subjects.*inanimate/);
      const routes = ["inanimate", "subjects"].map((w) =>
        chunksForPrefix(manifest.search.chunks, indexKey(w)!).map((i) => manifest.search.chunks[i]!.path),
      );
      expect(fetched.length).toBeGreaterThan(0);
      expect(routes.some((r) => fetched.every((p) => r.includes(p)))).toBe(true);
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

describe("SearchIndex ranking and errors", () => {
  const small: SearchEntry[] = [
    { id: 5, label: "brainstorm" },
    { id: 4, label: "storms and floods" },
    { id: 3, label: "storm" },
    { id: 2, label: "storm surge warnings" },
    { id: 1, label: "stormy weather" },
  ];

  it("ranks exact terms over prefixes, then shorter labels, then smaller ids", async () => {
    const { dir, manifest } = await writeAtlas(small, 6);
    const index = new SearchIndex(BASE, manifest, fileFetch(dir, BASE).fetch);
    const hits = await index.search("storm");
    expect(hits.map((h) => h.id)).toEqual([3, 2, 1, 4]);
    expect(hits.map((h) => h.score)).toEqual([3, 3, 2, 2]);
    expect(await index.search("storm", 2)).toEqual(hits.slice(0, 2));
    expect(await index.search("  ")).toEqual([]);
    expect(await index.search("nothing-like-it")).toEqual([]);
  });

  it("reports a missing chunk by path, and retries it on the next search", async () => {
    const { dir, manifest } = await writeAtlas(small, 6);
    const path = manifest.search.chunks[0]!.path;
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
    const { dir, manifest } = await writeAtlas(small, 6);
    const path = manifest.search.chunks[0]!.path;
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
