/**
 * Bad input end to end: what a build does with decoder rows that are NaN/±Infinity or all zero,
 * with metadata for another SAE width, with declared sizes the file cannot back, and what the
 * CLI prints and returns for each. Format-level errors of single readers (safetensors headers,
 * offsets, npy shapes, zip directories, label and activation files) have their own tests in
 * read-*.test.ts; the ones here cross a stage boundary or the command line.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { featureShardSchema, parseManifest, type FeatureRecord, type Manifest } from "../../contract/atlas.ts";
import { buildAtlas } from "../../precompute/build.ts";
import { nonFiniteRows } from "../../precompute/read/checks.ts";
import { readMetadata } from "../../precompute/read/detect.ts";
import { readNpyHeader } from "../../precompute/read/npy.ts";
import { readNpzIndex } from "../../precompute/read/npz.ts";
import { InputError, readSafetensorsHeader } from "../../precompute/read/safetensors.ts";
import { syntheticDictionary, writeSaeLensFolder, type SyntheticDictionary } from "../../scripts/synthetic-dictionary.ts";
import { tracked } from "./helpers/alloc-tracker.ts";
import { encodeNpy, writeZip } from "./helpers/npy-files.ts";
import { cleanTemp, rawSafetensors, repoRoot, tempDir, write } from "./helpers/read-files.ts";

afterAll(cleanTemp);

const N = 240;
const D = 16;

function dictionary(edit?: (dict: SyntheticDictionary) => void): string {
  const dir = join(tempDir("atlas-bad-"), "dict");
  const dict = syntheticDictionary({ n: N, d: D, clusters: 6, seed: 3, duplicates: 0 });
  edit?.(dict);
  writeSaeLensFolder(dir, dict);
  return dir;
}

function records(dir: string, manifest: Manifest): FeatureRecord[] {
  return manifest.shards.flatMap((s) => featureShardSchema.parse(JSON.parse(readFileSync(join(dir, s.path), "utf8"))).features);
}

/** Warnings a build prints (they go to stderr even with quiet). */
async function withWarnings<T>(fn: () => Promise<T>): Promise<{ result: T; warnings: string[] }> {
  const warnings: string[] = [];
  const spy = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    const text = String(chunk);
    if (text.startsWith("warning: ")) warnings.push(text.trim());
    return true;
  });
  try {
    return { result: await fn(), warnings };
  } finally {
    spy.mockRestore();
  }
}

const nanRows = [3, 77, 150];
const infRows = [9];
const zeroRows = [5, 6, 200];
const cli = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", join(repoRoot, "precompute", "cli.ts"), ...args], { cwd: repoRoot, encoding: "utf8" });

describe("non-finite decoder rows", () => {
  const dir = dictionary((dict) => {
    for (const i of nanRows) dict.decoder[i * D + 2] = NaN;
    for (const i of infRows) dict.decoder[i * D] = -Infinity;
  });

  it("are found row by row", () => {
    const m = new Float32Array(4 * 3);
    m[4] = NaN;
    m[9] = Infinity;
    m[11] = -Infinity;
    expect(nonFiniteRows(m, 4, 3)).toEqual([1, 3]);
  });

  it("refuse the build by default, naming the file, the rows and the way out, and leave the previous atlas alone", async () => {
    const out = join(dir, "..", "atlas");
    writeFileSync(join(dir, "..", "keep.txt"), "");
    const error = await buildAtlas({ dictionary: dir, out, quiet: true, cache: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toBe(
      "sae_weights.safetensors: 4 of 240 decoder rows hold NaN or ±Infinity (features 3, 9, 77, 150; feature 3: NaN at column 2). " +
        "The checkpoint may have diverged or been saved half-written. Pass --drop-nonfinite to keep those features as dead ones (listed, but off the map and out of the neighbour graph).",
    );
    // Nothing written: no atlas, no temporary folder, no lock.
    expect(readdirSync(join(dir, "..")).sort()).toEqual(["dict", "keep.txt"]);
  });

  it("list the first eight ids and count the rest", async () => {
    const many = dictionary((dict) => {
      for (let i = 0; i < 20; i++) dict.decoder[(i * 11) * D] = NaN;
    });
    await expect(buildAtlas({ dictionary: many, out: join(many, "..", "atlas"), quiet: true, cache: false })).rejects.toThrow(
      /20 of 240 decoder rows hold NaN or ±Infinity \(features 0, 11, 22, 33, 44, 55, 66, 77 and 12 more; feature 0: NaN at column 0\)/,
    );
  });

  it("with --drop-nonfinite become dead features: kept, flagged, without neighbours, and nobody's neighbour", async () => {
    const out = join(dir, "..", "dropped");
    const { result, warnings } = await withWarnings(() => buildAtlas({ dictionary: dir, out, quiet: true, cache: false, dropNonFinite: true, k: 8 }));
    expect(warnings).toContainEqual(expect.stringMatching(/^warning: sae_weights\.safetensors: 4 of 240 decoder rows hold NaN .*--drop-nonfinite: they are kept as dead features$/));
    const manifest = result.manifest;
    expect(manifest.counts.dead).toBe(4);
    const recs = records(out, manifest);
    expect(recs).toHaveLength(N);
    const bad = new Set([...nanRows, ...infRows]);
    for (const r of recs) {
      expect(r.dead).toBe(bad.has(r.id));
      if (bad.has(r.id)) {
        expect(r.neighbours).toEqual([]);
        expect(r.decoderNorm).toBe(0);
      }
      for (const nb of r.neighbours) expect(bad.has(nb.id)).toBe(false);
    }
  });

  it("the CLI exits 1 with one line naming the file, and 0 with --drop-nonfinite", () => {
    const refused = cli("build", dir, "--out", join(dir, "..", "cli-out"), "--quiet", "--no-cache");
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^error: sae_weights\.safetensors: 4 of 240 decoder rows hold NaN or ±Infinity .* Pass --drop-nonfinite/m);
    expect(refused.stderr).not.toMatch(/\n\s+at /);
    const dropped = cli("build", dir, "--out", join(dir, "..", "cli-out"), "--quiet", "--no-cache", "--drop-nonfinite", "--k", "8");
    expect(dropped.stderr).toMatch(/--drop-nonfinite: they are kept as dead features/);
    expect(dropped.status).toBe(0);
    expect(parseManifest(JSON.parse(readFileSync(join(dir, "..", "cli-out", "manifest.json"), "utf8"))).counts.dead).toBe(4);
  });
});

describe("all-zero decoder rows (dead features)", () => {
  it("are kept and flagged, left out of the kNN graph, and drawn apart from the live points", async () => {
    const dir = dictionary((dict) => {
      for (const i of zeroRows) dict.decoder.fill(0, i * D, (i + 1) * D);
    });
    const out = join(dir, "..", "atlas");
    const { manifest } = await buildAtlas({ dictionary: dir, out, quiet: true, cache: false, k: 8 });
    expect(manifest.counts.dead).toBe(zeroRows.length);
    const recs = records(out, manifest);
    const dead = new Set(zeroRows);
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    for (const r of recs) {
      expect(r.dead).toBe(dead.has(r.id));
      for (const nb of r.neighbours) expect(dead.has(nb.id)).toBe(false);
      if (dead.has(r.id)) {
        expect(r.neighbours).toEqual([]);
        expect(r.decoderNorm).toBe(0);
      } else {
        expect(r.neighbours.length).toBeGreaterThan(0);
        minX = Math.min(minX, r.x); maxX = Math.max(maxX, r.x);
        minY = Math.min(minY, r.y); maxY = Math.max(maxY, r.y);
      }
    }
    // Apart: outside the box the live points span, not scattered among them.
    for (const id of zeroRows) {
      const r = recs[id]!;
      const inside = r.x >= minX && r.x <= maxX && r.y >= minY && r.y <= maxY;
      expect(inside, `dead feature ${id} at (${r.x}, ${r.y}) inside [${minX}, ${maxX}] × [${minY}, ${maxY}]`).toBe(false);
    }
  });
});

describe("metadata for another SAE width", () => {
  it("an id past the dictionary's width is an error naming the file, the id and the width", () => {
    const dir = tempDir();
    const labels = write(join(dir, "labels.json"), JSON.stringify({ 0: "a", 4096: "b" }));
    expect(() => readMetadata({ labels: [labels], nFeatures: 4096 })).toThrow(
      new InputError("labels.json: feature id 4096 is outside the dictionary (d_sae = 4096); is this label file for another SAE width?"),
    );
  });

  it("labels densely covering only the first part of a much wider dictionary draw a warning (SAELens #549)", () => {
    const dir = tempDir();
    const dense: Record<string, string> = {};
    for (let i = 0; i < 1024; i++) if (i % 50 !== 7) dense[i] = `label ${i}`;
    const path = write(join(dir, "labels-16k.json"), JSON.stringify(dense));
    const warnings: string[] = [];
    readMetadata({ labels: [path], nFeatures: 4096, warn: (m) => warnings.push(m) });
    expect(warnings).toEqual([
      "labels-16k.json: the labels cover ids 0…1023 (98% of them) and none above, but the dictionary has 4,096 features; is this file for a 1,024-wide SAE?",
    ]);
  });

  it("labels spread over the whole width, or a handful of labels, draw none", () => {
    const dir = tempDir();
    const spread: Record<string, string> = {};
    for (let i = 0; i < 4096; i += 3) spread[i] = `label ${i}`;
    const few: Record<string, string> = { 0: "a", 1: "b", 2: "c" };
    const warnings: string[] = [];
    readMetadata({ labels: [write(join(dir, "spread.json"), JSON.stringify(spread)), write(join(dir, "few.json"), JSON.stringify(few))], nFeatures: 4096, warn: (m) => warnings.push(m) });
    expect(warnings).toEqual([]);
  });
});

describe("declared sizes the file cannot back are refused before allocating", () => {
  const dir = tempDir();
  const huge = 2 ** 40;

  it("safetensors: a tensor of a terabyte in a 100-byte file", () => {
    const path = write(join(dir, "huge.safetensors"), rawSafetensors({ W_dec: { dtype: "F32", shape: [2 ** 20, 2 ** 18], data_offsets: [0, huge] } }, Buffer.alloc(16)));
    const r = tracked(() => readSafetensorsHeader(path));
    expect(r.error).toBeInstanceOf(InputError);
    expect((r.error as Error).message).toMatch(/^huge\.safetensors: tensor "W_dec" data_offsets \[0, 1099511627776\] run past the end of the data \(16 bytes; truncated file\?\)$/);
    expect(r.largest).toBeLessThan(4096);
  });

  it("safetensors: a header length of 2^63", () => {
    const path = write(join(dir, "len.safetensors"), rawSafetensors({}, Buffer.alloc(0), 2n ** 63n));
    const r = tracked(() => readSafetensorsHeader(path));
    expect((r.error as Error).message).toMatch(/^len\.safetensors: header length 9223372036854775808 at byte 0 is absurd/);
    expect(r.largest).toBeLessThan(4096);
  });

  it("npy: a shape of 10^12 floats over a few bytes of data", () => {
    const bytes = encodeNpy([1, 2, 3, 4], [4]);
    const patched = Buffer.from(bytes.toString("latin1").replace("(4,), ", "(1000000, 1000000), ").slice(0, bytes.length), "latin1");
    const path = write(join(dir, "huge.npy"), patched);
    const r = tracked(() => readNpyHeader(path));
    expect((r.error as Error).message).toMatch(/^huge\.npy: header declares shape \(1000000, 1000000\) of <f4, which needs 4000000000000 bytes, but the file holds 16 bytes/);
    expect(r.largest).toBeLessThan(4096);
  });

  it("npz: an entry declaring 4 GB inflated from a few bytes", () => {
    const zip = writeZip([{ name: "W_dec.npy", data: encodeNpy([1, 2, 3, 4], [2, 2]) }], { method: 8 });
    // Central directory "uncompressed size" (offset 24 in the central header) set to 4 GB − 1.
    const cd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    zip.writeUInt32LE(0xfffffffe, cd + 24);
    const path = write(join(dir, "bomb.npz"), zip);
    const r = tracked(() => readNpzIndex(path));
    expect(r.error).toBeInstanceOf(InputError);
    expect((r.error as Error).message).toMatch(/^bomb\.npz: entry "W_dec\.npy" declares 4294967294 bytes from \d+ compressed, more than deflate can produce/);
    expect(r.largest).toBeLessThan(1024 * 1024);
  });
});

describe("the CLI on broken input", () => {
  it("names the file and the place, exits 1, prints no stack", () => {
    const dir = tempDir();
    const dict = dictionary();
    const cases: { args: string[]; message: RegExp }[] = [
      {
        args: ["build", write(join(dir, "trunc", "sae_weights.safetensors"), readFileSync(join(dict, "sae_weights.safetensors")).subarray(0, 300)), "--out", join(dir, "o1")],
        message: /^error: sae_weights\.safetensors: tensor "W_dec" data_offsets \[\d+, \d+\] run past the end of the data \(\d+ bytes; truncated file\?\)$/m,
      },
      {
        args: ["build", dict, "--labels", write(join(dir, "bad.jsonl"), '{"index": 1, "label": "a"}\n{"index": 2, "label": "b"\n'), "--out", join(dir, "o2")],
        message: /^error: bad\.jsonl line 2: malformed JSON: /m,
      },
      {
        args: ["build", dict, "--activations", write(join(dir, "acts.json.gz"), Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3])), "--out", join(dir, "o3")],
        message: /^error: acts\.json\.gz: broken gzip data \(.*\); the download may be truncated$/m,
      },
      {
        args: ["build", dict, "--labels", write(join(dir, "dup.csv"), "feature,label\n1,a\n2,b\n1,c\n"), "--out", join(dir, "o4")],
        message: /^error: dup\.csv line 4: feature id 1 appears twice \(first at dup\.csv line 2\)/m,
      },
      { args: ["build", dict, "--out", join(dir, "o5"), "--k=-3"], message: /^error: --k must be a non-negative integer, got "-3"$/m },
      { args: ["build", dict, "--out", join(dir, "o6"), "--k", "-3"], message: /^error: Option '--k' argument is ambiguous\./m },
      { args: ["build", dict, "--out", join(dir, "o7"), "--frobnicate"], message: /^error: Unknown option '--frobnicate'/m },
    ];
    // The SAELens reader needs cfg.json beside the truncated weights.
    writeFileSync(join(dir, "trunc", "cfg.json"), readFileSync(join(dict, "cfg.json")));
    for (const c of cases) {
      const r = cli(...c.args, "--quiet", "--no-cache");
      expect(r.stderr, c.args.join(" ")).toMatch(c.message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.status).toBe(1);
      expect(existsSync(c.args[c.args.indexOf("--out") + 1]!)).toBe(false);
    }
  });
});

describe("text no page can show as given", () => {
  it("lone surrogates and control characters in labels and tokens become U+FFFD once, at read time; the rest stays verbatim", () => {
    const dir = tempDir();
    const labels = write(join(dir, "labels.json"), '{"0": "lone \\ud800 high, \\udfff low, pair \\ud83d\\ude00", "1": "tab\\tnew\\nline nul\\u0000 bell\\u0007 del\\u007f <b>&amp;</b>"}');
    const acts = write(join(dir, "a.json"), JSON.stringify({ features: [{ feature_index: 1, pos_str: ["\uDC00x"], pos_values: [1], activations: [{ tokens: ["a\u0000", "\uD800"], values: [1, 2] }] }] }));
    const meta = readMetadata({ labels: [labels], activations: [acts], nFeatures: 4 });
    expect(meta.labels.get(0)!.label).toBe("lone \uFFFD high, \uFFFD low, pair 😀");
    expect(meta.labels.get(1)!.label).toBe("tab\tnew\nline nul\uFFFD bell\uFFFD del\uFFFD <b>&amp;</b>");
    expect(meta.activations.get(1)!.examples[0]!.tokens).toEqual(["a\uFFFD", "\uFFFD"]);
    expect(meta.activations.get(1)!.logits!.positive[0]!.token).toBe("\uFFFDx");
  });
});

describe("the hostile corpus", () => {
  it("data/hostile is exactly what scripts/make-hostile-dictionary.ts writes", async () => {
    const { writeHostileDictionary } = await import("../../scripts/make-hostile-dictionary.ts");
    const dir = tempDir();
    writeHostileDictionary(dir);
    const committed = join(repoRoot, "data", "hostile");
    expect(readdirSync(dir).sort()).toEqual(readdirSync(committed).sort());
    for (const f of readdirSync(dir)) expect(readFileSync(join(dir, f)).equals(readFileSync(join(committed, f))), f).toBe(true);
  });
});
