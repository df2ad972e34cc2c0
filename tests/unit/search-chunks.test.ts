import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { FORMAT_VERSION, searchChunkSchema, searchTerms, type SearchChunk } from "../../contract/atlas.ts";
import { mulberry32 } from "../../precompute/random.ts";
import { buildSearchChunks, type SearchEntry } from "../../precompute/search/chunks.ts";
import { indexKey, indexTerms } from "../../src/client/search-index.ts";

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

/** Word-like labels of 2–7 words drawn Zipf-style from a seeded vocabulary of syllable strings. */
function syntheticEntries(n: number, seed: number, vocabulary = 3000): SearchEntry[] {
  const r = mulberry32(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const onsets = ["b", "c", "d", "f", "g", "h", "l", "m", "n", "p", "r", "s", "t", "v", "w", "st", "tr", "pl", "ch", "sh"];
  const vowels = ["a", "e", "i", "o", "u", "ea", "ou"];
  const codas = ["", "n", "r", "s", "t", "l", "nd", "ng", "ck"];
  const vocab = new Set<string>();
  while (vocab.size < vocabulary) {
    let w = "";
    for (let s = 1 + Math.floor(r() * 3); s > 0; s--) w += pick(onsets) + pick(vowels) + pick(codas);
    vocab.add(w);
  }
  const words = [...vocab];
  const cdf: number[] = [];
  let total = 0;
  for (let k = 0; k < words.length; k++) cdf.push((total += 1 / (k + 20)));
  const zipf = () => {
    const u = r() * total;
    let lo = 0, hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return words[lo]!;
  };
  return Array.from({ length: n }, (_, id) => ({ id, label: Array.from({ length: 2 + Math.floor(r() * 6) }, zipf).join(" ") }));
}

function parseChunks(built: { json: string }[]): SearchChunk[] {
  return built.map((c) => searchChunkSchema.parse(JSON.parse(c.json)));
}

describe("buildSearchChunks", () => {
  const entries = annotationEntries();

  it("reads the 444 annotated features of the fixture", () => {
    expect(entries.length).toBe(444);
  });

  for (const target of [undefined, 1024]) {
    describe(`with ${target ?? "default"} target bytes`, async () => {
      const built = await buildSearchChunks(entries, target ? { targetChunkBytes: target } : {});
      const chunks = parseChunks(built);

      it("writes valid chunks with sorted, non-overlapping term ranges", () => {
        expect(built.length).toBeGreaterThan(target ? 10 : 0);
        for (const [i, c] of built.entries()) {
          expect(c.from <= c.to).toBe(true);
          if (i > 0) expect(built[i - 1]!.to < c.from).toBe(true);
          expect(chunks[i]!.formatVersion).toBe(FORMAT_VERSION);
        }
      });

      it("puts each feature, with its full label, in the chunk of every one of its terms", () => {
        const byId = new Map(entries.map((e) => [e.id, e.label]));
        for (const e of entries) {
          for (const { key } of indexTerms(e.label)) {
            const i = built.findIndex((c) => c.from <= key && key <= c.to);
            expect(i, `${e.id} ${key}`).toBeGreaterThanOrEqual(0);
            expect(chunks[i]!.labels).toContainEqual([e.id, e.label]);
          }
        }
        for (const [i, c] of chunks.entries()) {
          const ids = c.labels.map(([id]) => id);
          expect(ids).toEqual([...ids].sort((a, b) => a - b));
          for (const [id, label] of c.labels) {
            expect(label).toBe(byId.get(id));
            // Only features with a term in the range are in the chunk.
            expect(indexTerms(label).some(({ key }) => built[i]!.from <= key && key <= built[i]!.to)).toBe(true);
          }
        }
      });

      it("counts the distinct terms of each range", () => {
        const all = new Set(entries.flatMap((e) => indexTerms(e.label).map((t) => t.key)));
        let sum = 0;
        for (const c of built) {
          const inRange = [...all].filter((k) => c.from <= k && k <= c.to).length;
          expect(c.terms).toBe(inRange);
          sum += c.terms;
        }
        expect(sum).toBe(all.size);
      });
    });
  }

  it("is deterministic, whatever the order of the input", async () => {
    const a = await buildSearchChunks(entries, { targetChunkBytes: 2048 });
    const shuffled = [...entries].reverse();
    const b = await buildSearchChunks(shuffled, { targetChunkBytes: 2048 });
    expect(b).toEqual(a);
  });

  it("cuts chunks near the target size; only a single very common term exceeds it", async () => {
    const target = 16 * 1024;
    const built = await buildSearchChunks(syntheticEntries(20_000, 3), { targetChunkBytes: target });
    const sizes = built.map((c) => Buffer.byteLength(c.json));
    const over = built.filter((_, i) => sizes[i]! > target * 1.05);
    expect(over.every((c) => c.terms === 1)).toBe(true);
    const sorted = [...sizes].sort((a, b) => a - b);
    const median = sorted[sorted.length >> 1]!;
    expect(median).toBeGreaterThan(target * 0.6);
    expect(median).toBeLessThanOrEqual(target * 1.05);
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

  it("skips labels without terms and returns no chunks for no labels", async () => {
    expect(await buildSearchChunks([])).toEqual([]);
    const built = await buildSearchChunks([{ id: 3, label: "— … —" }, { id: 4, label: "storm" }]);
    expect(parseChunks(built).flatMap((c) => c.labels)).toEqual([[4, "storm"]]);
  });

  it("names the feature on bad input", async () => {
    await expect(buildSearchChunks([{ id: 7, label: "a" }, { id: 7, label: "b" }])).rejects.toThrow(/feature 7 has two labels/);
    await expect(buildSearchChunks([{ id: -1, label: "a" }])).rejects.toThrow(/feature id -1/);
  });
});
