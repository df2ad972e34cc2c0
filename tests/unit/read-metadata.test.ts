import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { inputFileSchema } from "../../contract/atlas.ts";
import { readDictionary, readMetadata } from "../../precompute/read/detect.ts";
import { cfgV6, cleanTemp, fixtures, floats, jsonl, tempDir, write, writeSaeLens } from "./helpers/read-files.ts";

afterAll(cleanTemp);

describe("readMetadata", () => {
  it("a later label file never overrides an earlier one: its labels join `others`", () => {
    const dir = tempDir();
    const a = write(join(dir, "labels.json"), JSON.stringify({ "1": "first", "2": "only in a" }));
    const b = write(join(dir, "more.jsonl"), jsonl([{ index: 1, label: "second" }, { index: 3, label: "only in b" }, { index: 2, label: "only in a" }]));
    const meta = readMetadata({ labels: [a, b], nFeatures: 10 });
    expect([...meta.labels]).toEqual([
      [1, { label: "first", source: "labels.json", others: ["second"] }],
      [2, { label: "only in a", source: "labels.json", others: [] }],
      [3, { label: "only in b", source: "more.jsonl", others: [] }],
    ]);
    expect(meta.inputs.map((f) => `${f.role}:${f.name}`)).toEqual(["labels:labels.json", "labels:more.jsonl"]);
    // Swapping the order swaps the winner.
    expect(readMetadata({ labels: [b, a], nFeatures: 10 }).labels.get(1)).toEqual({ label: "second", source: "more.jsonl", others: ["first"] });
  });

  it("combines real labels and real activations, with hashed inputs", () => {
    const meta = readMetadata({
      labels: [resolve(fixtures, "feature-circuits-annotations/pythia-70m-deduped.jsonl#resid_0")],
      activations: [resolve(fixtures, "saedashboard-gpt2-small-0-res-jb")],
      nFeatures: 32768,
      maxExamples: 20,
      warn: () => {},
    });
    expect(meta.labels.size).toBeGreaterThan(0);
    expect([...meta.activations.keys()]).toEqual([0, 1, 2, 3]);
    expect(Math.max(...[...meta.activations.values()].map((a) => a.examples.length))).toBe(20);
    expect(meta.inputs.map((f) => `${f.role}:${f.name}`)).toEqual(["labels:pythia-70m-deduped.jsonl", "activations:batch-0.json", "activations:batch-1.json"]);
    for (const f of meta.inputs) inputFileSchema.parse(f);
  });

  it("returns empty maps when given no files", () => {
    expect(readMetadata({ nFeatures: 5 })).toEqual({ labels: new Map(), activations: new Map(), inputs: [] });
  });
});

describe("a demo-shaped folder (cfg, weights, sparsity, labels.json, activations.json)", () => {
  it("reads the dictionary and its metadata", () => {
    const dIn = 16;
    const dSae = 6;
    const dir = writeSaeLens(join(tempDir(), "demo"), {
      cfg: cfgV6(dIn, dSae, { architecture: "topk", k: 4 }),
      decoder: floats(dSae * dIn, 3),
      dSae,
      dIn,
      sparsity: [-1, -2, -3, -1.5, -2.5, -20],
    });
    write(join(dir, "labels.json"), JSON.stringify({ "0": "animals", "3": "colours", "5": "rare words" }));
    write(join(dir, "activations.json"), JSON.stringify({
      model_id: "demo",
      layer: 0,
      sae_set: "demo",
      features: [0, 3].map((i) => ({
        feature_index: i,
        frac_nonzero: 0.1 * (i + 1),
        activations: [
          { bin_min: -1, bin_max: 2, bin_contains: -1, tokens: ["cat"], values: [2], qualifying_token_index: 0 },
          { bin_min: -1, bin_max: 2, bin_contains: -1, tokens: ["dog"], values: [1.5], qualifying_token_index: 0 },
        ],
      })),
    }));
    const dict = readDictionary(dir);
    expect(dict.info).toMatchObject({ format: "saelens", architecture: "topk", k: 4, dIn, dSae });
    expect(dict.log10Density![5]).toBe(-20);
    const meta = readMetadata({ labels: [join(dir, "labels.json")], activations: [join(dir, "activations.json")], nFeatures: dict.info.dSae });
    expect([...meta.labels.keys()]).toEqual([0, 3, 5]);
    expect(meta.activations.get(3)).toEqual({
      density: 0.4,
      logits: null,
      examples: [
        { tokens: ["cat"], values: [2], maxIndex: 0, maxValue: 2, bin: null },
        { tokens: ["dog"], values: [1.5], maxIndex: 0, maxValue: 1.5, bin: null },
      ],
    });
    expect([...dict.inputs, ...meta.inputs].map((f) => `${f.role}:${f.name}`)).toEqual([
      "config:cfg.json",
      "weights:sae_weights.safetensors",
      "sparsity:sparsity.safetensors",
      "labels:labels.json",
      "activations:activations.json",
    ]);
  });
});
