/**
 * EleutherAI sparsify (FORMATS.md §3): `SparseCoder.save_to_disk` writes one folder per hook
 * point holding `cfg.json` (the SparseCoderConfig fields plus `d_in`) and `sae.safetensors` (the
 * module's state dict: `encoder.weight [num_latents, d_in]`, `encoder.bias`, `W_dec
 * [num_latents, d_in]`, `b_dec`, optional `W_skip`), in whatever dtype it was trained in, often
 * BF16. The trainer puts those folders in a checkpoint folder beside its own `config.json`
 * (model, dataset, hookpoints, …); with several seeds a hook folder holds `seed<N>/` folders.
 */
import { existsSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { DictionaryInfo, InputFile } from "../../contract/atlas.ts";
import type { Dictionary } from "../stages.ts";
import { defaultWarn, isRecord, type Warn } from "./files.ts";
import { describeInput } from "./hash.ts";
import { decoderOrientation, readJsonConfig, transpose } from "./saelens.ts";
import { InputError, readSafetensorsHeader, readTensorF32 } from "./safetensors.ts";

export const SPARSIFY_CFG = "cfg.json";
export const SPARSIFY_WEIGHTS = "sae.safetensors";
/** The trainer's own config, in the checkpoint folder above the hook folders. */
export const SPARSIFY_CHECKPOINT_CFG = "config.json";

export interface SparsifyReadOptions {
  warn?: Warn;
}

export interface SparsifyConfig {
  dIn: number;
  /** num_latents, or d_in × expansion_factor when num_latents is 0. */
  numLatents: number;
  k: number | null;
  activation: string;
  transcode: boolean;
}

/** Whether a parsed cfg.json is sparsify's: it sizes the dictionary by expansion_factor / num_latents, never d_sae. */
export function isSparsifyConfig(raw: Record<string, unknown>): boolean {
  return raw.d_sae === undefined && raw.d_in !== undefined && (raw.expansion_factor !== undefined || raw.num_latents !== undefined);
}

/** A hook-point folder: cfg.json in sparsify's form and sae.safetensors. */
export function isSparsifyFolder(dir: string): boolean {
  if (!existsSync(join(dir, SPARSIFY_CFG)) || !existsSync(join(dir, SPARSIFY_WEIGHTS))) return false;
  try {
    return isSparsifyConfig(readJsonConfig(join(dir, SPARSIFY_CFG)));
  } catch {
    // An unreadable cfg.json beside sae.safetensors is still most likely sparsify; the reader says what is wrong.
    return true;
  }
}

function nonNegInt(v: unknown, key: string, name: string): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw new InputError(`${name}: "${key}" must be a non-negative integer, got ${JSON.stringify(v)}`);
  return v;
}

export function parseSparsifyConfig(raw: Record<string, unknown>, name = SPARSIFY_CFG): SparsifyConfig {
  const dIn = nonNegInt(raw.d_in, "d_in", name);
  if (dIn === null || dIn === 0) throw new InputError(`${name}: has no positive "d_in" (the model width); is this a sparsify cfg.json?`);
  const latents = nonNegInt(raw.num_latents, "num_latents", name) ?? 0;
  // sparsify's SparseCoderConfig default expansion factor is 32.
  const expansion = nonNegInt(raw.expansion_factor, "expansion_factor", name) ?? 32;
  const numLatents = latents || dIn * expansion;
  if (numLatents === 0) throw new InputError(`${name}: num_latents and expansion_factor are both 0, so the dictionary has no features`);
  const k = nonNegInt(raw.k, "k", name);
  return {
    dIn,
    numLatents,
    k: k === 0 ? null : k,
    activation: typeof raw.activation === "string" && raw.activation !== "" ? raw.activation : "topk",
    transcode: raw.transcode === true,
  };
}

/**
 * The hook point a folder is for: its name (`layers.10`, `embed_tokens`), or `<hook>/seed<N>`
 * when the trainer was given several seeds.
 */
export function sparsifyHookName(dir: string): string {
  const name = basename(dir);
  return /^seed\d+$/.test(name) ? `${basename(dirname(dir))}/${name}` : name;
}

/**
 * The checkpoint's `config.json`, a few levels up (`<ckpt>/<hook>`, `<ckpt>/<hook>/seed<N>`,
 * `<ckpt>/best/<hook>/<hook>`), when it is the trainer's (it has `sae` or `model`).
 */
export function findCheckpointConfig(dir: string): { path: string; raw: Record<string, unknown> } | null {
  let d = dirname(dir);
  for (let up = 0; up < 3; up++) {
    const p = join(d, SPARSIFY_CHECKPOINT_CFG);
    if (existsSync(p)) {
      try {
        const raw = readJsonConfig(p);
        if (isRecord(raw.sae) || typeof raw.model === "string") return { path: p, raw };
      } catch {
        // Some other project's config.json; keep looking.
      }
    }
    const parent = dirname(d);
    if (parent === d) break;
    d = parent;
  }
  return null;
}

/** Read one sparsify hook-point folder. Decoder rows come out as [num_latents × d_in] floats. */
export function readSparsifyFolder(dir: string, opts: SparsifyReadOptions = {}): Dictionary {
  const warn = opts.warn ?? defaultWarn;
  const cfgPath = join(dir, SPARSIFY_CFG);
  const weightsPath = join(dir, SPARSIFY_WEIGHTS);
  for (const [p, f] of [[cfgPath, SPARSIFY_CFG], [weightsPath, SPARSIFY_WEIGHTS]] as const) {
    if (!existsSync(p)) throw new InputError(`${f}: not found in ${dir}; a sparsify hook-point folder needs ${SPARSIFY_CFG} and ${SPARSIFY_WEIGHTS}`);
  }
  const rawConfig = readJsonConfig(cfgPath);
  const cfg = parseSparsifyConfig(rawConfig);

  const weights = readSafetensorsHeader(weightsPath);
  // Older sparsify and some conversions name the decoder like an nn.Linear.
  const decName = weights.tensors.has("W_dec") ? "W_dec" : weights.tensors.has("decoder.weight") ? "decoder.weight" : null;
  if (decName === null) {
    throw new InputError(
      `${SPARSIFY_WEIGHTS}: has no decoder tensor "W_dec" (it has: ${[...weights.tensors.keys()].join(", ") || "none"}); ` +
        `was the sparse coder saved without its decoder?`,
    );
  }
  const wDec = weights.tensors.get(decName)!;
  const { transposed, dSae } = decoderOrientation(wDec.shape, cfg.dIn, cfg.numLatents, `${SPARSIFY_WEIGHTS}: tensor "${decName}"`, warn, "d_in", {
    dSaeName: rawConfig.num_latents ? "num_latents" : "d_in × expansion_factor",
  });
  const stored = readTensorF32(weights, decName);
  const decoder = transposed ? transpose(stored, cfg.dIn, dSae) : stored;

  const enc = weights.tensors.get("encoder.weight");
  if (enc && !(enc.shape.length === 2 && enc.shape.includes(dSae) && enc.shape.includes(cfg.dIn))) {
    warn(`${SPARSIFY_WEIGHTS}: tensor "encoder.weight" has shape [${enc.shape.join(", ")}], which does not match W_dec's ${dSae} latents × d_in ${cfg.dIn}`);
  }

  const inputs: InputFile[] = [describeInput("config", cfgPath), describeInput("weights", weightsPath)];
  const checkpoint = findCheckpointConfig(dir);
  let model: string | null = null;
  const info: DictionaryInfo = {
    format: "sparsify",
    architecture: cfg.activation,
    model: null,
    hookName: sparsifyHookName(dir),
    dIn: cfg.dIn,
    dSae,
    dtype: wDec.dtype,
    k: cfg.k,
    neuronpediaId: null,
    rawConfig,
  };
  if (checkpoint) {
    inputs.push(describeInput("config", checkpoint.path));
    const c = checkpoint.raw;
    model = typeof c.model === "string" && c.model !== "" ? c.model : null;
    // cfg.json stays verbatim; what the checkpoint's config adds about the run is kept beside it.
    const run: Record<string, unknown> = {};
    for (const key of ["model", "dataset", "split", "ctx_len", "run_name"]) if (c[key] !== undefined) run[key] = c[key];
    info.rawConfig = { ...rawConfig, checkpoint_config: run };
  }
  info.model = model;
  return { info, decoder, log10Density: null, inputs };
}
