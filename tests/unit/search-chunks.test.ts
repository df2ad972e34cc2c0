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

/** The entry of `key` in the chunk it routes to. */
function termEntry(b: Built, key: string): SearchChunk["terms"][number] | undefined {
  return b.chunks[routeKey(b.bounds, key)]!.terms.find((t) => t[0] === key);
}

/** Every posting of one word form of `key`: the chunk's head, then its more pages, as [rank, id] pairs in list order. */
function formPostings(b: Built, key: string, word: string): [number, number][] {
  const chunk = b.chunks[routeKey(b.bounds, key)]!;
  const form = termEntry(b, key)?.[2].find((f) => f[0] === word);
  if (!form) return [];
  const ids = new Map(chunk.features.map(([rank, id]) => [rank, id]));
  const out: [number, number][] = form[2].map((r) => [r, ids.get(r)!]);
  for (const path of form[3]) {
    const page = searchMorePageSchema.parse(JSON.parse(b.files.get(path)!));
    for (const [rank, id] of page.features) out.push([rank, id]);
  }
  return out;
}

/** Every posting of `key` over all its forms, each feature once, by ascending rank. */
function allPostings(b: Built, key: string): [number, number][] {
  const byRank = new Map<number, number>();
  for (const form of termEntry(b, key)?.[2] ?? []) for (const [r, id] of formPostings(b, key, form[0])) byRank.set(r, id);
  return [...byRank].sort((x, y) => x[0] - y[0]);
}

/**
 * `n` labels holding "they" (one word, dense: the most important), plus a few holding "thee" and
 * fewer still holding "the" itself, all less important; ids from `first`.
 */
function crowd(first: number, n: number): SearchEntry[] {
  const out: SearchEntry[] = [];
  for (let i = 0; i < n; i++) out.push({ id: first + i, label: i % 3 ? "they" : "They!", density: 0.5 - i * 1e-4 });
  for (let i = 0; i < 60; i++) out.push({ id: first + n + i, label: `thee ${["art", "wert", "shalt"][i % 3]}`, density: 1e-3 });
  for (let i = 0; i < 5; i++) out.push({ id: first + n + 60 + i, label: `the ${["storm", "rain", "wind", "sea", "sky"][i]}`, density: 1e-4 * (i + 1) });
  return out;
}

describe("buildSearchIndex", () => {
  const entries = annotationEntries();

  it("reads the 444 annotated features of the fixture", () => {
    expect(entries.length).toBe(444);
  });

  // The fixture's words never share a key; these add sound-alike words of one key ("the", "they",
  // "thee" are all key "the"; "sturm" is key "storm"), one-word labels, and two forms in one label.
  const soundAlikes: SearchEntry[] = ["the", "They", "thee", "they said the", "the storm", "sturm und drang", "Storm!", "storms", "they they"].map(
    (label, i) => ({ id: 10_000 + i, label, density: 0.01 * (i + 1) }),
  );

  for (const max of [undefined, 2048]) {
    describe(`with ${max ?? "the default"} chunk bytes`, () => {
      const all = [...entries, ...soundAlikes];
      const b = build(all, max ? { maxChunkBytes: max } : {});
      const ranks = expectedRanks(all);

      it("writes a directory of sorted, distinct bounds, the first empty, naming every chunk", () => {
        expect(b.directory.formatVersion).toBe(FORMAT_VERSION);
        expect(b.bounds[0]).toBe("");
        for (let i = 1; i < b.bounds.length; i++) expect(b.bounds[i - 1]! < b.bounds[i]!).toBe(true);
        if (max) expect(b.chunks.length).toBeGreaterThan(8);
        expect(b.result.chunks).toBe(b.chunks.length);
        expect(b.result.features).toBe(all.length);
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

      it("round-trips every posting: each feature is found under each word of its label, whole-label matches first, then by rank", () => {
        const byId = new Map(all.map((e) => [e.id, e.label]));
        const forms = new Map<string, Map<string, number[]>>();
        for (const e of all) {
          for (const word of new Set(searchTerms(e.label))) {
            const key = indexKey(word)!;
            const byWord = forms.get(key) ?? new Map<string, number[]>();
            forms.set(key, byWord.set(word, [...(byWord.get(word) ?? []), e.id]));
          }
        }
        let multiForm = 0;
        for (const [key, byWord] of forms) {
          const entry = termEntry(b, key)!;
          expect(entry[2].map((f) => f[0])).toEqual([...byWord.keys()].sort());
          if (byWord.size > 1) multiForm++;
          for (const [word, ids] of byWord) {
            const whole = (id: number) => searchTerms(byId.get(id)!).join(" ") === word;
            const want = [...ids].sort((x, y) => Number(whole(y)) - Number(whole(x)) || ranks.get(x)! - ranks.get(y)!);
            const got = formPostings(b, key, word);
            expect(got.map(([, id]) => id), `${key}/${word}`).toEqual(want);
            for (const [r, id] of got) expect(ranks.get(id)).toBe(r);
            expect(entry[2].find((f) => f[0] === word)![1]).toBe(ids.length);
          }
          expect(entry[1]).toBe(new Set([...byWord.values()].flat()).size);
        }
        expect(multiForm).toBe(2);
        expect(b.result.terms).toBe(forms.size);
        for (const c of b.chunks) for (const [, id, label] of c.features) expect(label).toBe(byId.get(id));
      });

      it("gives every prefix that runs across chunks the best features of all its keys, in the chunk it routes to", () => {
        const keys = [...new Set(all.flatMap((e) => indexTerms(e.label).map((t) => t.key)))].sort();
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
    const entry = termEntry(b, common)!;
    expect(entry[1]).toBe(n);
    // Its commonest form lists at most 32 postings (its share of the key's bytes), the rest are in pages.
    const top = [...entry[2]].sort((x, y) => y[1] - x[1])[0]!;
    expect(top[2].length).toBeGreaterThan(8);
    expect(top[2].length).toBeLessThanOrEqual(32);
    expect(top[3].length).toBeGreaterThan(1);
    for (const f of entry[2]) expect(f[2].length).toBeLessThanOrEqual(32);
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

  it("is byte-identical for the same input, whatever its order, word forms and their pages included", () => {
    const input = [...syntheticEntries(3000, 9), ...crowd(3000, 400)];
    const a = build(input, { maxChunkBytes: 4096 });
    const again = build(input, { maxChunkBytes: 4096 });
    const b = build([...input].reverse(), { maxChunkBytes: 4096 });
    expect([...again.files]).toEqual([...a.files]);
    expect([...b.files]).toEqual([...a.files]);
    const the = termEntry(a, indexKey("the")!)!;
    expect(the[2].map((f) => f[0])).toEqual(["the", "thee", "they"]);
    expect(the[2].map((f) => f[3].length > 0)).toEqual([false, true, true]);
  });

  it("gives each word of a common key its own head: a rare word keeps its postings beside many more important sound-alikes", () => {
    const input = crowd(0, 300);
    const b = build(input);
    const ranks = expectedRanks(input);
    const entry = termEntry(b, indexKey("the")!)!;
    // By importance alone, the labels holding "the" itself come after more than a head of "they"s.
    const theIds = input.filter((e) => searchTerms(e.label).includes("the")).map((e) => e.id);
    expect(Math.min(...theIds.map((id) => ranks.get(id)!))).toBeGreaterThan(48);
    // Each form has its own list, and the short one is listed whole in the chunk.
    const [the, thee, they] = entry[2];
    expect([the![0], thee![0], they![0]]).toEqual(["the", "thee", "they"]);
    expect(the![1]).toBe(theIds.length);
    expect(the![2].length).toBe(theIds.length);
    expect(the![3]).toEqual([]);
    expect(they![2].length).toBe(48);
    expect(they![3].length).toBeGreaterThan(0);
    expect(entry[1]).toBe(input.length);
  });

  it("shares a key's byte budget over its forms, one posting each in turn", () => {
    // Key "ke": eight words, each in 60 labels, with a budget of about 20 postings for the key.
    const words = ["key", "ki", "kee", "gee", "ky", "qi", "jee", "cy"];
    expect(new Set(words.map((w) => indexKey(w))).size).toBe(1);
    const input = words.flatMap((w, i) => Array.from({ length: 60 }, (_, j) => ({ id: i * 60 + j, label: `${w} number ${j}`, density: 1 / (j + 1) })));
    const b = build(input, { headBytes: 20 * 40 });
    const entry = termEntry(b, indexKey("key")!)!;
    const heads = entry[2].map((f) => f[2].length);
    expect(Math.max(...heads) - Math.min(...heads)).toBeLessThanOrEqual(1);
    expect(Math.min(...heads)).toBeGreaterThan(0);
    const labelBytes = new Map(b.chunks.flatMap((c) => c.features).map((f) => [f[0], JSON.stringify(f).length + 1 + String(f[0]).length + 1]));
    const used = entry[2].reduce((sum, f) => sum + f[2].reduce((a, r) => a + labelBytes.get(r)!, 0), 0);
    expect(used).toBeLessThanOrEqual(20 * 40);
    // Every posting is still reachable through the pages.
    for (const w of words) expect(formPostings(b, indexKey(w)!, w).length).toBe(60);
  });

  it("lists a form whole when the postings after its head are few and the key's bytes allow, saving their page", () => {
    // "storm" in 60 labels (48 in the head, 12 after it), "river" in 200 (152 after it).
    const input: SearchEntry[] = [
      ...Array.from({ length: 60 }, (_, j) => ({ id: j, label: `storm number ${j}`, density: 1 / (j + 1) })),
      ...Array.from({ length: 200 }, (_, j) => ({ id: 100 + j, label: `river number ${j}`, density: 1 / (j + 1) })),
    ];
    const form = (b: Built, w: string) => termEntry(b, indexKey(w)!)![2].find((f) => f[0] === w)!;
    const inlined = build(input);
    const paged = build(input, { inlineTail: 0 });
    expect(form(inlined, "storm")[2].length).toBe(60);
    expect(form(inlined, "storm")[3]).toEqual([]);
    expect(form(paged, "storm")[2].length).toBe(48);
    expect(form(paged, "storm")[3].length).toBe(1);
    // A long tail keeps its pages either way.
    expect(form(inlined, "river")[2].length).toBe(48);
    expect(form(inlined, "river")[3].length).toBeGreaterThan(0);
    const pages = (b: Built) => [...b.files.keys()].filter((p) => p.includes("-more-")).length;
    expect(pages(inlined)).toBe(pages(paged) - 1);
    // Same postings, same order, whichever file holds them.
    for (const w of ["storm", "river"]) {
      expect(formPostings(inlined, indexKey(w)!, w)).toEqual(formPostings(paged, indexKey(w)!, w));
      expect(formPostings(inlined, indexKey(w)!, w).length).toBe(w === "storm" ? 60 : 200);
    }
    // The key's byte budget still bounds its head: with room for the head but not its tail, the tail stays paged.
    const postingBytes = (b: Built, r: number) => {
      const f = b.chunks.flatMap((c) => c.features).find((x) => x[0] === r)!;
      return JSON.stringify(f).length + 1 + String(r).length + 1;
    };
    const headBytes = form(paged, "storm")[2].reduce((a, r) => a + postingBytes(paged, r), 0) + 40;
    const tight = build(input, { headBytes });
    expect(form(tight, "storm")[2].length).toBe(48);
    expect(form(tight, "storm")[3].length).toBe(1);
    expect(() => build(input, { inlineTail: -1 })).toThrow(/inlineTail/);
  });

  it("puts a label that is exactly the word first in its list, ahead of more important labels holding it", () => {
    const input: SearchEntry[] = [
      ...Array.from({ length: 80 }, (_, i) => ({ id: i, label: i % 2 ? "the the" : "the, The", density: 0.5 })),
      { id: 500, label: "The.", density: 1e-6 },
      { id: 501, label: "the", density: 1e-7 },
    ];
    const b = build(input);
    const ranks = expectedRanks(input);
    const postings = formPostings(b, "the", "the").map(([, id]) => id);
    expect(postings.slice(0, 2)).toEqual([500, 501]);
    expect(ranks.get(500)).toBe(80);
    expect(termEntry(b, "the")![2][0]![2].slice(0, 2)).toEqual([ranks.get(500), ranks.get(501)]);
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
