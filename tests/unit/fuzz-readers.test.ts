/**
 * Mutation fuzzing of every reader: valid small inputs are damaged (bit flips, truncation,
 * inserted and overwritten bytes, spliced slices, and for JSON also well-formed values of the
 * wrong kind), and each reader must either succeed or throw an InputError. Any other exception
 * (TypeError, RangeError, a zlib or JSON error leaking through) is a reader bug. Each case also
 * runs under an allocation tracker, so a reader that sizes a buffer from a corrupt header before
 * checking it against the file fails here even when the allocation itself would have succeeded.
 *
 * The seed is fixed (precompute/random.ts), so a failure names a case that reproduces.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { rng } from "../../precompute/random.ts";
import { loadActivations } from "../../precompute/read/activations.ts";
import { readDictionary } from "../../precompute/read/detect.ts";
import { loadLabels } from "../../precompute/read/labels.ts";
import { encodeSafetensors, InputError } from "../../precompute/read/safetensors.ts";
import { tracked } from "./helpers/alloc-tracker.ts";
import { encodeNpy, encodeNpz } from "./helpers/npy-files.ts";
import { cfgV6, cleanTemp, floats, jsonl, tempDir } from "./helpers/read-files.ts";
import { sparsifyCfg, pyJson } from "./helpers/sparsify-files.ts";

afterAll(cleanTemp);

const SEED = 20240611;
const D_SAE = 24;
const D_IN = 8;
/** Cases per target: 16 × 64 = 1024 in a few seconds. FUZZ_CASES=<n> runs a deeper search locally. */
const CASES = Number(process.env.FUZZ_CASES ?? 64);
/** A case taking longer than this is a near-hang (inputs are a few KB). */
const SLOW_MS = 2000;
/** Input files are hashed for the manifest through one fixed 4 MiB buffer (read/hash.ts). */
const HASH_CHUNK = 4 * 1024 * 1024 + 64 * 1024;

// ---------------------------------------------------------------- mutations

type Random = () => number;
const int = (r: Random, n: number) => Math.floor(r() * n);

function randomBytes(r: Random, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = int(r, 256);
  return b;
}

/** Values that are valid JSON but wrong for the field they land in. */
const ODD_VALUES: unknown[] = [
  null, true, -1, 0, 1e308, -1e308, 2 ** 53, 4294967296, 0.5, "", "x", "-3", "1e9", "\ud800", [], [null], {}, { a: 1 },
  Array.from({ length: 3 }, () => "Ġ"), [1, "2", null],
];

/** Replace one value somewhere in a parsed JSON document. */
function mutateJsonValue(doc: unknown, r: Random): unknown {
  const slots: { holder: Record<string, unknown> | unknown[]; key: string | number }[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach((x, i) => (slots.push({ holder: v, key: i }), walk(x)));
    else if (v !== null && typeof v === "object") for (const [k, x] of Object.entries(v)) (slots.push({ holder: v as Record<string, unknown>, key: k }), walk(x));
  };
  walk(doc);
  if (slots.length === 0) return ODD_VALUES[int(r, ODD_VALUES.length)];
  const s = slots[int(r, slots.length)]!;
  const action = int(r, 3);
  if (action === 0 && !Array.isArray(s.holder)) delete (s.holder as Record<string, unknown>)[s.key as string];
  else if (action === 1 && Array.isArray(s.holder)) s.holder.splice(s.key as number, 0, s.holder[s.key as number]);
  else (s.holder as Record<string | number, unknown>)[s.key] = ODD_VALUES[int(r, ODD_VALUES.length)];
  return doc;
}

type Kind = "binary" | "text" | "json" | "jsonl" | "gzip-json" | "gzip-jsonl";

/** One damaged copy of `bytes`; returns the bytes and a short description for failure messages. */
function mutate(bytes: Buffer, kind: Kind, r: Random): { bytes: Buffer; how: string } {
  const structural = kind === "json" || kind === "jsonl" || kind === "gzip-json" || kind === "gzip-jsonl";
  const gz = kind.startsWith("gzip");
  // For gzip files, half the cases damage the compressed bytes and half the JSON inside.
  if (gz && r() < 0.5) {
    const inner = mutate(gunzipSync(bytes), kind === "gzip-json" ? "json" : "jsonl", r);
    return { bytes: gzipSync(inner.bytes), how: `inside gzip: ${inner.how}` };
  }
  if (structural && !gz && r() < 0.4) {
    const text = bytes.toString("utf8");
    if (kind === "json") return { bytes: Buffer.from(JSON.stringify(mutateJsonValue(JSON.parse(text), r))), how: "json value replaced" };
    const lines = text.split("\n").filter((l) => l.trim() !== "");
    const k = int(r, lines.length);
    lines[k] = JSON.stringify(mutateJsonValue(JSON.parse(lines[k]!), r));
    return { bytes: Buffer.from(lines.join("\n") + "\n"), how: `jsonl line ${k + 1} value replaced` };
  }
  const b = Buffer.from(bytes);
  switch (int(r, 6)) {
    case 0: {
      const flips = 1 + int(r, 8);
      // Binary headers live at the start; aim half the flips there, where they matter most.
      for (let f = 0; f < flips; f++) {
        const at = r() < 0.5 ? int(r, Math.min(b.length, 160)) : int(r, b.length);
        b[at]! ^= 1 << int(r, 8);
      }
      return { bytes: b, how: `${flips} bit flips` };
    }
    case 1: {
      const len = int(r, b.length);
      return { bytes: b.subarray(0, len), how: `truncated to ${len}` };
    }
    case 2: {
      const at = int(r, b.length + 1);
      const n = 1 + int(r, 16);
      return { bytes: Buffer.concat([b.subarray(0, at), randomBytes(r, n), b.subarray(at)]), how: `${n} bytes inserted at ${at}` };
    }
    case 3: {
      const at = int(r, b.length);
      const n = Math.min(b.length - at, 1 + int(r, 8));
      randomBytes(r, n).copy(b, at);
      return { bytes: b, how: `${n} bytes overwritten at ${at}` };
    }
    case 4: {
      // A length field set to an extreme: the classic way to make a reader allocate too much.
      const at = int(r, Math.min(b.length, 64));
      const v = [0xff, 0x7f, 0x80, 0x00][int(r, 4)]!;
      b.fill(v, at, Math.min(b.length, at + 1 + int(r, 8)));
      return { bytes: b, how: `bytes from ${at} set to 0x${v.toString(16)}` };
    }
    default: {
      // A slice removed from the middle (bytes lost mid-file).
      const from = int(r, b.length);
      const to = Math.min(b.length, from + 1 + int(r, 64));
      return { bytes: Buffer.concat([b.subarray(0, from), b.subarray(to)]), how: `bytes [${from}, ${to}) removed` };
    }
  }
}

// ---------------------------------------------------------------- targets

interface Target {
  name: string;
  /** Files of a valid input, relative to its folder. */
  files: Record<string, Buffer>;
  /** Which file the cases damage, and how it is structured. */
  victim: string;
  kind: Kind;
  /** Run the reader on the folder. */
  read(dir: string): unknown;
  /** Largest single allocation allowed, given the input's total size (compressed inputs may inflate). */
  inflates?: boolean;
}

const decoder = floats(D_SAE * D_IN, 3);
const labelsMap = Object.fromEntries(Array.from({ length: D_SAE }, (_, i) => [String(i), `label <${i}> "q" , é`]));
const labelRows = Array.from({ length: D_SAE }, (_, i) => ({ index: i, label: `feature ${i}` }));
const neuronpediaRows = Array.from({ length: 12 }, (_, i) => ({
  modelId: "gpt2-small", layer: "0-res-jb", index: String(i % D_SAE), description: `expl ${i}`, typeName: "oai_token-act-pair",
  explanationModelName: i % 2 ? "gpt-4" : "claude", scores: [{ value: i / 12 }],
}));
const dashboard = {
  model_id: "gpt2-small", layer: 0, sae_set: "res-jb",
  features: Array.from({ length: 6 }, (_, i) => ({
    feature_index: i * 3,
    frac_nonzero: 0.01 * (i + 1),
    pos_str: ["Ġup", "âĢľ"], pos_values: [1.5, 0.5], neg_str: ["Ġdown"], neg_values: [-1.25],
    activations: [
      { bin_min: -1, bin_max: 3, bin_contains: -1, tokens: ["Ġhigh", "Ċ", "âĢ", "ľ"], values: [3, 0, 1, 2], qualifying_token_index: 0 },
      { bin_min: 0, bin_max: 1, bin_contains: 0.9, tokens: ["Ġlow"], values: [0.5], qualifying_token_index: 0 },
    ],
  })),
};
const neuronpediaActivations = Array.from({ length: 10 }, (_, i) => ({ index: String(i), tokens: ["a", "Ġb"], values: [0.5, i], binMin: -1, binMax: 3 }));
const neuronpediaFeatures = Array.from({ length: 10 }, (_, i) => ({ index: String(i), frac_nonzero: 0.1, pos_str: ["x"], pos_values: [1], neg_str: [], neg_values: [] }));

const safetensorsWeights = (dtype: "F32" | "F16" | "BF16") =>
  encodeSafetensors({
    W_dec: { dtype, shape: [D_SAE, D_IN], data: decoder },
    W_enc: { dtype, shape: [D_IN, D_SAE], data: floats(D_SAE * D_IN, 4) },
    b_dec: { dtype, shape: [D_IN], data: new Float32Array(D_IN) },
    b_enc: { dtype, shape: [D_SAE], data: new Float32Array(D_SAE) },
  }, { format: "pt" });
const saelensFiles = {
  "cfg.json": Buffer.from(JSON.stringify(cfgV6(D_IN, D_SAE))),
  "sae_weights.safetensors": safetensorsWeights("F32"),
  "sparsity.safetensors": encodeSafetensors({ sparsity: { dtype: "F32", shape: [D_SAE], data: new Float32Array(D_SAE).fill(-2.5) } }),
};
const gemmaArrays = {
  W_enc: { data: floats(D_SAE * D_IN, 5), shape: [D_IN, D_SAE] },
  W_dec: { data: decoder, shape: [D_SAE, D_IN] },
  b_enc: { data: new Float32Array(D_SAE), shape: [D_SAE] },
  b_dec: { data: new Float32Array(D_IN), shape: [D_IN] },
  threshold: { data: new Float32Array(D_SAE).fill(0.05), shape: [D_SAE] },
};
const dict = (dir: string) => readDictionary(dir, { warn: () => {} });
const dictFile = (file: string) => (dir: string) => readDictionary(join(dir, file), { warn: () => {} });
const quiet = { warn: () => {} };

const targets: Target[] = [
  { name: "SAELens weights (F32 safetensors)", files: saelensFiles, victim: "sae_weights.safetensors", kind: "binary", read: dict },
  { name: "SAELens cfg.json", files: saelensFiles, victim: "cfg.json", kind: "json", read: dict },
  { name: "SAELens sparsity.safetensors", files: saelensFiles, victim: "sparsity.safetensors", kind: "binary", read: dict },
  {
    name: "sparsify BF16 safetensors",
    files: { "cfg.json": Buffer.from(pyJson(sparsifyCfg(D_IN, { num_latents: D_SAE, k: 4 }))), "sae.safetensors": encodeSafetensors({
      "encoder.weight": { dtype: "BF16", shape: [D_SAE, D_IN], data: floats(D_SAE * D_IN, 9) },
      "encoder.bias": { dtype: "BF16", shape: [D_SAE], data: new Float32Array(D_SAE) },
      W_dec: { dtype: "BF16", shape: [D_SAE, D_IN], data: decoder },
      b_dec: { dtype: "BF16", shape: [D_IN], data: new Float32Array(D_IN) },
    }) },
    victim: "sae.safetensors", kind: "binary", read: dict,
  },
  { name: "npy f4", files: { "W_dec.npy": encodeNpy(decoder, [D_SAE, D_IN]) }, victim: "W_dec.npy", kind: "binary", read: dictFile("W_dec.npy") },
  { name: "npy f2 v2 Fortran", files: { "W_dec.npy": encodeNpy(decoder, [D_IN, D_SAE], { descr: "<f2", version: 2, fortranOrder: true }) }, victim: "W_dec.npy", kind: "binary", read: dictFile("W_dec.npy") },
  {
    name: "npz stored (np.savez)",
    files: { "dec.npz": encodeNpz({ W_dec: { data: decoder, shape: [D_SAE, D_IN] }, b_dec: { data: new Float32Array(D_IN), shape: [D_IN] } }) },
    victim: "dec.npz", kind: "binary", read: dictFile("dec.npz"),
  },
  { name: "Gemma Scope params.npz, deflated", files: { "params.npz": encodeNpz(gemmaArrays, { method: 8 }) }, victim: "params.npz", kind: "binary", read: dictFile("params.npz"), inflates: true },
  { name: "Gemma Scope params.npz, stored zip64", files: { "params.npz": encodeNpz(gemmaArrays, { zip64Central: true }) }, victim: "params.npz", kind: "binary", read: dictFile("params.npz") },
  { name: "labels.json", files: { "labels.json": Buffer.from(JSON.stringify(labelsMap)) }, victim: "labels.json", kind: "json", read: (d) => loadLabels(join(d, "labels.json"), D_SAE, quiet) },
  { name: "labels.jsonl", files: { "labels.jsonl": Buffer.from(jsonl(labelRows)) }, victim: "labels.jsonl", kind: "jsonl", read: (d) => loadLabels(join(d, "labels.jsonl"), D_SAE, quiet) },
  {
    name: "labels.csv",
    files: { "labels.csv": Buffer.from("feature,label\n" + labelRows.map((r) => `${r.index},"${r.label}, with ""quotes""\nand a newline"`).join("\r\n") + "\n") },
    victim: "labels.csv", kind: "text", read: (d) => loadLabels(join(d, "labels.csv"), D_SAE, quiet),
  },
  {
    name: "Neuronpedia explanations .jsonl.gz",
    files: { "explanations/batch-0.jsonl.gz": gzipSync(jsonl(neuronpediaRows)) },
    victim: "explanations/batch-0.jsonl.gz", kind: "gzip-jsonl", read: (d) => loadLabels(d, D_SAE, quiet), inflates: true,
  },
  { name: "SAEDashboard activations.json", files: { "activations.json": Buffer.from(JSON.stringify(dashboard)) }, victim: "activations.json", kind: "json", read: (d) => loadActivations(join(d, "activations.json"), D_SAE, quiet) },
  {
    name: "SAEDashboard activations.json.gz",
    files: { "activations.json.gz": gzipSync(JSON.stringify(dashboard)) },
    victim: "activations.json.gz", kind: "gzip-json", read: (d) => loadActivations(join(d, "activations.json.gz"), D_SAE, quiet), inflates: true,
  },
  {
    name: "Neuronpedia activations + features .jsonl.gz",
    files: { "activations/batch-0.jsonl.gz": gzipSync(jsonl(neuronpediaActivations)), "features/batch-0.jsonl.gz": gzipSync(jsonl(neuronpediaFeatures)) },
    victim: "activations/batch-0.jsonl.gz", kind: "gzip-jsonl", read: (d) => loadActivations(d, D_SAE, quiet), inflates: true,
  },
];

function writeFiles(dir: string, files: Record<string, Buffer>): void {
  rmSync(dir, { recursive: true, force: true });
  for (const [rel, bytes] of Object.entries(files)) {
    mkdirSync(join(dir, rel, ".."), { recursive: true });
    writeFileSync(join(dir, rel), bytes);
  }
}

describe("fuzzed readers", () => {
  const totals = { cases: 0, ok: 0, inputErrors: 0 };

  for (const t of targets) {
    it(`${t.name}: success or InputError, bounded allocation, no hang`, () => {
      const dir = join(tempDir("atlas-fuzz-"), "in");
      // The undamaged input reads: otherwise every case would fail for a boring reason.
      writeFiles(dir, t.files);
      const clean = tracked(() => t.read(dir));
      expect(clean.error, `${t.name}: the valid input must read`).toBeNull();

      const random = rng(SEED, `fuzz:${t.name}`);
      const original = t.files[t.victim]!;
      const problems: string[] = [];
      for (let c = 0; c < CASES; c++) {
        const { bytes, how } = mutate(original, t.kind, random);
        writeFiles(dir, { ...t.files, [t.victim]: bytes });
        const inputBytes = Object.values({ ...t.files, [t.victim]: bytes }).reduce((a, b) => a + b.length, 0);
        // Decoding may widen (BF16 → F32 doubles) and inflating may multiply by deflate's
        // ~1032:1 limit; anything beyond is an allocation sized from a header, not from the file.
        const bound = (t.inflates ? 1100 : 4) * inputBytes + HASH_CHUNK;
        const start = performance.now();
        const res = tracked(() => t.read(dir));
        const ms = performance.now() - start;
        totals.cases++;
        if (res.ok) totals.ok++;
        else if (res.error instanceof InputError) totals.inputErrors++;
        else problems.push(`case ${c} (${how}): ${(res.error as Error)?.name}: ${(res.error as Error)?.message}\n${(res.error as Error)?.stack?.split("\n").slice(1, 4).join("\n")}`);
        if (res.largest > bound) problems.push(`case ${c} (${how}): allocated ${res.largest} bytes at once from a ${inputBytes}-byte input`);
        if (ms > SLOW_MS) problems.push(`case ${c} (${how}): took ${ms.toFixed(0)} ms`);
        // The victim really was read: a damaged file that is not read at all would prove nothing.
        if (c === 0) expect(readFileSync(join(dir, t.victim)).equals(bytes)).toBe(true);
      }
      expect(problems).toEqual([]);
    });
  }

  it("ran the planned number of cases", () => {
    // Shown in CI logs, so a change that quietly skips cases is visible.
    console.log(`fuzz-readers: ${totals.cases} cases over ${targets.length} readers: ${totals.ok} read, ${totals.inputErrors} InputError, ${totals.cases - totals.ok - totals.inputErrors} other`);
    expect(totals.cases).toBe(targets.length * CASES);
    // Most damage must be caught: a fuzzer whose mutations all read cleanly tests nothing.
    expect(totals.inputErrors).toBeGreaterThan(totals.cases / 3);
  });
});
