/**
 * The "npy" dictionary format: a bare decoder matrix in a `.npy` file, or in an `.npz` that is
 * not a Gemma Scope `params.npz`, stored either way round. With no config beside it, which side
 * is d_model comes from `--d-model`, a decoder bias in the same .npz, or the shape.
 */
import { basename } from "node:path";
import type { DictionaryInfo } from "../../contract/atlas.ts";
import type { Dictionary } from "../stages.ts";
import { defaultWarn, type Warn } from "./files.ts";
import { describeInput } from "./hash.ts";
import { readNpyF32, readNpyHeader, type NpyHeader } from "./npy.ts";
import { readNpzArrayF32, readNpzIndex, type NpzArray, type NpzFile } from "./npz.ts";
import { transpose } from "./saelens.ts";
import { InputError } from "./safetensors.ts";

export interface NpyReadOptions {
  warn?: Warn;
  /** Width of the model activations, to tell which side of the matrix is which. */
  dModel?: number;
}

/** Where the d_model used to orient a matrix came from, for the citation block. */
type DModelSource = "--d-model" | "bias" | "smaller dimension";

/**
 * Which way round a bare decoder matrix is. With `dModel` the side of that length is d_model;
 * without it, an overcomplete dictionary has more features than dimensions, so the smaller side is
 * d_model. A square matrix, or a `dModel` that matches neither side, cannot be settled.
 */
export function orientMatrix(
  storedShape: number[],
  dModel: { value: number; from: DModelSource } | null,
  where: string,
  warn: Warn,
): { transposed: boolean; dSae: number; dIn: number } {
  if (storedShape.length !== 2) {
    throw new InputError(`${where} has shape (${storedShape.join(", ")}); a decoder must be a 2-D matrix [features, d_model] (or its transpose)`);
  }
  const [a, b] = storedShape as [number, number];
  if (a === 0 || b === 0) throw new InputError(`${where} has shape (${a}, ${b}): it is empty`);
  if (dModel === null) {
    if (a === b) throw new InputError(`${where} is square (${a}, ${b}), so which side is d_model cannot be told; pass --d-model <n>`);
    return a > b ? { transposed: false, dSae: a, dIn: b } : { transposed: true, dSae: b, dIn: a };
  }
  const d = dModel.value;
  const by = dModel.from === "--d-model" ? "--d-model" : dModel.from === "bias" ? "the decoder bias length" : "";
  if (a === d && b === d) {
    warn(`${where} is square (${a}, ${b}) and both sides equal d_model; reading rows as features`);
    return { transposed: false, dSae: a, dIn: b };
  }
  if (b === d) return { transposed: false, dSae: a, dIn: b };
  if (a === d) return { transposed: true, dSae: b, dIn: a };
  throw new InputError(`${where} has shape (${a}, ${b}), but neither side is d_model = ${d} (from ${by}); pass the right --d-model <n>`);
}

/** Keys tried, in order, for the decoder of a plain .npz (case-insensitive). */
export const NPZ_DECODER_KEYS = ["W_dec", "decoder.weight", "decoder", "W_d", "dec", "dictionary", "D"];
const NPZ_BIAS_KEYS = ["b_dec", "decoder.bias", "b_d", "pre_bias"];

function findKey(npz: NpzFile, keys: string[]): NpzArray | null {
  for (const k of keys) {
    for (const a of npz.arrays.values()) if (a.key.toLowerCase() === k.toLowerCase()) return a;
  }
  return null;
}

/** The decoder array of a plain .npz: a known name, else its only 2-D float array. */
export function pickNpzDecoder(npz: NpzFile): NpzArray {
  const named = findKey(npz, NPZ_DECODER_KEYS);
  if (named) return named;
  const matrices = [...npz.arrays.values()].filter((a) => a.header.shape.length === 2 && a.header.dtype !== null);
  if (matrices.length === 1) return matrices[0]!;
  const list = [...npz.arrays.values()].map((a) => `${a.key} (${a.header.shape.join(", ")})`).join(", ") || "nothing";
  throw new InputError(
    `${basename(npz.path)}: cannot tell which array is the decoder: no array is named ${NPZ_DECODER_KEYS.join(", ")}, and ` +
      `${matrices.length === 0 ? "none" : matrices.length} of its arrays are 2-D float matrices. It holds: ${list}`,
  );
}

/**
 * Read a bare decoder matrix: a .npy file, or the decoder array of a plain .npz. d_model comes
 * from `--d-model`, else from a decoder-bias array beside it in the .npz, else from the shape.
 */
export function readNpyDictionary(path: string, opts: NpyReadOptions = {}): Dictionary {
  const warn = opts.warn ?? defaultWarn;
  const name = basename(path);
  let header: NpyHeader;
  let load: () => Float32Array;
  let where: string;
  let key: string | null = null;
  let bias: number | null = null;
  if (path.toLowerCase().endsWith(".npz")) {
    const npz = readNpzIndex(path);
    const arr = pickNpzDecoder(npz);
    const b = findKey(npz, NPZ_BIAS_KEYS);
    if (b && b.header.shape.length === 1) bias = b.header.shape[0]!;
    key = arr.key;
    header = arr.header;
    where = `${name}: array "${arr.key}"`;
    load = () => readNpzArrayF32(npz, arr.key);
  } else {
    const file = readNpyHeader(path);
    header = file.header;
    where = name;
    load = () => readNpyF32(file, "decoder");
  }
  const storedShape = header.storedShape;
  // Shapes in messages are of the bytes as laid out, which for a Fortran-order array is the transpose of numpy's shape.
  if (header.fortranOrder) where += ` (Fortran order, shape (${header.shape.join(", ")}) read as its transpose)`;
  if (header.dtype === null) throw new InputError(`${where}: ${header.unsupported ?? `dtype ${header.descr} is not a float type`}`);
  const dModel = opts.dModel !== undefined ? { value: opts.dModel, from: "--d-model" as const } : bias !== null ? { value: bias, from: "bias" as const } : null;
  const o = orientMatrix(storedShape, dModel, where, warn);
  const stored = load();
  const decoder = o.transposed ? transpose(stored, o.dIn, o.dSae) : stored;
  const info: DictionaryInfo = {
    format: "npy",
    architecture: "unknown",
    model: null,
    hookName: null,
    dIn: o.dIn,
    dSae: o.dSae,
    dtype: header.dtype,
    k: null,
    neuronpediaId: null,
    rawConfig: {
      file: name,
      ...(key === null ? {} : { array: key }),
      descr: header.descr,
      fortran_order: header.fortranOrder,
      shape: header.shape,
      d_model: o.dIn,
      d_model_from: dModel?.from ?? "smaller dimension",
      rows_are_features: !o.transposed,
    },
  };
  return { info, decoder, log10Density: null, inputs: [describeInput("weights", path)] };
}
