/** Temp folders and hand-made input files for the read-stage tests. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { encodeSafetensors, type TensorToWrite } from "../../../precompute/read/safetensors.ts";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const fixtures = resolve(repoRoot, "../shared/fixtures");

const made: string[] = [];

/** A fresh temp folder, removed by `cleanTemp`. */
export function tempDir(prefix = "atlas-read-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

export function cleanTemp(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

export function write(path: string, content: string | Buffer, gzip = false): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, gzip ? gzipSync(content) : content);
  return path;
}

export function jsonl(rows: unknown[]): string {
  return rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
}

/** A v6 SAELens cfg.json. */
export function cfgV6(dIn: number, dSae: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    d_in: dIn,
    d_sae: dSae,
    dtype: "float32",
    device: "cpu",
    apply_b_dec_to_input: true,
    normalize_activations: "none",
    reshape_activations: "none",
    architecture: "standard",
    metadata: {
      sae_lens_version: "6.18.0",
      model_name: "gpt2-small",
      hook_name: "blocks.7.hook_resid_pre",
      hook_head_index: null,
      neuronpedia_id: "gpt2-small/7-res-jb",
    },
    ...extra,
  };
}

/** A pre-6.0 (flat) SAELens cfg.json, as the gpt2-small-res-jb release ships it. */
export function cfgPre6(dIn: number, dSae: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model_name: "gpt2-small",
    hook_point: "blocks.0.hook_resid_pre",
    hook_point_layer: 0,
    hook_point_head_index: null,
    dataset_path: "Skylion007/openwebtext",
    is_dataset_tokenized: false,
    context_size: 128,
    use_cached_activations: false,
    d_in: dIn,
    d_sae: dSae,
    activation_fn_str: "relu",
    dtype: "torch.float32",
    sae_lens_training_version: "0.1.0",
    ...extra,
  };
}

/**
 * Write a SAELens folder. `decoder` is [dSae × dIn] row-major; `orientation: "transposed"`
 * stores it as [dIn × dSae] instead.
 */
export function writeSaeLens(
  dir: string,
  opts: {
    cfg: Record<string, unknown>;
    decoder: Float32Array | number[];
    dSae: number;
    dIn: number;
    dtype?: TensorToWrite["dtype"];
    orientation?: "rows" | "transposed";
    sparsity?: Float32Array | number[];
    extraTensors?: Record<string, TensorToWrite>;
  },
): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "cfg.json"), JSON.stringify(opts.cfg, null, 2));
  const { dSae, dIn } = opts;
  let data: number[] = Array.from(opts.decoder);
  let shape = [dSae, dIn];
  if (opts.orientation === "transposed") {
    const t = new Array<number>(data.length);
    for (let i = 0; i < dSae; i++) for (let j = 0; j < dIn; j++) t[j * dSae + i] = data[i * dIn + j]!;
    data = t;
    shape = [dIn, dSae];
  }
  const dtype = opts.dtype ?? "F32";
  const tensors: Record<string, TensorToWrite> = {
    W_dec: { dtype, shape, data },
    W_enc: { dtype, shape: [dIn, dSae], data: new Array<number>(dIn * dSae).fill(0.5) },
    b_dec: { dtype, shape: [dIn], data: new Array<number>(dIn).fill(0) },
    b_enc: { dtype, shape: [dSae], data: new Array<number>(dSae).fill(0) },
    ...opts.extraTensors,
  };
  writeFileSync(join(dir, "sae_weights.safetensors"), encodeSafetensors(tensors));
  if (opts.sparsity) {
    writeFileSync(join(dir, "sparsity.safetensors"), encodeSafetensors({ sparsity: { dtype: "F32", shape: [opts.sparsity.length], data: Array.from(opts.sparsity) } }));
  }
  return dir;
}

/** Deterministic pseudo-random floats in [-1, 1). */
export function floats(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** Raw safetensors bytes from a hand-written header object and a data section. */
export function rawSafetensors(header: unknown, data: Buffer, lengthOverride?: bigint): Buffer {
  const json = Buffer.from(typeof header === "string" ? header : JSON.stringify(header), "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthOverride ?? BigInt(json.length));
  return Buffer.concat([len, json, data]);
}
