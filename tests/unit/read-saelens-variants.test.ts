import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { architectureFromTensors, readSaeLensFolder } from "../../precompute/read/saelens.ts";
import { encodeSafetensors, type TensorToWrite } from "../../precompute/read/safetensors.ts";
import { cfgPre6, cfgV6, cleanTemp, floats, tempDir, writeSaeLens } from "./helpers/read-files.ts";

afterAll(cleanTemp);

const D_IN = 8;
const D_SAE = 16;
const decoder = floats(D_SAE * D_IN, 21);

function vec(n: number, v = 0): TensorToWrite {
  return { dtype: "F32", shape: [n], data: new Array<number>(n).fill(v) };
}

/** A gated SAE's tensors (writeSaeLens adds a b_enc, which the architecture check ignores). */
function gatedFolder(cfg: Record<string, unknown>): string {
  return writeSaeLens(join(tempDir(), "gated"), {
    cfg,
    decoder,
    dSae: D_SAE,
    dIn: D_IN,
    extraTensors: { b_gate: vec(D_SAE), b_mag: vec(D_SAE), r_mag: vec(D_SAE) },
  });
}

describe("SAELens architectures", () => {
  it("names the architecture the tensors imply", () => {
    expect(architectureFromTensors(["W_enc", "W_dec", "b_enc", "b_dec"])).toBeNull();
    expect(architectureFromTensors(["W_enc", "W_dec", "b_enc", "b_dec", "threshold"])).toBe("jumprelu");
    expect(architectureFromTensors(["W_enc", "W_dec", "b_dec", "b_gate", "b_mag", "r_mag"])).toBe("gated");
    expect(architectureFromTensors(["W_enc", "W_dec", "b_enc", "b_dec", "W_skip"])).toBe("skip_transcoder");
    expect(architectureFromTensors(["W_enc", "W_dec", "b_enc", "b_dec", "W_skip", "threshold"])).toBe("jumprelu_transcoder");
  });

  it("reads a JumpReLU SAE (threshold [d_sae]) quietly when the config agrees", () => {
    const warnings: string[] = [];
    const dir = writeSaeLens(join(tempDir(), "jr"), { cfg: cfgV6(D_IN, D_SAE, { architecture: "jumprelu" }), decoder, dSae: D_SAE, dIn: D_IN, extraTensors: { threshold: vec(D_SAE, 0.1) } });
    const dict = readSaeLensFolder(dir, { warn: (m) => warnings.push(m) });
    expect(dict.info).toMatchObject({ architecture: "jumprelu", dSae: D_SAE, dIn: D_IN, k: null });
    expect(Array.from(dict.decoder)).toEqual(Array.from(decoder));
    expect(warnings).toEqual([]);
  });

  it("reads a gated SAE with no b_enc", () => {
    const warnings: string[] = [];
    const cfg = cfgV6(D_IN, D_SAE, { architecture: "gated" });
    const dir = writeSaeLens(join(tempDir(), "g"), { cfg, decoder, dSae: D_SAE, dIn: D_IN, extraTensors: { b_gate: vec(D_SAE), b_mag: vec(D_SAE), r_mag: vec(D_SAE) } });
    // writeSaeLens always adds b_enc; rewrite the weights without it, as gated_sae.py saves them.
    writeFileSync(
      join(dir, "sae_weights.safetensors"),
      encodeSafetensors({
        W_enc: { dtype: "F32", shape: [D_IN, D_SAE], data: new Array<number>(D_IN * D_SAE).fill(0.5) },
        W_dec: { dtype: "F32", shape: [D_SAE, D_IN], data: decoder },
        b_dec: vec(D_IN),
        b_gate: vec(D_SAE),
        b_mag: vec(D_SAE),
        r_mag: vec(D_SAE),
      }),
    );
    const dict = readSaeLensFolder(dir, { warn: (m) => warnings.push(m) });
    expect(dict.info.architecture).toBe("gated");
    expect(Array.from(dict.decoder)).toEqual(Array.from(decoder));
    expect(warnings).toEqual([]);
  });

  it("takes the architecture from the tensors when a pre-6 config has none", () => {
    expect(readSaeLensFolder(gatedFolder(cfgPre6(D_IN, D_SAE))).info.architecture).toBe("gated");
    const jr = writeSaeLens(join(tempDir(), "jr6"), { cfg: cfgPre6(D_IN, D_SAE), decoder, dSae: D_SAE, dIn: D_IN, extraTensors: { threshold: vec(D_SAE) } });
    expect(readSaeLensFolder(jr).info.architecture).toBe("jumprelu");
  });

  it("keeps the config's architecture when the tensors disagree, and warns", () => {
    const warnings: string[] = [];
    const info = readSaeLensFolder(gatedFolder(cfgV6(D_IN, D_SAE)), { warn: (m) => warnings.push(m) }).info;
    expect(info.architecture).toBe("standard");
    expect(warnings).toEqual(['sae_weights.safetensors: cfg.json says architecture "standard", but the weights hold gated tensors; reporting "standard" as the config says']);
    const w2: string[] = [];
    const dir = writeSaeLens(join(tempDir(), "nothr"), { cfg: cfgV6(D_IN, D_SAE, { architecture: "jumprelu" }), decoder, dSae: D_SAE, dIn: D_IN });
    expect(readSaeLensFolder(dir, { warn: (m) => w2.push(m) }).info.architecture).toBe("jumprelu");
    expect(w2).toEqual(['sae_weights.safetensors: cfg.json says architecture "jumprelu", but the weights have no threshold tensor']);
  });

  it("reads a transcoder's W_dec [d_sae, d_out] with d_out from the config, and a skip transcoder's W_skip", () => {
    const dOut = 5;
    const dec = floats(D_SAE * dOut, 4);
    const cfg = cfgV6(D_IN, D_SAE, { architecture: "skip_transcoder", d_out: dOut, metadata: { model_name: "gpt2-small", hook_name: "blocks.3.ln2.hook_normalized", hook_name_out: "blocks.3.hook_mlp_out" } });
    const dir = writeSaeLens(join(tempDir(), "tc"), {
      cfg,
      decoder: dec,
      dSae: D_SAE,
      dIn: dOut,
      extraTensors: {
        W_enc: { dtype: "F32", shape: [D_IN, D_SAE], data: new Array<number>(D_IN * D_SAE).fill(0.1) },
        b_dec: vec(dOut),
        W_skip: { dtype: "F32", shape: [dOut, D_IN], data: new Array<number>(dOut * D_IN).fill(0) },
      },
    });
    const warnings: string[] = [];
    const dict = readSaeLensFolder(dir, { warn: (m) => warnings.push(m) });
    expect(dict.info).toMatchObject({ architecture: "skip_transcoder", dIn: dOut, dSae: D_SAE, hookName: "blocks.3.ln2.hook_normalized" });
    expect(dict.info.rawConfig).toEqual(cfg);
    expect(Array.from(dict.decoder)).toEqual(Array.from(dec));
    expect(warnings).toEqual([]);
  });

  it("names d_out, not d_in, when a transcoder's W_dec does not fit", () => {
    const cfg = cfgV6(D_IN, D_SAE, { architecture: "transcoder", d_out: 5 });
    const dir = writeSaeLens(join(tempDir(), "tcbad"), { cfg, decoder, dSae: D_SAE, dIn: D_IN });
    expect(() => readSaeLensFolder(dir)).toThrow(/sae_weights\.safetensors: tensor "W_dec" has shape \[16, 8\], but cfg\.json says d_out = 5 and d_sae = 16: neither dimension is d_out/);
  });

  it("leaves sparsity.safetensors unread when asked", () => {
    const dir = writeSaeLens(join(tempDir(), "sp"), { cfg: cfgV6(D_IN, D_SAE), decoder, dSae: D_SAE, dIn: D_IN, sparsity: [1, 2, 3] });
    expect(() => readSaeLensFolder(dir)).toThrow(/sparsity\.safetensors: tensor "sparsity" has shape \[3\]/);
    const dict = readSaeLensFolder(dir, { skipSparsity: true });
    expect(dict.log10Density).toBeNull();
    expect(dict.inputs.map((i) => i.role)).toEqual(["config", "weights"]);
  });
});
