import { createHash } from "node:crypto";
import { readFileSync, statSync, writeFileSync, renameSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { dictionaryInfoSchema } from "../../contract/atlas.ts";
import { readDictionary } from "../../precompute/read/detect.ts";
import { hashFile } from "../../precompute/read/hash.ts";
import { readSaeLensFolder, transpose } from "../../precompute/read/saelens.ts";
import { encodeSafetensors, InputError } from "../../precompute/read/safetensors.ts";
import { cfgPre6, cfgV6, cleanTemp, fixtures, floats, tempDir, writeSaeLens } from "./helpers/read-files.ts";

afterAll(cleanTemp);

const D_IN = 12;
const D_SAE = 20;
const decoder = floats(D_SAE * D_IN, 7);

function folder(opts: Partial<Parameters<typeof writeSaeLens>[1]> = {}): string {
  return writeSaeLens(join(tempDir(), "sae"), { cfg: cfgV6(D_IN, D_SAE), decoder, dSae: D_SAE, dIn: D_IN, ...opts });
}

function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

describe("readSaeLensFolder", () => {
  it("reads a v6 folder: info, decoder rows and inputs", () => {
    const dir = folder();
    const warnings: string[] = [];
    const dict = readSaeLensFolder(dir, { warn: (m) => warnings.push(m) });
    expect(dict.info).toEqual({
      format: "saelens",
      architecture: "standard",
      model: "gpt2-small",
      hookName: "blocks.7.hook_resid_pre",
      dIn: D_IN,
      dSae: D_SAE,
      dtype: "F32",
      k: null,
      neuronpediaId: "gpt2-small/7-res-jb",
      rawConfig: cfgV6(D_IN, D_SAE),
    });
    expect(dictionaryInfoSchema.parse(dict.info)).toEqual(dict.info);
    expect(Array.from(dict.decoder)).toEqual(Array.from(decoder));
    expect(dict.log10Density).toBeNull();
    expect(dict.inputs).toEqual([
      { role: "config", name: "cfg.json", bytes: statSync(join(dir, "cfg.json")).size, sha256: sha256(join(dir, "cfg.json")) },
      {
        role: "weights",
        name: "sae_weights.safetensors",
        bytes: statSync(join(dir, "sae_weights.safetensors")).size,
        sha256: sha256(join(dir, "sae_weights.safetensors")),
      },
    ]);
    expect(warnings).toEqual([]);
  });

  it("reads the flat pre-6.0 config (hook_point, activation_fn_str, top-level model_name)", () => {
    const cfg = cfgPre6(D_IN, D_SAE);
    const dict = readSaeLensFolder(folder({ cfg }));
    expect(dict.info).toMatchObject({ architecture: "standard", model: "gpt2-small", hookName: "blocks.0.hook_resid_pre", k: null, neuronpediaId: null });
    expect(dict.info.rawConfig).toEqual(cfg);
  });

  it("takes k from activation_fn_kwargs for a pre-6.0 topk config, and from k in v6", () => {
    const pre = readSaeLensFolder(folder({ cfg: cfgPre6(D_IN, D_SAE, { activation_fn_str: "topk", activation_fn_kwargs: { k: 32 } }) }));
    expect(pre.info).toMatchObject({ architecture: "topk", k: 32 });
    const v6 = readSaeLensFolder(folder({ cfg: cfgV6(D_IN, D_SAE, { architecture: "topk", k: 8, rescale_acts_by_decoder_norm: false }) }));
    expect(v6.info).toMatchObject({ architecture: "topk", k: 8 });
    const jump = readSaeLensFolder(folder({ cfg: cfgV6(D_IN, D_SAE, { architecture: "jumprelu" }) }));
    expect(jump.info).toMatchObject({ architecture: "jumprelu", k: null });
  });

  it("transposes a W_dec stored as [d_in, d_sae], judged by shape not name", () => {
    const dict = readSaeLensFolder(folder({ orientation: "transposed" }));
    expect(dict.info.dSae).toBe(D_SAE);
    expect(Array.from(dict.decoder)).toEqual(Array.from(decoder));
  });

  it("infers d_sae from the shape when the config has none", () => {
    const cfg = cfgPre6(D_IN, D_SAE);
    delete cfg.d_sae;
    expect(readSaeLensFolder(folder({ cfg, orientation: "transposed" })).info.dSae).toBe(D_SAE);
    expect(Array.from(readSaeLensFolder(folder({ cfg })).decoder)).toEqual(Array.from(decoder));
  });

  it("reads F16 and BF16 weights within their precision and records the stored dtype", () => {
    for (const [dtype, bits] of [["F16", 11], ["BF16", 8]] as const) {
      const dict = readSaeLensFolder(folder({ dtype }));
      expect(dict.info.dtype).toBe(dtype);
      for (let i = 0; i < decoder.length; i++) {
        expect(Math.abs(dict.decoder[i]! - decoder[i]!)).toBeLessThanOrEqual(Math.max(Math.abs(decoder[i]!) * 2 ** -bits, 2 ** -24));
      }
    }
  });

  it("reads a square W_dec as [d_sae, d_in] and says so", () => {
    const sq = floats(D_IN * D_IN, 5);
    const warnings: string[] = [];
    const dict = readSaeLensFolder(folder({ cfg: cfgV6(D_IN, D_IN), decoder: sq, dSae: D_IN }), { warn: (m) => warnings.push(m) });
    expect(Array.from(dict.decoder)).toEqual(Array.from(sq));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/sae_weights\.safetensors: tensor "W_dec" is square \[12, 12\].*reading it as \[d_sae, d_in\]/);
  });

  it("uses d_out as the decoder width for transcoders", () => {
    const dOut = 5;
    const dec = floats(D_SAE * dOut, 11);
    const dict = readSaeLensFolder(folder({ cfg: cfgV6(D_IN, D_SAE, { architecture: "transcoder", d_out: dOut }), decoder: dec, dIn: dOut, orientation: "transposed" }));
    expect(dict.info).toMatchObject({ architecture: "transcoder", dIn: dOut, dSae: D_SAE });
    expect(Array.from(dict.decoder)).toEqual(Array.from(dec));
  });

  it("reads sparsity.safetensors as log10 density", () => {
    const sparsity = Array.from({ length: D_SAE }, (_, i) => -1 - i / 4);
    const dir = folder({ sparsity });
    const dict = readSaeLensFolder(dir);
    expect(Array.from(dict.log10Density!)).toEqual(sparsity);
    expect(dict.inputs.map((f) => f.role)).toEqual(["config", "weights", "sparsity"]);
    expect(dict.inputs[2]!.sha256).toBe(sha256(join(dir, "sparsity.safetensors")));
  });

  it("rejects a sparsity tensor of the wrong length or with positive log10 values", () => {
    expect(() => readSaeLensFolder(folder({ sparsity: [-1, -2, -3] }))).toThrow(
      /^sparsity\.safetensors: tensor "sparsity" has shape \[3\] \(3 values\), but the dictionary has 20 features$/,
    );
    const counts = new Array<number>(D_SAE).fill(-2);
    counts[4] = 17;
    expect(() => readSaeLensFolder(folder({ sparsity: counts }))).toThrow(/sparsity\.safetensors: feature 4 has sparsity 17, .*log10 firing frequencies/);
  });

  it("matches W_dec against d_in and d_sae and names file, tensor, shape and config when neither fits", () => {
    const wrongIn = folder({ cfg: cfgV6(16, D_SAE) });
    expect(() => readSaeLensFolder(wrongIn)).toThrow(InputError);
    expect(() => readSaeLensFolder(wrongIn)).toThrow(
      'sae_weights.safetensors: tensor "W_dec" has shape [20, 12], but cfg.json says d_in = 16 and d_sae = 20: neither dimension is d_in',
    );
    const wrongSae = folder({ cfg: cfgV6(D_IN, 64) });
    expect(() => readSaeLensFolder(wrongSae)).toThrow(/has shape \[20, 12\], but cfg.json says d_in = 12 and d_sae = 64: the d_in side matches but the other side is not d_sae/);
  });

  it("gives clear errors for missing or broken files", () => {
    const empty = tempDir();
    expect(() => readSaeLensFolder(empty)).toThrow(/^cfg\.json: not found in .*; a SAELens folder needs cfg\.json and sae_weights\.safetensors/);

    const noWeights = tempDir();
    writeFileSync(join(noWeights, "cfg.json"), JSON.stringify(cfgV6(D_IN, D_SAE)));
    expect(() => readSaeLensFolder(noWeights)).toThrow(/^sae_weights\.safetensors: not found in /);

    const badCfg = folder();
    writeFileSync(join(badCfg, "cfg.json"), "{ d_in: 12 ");
    expect(() => readSaeLensFolder(badCfg)).toThrow(/^cfg\.json: is not valid JSON: /);

    const arrCfg = folder();
    writeFileSync(join(arrCfg, "cfg.json"), "[1]");
    expect(() => readSaeLensFolder(arrCfg)).toThrow(/^cfg\.json: expected a JSON object, got an array/);

    const noDin = folder({ cfg: { d_sae: D_SAE, architecture: "standard" } });
    expect(() => readSaeLensFolder(noDin)).toThrow(/^cfg\.json: has no "d_in"/);

    const noWdec = folder();
    writeFileSync(join(noWdec, "sae_weights.safetensors"), encodeSafetensors({ W_enc: { dtype: "F32", shape: [D_IN, D_SAE], data: new Array(D_IN * D_SAE).fill(0) } }));
    expect(() => readSaeLensFolder(noWdec)).toThrow('sae_weights.safetensors: has no tensor "W_dec" (it has: W_enc); is this a SAELens weights file?');
  });

  it("reads real Neuronpedia decoder rows back exactly (gpt2-small 7-res-jb features 5 and 6)", () => {
    const vectors = JSON.parse(readFileSync(resolve(fixtures, "neuronpedia-gpt2-small-7-res-jb/sae_vector_integration_test_data.json"), "utf8")) as Record<string, number[]>;
    const row5 = vectors.expected_feature_vector_index_5!;
    const row6 = vectors.expected_feature_vector_index_6!;
    expect(row5).toHaveLength(768);
    const dSae = 8;
    const dec = new Float32Array(dSae * 768);
    dec.set(row5, 5 * 768);
    dec.set(row6, 6 * 768);
    for (const orientation of ["rows", "transposed"] as const) {
      const dict = readSaeLensFolder(folder({ cfg: cfgV6(768, dSae), decoder: dec, dSae, dIn: 768, orientation }));
      expect(Array.from(dict.decoder.subarray(5 * 768, 6 * 768))).toEqual(row5);
      expect(Array.from(dict.decoder.subarray(6 * 768, 7 * 768))).toEqual(row6);
      expect(dict.decoder.subarray(0, 5 * 768).every((v) => v === 0)).toBe(true);
    }
  });
});

describe("transpose", () => {
  it("turns [r × c] into [c × r] across block edges", () => {
    const r = 70;
    const c = 131;
    const src = floats(r * c, 2);
    const t = transpose(src, r, c);
    for (const [i, j] of [[0, 0], [69, 130], [63, 64], [64, 63], [5, 100]] as const) expect(t[j * r + i]).toBe(src[i * c + j]);
    expect(Array.from(transpose(t, c, r))).toEqual(Array.from(src));
  });
});

describe("hashFile", () => {
  it("matches a one-shot sha256 across its chunk size", () => {
    const p = join(tempDir(), "blob.bin");
    const blob = Buffer.from(floats(1_500_000, 4).buffer);
    writeFileSync(p, blob);
    expect(hashFile(p)).toEqual({ sha256: createHash("sha256").update(blob).digest("hex"), bytes: blob.length });
  });
});

describe("readDictionary", () => {
  it("detects a SAELens folder, or the weights file inside one", () => {
    const dir = folder();
    expect(readDictionary(dir).info.format).toBe("saelens");
    expect(Array.from(readDictionary(join(dir, "sae_weights.safetensors")).decoder)).toEqual(Array.from(decoder));
  });

  it("reads a renamed weights file next to cfg.json", () => {
    const dir = folder();
    renameSync(join(dir, "sae_weights.safetensors"), join(dir, "layer7.safetensors"));
    const dict = readDictionary(join(dir, "layer7.safetensors"));
    expect(dict.inputs.find((f) => f.role === "weights")!.name).toBe("layer7.safetensors");
    expect(() => readDictionary(dir)).toThrow(/not a dictionary this tool can read/);
  });

  it("lists what it looked for and what the folder holds", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "model.pt"), "x");
    expect(() => readDictionary(dir)).toThrow(InputError);
    expect(() => readDictionary(dir)).toThrow(/Looked for:\n(?: {2}- .*\n)* {2}- a SAELens folder with cfg\.json and sae_weights\.safetensors.*\n(?: {2}- .*\n)*The folder holds: model\.pt\.$/);
    expect(() => readDictionary(join(dir, "nope"))).toThrow(/^nope: dictionary not found/);
  });
});
