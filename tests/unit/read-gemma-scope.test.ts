import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { dictionaryInfoSchema } from "../../contract/atlas.ts";
import { detectDictionary, listDictionaries, readDictionary } from "../../precompute/read/detect.ts";
import { parseGemmaScopePath, readGemmaScope, widthFeatures } from "../../precompute/read/gemma-scope.ts";
import { InputError } from "../../precompute/read/safetensors.ts";
import { encodeNpy, encodeNpz, transposed, writeZip } from "./helpers/npy-files.ts";
import { cleanTemp, floats, tempDir, write } from "./helpers/read-files.ts";

afterAll(cleanTemp);

// Gemma Scope's smallest width is 16k = 16,384 features; a 4-wide model keeps the files small.
const D_IN = 4;
const D_SAE = 16384;
const decoder = floats(D_SAE * D_IN, 12);

/** The arrays of a params.npz, as the Gemma Scope tutorial's JumpReLUSAE holds them. */
function params(opts: { lowercase?: boolean; transposed?: boolean; dSae?: number } = {}) {
  const n = opts.dSae ?? D_SAE;
  const dec = opts.dSae ? floats(n * D_IN, 3) : decoder;
  const w = opts.lowercase ? "w" : "W";
  return {
    [`${w}_enc`]: { data: transposed(dec, n, D_IN), shape: [D_IN, n] },
    [`${w}_dec`]: opts.transposed ? { data: transposed(dec, n, D_IN), shape: [D_IN, n] } : { data: dec, shape: [n, D_IN] },
    b_enc: { data: new Float32Array(n), shape: [n] },
    b_dec: { data: new Float32Array(D_IN), shape: [D_IN] },
    threshold: { data: new Float32Array(n).fill(0.05), shape: [n] },
  };
}

function tree(rel: string, content: Buffer): string {
  return write(join(tempDir(), ...rel.split("/")), content);
}

describe("Gemma Scope paths", () => {
  it("reads layer, width, l0, and model and hook from the release name", () => {
    const p = parseGemmaScopePath("/data/hf/models--google--gemma-scope-2b-pt-res/snapshots/0127a/layer_12/width_65k/average_l0_72/params.npz");
    expect(p).toEqual({
      layer: 12,
      embedding: false,
      width: "65k",
      widthFeatures: 65536,
      averageL0: 72,
      release: "gemma-scope-2b-pt-res",
      model: "gemma-2-2b",
      hookName: "blocks.12.hook_resid_post",
      relative: "gemma-scope-2b-pt-res/layer_12/width_65k/average_l0_72/params.npz",
    });
    expect(parseGemmaScopePath("/x/gemma-scope-9b-it-mlp/layer_3/width_1m/average_l0_9/params.npz")).toMatchObject({ model: "gemma-2-9b-it", hookName: "blocks.3.hook_mlp_out", widthFeatures: 1048576 });
    expect(parseGemmaScopePath("/x/gemma-scope-27b-pt-att/layer_0/width_16k/average_l0_9/params.npz").hookName).toBe("blocks.0.attn.hook_z");
    expect(parseGemmaScopePath("/x/gemma-scope-2b-pt-res/embedding/width_4k/average_l0_6/params.npz")).toMatchObject({ embedding: true, hookName: "hook_embed", widthFeatures: 4096 });
  });

  it("falls back to the layer folder's name when the release is not in the path", () => {
    expect(parseGemmaScopePath("/tmp/sae/layer_20/width_16k/average_l0_71/params.npz")).toMatchObject({
      layer: 20,
      release: null,
      model: null,
      hookName: "layer_20",
      relative: "layer_20/width_16k/average_l0_71/params.npz",
    });
    expect(["4k", "16k", "32k", "65k", "131k", "262k", "524k", "1m"].map(widthFeatures)).toEqual([4096, 16384, 32768, 65536, 131072, 262144, 524288, 1048576]);
    expect(widthFeatures("2048")).toBe(2048);
    expect(widthFeatures("wide")).toBeNull();
  });
});

describe("readGemmaScope", () => {
  it("reads a stored params.npz (np.savez) as SAELens would configure it", () => {
    const p = tree("gemma-scope-2b-pt-res/layer_12/width_16k/average_l0_82/params.npz", encodeNpz(params()));
    const warnings: string[] = [];
    const dict = readGemmaScope(p, { warn: (m) => warnings.push(m) });
    expect(dict.info).toEqual({
      format: "gemma-scope",
      architecture: "jumprelu",
      model: "gemma-2-2b",
      hookName: "blocks.12.hook_resid_post",
      dIn: D_IN,
      dSae: D_SAE,
      dtype: "F32",
      k: null,
      neuronpediaId: null,
      rawConfig: {
        source: "gemma-scope-2b-pt-res/layer_12/width_16k/average_l0_82/params.npz",
        release: "gemma-scope-2b-pt-res",
        layer: 12,
        width: "16k",
        average_l0: 82,
        arrays: {
          W_enc: { dtype: "F32", shape: [D_IN, D_SAE] },
          W_dec: { dtype: "F32", shape: [D_SAE, D_IN] },
          b_enc: { dtype: "F32", shape: [D_SAE] },
          b_dec: { dtype: "F32", shape: [D_IN] },
          threshold: { dtype: "F32", shape: [D_SAE] },
        },
      },
    });
    expect(dictionaryInfoSchema.parse(dict.info)).toEqual(dict.info);
    expect(Array.from(dict.decoder)).toEqual(Array.from(decoder));
    expect(dict.inputs.map((i) => [i.role, i.name])).toEqual([["weights", "params.npz"]]);
    expect(warnings).toEqual([]);
  });

  it("reads a deflated params.npz (np.savez_compressed) with lowercase w_ keys, from its folder", () => {
    const p = tree("layer_5/width_16k/average_l0_40/params.npz", encodeNpz(params({ lowercase: true }), { method: 8 }));
    const folder = join(p, "..");
    expect(detectDictionary(folder)).toMatchObject({ format: "gemma-scope", formatName: "Gemma Scope" });
    const dict = readDictionary(folder);
    expect(dict.info).toMatchObject({ format: "gemma-scope", hookName: "layer_5", model: null, dSae: D_SAE, dIn: D_IN });
    expect(Object.keys(dict.info.rawConfig.arrays as object)).toEqual(["w_enc", "w_dec", "b_enc", "b_dec", "threshold"]);
    expect(Array.from(dict.decoder)).toEqual(Array.from(decoder));
  });

  it("transposes a W_dec stored [d_in, d_sae], told by b_dec's length", () => {
    const p = tree("layer_1/width_16k/average_l0_9/params.npz", encodeNpz(params({ transposed: true })));
    const dict = readGemmaScope(p);
    expect(dict.info).toMatchObject({ dIn: D_IN, dSae: D_SAE });
    expect(Array.from(dict.decoder)).toEqual(Array.from(decoder));
  });

  it("warns when the path's width is not the number of features", () => {
    const p = tree("layer_1/width_16k/average_l0_9/params.npz", encodeNpz(params({ dSae: 32 })));
    const warnings: string[] = [];
    expect(readGemmaScope(p, { warn: (m) => warnings.push(m) }).info.dSae).toBe(32);
    expect(warnings).toEqual(["params.npz: the path says width_16k (16384 features), but W_dec holds 32; using 32"]);
  });

  it("refuses a W_dec that b_dec does not fit", () => {
    const arrays = { ...params({ dSae: 32 }), b_dec: { data: new Float32Array(5), shape: [5] } };
    const p = tree("layer_1/width_16k/average_l0_9/params.npz", encodeNpz(arrays));
    expect(() => readGemmaScope(p)).toThrow(/^params\.npz: array "W_dec" has shape \(32, 4\), but b_dec has 5 values \(d_in\), which matches neither side/);
  });

  it("fails on a truncated params.npz, naming it, whether given the file or its folder", () => {
    const full = encodeNpz(params({ dSae: 32 }));
    const p = tree("layer_2/width_16k/average_l0_9/params.npz", full.subarray(0, full.length - 100));
    expect(() => readDictionary(p)).toThrow(InputError);
    expect(() => readDictionary(p)).toThrow(/^params\.npz: starts like a zip but has no end-of-central-directory record; the file is truncated/);
    expect(() => readDictionary(join(p, ".."))).toThrow(/^params\.npz: starts like a zip/);
  });
});

describe("telling npz and npy files apart", () => {
  it("reads an npz with W_dec and threshold as Gemma Scope, any other npz or npy as a plain matrix", () => {
    const small = params({ dSae: 32 });
    const gs = tree("x/sae.npz", encodeNpz(small));
    expect(detectDictionary(gs)?.format).toBe("gemma-scope");
    const { threshold: _t, ...noThreshold } = small;
    const plain = tree("x/sae.npz", encodeNpz(noThreshold));
    expect(detectDictionary(plain)?.format).toBe("npy");
    expect(readDictionary(plain).info).toMatchObject({ format: "npy", dSae: 32, dIn: D_IN });
    const npy = tree("x/dec.npy", encodeNpy(floats(32 * D_IN), [32, D_IN]));
    expect(readDictionary(npy).info).toMatchObject({ format: "npy", dSae: 32, dIn: D_IN });
    // A zip that is not an npz at all.
    const bad = tree("x/notes.npz", writeZip([{ name: "notes.txt", data: Buffer.from("hello there") }]));
    expect(() => readDictionary(bad)).toThrow(/notes\.npz: entry "notes\.txt": not a \.npy array/);
  });

  it("lists a Gemma Scope tree as one dictionary per folder, in natural order", () => {
    const root = join(tempDir(), "gemma-scope-2b-pt-res");
    for (const rel of ["layer_0/width_16k/average_l0_105", "layer_0/width_16k/average_l0_50", "layer_10/width_16k/average_l0_77"]) {
      write(join(root, ...rel.split("/"), "params.npz"), encodeNpz(params({ dSae: 32 })));
    }
    write(join(root, "README.md"), "# Gemma Scope");
    expect(listDictionaries(root).map((d) => [d.hookName, d.format, d.id])).toEqual([
      ["layer_0/width_16k/average_l0_50", "gemma-scope", "layer-0-width-16k-average-l0-50"],
      ["layer_0/width_16k/average_l0_105", "gemma-scope", "layer-0-width-16k-average-l0-105"],
      ["layer_10/width_16k/average_l0_77", "gemma-scope", "layer-10-width-16k-average-l0-77"],
    ]);
    expect(readDictionary(join(root, "layer_10", "width_16k", "average_l0_77")).info.hookName).toBe("blocks.10.hook_resid_post");
  });
});
