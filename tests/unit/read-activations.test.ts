import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { exampleSchema } from "../../contract/atlas.ts";
import { loadActivations, readActivations, readNeuronpediaExport, sortExamples } from "../../precompute/read/activations.ts";
import { InputError } from "../../precompute/read/safetensors.ts";
import { decodeLoneTokens, decodeTokens } from "../../precompute/read/tokens.ts";
import { cleanTemp, fixtures, jsonl, tempDir, write } from "./helpers/read-files.ts";

afterAll(cleanTemp);

const DASH = resolve(fixtures, "saedashboard-gpt2-small-0-res-jb");
const N = 24576;

interface RawFeature {
  feature_index: number;
  frac_nonzero: number;
  pos_str: string[];
  pos_values: number[];
  neg_str: string[];
  neg_values: number[];
  activations: { tokens: string[]; values: number[]; bin_min: number; bin_max: number }[];
}
const raw = ["batch-0.json", "batch-1.json"].flatMap(
  (f) => (JSON.parse(readFileSync(join(DASH, f), "utf8")) as { features: RawFeature[] }).features,
);

describe("SAEDashboard batches (real fixture, gpt2-small 0-res-jb)", () => {
  const acts = readActivations(DASH, N);

  it("reads features 0–3 from the folder, and the same from the two files", () => {
    expect([...acts.keys()]).toEqual([0, 1, 2, 3]);
    const fromFiles = readActivations([join(DASH, "batch-1.json"), join(DASH, "batch-0.json")], N);
    expect(fromFiles).toEqual(acts);
  });

  it("keeps every example, as valid contract examples", () => {
    for (const f of raw) {
      const entry = acts.get(f.feature_index)!;
      expect(entry.examples).toHaveLength(f.activations.length);
      for (const e of entry.examples) {
        exampleSchema.parse(e);
        expect(e.tokens).toHaveLength(e.values.length);
        expect(e.maxValue).toBe(Math.max(...e.values));
        expect(e.values[e.maxIndex]).toBe(e.maxValue);
        expect(e.values.indexOf(e.maxValue)).toBe(e.maxIndex);
      }
    }
    expect(raw.map((f) => acts.get(f.feature_index)!.examples.length)).toEqual([38, 35, 52, 44]);
  });

  it("density is frac_nonzero; logits come from pos_str/neg_str", () => {
    for (const f of raw) {
      const entry = acts.get(f.feature_index)!;
      expect(entry.density).toBe(f.frac_nonzero);
      expect(entry.logits!.positive.map((l) => l.value)).toEqual(f.pos_values);
      expect(entry.logits!.negative.map((l) => l.value)).toEqual(f.neg_values);
      expect(entry.logits!.positive).toHaveLength(10);
    }
    expect(acts.get(0)!.logits!.positive[0]).toEqual({ token: " Brigade", value: 3.753 });
    // 'ãĤ±' is the byte-level spelling of ケ (E3 82 B1).
    expect(acts.get(2)!.logits!.negative[0]).toEqual({ token: "ケ", value: -0.743 });
  });

  it("orders the top group first by activation, then quantile bins from high to low", () => {
    for (const f of raw) {
      const ex = acts.get(f.feature_index)!.examples;
      const tops = raw.find((r) => r === f)!.activations.filter((a) => a.bin_min === -1).length;
      expect(ex.slice(0, tops).every((e) => e.bin === null)).toBe(true);
      expect(ex.slice(tops).every((e) => e.bin !== null)).toBe(true);
      for (let i = 1; i < tops; i++) expect(ex[i - 1]!.maxValue).toBeGreaterThanOrEqual(ex[i]!.maxValue);
      for (let i = tops + 1; i < ex.length; i++) expect(ex[i - 1]!.bin![0]).toBeGreaterThanOrEqual(ex[i]!.bin![0]);
    }
    // Feature 0: 30 top examples, then the bin [1.771, 2.214] before [0, 0.443].
    const bins = acts.get(0)!.examples.map((e) => (e.bin ? e.bin.join("–") : "top"));
    expect(bins.indexOf("1.771–2.214")).toBe(30);
    expect(bins.lastIndexOf("0–0.443")).toBe(37);
  });

  it("puts byte-level pieces back together without changing the token count", () => {
    const f3 = raw.find((f) => f.feature_index === 3)!;
    const src = f3.activations.find((a) => a.tokens.includes(" âĢ") && a.tokens.includes("ľ"))!;
    const at = src.tokens.indexOf(" âĢ");
    expect(src.tokens[at + 1]).toBe("ľ");
    const got = acts.get(3)!.examples.find((e) => e.values.join() === src.values.join())!;
    expect(got.tokens).toHaveLength(src.tokens.length);
    // E2 80 9C is “: the space stays on the first token, the quote lands on the one completing it.
    expect(got.tokens.slice(at, at + 2)).toEqual([" ", "“"]);
    const leftovers = [...acts.values()].flatMap((a) => a.examples.flatMap((e) => e.tokens)).filter((t) => /[\u0100-\u0143]/.test(t));
    expect(leftovers).toEqual([]);
  });
});

describe("token decoding", () => {
  it("turns Ġ into a space and Ċ into a newline", () => {
    expect(decodeTokens(["ĠThe", "Ġcat", "Ċ", "ĊĊ", "Ġsat"])).toEqual([" The", " cat", "\n", "\n\n", " sat"]);
  });

  it("reassembles characters split over tokens, in both export forms", () => {
    // “ is E2 80 9C: "âĢ" + "ľ"; ’ is E2 80 99: "âĢ" + "Ļ".
    expect(decodeTokens(["ĠHe", "Ġsaid", "ĠâĢ", "ľ", "hi", "âĢ", "Ŀ"])).toEqual([" He", " said", " ", "“", "hi", "", "”"]);
    expect(decodeTokens([" He", " said", " âĢ", "ľ", "hi", "—", "it", "âĢ", "Ļ", "s"])).toEqual([" He", " said", " ", "“", "hi", "—", "it", "", "’", "s"]);
    // A window cut inside a character: the orphaned bytes become U+FFFD, the rest is text.
    expect(decodeTokens(["Ļ", "s", " fine", " âĢ"])).toEqual(["\uFFFD", "s", " fine", " \uFFFD"]);
  });

  it("leaves tokens of other tokenizers alone", () => {
    expect(decodeTokens(["▁The", "▁café", "ł"])).toEqual(["▁The", "▁café", "ł"]);
    expect(decodeTokens(["plain", " text", "é"])).toEqual(["plain", " text", "é"]);
    // Czech and Polish letters are in the remapped range (č would be byte 0x0D) but stay letters.
    expect(decodeTokens(["čapek"])).toEqual(["čapek"]);
    expect(decodeTokens(["łaski"])).toEqual(["łaski"]);
    expect(decodeTokens([" člověk", " je", " ěř"])).toEqual([" člověk", " je", " ěř"]);
    expect(decodeLoneTokens(["é", "âĢ", "ĠMRI", "č", "ÃĹ", "Ċ"])).toEqual(["é", "âĢ", " MRI", "č", "×", "\n"]);
  });
});

function dashboard(features: unknown[]): string {
  return JSON.stringify({ model_id: "demo", layer: 0, sae_set: "demo", features });
}

function feature(id: number, extra: Record<string, unknown> = {}) {
  return {
    feature_index: id,
    frac_nonzero: 0.01,
    pos_str: ["Ġup"],
    pos_values: [1.5],
    neg_str: ["Ġdown"],
    neg_values: [-1.25],
    activations: [
      { bin_min: 0, bin_max: 1, bin_contains: 0.9, tokens: ["Ġlow"], values: [0.5], qualifying_token_index: 0 },
      { bin_min: -1, bin_max: 3, bin_contains: -1, tokens: ["Ġhigh"], values: [3], qualifying_token_index: 0 },
      { bin_min: 1, bin_max: 2, bin_contains: 0.1, tokens: ["Ġmid"], values: [1.5], qualifying_token_index: 0 },
      { bin_min: -1, bin_max: 3, bin_contains: -1, tokens: ["Ġhigher", "Ċ"], values: [0.1, 2.9], qualifying_token_index: 1 },
    ],
    ...extra,
  };
}

describe("hand-made SAEDashboard files (the demo's shape)", () => {
  it("reads one-token examples, .json.gz, Ġ/Ċ, bins and order", () => {
    const p = write(join(tempDir(), "activations.json.gz"), dashboard([feature(4)]), true);
    const { activations, inputs } = loadActivations(p, 10);
    expect(activations.get(4)).toEqual({
      density: 0.01,
      logits: { positive: [{ token: " up", value: 1.5 }], negative: [{ token: " down", value: -1.25 }] },
      examples: [
        { tokens: [" high"], values: [3], maxIndex: 0, maxValue: 3, bin: null },
        { tokens: [" higher", "\n"], values: [0.1, 2.9], maxIndex: 1, maxValue: 2.9, bin: null },
        { tokens: [" mid"], values: [1.5], maxIndex: 0, maxValue: 1.5, bin: [1, 2] },
        { tokens: [" low"], values: [0.5], maxIndex: 0, maxValue: 0.5, bin: [0, 1] },
      ],
    });
    expect(inputs).toEqual([{ role: "activations", name: "activations.json.gz", bytes: readFileSync(p).length, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) }]);
  });

  it("null logits and density when absent; maxExamples keeps the best", () => {
    const bare = { feature_index: 1, activations: feature(1).activations };
    const p = write(join(tempDir(), "a.json"), dashboard([bare]));
    const entry = readActivations(p, 10, { maxExamples: 2 }).get(1)!;
    expect(entry.density).toBeNull();
    expect(entry.logits).toBeNull();
    expect(entry.examples.map((e) => e.tokens[0])).toEqual([" high", " higher"]);
  });

  it("sortExamples is stable for equal keys", () => {
    const mk = (t: string, v: number, bin: [number, number] | null) => ({ tokens: [t], values: [v], maxIndex: 0, maxValue: v, bin });
    const sorted = sortExamples([mk("a", 1, [0, 1]), mk("b", 1, null), mk("c", 1, [0, 1]), mk("d", 1, null)]);
    expect(sorted.map((e) => e.tokens[0])).toEqual(["b", "d", "a", "c"]);
  });

  it("errors name the file and the feature", () => {
    const dir = tempDir();
    const mismatch = feature(2);
    mismatch.activations[2] = { ...mismatch.activations[2]!, tokens: ["a", "b"], values: [1] };
    expect(() => readActivations(write(join(dir, "m.json"), dashboard([mismatch])), 10)).toThrow(
      "m.json feature 2 activations[2]: feature 2: an example has 2 tokens but 1 values",
    );
    const nonFinite = feature(3);
    nonFinite.activations[0] = { ...nonFinite.activations[0]!, values: [null as unknown as number] };
    expect(() => readActivations(write(join(dir, "nf.json"), dashboard([nonFinite])), 10)).toThrow(
      /^nf\.json feature 3 activations\[0\]: feature 3: activation value null at token 0 is not a finite number$/,
    );
    expect(() => readActivations(write(join(dir, "d.json"), dashboard([feature(5, { frac_nonzero: 1.5 })])), 10)).toThrow(
      /^d\.json \(feature 5\): feature 5: frac_nonzero 1\.5 is not a fraction in \[0, 1\]$/,
    );
    expect(() => readActivations(write(join(dir, "l.json"), dashboard([feature(5, { pos_values: [1, 2] })])), 10)).toThrow(
      /feature 5: pos_str has 1 tokens but pos_values has 2 values/,
    );
    expect(() => readActivations(write(join(dir, "r.json"), dashboard([feature(10)])), 10)).toThrow(
      new InputError("r.json features[0]: feature id 10 is outside the dictionary (d_sae = 10); is this activation file for another SAE width?"),
    );
    expect(() => readActivations(write(join(dir, "twice.json"), dashboard([feature(1), feature(1)])), 10)).toThrow(/^twice\.json features\[1\]: feature 1 appears twice in this file$/);
    expect(() => readActivations(write(join(dir, "x.json"), "{\"features\": [1,}"), 10)).toThrow(/^x\.json: malformed JSON: /);
    expect(() => readActivations(write(join(dir, "y.json"), "{\"feats\": []}"), 10)).toThrow(/^y\.json: expected a SAEDashboard batch/);
  });

  it("the same feature in two files is an error naming both", () => {
    const dir = tempDir();
    const a = write(join(dir, "batch-0.json"), dashboard([feature(1)]));
    const b = write(join(dir, "batch-1.json"), dashboard([{ feature_index: 1, activations: feature(1).activations }]));
    expect(() => readActivations([a, b], 10)).toThrow(/^batch-1\.json: feature 1 already has examples from batch-0\.json; each feature's examples must come from one source$/);
    expect(() => readActivations(dir, 10)).toThrow(/already has examples from batch-0\.json/);
  });
});

function npActivation(index: string, tokens: string[], values: number[], binMin = -1, binMax = Math.max(...values)) {
  return { id: `a${index}-${tokens.join("")}`, modelId: "gpt2-small", layer: "6-res-jb", index, tokens, values, maxValue: Math.max(...values), maxValueTokenIndex: values.indexOf(Math.max(...values)), binMin, binMax, binContains: binMin === -1 ? -1 : 0.5, dfaValues: [] };
}

function npExport(root: string): string {
  write(join(root, "features", "batch-0.jsonl.gz"), jsonl([
    { modelId: "gpt2-small", layer: "6-res-jb", index: "0", frac_nonzero: 0.25, pos_str: ["Ġyes"], pos_values: [2], neg_str: ["Ġno"], neg_values: [-2], maxActApprox: 4 },
    { modelId: "gpt2-small", layer: "6-res-jb", index: "1", frac_nonzero: 0, pos_str: [], pos_values: [], neg_str: [], neg_values: [], maxActApprox: 0 },
  ]), true);
  write(join(root, "activations", "batch-0.jsonl.gz"), jsonl([
    npActivation("0", ["ĠA", "Ġb"], [0, 1]),
    npActivation("0", ["ĠC", "Ġd"], [4, 0]),
    npActivation("0", ["Ġq"], [0.5], 0, 1),
  ]), true);
  write(join(root, "activations", "batch-1.jsonl.gz"), jsonl([npActivation("1025", ["x"], [9])]), true);
  write(join(root, "explanations", "batch-0.jsonl.gz"), jsonl([
    { id: "e1", modelId: "gpt2-small", layer: "6-res-jb", index: "0", description: "letters", typeName: "oai_token-act-pair", explanationModelName: "gpt-4o-mini", embedding: "[0.0, 1.0]" },
  ]), true);
  return root;
}

describe("Neuronpedia exports", () => {
  it("reads features/, activations/ and explanations/ together", () => {
    const root = npExport(tempDir());
    const { labels, activations, inputs } = readNeuronpediaExport(root, 2048);
    expect([...labels]).toEqual([[0, { label: "letters", source: "gpt-4o-mini", others: [] }]]);
    expect([...activations.keys()]).toEqual([0, 1, 1025]);
    expect(activations.get(0)).toEqual({
      density: 0.25,
      logits: { positive: [{ token: " yes", value: 2 }], negative: [{ token: " no", value: -2 }] },
      examples: [
        { tokens: [" C", " d"], values: [4, 0], maxIndex: 0, maxValue: 4, bin: null },
        { tokens: [" A", " b"], values: [0, 1], maxIndex: 1, maxValue: 1, bin: null },
        { tokens: [" q"], values: [0.5], maxIndex: 0, maxValue: 0.5, bin: [0, 1] },
      ],
    });
    expect(activations.get(1)).toEqual({ density: 0, logits: { positive: [], negative: [] }, examples: [] });
    expect(activations.get(1025)!.density).toBeNull();
    expect(inputs.map((f) => `${f.role}:${f.name}`)).toEqual([
      "labels:explanations/batch-0.jsonl.gz",
      "activations:features/batch-0.jsonl.gz",
      "activations:activations/batch-0.jsonl.gz",
      "activations:activations/batch-1.jsonl.gz",
    ]);
    // The same via readActivations on the folder, or on its two subfolders.
    expect(readActivations(root, 2048)).toEqual(activations);
    expect(readActivations([join(root, "activations"), join(root, "features")], 2048)).toEqual(activations);
  });

  it("errors: explanations as activations, bad rows, broken gzip, wrong width, empty folders", () => {
    const root = npExport(tempDir());
    expect(() => readActivations(join(root, "explanations"), 2048)).toThrow(/^batch-0\.jsonl\.gz line 1: this is a Neuronpedia explanations file; pass it as labels/);
    expect(() => readActivations(root, 1024)).toThrow(
      /^activations\/batch-1\.jsonl\.gz line 1: feature id 1025 is outside the dictionary \(d_sae = 1024\); is this activation file for another SAE width\?$/,
    );
    const bad = write(join(tempDir(), "batch-0.jsonl"), jsonl([npActivation("3", ["a"], [1]), { ...npActivation("3", ["a", "b"], [1, 2]), values: [1] }]));
    expect(() => readActivations(bad, 10)).toThrow(/^batch-0\.jsonl line 2: feature 3: an example has 2 tokens but 1 values$/);
    const odd = write(join(tempDir(), "batch-0.jsonl"), jsonl([{ foo: 1 }]));
    expect(() => readActivations(odd, 10)).toThrow(/^batch-0\.jsonl line 1: not a Neuronpedia activation row/);
    const broken = write(join(tempDir(), "activations", "batch-2.jsonl.gz"), Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]));
    expect(() => readActivations(broken, 10)).toThrow(/^batch-2\.jsonl\.gz: broken gzip data/);
    expect(() => readActivations(tempDir(), 10)).toThrow(/is a folder, but holds no activation batch files; looked for batch-<n>\.json\[\.gz\] \(SAEDashboard\)/);
    expect(() => readNeuronpediaExport(tempDir(), 10)).toThrow(/has none of features\/, explanations\/, activations\/; is it a Neuronpedia export folder\?/);
  });

  it("examples of one feature from two exports are an error", () => {
    const a = npExport(tempDir());
    const b = npExport(tempDir());
    expect(() => readActivations([join(a, "activations"), join(b, "activations")], 2048)).toThrow(
      `activations/batch-0.jsonl.gz line 1: feature 0 already has examples from activations/ (${join(a, "activations")}); each feature's examples must come from one source`,
    );
    expect(() => readActivations([join(a, "features"), join(b, "features")], 2048)).toThrow(
      `features/batch-0.jsonl.gz line 1: feature 0 already has a density from features/batch-0.jsonl.gz line 1 (${join(a, "features", "batch-0.jsonl.gz")})`,
    );
  });
});
