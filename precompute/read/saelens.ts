/**
 * SAELens dictionaries: a folder with `cfg.json`, `sae_weights.safetensors` and optionally
 * `sparsity.safetensors` (FORMATS.md §2). Both the v6 config (with a `metadata` block) and the
 * flat pre-6.0 config are read, without rewriting the config: `rawConfig` keeps it verbatim.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { DictionaryInfo, InputFile } from "../../contract/atlas.ts";
import type { Dictionary } from "../stages.ts";
import { defaultWarn, isRecord, type Warn } from "./files.ts";
import { describeInput } from "./hash.ts";
import { allocateFloats, InputError, readSafetensorsHeader, readTensorF32, type SafetensorsFile } from "./safetensors.ts";

export const SAELENS_CFG = "cfg.json";
export const SAELENS_WEIGHTS = "sae_weights.safetensors";
export const SAELENS_SPARSITY = "sparsity.safetensors";

export interface ReadOptions {
  warn?: Warn;
  /** Weights file name inside the folder, when it is not `sae_weights.safetensors`. */
  weights?: string;
  /** Leave `sparsity.safetensors` unread (`inspect` checks it itself, reporting rather than throwing). */
  skipSparsity?: boolean;
}

/** What the atlas needs from a SAELens config, from either config form. */
export interface SaeLensConfig {
  architecture: string;
  model: string | null;
  hookName: string | null;
  /** Width the decoder writes to: `d_out` for transcoders, else `d_in`. */
  dOut: number;
  dIn: number;
  dSae: number | null;
  k: number | null;
  neuronpediaId: string | null;
}

function str(v: unknown): string | null {
  return typeof v === "string" && v.trim() !== "" ? v : null;
}

function positiveInt(v: unknown, key: string, name: string): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) {
    throw new InputError(`${name}: "${key}" must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * Normalise a parsed cfg.json. The v6 form keeps model and hook in `metadata`; the pre-6.0 form
 * has them at the top level, names the hook `hook_point`, and may have no `architecture` at all.
 * Following SAELens' `handle_pre_6_0_config`, a missing architecture means "standard" — except
 * that a pre-6 config whose activation function is `topk` is reported as "topk" (it is one, and
 * the k it carries in `activation_fn_kwargs` would otherwise be lost).
 */
export function parseSaeLensConfig(raw: Record<string, unknown>, name = SAELENS_CFG): SaeLensConfig {
  const meta = isRecord(raw.metadata) ? raw.metadata : {};
  const pick = (...keys: string[]): unknown => {
    for (const k of keys) {
      if (meta[k] !== undefined && meta[k] !== null) return meta[k];
      if (raw[k] !== undefined && raw[k] !== null) return raw[k];
    }
    return undefined;
  };
  const dIn = positiveInt(raw.d_in, "d_in", name);
  if (dIn === null) throw new InputError(`${name}: has no "d_in" (the model width); is this a SAELens cfg.json?`);
  const dSae = positiveInt(raw.d_sae, "d_sae", name);
  const dOut = positiveInt(raw.d_out, "d_out", name) ?? dIn;

  const activationFn = str(pick("activation_fn", "activation_fn_str"));
  let architecture = str(raw.architecture) ?? "standard";
  if (architecture === "standard" && activationFn?.toLowerCase() === "topk") architecture = "topk";

  const kwargs = isRecord(raw.activation_fn_kwargs) ? raw.activation_fn_kwargs : {};
  const k = positiveInt(raw.k ?? kwargs.k, "k", name);

  return {
    architecture,
    model: str(pick("model_name")),
    hookName: str(pick("hook_name", "hook_point")),
    dIn,
    dOut,
    dSae,
    k,
    neuronpediaId: str(pick("neuronpedia_id")),
  };
}

/**
 * The architecture the tensors of a weights file imply, or null when they are those every
 * architecture has. Names from SAELens' `sae_lens/saes/*.py`: JumpReLU saves `threshold`
 * (training keeps `log_threshold`), gated SAEs have `b_gate`, `b_mag` and `r_mag` and no
 * `b_enc`, skip transcoders add `W_skip`.
 */
export function architectureFromTensors(names: Iterable<string>): string | null {
  const has = new Set(names);
  if (has.has("b_gate") && (has.has("r_mag") || has.has("b_mag"))) return "gated";
  if (has.has("threshold") || has.has("log_threshold")) return has.has("W_skip") ? "jumprelu_transcoder" : "jumprelu";
  if (has.has("W_skip")) return "skip_transcoder";
  return null;
}

/**
 * The architecture to report: the config's when it names one (a mismatch with the tensors is
 * worth a warning, not a guess), else the one the tensors imply (pre-6 configs have no
 * `architecture` field, and SAELens would call those "standard" whatever the weights hold).
 */
export function resolveArchitecture(raw: Record<string, unknown>, cfg: SaeLensConfig, tensors: string[], where: string, warn: Warn): string {
  const implied = architectureFromTensors(tensors);
  const declared = typeof raw.architecture === "string" && raw.architecture.trim() !== "" ? raw.architecture : null;
  if (declared === null) return implied ?? cfg.architecture;
  for (const family of ["jumprelu", "gated"]) {
    const says = declared.includes(family);
    const holds = implied?.includes(family) ?? false;
    if (says && !holds) warn(`${where}: cfg.json says architecture "${declared}", but the weights have no ${family === "gated" ? "b_gate / r_mag" : "threshold"} tensor`);
    if (!says && holds) warn(`${where}: cfg.json says architecture "${declared}", but the weights hold ${family} tensors; reporting "${declared}" as the config says`);
  }
  return declared;
}

/**
 * Which way round a stored W_dec is, from its shape alone: SAELens saves [d_sae, d_in], but
 * converted checkpoints (sparsify, Llama Scope) can hold [d_in, d_sae], and the tensor name says
 * nothing about it. A square matrix cannot be told apart, so it is taken as stored.
 */
export function decoderOrientation(
  shape: number[],
  width: number,
  dSae: number | null,
  where: string,
  warn: Warn,
  widthName = "d_in",
  /** Where width and dSae came from, and what that source calls dSae. */
  source: { name?: string; dSaeName?: string } = {},
): { transposed: boolean; dSae: number } {
  const from = source.name ?? "cfg.json";
  const describe = () =>
    `${where} has shape [${shape.join(", ")}], but ${from} says ${widthName} = ${width}${dSae === null ? "" : ` and ${source.dSaeName ?? "d_sae"} = ${dSae}`}`;
  if (shape.length !== 2) throw new InputError(`${describe()}; expected a 2-D [d_sae, d_in] matrix`);
  const [a, b] = shape as [number, number];
  const asStored = b === width && (dSae === null || a === dSae);
  const transposed = a === width && (dSae === null || b === dSae);
  if (asStored && transposed) {
    warn(`${where} is square [${a}, ${b}], so its orientation cannot be told from its shape; reading it as [d_sae, ${widthName}] (rows are features), as SAELens saves it`);
    return { transposed: false, dSae: a };
  }
  if (asStored) return { transposed: false, dSae: a };
  if (transposed) return { transposed: true, dSae: b };
  if (a === width || b === width) {
    throw new InputError(`${describe()}: the ${widthName} side matches but the other side is not ${source.dSaeName ?? "d_sae"}; is ${from} from another SAE width?`);
  }
  throw new InputError(`${describe()}: neither dimension is ${widthName}; is ${from} for another model or hook?`);
}

/** [rows × cols] row-major → [cols × rows], in cache-friendly blocks. */
export function transpose(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = allocateFloats(src.length);
  const B = 64;
  for (let i0 = 0; i0 < rows; i0 += B) {
    const i1 = Math.min(rows, i0 + B);
    for (let j0 = 0; j0 < cols; j0 += B) {
      const j1 = Math.min(cols, j0 + B);
      for (let i = i0; i < i1; i++) {
        for (let j = j0; j < j1; j++) out[j * rows + i] = src[i * cols + j]!;
      }
    }
  }
  return out;
}

export function readJsonConfig(path: string): Record<string, unknown> {
  const name = basename(path);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new InputError(`${name}: is not valid JSON: ${(e as Error).message}`);
  }
  if (!isRecord(raw)) throw new InputError(`${name}: expected a JSON object, got ${Array.isArray(raw) ? "an array" : JSON.stringify(raw)}`);
  return raw;
}

/** Read the `sparsity` tensor: log10 firing frequency per feature. */
export function readSparsity(file: SafetensorsFile, dSae: number): Float32Array {
  const name = basename(file.path);
  const info = file.tensors.get("sparsity");
  if (!info) throw new InputError(`${name}: has no tensor "sparsity" (it has: ${[...file.tensors.keys()].join(", ") || "none"})`);
  const count = info.shape.reduce((x, d) => x * d, 1);
  if (count !== dSae) {
    throw new InputError(`${name}: tensor "sparsity" has shape [${info.shape.join(", ")}] (${count} values), but the dictionary has ${dSae} features`);
  }
  const values = readTensorF32(file, "sparsity");
  for (let i = 0; i < values.length; i++) {
    // log10(frequency) is at most 0; SAELens adds a tiny eps, hence the slack. A positive value
    // means the file holds something else (e.g. raw counts), which would silently skew the map.
    if (values[i]! > 1e-3) {
      throw new InputError(`${name}: feature ${i} has sparsity ${values[i]}, but the tensor should hold log10 firing frequencies (≤ 0)`);
    }
  }
  return values;
}

/**
 * Read a SAELens folder. Decoder rows come out as [d_sae × d_in] floats whatever the stored
 * dtype and orientation; `info.dtype` records the dtype as stored.
 */
export function readSaeLensFolder(dir: string, opts: ReadOptions = {}): Dictionary {
  const warn = opts.warn ?? defaultWarn;
  const cfgPath = join(dir, SAELENS_CFG);
  const weightsName = opts.weights ?? SAELENS_WEIGHTS;
  const weightsPath = join(dir, weightsName);
  if (!existsSync(cfgPath)) throw new InputError(`${SAELENS_CFG}: not found in ${dir}; a SAELens folder needs cfg.json and ${weightsName}`);
  if (!existsSync(weightsPath)) throw new InputError(`${weightsName}: not found in ${dir}; a SAELens folder needs cfg.json and ${weightsName}`);

  const rawConfig = readJsonConfig(cfgPath);
  const cfg = parseSaeLensConfig(rawConfig);

  const weights = readSafetensorsHeader(weightsPath);
  const architecture = resolveArchitecture(rawConfig, cfg, [...weights.tensors.keys()], weightsName, warn);
  const wDec = weights.tensors.get("W_dec");
  if (!wDec) {
    throw new InputError(`${weightsName}: has no tensor "W_dec" (it has: ${[...weights.tensors.keys()].join(", ") || "none"}); is this a SAELens weights file?`);
  }
  const widthName = cfg.dOut === cfg.dIn ? "d_in" : "d_out";
  const { transposed, dSae } = decoderOrientation(wDec.shape, cfg.dOut, cfg.dSae, `${weightsName}: tensor "W_dec"`, warn, widthName);
  const stored = readTensorF32(weights, "W_dec");
  const decoder = transposed ? transpose(stored, cfg.dOut, dSae) : stored;

  const inputs: InputFile[] = [describeInput("config", cfgPath), describeInput("weights", weightsPath)];
  let log10Density: Float32Array | null = null;
  const sparsityPath = join(dir, SAELENS_SPARSITY);
  if (!opts.skipSparsity && existsSync(sparsityPath)) {
    log10Density = readSparsity(readSafetensorsHeader(sparsityPath), dSae);
    inputs.push(describeInput("sparsity", sparsityPath));
  }

  const info: DictionaryInfo = {
    format: "saelens",
    architecture,
    model: cfg.model,
    hookName: cfg.hookName,
    dIn: cfg.dOut,
    dSae,
    dtype: wDec.dtype,
    k: cfg.k,
    neuronpediaId: cfg.neuronpediaId,
    rawConfig,
  };
  return { info, decoder, log10Density, inputs };
}
