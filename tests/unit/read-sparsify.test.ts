import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { dictionaryInfoSchema } from "../../contract/atlas.ts";
import { atlasIdFromName, detectDictionary, listDictionaries, naturalCompare, readDictionary } from "../../precompute/read/detect.ts";
import { encodeSafetensors, f32ToBf16, InputError } from "../../precompute/read/safetensors.ts";
import { parseSparsifyConfig, readSparsifyFolder } from "../../precompute/read/sparsify.ts";
import { cleanTemp, tempDir, writeSaeLens, cfgV6, floats } from "./helpers/read-files.ts";
import { pyJson, sparsifyCfg, writeRunConfig, writeSparsifyFolder } from "./helpers/sparsify-files.ts";

afterAll(cleanTemp);

const D_IN = 8;
const N = 24;

/** What a float becomes after a round trip through bfloat16. */
function bf16(x: number): number {
  return new Float32Array(new Uint32Array([f32ToBf16(x) << 16]).buffer)[0]!;
}

function checkpoint(): { root: string; l6: Float32Array; l10: Float32Array } {
  const root = join(tempDir(), "pythia-run");
  writeRunConfig(root);
  const l6 = writeSparsifyFolder(join(root, "layers.6"), { dIn: D_IN, numLatents: N, seed: 6 });
  const l10 = writeSparsifyFolder(join(root, "layers.10"), { dIn: D_IN, numLatents: N, seed: 10 });
  // The trainer's other files: optimizer and scheduler state, which are not dictionaries.
  writeFileSync(join(root, "state.pt"), "pickle");
  writeFileSync(join(root, "optimizer_0.pt"), "pickle");
  return { root, l6, l10 };
}

describe("sparsify config", () => {
  it("sizes the dictionary by num_latents, or d_in × expansion_factor when it is 0", () => {
    expect(parseSparsifyConfig(sparsifyCfg(D_IN, { num_latents: 40 }))).toMatchObject({ dIn: D_IN, numLatents: 40, k: 32, activation: "topk", transcode: false });
    expect(parseSparsifyConfig(sparsifyCfg(D_IN, { expansion_factor: 4 })).numLatents).toBe(4 * D_IN);
    expect(() => parseSparsifyConfig({ activation: "topk", k: 4 })).toThrow(/cfg\.json: has no positive "d_in"/);
    expect(() => parseSparsifyConfig(sparsifyCfg(D_IN, { num_latents: -1 }))).toThrow(/"num_latents" must be a non-negative integer/);
  });
});

describe("readSparsifyFolder", () => {
  it("reads a BF16 hook-point folder as sparsify writes it", () => {
    const root = join(tempDir(), "ckpt");
    const dec = writeSparsifyFolder(join(root, "layers.6"), { dIn: D_IN, numLatents: N });
    expect(readFileSync(join(root, "layers.6", "cfg.json"), "utf8")).toBe(pyJson(sparsifyCfg(D_IN, { num_latents: N, k: 4 })));
    const warnings: string[] = [];
    const dict = readSparsifyFolder(join(root, "layers.6"), { warn: (m) => warnings.push(m) });
    expect(dict.info).toEqual({
      format: "sparsify",
      architecture: "topk",
      model: null,
      hookName: "layers.6",
      dIn: D_IN,
      dSae: N,
      dtype: "BF16",
      k: 4,
      neuronpediaId: null,
      rawConfig: sparsifyCfg(D_IN, { num_latents: N, k: 4 }),
    });
    expect(dictionaryInfoSchema.parse(dict.info)).toEqual(dict.info);
    expect(Array.from(dict.decoder)).toEqual(Array.from(dec, bf16));
    expect(dict.inputs.map((i) => [i.role, i.name])).toEqual([["config", "cfg.json"], ["weights", "sae.safetensors"]]);
    expect(warnings).toEqual([]);
  });

  it("takes the model from the checkpoint's config.json and keeps the run's model and dataset", () => {
    const { root, l10 } = checkpoint();
    const dict = readSparsifyFolder(join(root, "layers.10"));
    expect(dict.info).toMatchObject({ model: "EleutherAI/pythia-70m", hookName: "layers.10", dSae: N });
    expect(dict.info.rawConfig).toEqual({
      ...sparsifyCfg(D_IN, { num_latents: N, k: 4 }),
      checkpoint_config: { model: "EleutherAI/pythia-70m", dataset: "EleutherAI/SmolLM2-135M-10B", split: "train", ctx_len: 2048, run_name: "pythia-run" },
    });
    expect(dict.inputs.map((i) => [i.role, i.name])).toEqual([["config", "cfg.json"], ["weights", "sae.safetensors"], ["config", "config.json"]]);
    expect(Array.from(dict.decoder)).toEqual(Array.from(l10, bf16));
  });

  it("reads W_dec stored [d_in, num_latents] by its shape, and num_latents from expansion_factor", () => {
    const dir = join(tempDir(), "layers.3");
    const cfg = sparsifyCfg(D_IN, { expansion_factor: 3, k: 2 });
    const dec = writeSparsifyFolder(dir, { dIn: D_IN, numLatents: 3 * D_IN, cfg, transposed: true, dtype: "F32" });
    const dict = readSparsifyFolder(dir);
    expect(dict.info).toMatchObject({ dSae: 3 * D_IN, dIn: D_IN, dtype: "F32", k: 2 });
    expect(Array.from(dict.decoder)).toEqual(Array.from(dec));
  });

  it("names the file and the sizes when W_dec does not fit the config", () => {
    const dir = join(tempDir(), "layers.1");
    writeSparsifyFolder(dir, { dIn: D_IN, numLatents: N, cfg: sparsifyCfg(D_IN, { num_latents: 30 }) });
    expect(() => readSparsifyFolder(dir)).toThrow(InputError);
    expect(() => readSparsifyFolder(dir)).toThrow(
      /^sae\.safetensors: tensor "W_dec" has shape \[24, 8\], but cfg\.json says d_in = 8 and num_latents = 30: the d_in side matches but the other side is not num_latents/,
    );
  });

  it("says so when the decoder was not saved", () => {
    const dir = join(tempDir(), "layers.2");
    writeSparsifyFolder(dir, { dIn: D_IN, numLatents: N });
    // SparseCoder(decoder=False) has no W_dec parameter, so save_model writes only these.
    writeFileSync(
      join(dir, "sae.safetensors"),
      encodeSafetensors({
        "encoder.weight": { dtype: "BF16", shape: [N, D_IN], data: floats(N * D_IN) },
        "encoder.bias": { dtype: "BF16", shape: [N], data: new Float32Array(N) },
        b_dec: { dtype: "BF16", shape: [D_IN], data: new Float32Array(D_IN) },
      }),
    );
    expect(() => readSparsifyFolder(dir)).toThrow(
      /^sae\.safetensors: has no decoder tensor "W_dec" \(it has: b_dec, encoder\.bias, encoder\.weight\); was the sparse coder saved without its decoder\?/,
    );
  });

  it("names seed folders after their hook point", () => {
    const root = join(tempDir(), "seeds");
    writeRunConfig(root, { init_seeds: [0, 1] });
    writeSparsifyFolder(join(root, "layers.4", "seed1"), { dIn: D_IN, numLatents: N });
    expect(readSparsifyFolder(join(root, "layers.4", "seed1")).info).toMatchObject({ hookName: "layers.4/seed1", model: "EleutherAI/pythia-70m" });
  });
});

describe("sparsify through readDictionary and listDictionaries", () => {
  it("detects a hook-point folder and its sae.safetensors, and says which format", () => {
    const { root } = checkpoint();
    const d = detectDictionary(join(root, "layers.6"));
    expect(d).toMatchObject({ format: "sparsify", formatName: "EleutherAI sparsify" });
    expect(d!.files.map((f) => [f.role, f.path])).toEqual([
      ["config", join(root, "layers.6", "cfg.json")],
      ["weights", join(root, "layers.6", "sae.safetensors")],
      ["config", join(root, "config.json")],
    ]);
    expect(readDictionary(join(root, "layers.6", "sae.safetensors")).info.format).toBe("sparsify");
  });

  it("expands a checkpoint folder into its hook points in natural order, with atlas ids", () => {
    const { root } = checkpoint();
    writeSparsifyFolder(join(root, "embed_tokens"), { dIn: D_IN, numLatents: N });
    expect(listDictionaries(root)).toEqual([
      { path: join(root, "embed_tokens"), hookName: "embed_tokens", format: "sparsify", id: "embed-tokens" },
      { path: join(root, "layers.6"), hookName: "layers.6", format: "sparsify", id: "layers-6" },
      { path: join(root, "layers.10"), hookName: "layers.10", format: "sparsify", id: "layers-10" },
    ]);
    expect(listDictionaries(join(root, "layers.6"))).toEqual([{ path: join(root, "layers.6"), hookName: "layers.6", format: "sparsify", id: "layers-6" }]);
  });

  it("refuses to read a checkpoint of several hook points as one dictionary, listing them", () => {
    const { root } = checkpoint();
    expect(() => readDictionary(root)).toThrow(InputError);
    expect(() => readDictionary(root)).toThrow(
      /^pythia-run: holds 2 dictionaries, one per hook point: layers\.6 \(sparsify\), layers\.10 \(sparsify\)\. Pass one of those folders, or run `atlas build` on this folder/,
    );
    // With one hook point left, the checkpoint folder reads as that one.
    rmSync(join(root, "layers.10"), { recursive: true });
    expect(readDictionary(root).info.hookName).toBe("layers.6");
  });

  it("finds nested seed folders and best/ copies, and keeps ids unique", () => {
    const root = join(tempDir(), "run");
    writeRunConfig(root);
    writeSparsifyFolder(join(root, "layers.0", "seed0"), { dIn: D_IN, numLatents: N });
    writeSparsifyFolder(join(root, "layers.0", "seed1"), { dIn: D_IN, numLatents: N });
    writeSparsifyFolder(join(root, "best", "layers.0", "layers.0"), { dIn: D_IN, numLatents: N });
    writeRunConfig(join(root, "best", "layers.0"));
    writeSparsifyFolder(join(root, "layers_0"), { dIn: D_IN, numLatents: N });
    expect(listDictionaries(root).map((d) => [d.hookName, d.id])).toEqual([
      ["best/layers.0/layers.0", "best-layers-0-layers-0"],
      ["layers.0/seed0", "layers-0-seed0"],
      ["layers.0/seed1", "layers-0-seed1"],
      ["layers_0", "layers-0"],
    ]);
  });

  it("tells a SAELens folder from a sparsify one by cfg.json, and lists a mixed folder", () => {
    const root = join(tempDir(), "mixed");
    writeSaeLens(join(root, "blocks.2.hook_resid_pre"), { cfg: cfgV6(D_IN, N), decoder: floats(N * D_IN), dSae: N, dIn: D_IN });
    writeSparsifyFolder(join(root, "layers.2"), { dIn: D_IN, numLatents: N });
    expect(listDictionaries(root).map((d) => [d.hookName, d.format, d.id])).toEqual([
      ["blocks.2.hook_resid_pre", "saelens", "blocks-2-hook-resid-pre"],
      ["layers.2", "sparsify", "layers-2"],
    ]);
  });

  it("slugs and sorts names", () => {
    expect(atlasIdFromName("layers.10")).toBe("layers-10");
    expect(atlasIdFromName("--Layer 3 / MLP__out--")).toBe("layer-3-mlp-out");
    expect(atlasIdFromName("…")).toBe("dictionary");
    expect(atlasIdFromName("x".repeat(80))).toHaveLength(64);
    expect(["layers.10", "layers.2", "embed_tokens", "layers.1"].sort(naturalCompare)).toEqual(["embed_tokens", "layers.1", "layers.2", "layers.10"]);
  });
});
