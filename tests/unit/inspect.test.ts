import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { decoderStats, formatInspectReport, inspectPath } from "../../precompute/read/inspect.ts";
import { InputError } from "../../precompute/read/safetensors.ts";
import { encodeNpz } from "./helpers/npy-files.ts";
import { cfgV6, cleanTemp, fixtures, floats, tempDir, write, writeSaeLens } from "./helpers/read-files.ts";
import { writeRunConfig, writeSparsifyFolder } from "./helpers/sparsify-files.ts";

afterAll(cleanTemp);

const D_IN = 8;
const N = 24;

/** A sparsify checkpoint of two hook points, with problems planted in the second. */
function checkpoint(): string {
  const root = join(tempDir(), "pythia-run");
  writeRunConfig(root);
  writeSparsifyFolder(join(root, "layers.6"), { dIn: D_IN, numLatents: N, seed: 6 });
  // The real SAEDashboard batch (features 0 and 1 of gpt2-small 0-res-jb) as this hook point's evidence.
  copyFileSync(join(fixtures, "saedashboard-gpt2-small-0-res-jb", "batch-0.json"), join(root, "layers.6", "activations.json"));
  const dec = floats(N * D_IN, 10);
  dec.fill(0, 3 * D_IN, 4 * D_IN); // feature 3: dead
  dec.fill(0, 5 * D_IN, 7 * D_IN); // features 5, 6: dead
  dec[9 * D_IN + 2] = NaN; // feature 9: broken
  writeSparsifyFolder(join(root, "layers.10"), { dIn: D_IN, numLatents: N, decoder: dec, dtype: "F32" });
  writeFileSync(join(root, "layers.10", "labels.json"), JSON.stringify({ "0": "numbers", "5": "dead one", "23": "last", "24": "past the end", "40": "further" }));
  return root;
}

describe("decoderStats", () => {
  it("counts non-finite and all-zero rows and summarises the other norms", () => {
    const m = new Float32Array([3, 4, 0, 0, Infinity, 1, 0, 1, 6, 8]);
    expect(decoderStats(m, 5, 2)).toEqual({ rows: 5, nonFiniteRows: 1, zeroRows: 1, norms: { min: 1, median: 5, max: 10 } });
    expect(decoderStats(new Float32Array(4), 2, 2)).toEqual({ rows: 2, nonFiniteRows: 0, zeroRows: 2, norms: null });
  });
});

describe("inspectPath", () => {
  it("reports one block per hook point of a sparsify checkpoint, with its tensors, metadata and problems", () => {
    const root = checkpoint();
    const report = inspectPath(root);
    expect(report.container).toBe(true);
    expect(report.blocks.map((b) => [b.name, b.format, b.error])).toEqual([
      ["layers.6", "sparsify", null],
      ["layers.10", "sparsify", null],
    ]);
    const [l6, l10] = report.blocks as [(typeof report.blocks)[0], (typeof report.blocks)[0]];

    expect(l6.dictionary).toEqual({
      format: "sparsify", architecture: "topk", model: "EleutherAI/pythia-70m", hookName: "layers.6",
      dIn: D_IN, dSae: N, dtype: "BF16", k: 4, neuronpediaId: null,
    });
    expect(l6.files.map((f) => [f.role, f.name])).toEqual([["config", "cfg.json"], ["weights", "sae.safetensors"], ["config", "config.json"]]);
    expect(l6.tensors).toEqual([
      { file: "sae.safetensors", name: "W_dec", dtype: "BF16", shape: [N, D_IN] },
      { file: "sae.safetensors", name: "b_dec", dtype: "BF16", shape: [D_IN] },
      { file: "sae.safetensors", name: "encoder.bias", dtype: "BF16", shape: [N] },
      { file: "sae.safetensors", name: "encoder.weight", dtype: "BF16", shape: [N, D_IN] },
    ]);
    expect(l6.decoder).toMatchObject({ rows: N, nonFiniteRows: 0, zeroRows: 0 });
    expect(l6.metadata).toEqual([{ kind: "activations", file: "activations.json", features: 2, outOfRange: 0, maxId: 1, error: null }]);
    expect(l6.problems).toEqual([]);

    expect(l10.dictionary).toMatchObject({ hookName: "layers.10", dtype: "F32" });
    expect(l10.decoder).toMatchObject({ rows: N, nonFiniteRows: 1, zeroRows: 3 });
    expect(l10.metadata).toEqual([{ kind: "labels", file: "labels.json", features: 5, outOfRange: 2, maxId: 40, error: null }]);
    expect(l10.problems).toEqual([
      "1 decoder rows hold NaN or ±Infinity; build refuses them unless --drop-nonfinite, which keeps them as dead features, off the map",
      "3 decoder rows are all zero (dead features); they would be kept, off the map",
      "labels.json: 2 of 5 feature ids are ≥ d_sae 24 (largest 40); is it for another SAE width?",
    ]);
  });

  it("formats the report as text, one block per hook point", () => {
    const text = formatInspectReport(inspectPath(checkpoint()));
    const blocks = text.split(/^== /m);
    expect(blocks[0]).toMatch(/pythia-run: 2 dictionaries \(EleutherAI sparsify\), one per hook point/);
    expect(blocks[1]).toMatch(/^layers\.6 ==\n  format +EleutherAI sparsify \(sparsify\)\n/);
    expect(blocks[1]).toMatch(/\n  architecture +topk \(k = 4\)\n  model +EleutherAI\/pythia-70m\n  hook point +layers\.6\n  d_in +8\n  width +24 features \(W_dec stored as BF16\)\n/);
    expect(blocks[1]).toMatch(/\n    W_dec +BF16 +\[24, 8\]\n/);
    expect(blocks[1]).toMatch(/\n  metadata +activations\.json: evidence for 2 features\n/);
    expect(blocks[1]).not.toMatch(/warning/);
    expect(blocks[2]).toMatch(/^layers\.10 ==/);
    expect(blocks[2]).toMatch(/decoder rows +1 non-finite, 3 all-zero; norms min /);
    expect(blocks[2]).toMatch(/\n  warning: labels\.json: 2 of 5 feature ids are ≥ d_sae 24 \(largest 40\)/);
  });

  it("reports an unreadable hook point as an error block and goes on", () => {
    const root = checkpoint();
    writeFileSync(join(root, "layers.6", "sae.safetensors"), Buffer.alloc(4));
    const report = inspectPath(root);
    expect(report.blocks[0]!.error).toMatch(/^sae\.safetensors: file is 4 bytes, too short for a safetensors header/);
    expect(report.blocks[0]!.dictionary).toBeNull();
    expect(report.blocks[1]!.error).toBeNull();
    expect(formatInspectReport(report)).toMatch(/== layers\.6 ==\n(?:.*\n)*  error: sae\.safetensors: file is 4 bytes/);
  });

  it("warns about a SAELens sparsity file of the wrong length instead of failing", () => {
    const dir = writeSaeLens(join(tempDir(), "sae"), { cfg: cfgV6(D_IN, N), decoder: floats(N * D_IN), dSae: N, dIn: D_IN, sparsity: [-1, -2, -3] });
    const report = inspectPath(dir);
    expect(report.container).toBe(false);
    const b = report.blocks[0]!;
    expect(b).toMatchObject({ name: "sae", format: "saelens", error: null });
    expect(b.files.map((f) => f.role)).toEqual(["config", "weights"].concat("sparsity"));
    expect(b.density).toEqual({ file: "sparsity.safetensors", values: 3, nonFinite: 0, positive: 0 });
    expect(b.problems).toEqual(["sparsity.safetensors: holds 3 values, but the dictionary has 24 features; atlas build would refuse it"]);
  });

  it("lists npz arrays with their dtypes and shapes", () => {
    const p = write(join(tempDir(), "layer_2", "width_16k", "average_l0_5", "params.npz"), encodeNpz({
      W_dec: { data: floats(32 * D_IN), shape: [32, D_IN] },
      b_dec: { data: new Float32Array(D_IN), shape: [D_IN] },
      threshold: { data: new Float32Array(32), shape: [32] },
    }));
    const b = inspectPath(p).blocks[0]!;
    expect(b.format).toBe("gemma-scope");
    expect(b.tensors).toEqual([
      { file: "params.npz", name: "W_dec", dtype: "F32", shape: [32, D_IN] },
      { file: "params.npz", name: "b_dec", dtype: "F32", shape: [D_IN] },
      { file: "params.npz", name: "threshold", dtype: "F32", shape: [32] },
    ]);
    expect(b.problems).toEqual(["params.npz: the path says width_16k (16384 features), but W_dec holds 32; using 32"]);
  });

  it("throws only when the path is no dictionary at all", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "notes.txt"), "hi");
    expect(() => inspectPath(dir)).toThrow(InputError);
    expect(() => inspectPath(dir)).toThrow(/not a dictionary this tool can read/);
    expect(() => inspectPath(join(dir, "missing"))).toThrow(/^missing: not found/);
  });
});
