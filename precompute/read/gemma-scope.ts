/**
 * Gemma Scope (FORMATS.md §5): `layer_{L}/width_{16k|65k|1m}/average_l0_{N}/params.npz`, an npz
 * of float32 `W_enc [d_in, d_sae]`, `W_dec [d_sae, d_in]`, `b_enc [d_sae]`, `b_dec [d_in]` and
 * `threshold [d_sae]` (JumpReLU), with no config file. As SAELens' `get_gemma_2_config_from_hf`
 * does, width and layer come from the path, and the model and hook from the release name when
 * the path holds one (`gemma-scope-2b-pt-res`, also inside a Hugging Face cache folder name).
 * d_in is read from the arrays rather than from a table of model widths.
 */
import { existsSync } from "node:fs";
import { basename, join, resolve, sep } from "node:path";
import type { DictionaryInfo } from "../../contract/atlas.ts";
import type { Dictionary } from "../stages.ts";
import { defaultWarn, type Warn } from "./files.ts";
import { describeInput } from "./hash.ts";
import { shownDtype } from "./npy.ts";
import { readNpzArrayF32, readNpzIndex, type NpzArray, type NpzFile } from "./npz.ts";
import { transpose } from "./saelens.ts";
import { InputError } from "./safetensors.ts";

export const GEMMA_SCOPE_PARAMS = "params.npz";

export interface GemmaScopeReadOptions {
  warn?: Warn;
}

export interface GemmaScopePath {
  layer: number | null;
  embedding: boolean;
  /** The width folder's label, e.g. `16k`. */
  width: string | null;
  /** Features that label stands for (see widthFeatures). */
  widthFeatures: number | null;
  averageL0: number | null;
  /** The release (`gemma-scope-2b-pt-res`) when a folder name holds one. */
  release: string | null;
  model: string | null;
  hookName: string | null;
  /** The path from the release (or the layer folder) down, with `/`: no machine-specific prefix. */
  relative: string;
}

/**
 * Width label → features. The labels round powers of two to thousands (`16k` = 16,384, `65k` =
 * 65,536, `1m` = 1,048,576, as in SAELens' width map), so an abbreviated label means the nearest
 * power of two.
 */
export function widthFeatures(label: string): number | null {
  const m = /^(\d+)([km]?)$/i.exec(label);
  if (!m) return null;
  const unit = m[2]!.toLowerCase();
  if (unit === "") return Number(m[1]);
  const approx = Number(m[1]) * (unit === "k" ? 1000 : 1_000_000);
  return 2 ** Math.round(Math.log2(approx));
}

const RELEASE = /gemma-scope-(2b|9b|27b)-(pt|it)-(res|mlp|att|transcoders)/i;

/** What a Gemma Scope path says about the dictionary. */
export function parseGemmaScopePath(path: string): GemmaScopePath {
  const parts = resolve(path).split(sep).filter((p) => p !== "");
  let layer: number | null = null;
  let embedding = false;
  let width: string | null = null;
  let averageL0: number | null = null;
  let release: string | null = null;
  let layerAt = -1;
  parts.forEach((p, i) => {
    const l = /^layer_(\d+)$/.exec(p);
    if (l) {
      layer = Number(l[1]);
      layerAt = i;
    }
    if (/^embedding$/.test(p)) {
      embedding = true;
      layerAt = i;
    }
    const w = /^width_(\w+)$/.exec(p);
    if (w) width = w[1]!;
    const a = /^average_l0_(\d+)$/.exec(p);
    if (a) averageL0 = Number(a[1]);
    const r = RELEASE.exec(p);
    if (r) {
      release = r[0].toLowerCase();
    }
  });
  let model: string | null = null;
  let hookName: string | null = null;
  if (release !== null) {
    const [, size, variant, site] = RELEASE.exec(release)! as unknown as [string, string, string, string];
    model = `gemma-2-${size}${variant === "it" ? "-it" : ""}`;
    if (embedding && site === "res") hookName = "hook_embed";
    else if (layer !== null) {
      hookName = site === "res" ? `blocks.${layer}.hook_resid_post` : site === "mlp" ? `blocks.${layer}.hook_mlp_out` : site === "att" ? `blocks.${layer}.attn.hook_z` : null;
    }
  }
  // Without the release, the site (residual, MLP, attention) is unknown; the layer folder is the best name there is.
  if (hookName === null && layer !== null) hookName = `layer_${layer}`;
  if (hookName === null && embedding) hookName = "embedding";
  const tail = layerAt >= 0 ? parts.slice(layerAt) : parts.slice(-1);
  const relative = (release !== null ? [release, ...tail] : tail).join("/");
  return { layer, embedding, width, widthFeatures: width === null ? null : widthFeatures(width), averageL0, release, model, hookName, relative };
}

/** Array lookup as SAELens does it: a lowercase `w_` prefix means `W_`. */
function arrayByName(npz: NpzFile): Map<string, NpzArray> {
  const out = new Map<string, NpzArray>();
  for (const a of npz.arrays.values()) out.set(a.key.startsWith("w_") ? `W_${a.key.slice(2)}` : a.key, a);
  return out;
}

/** Whether an npz holds Gemma Scope's JumpReLU arrays (W_dec and threshold). */
export function isGemmaScopeNpz(npz: NpzFile): boolean {
  const arrays = arrayByName(npz);
  return arrays.has("W_dec") && arrays.has("threshold");
}

/** The params.npz of a path: the file itself, or the one inside an `average_l0_<N>` folder. */
export function gemmaScopeParams(path: string): string | null {
  if (path.toLowerCase().endsWith(".npz")) return path;
  const p = join(path, GEMMA_SCOPE_PARAMS);
  return existsSync(p) ? p : null;
}

/**
 * Read a Gemma Scope params.npz. d_in is b_dec's length (else W_dec's second side, as the
 * layout says); W_dec is transposed when it is stored [d_in, d_sae].
 */
export function readGemmaScope(path: string, opts: GemmaScopeReadOptions = {}): Dictionary {
  const warn = opts.warn ?? defaultWarn;
  const file = gemmaScopeParams(path);
  if (file === null) throw new InputError(`${basename(path)}: holds no ${GEMMA_SCOPE_PARAMS}; a Gemma Scope dictionary is layer_<L>/width_<W>/average_l0_<N>/params.npz`);
  const name = basename(file);
  const npz = readNpzIndex(file);
  const arrays = arrayByName(npz);
  const dec = arrays.get("W_dec");
  if (!dec) throw new InputError(`${name}: has no array "W_dec" (it has: ${[...npz.arrays.keys()].join(", ") || "none"}); is this a Gemma Scope params.npz?`);
  const where = `${name}: array "${dec.key}"`;
  const h = dec.header;
  if (h.dtype === null) throw new InputError(`${where}: ${h.unsupported}`);
  if (h.storedShape.length !== 2) throw new InputError(`${where} has shape (${h.shape.join(", ")}); expected a 2-D [d_sae, d_in] matrix`);
  const [a, b] = h.storedShape as [number, number];
  const bDec = arrays.get("b_dec");
  const biasLen = bDec && bDec.header.shape.length === 1 ? bDec.header.shape[0]! : null;
  let transposed = false;
  if (biasLen !== null) {
    if (b === biasLen && a === biasLen) warn(`${where} is square (${a}, ${b}); reading it as [d_sae, d_in] as Gemma Scope saves it`);
    else if (a === biasLen) transposed = true;
    else if (b !== biasLen) throw new InputError(`${where} has shape (${a}, ${b}), but b_dec has ${biasLen} values (d_in), which matches neither side`);
  }
  const dSae = transposed ? b : a;
  const dIn = transposed ? a : b;
  const where2 = parseGemmaScopePath(file);
  if (where2.widthFeatures !== null && where2.widthFeatures !== dSae) {
    warn(`${name}: the path says width_${where2.width} (${where2.widthFeatures} features), but W_dec holds ${dSae}; using ${dSae}`);
  }
  const threshold = arrays.get("threshold");
  if (threshold && threshold.header.shape.reduce((x, d) => x * d, 1) !== dSae) {
    warn(`${name}: array "threshold" has shape (${threshold.header.shape.join(", ")}), but W_dec holds ${dSae} features`);
  }

  const stored = readNpzArrayF32(npz, dec.key);
  const decoder = transposed ? transpose(stored, dIn, dSae) : stored;
  const info: DictionaryInfo = {
    format: "gemma-scope",
    architecture: "jumprelu",
    model: where2.model,
    hookName: where2.hookName,
    dIn,
    dSae,
    dtype: h.dtype,
    k: null,
    neuronpediaId: null,
    // There is no config file; this records what the path and the arrays said instead.
    rawConfig: {
      source: where2.relative,
      release: where2.release,
      layer: where2.layer,
      width: where2.width,
      average_l0: where2.averageL0,
      arrays: Object.fromEntries([...npz.arrays.values()].map((x) => [x.key, { dtype: shownDtype(x.header), shape: x.header.shape }])),
    },
  };
  return { info, decoder, log10Density: null, inputs: [describeInput("weights", file)] };
}
