/**
 * `atlas inspect <path>`: what a dictionary holds, without building anything. The report is a
 * plain structure (so it can be tested and printed as JSON); `formatInspectReport` turns it into
 * the text the CLI prints. Problems a build would trip over or silently carry (non-finite or
 * all-zero decoder rows, a sparsity file of the wrong length, label ids past the last feature)
 * are collected as warnings rather than thrown: only an unreadable dictionary is an error.
 */
import { existsSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { DictionaryInfo } from "../../contract/atlas.ts";
import { formatBytes } from "../log.ts";
import { loadActivations } from "./activations.ts";
import { detectDictionary, listDictionaries, readDictionary, type DetectedDictionary, type DictionaryFile } from "./detect.ts";
import { loadLabels } from "./labels.ts";
import { readNpyHeader, shownDtype } from "./npy.ts";
import { readNpzIndex } from "./npz.ts";
import { InputError, readSafetensorsHeader, readTensorF32 } from "./safetensors.ts";

export interface InspectOptions {
  /** As `atlas build --d-model`, for bare matrices. */
  dModel?: number;
}

export interface TensorSummary {
  file: string;
  name: string;
  dtype: string;
  shape: number[];
}

export interface FileSummary {
  role: DictionaryFile["role"];
  name: string;
  bytes: number;
}

export interface DecoderStats {
  rows: number;
  /** Rows holding NaN or ±Infinity. */
  nonFiniteRows: number;
  /** Rows that are exactly zero: dead features. */
  zeroRows: number;
  /** L2 norms of the other rows; null when there are none. */
  norms: { min: number; median: number; max: number } | null;
}

export interface DensitySummary {
  file: string;
  values: number;
  nonFinite: number;
  /** Values above 0, which a log10 frequency cannot be. */
  positive: number;
}

export interface MetadataSummary {
  kind: "labels" | "activations";
  file: string;
  /** Features the file has something for (labels, or examples / density / logits). */
  features: number;
  /** Of those, ids ≥ d_sae. */
  outOfRange: number;
  maxId: number | null;
  /** Why the file could not be read, when it could not. */
  error: string | null;
}

export interface InspectBlock {
  /** The hook point's name within the inspected folder, or the dictionary's file/folder name. */
  name: string;
  path: string;
  format: DictionaryInfo["format"];
  formatName: string;
  files: FileSummary[];
  tensors: TensorSummary[];
  /** What the reader made of it (rawConfig left out); null when it could not be read. */
  dictionary: Omit<DictionaryInfo, "rawConfig"> | null;
  decoder: DecoderStats | null;
  density: DensitySummary | null;
  metadata: MetadataSummary[];
  /** Warnings: things a build would trip over or silently carry. */
  problems: string[];
  /** Why the dictionary could not be read; null when it could. */
  error: string | null;
}

export interface InspectReport {
  path: string;
  /** Whether `path` is a folder of several dictionaries (a checkpoint) rather than one. */
  container: boolean;
  blocks: InspectBlock[];
}

/** Metadata files looked for beside a dictionary, as `atlas build` does. */
export const LABEL_FILES = ["labels.json", "labels.jsonl", "labels.csv"];
export const ACTIVATION_FILES = ["activations.json", "activations.json.gz"];

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Tensors of a weights or sparsity file, by its kind. */
export function listTensors(path: string): TensorSummary[] {
  const file = basename(path);
  const lower = path.toLowerCase();
  if (lower.endsWith(".safetensors")) {
    const st = readSafetensorsHeader(path);
    return [...st.tensors.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((t) => ({ file, name: t.name, dtype: t.dtype, shape: t.shape }));
  }
  if (lower.endsWith(".npz")) {
    return [...readNpzIndex(path).arrays.values()].map((a) => ({ file, name: a.key, dtype: shownDtype(a.header), shape: a.header.shape }));
  }
  if (lower.endsWith(".npy")) {
    const h = readNpyHeader(path).header;
    return [{ file, name: "(array)", dtype: shownDtype(h), shape: h.shape }];
  }
  return [];
}

/** Row statistics of a [rows × cols] decoder. */
export function decoderStats(decoder: Float32Array, rows: number, cols: number): DecoderStats {
  let nonFiniteRows = 0;
  let zeroRows = 0;
  const norms: number[] = [];
  for (let i = 0; i < rows; i++) {
    let sum = 0;
    let finite = true;
    for (let j = i * cols, end = j + cols; j < end; j++) {
      const v = decoder[j]!;
      if (!Number.isFinite(v)) {
        finite = false;
        break;
      }
      sum += v * v;
    }
    if (!finite) nonFiniteRows++;
    else if (sum === 0) zeroRows++;
    else norms.push(Math.sqrt(sum));
  }
  norms.sort((a, b) => a - b);
  const n = norms.length;
  const median = n === 0 ? 0 : n % 2 ? norms[(n - 1) / 2]! : (norms[n / 2 - 1]! + norms[n / 2]!) / 2;
  return { rows, nonFiniteRows, zeroRows, norms: n === 0 ? null : { min: norms[0]!, median, max: norms[n - 1]! } };
}

function idStats(ids: Iterable<number>, dSae: number): { features: number; outOfRange: number; maxId: number | null } {
  let features = 0;
  let outOfRange = 0;
  let maxId: number | null = null;
  for (const id of ids) {
    features++;
    if (id >= dSae) outOfRange++;
    if (maxId === null || id > maxId) maxId = id;
  }
  return { features, outOfRange, maxId };
}

/** Label and activation files beside a dictionary, with counts and out-of-range ids. */
function inspectMetadata(dir: string, dSae: number, problems: string[]): MetadataSummary[] {
  const out: MetadataSummary[] = [];
  const warn = (m: string) => problems.push(m);
  // Ids are checked here rather than by the readers, which stop at the first id out of range.
  const anyId = Number.MAX_SAFE_INTEGER;
  for (const [kind, names] of [["labels", LABEL_FILES], ["activations", ACTIVATION_FILES]] as const) {
    for (const name of names) {
      const p = join(dir, name);
      if (!existsSync(p)) continue;
      try {
        const ids = kind === "labels" ? loadLabels(p, anyId, { warn }).labels.keys() : loadActivations([p], anyId, { warn, maxExamples: 1 }).activations.keys();
        const s = idStats(ids, dSae);
        out.push({ kind, file: name, ...s, error: null });
        if (s.outOfRange > 0) {
          problems.push(`${name}: ${s.outOfRange} of ${s.features} feature ids are ≥ d_sae ${dSae} (largest ${s.maxId}); is it for another SAE width?`);
        }
      } catch (e) {
        out.push({ kind, file: name, features: 0, outOfRange: 0, maxId: null, error: message(e) });
        problems.push(`${name}: cannot be read: ${message(e)}`);
      }
    }
  }
  return out;
}

function inspectSparsity(path: string, dSae: number, problems: string[]): DensitySummary | null {
  const file = basename(path);
  try {
    const st = readSafetensorsHeader(path);
    const t = st.tensors.get("sparsity");
    if (!t) {
      problems.push(`${file}: has no tensor "sparsity" (it has: ${[...st.tensors.keys()].join(", ") || "none"})`);
      return null;
    }
    const count = t.shape.reduce((a, d) => a * d, 1);
    if (count !== dSae) {
      problems.push(`${file}: holds ${count} values, but the dictionary has ${dSae} features; atlas build would refuse it`);
      return { file, values: count, nonFinite: 0, positive: 0 };
    }
    const v = readTensorF32(st, "sparsity");
    let nonFinite = 0;
    let positive = 0;
    for (const x of v) {
      if (!Number.isFinite(x)) nonFinite++;
      else if (x > 1e-3) positive++;
    }
    if (positive > 0) problems.push(`${file}: ${positive} values are above 0, but it should hold log10 firing frequencies (≤ 0); atlas build would refuse it`);
    if (nonFinite > 0) problems.push(`${file}: ${nonFinite} values are NaN or infinite (features never seen firing are usually -inf or a large negative number)`);
    return { file, values: count, nonFinite, positive };
  } catch (e) {
    problems.push(`${file}: cannot be read: ${message(e)}`);
    return null;
  }
}

function inspectOne(detected: DetectedDictionary, name: string, opts: InspectOptions): InspectBlock {
  const problems: string[] = [];
  const block: InspectBlock = {
    name,
    path: detected.path,
    format: detected.format,
    formatName: detected.formatName,
    files: detected.files.filter((f) => existsSync(f.path)).map((f) => ({ role: f.role, name: basename(f.path), bytes: statSync(f.path).size })),
    tensors: [],
    dictionary: null,
    decoder: null,
    density: null,
    metadata: [],
    problems,
    error: null,
  };
  for (const f of detected.files) {
    if (f.role !== "weights") continue;
    try {
      block.tensors.push(...listTensors(f.path));
    } catch (e) {
      block.error = message(e);
      return block;
    }
  }
  let dict;
  try {
    dict = detected.read({ warn: (m) => problems.push(m), skipSparsity: true, ...(opts.dModel === undefined ? {} : { dModel: opts.dModel }) });
  } catch (e) {
    block.error = message(e);
    return block;
  }
  const { rawConfig: _raw, ...info } = dict.info;
  block.dictionary = info;
  block.decoder = decoderStats(dict.decoder, info.dSae, info.dIn);
  if (block.decoder.nonFiniteRows > 0) problems.push(`${block.decoder.nonFiniteRows} decoder rows hold NaN or ±Infinity; build refuses them unless --drop-nonfinite, which keeps them as dead features, off the map`);
  if (block.decoder.zeroRows > 0) problems.push(`${block.decoder.zeroRows} decoder rows are all zero (dead features); they would be kept, off the map`);
  const sparsity = detected.files.find((f) => f.role === "sparsity");
  if (sparsity) block.density = inspectSparsity(sparsity.path, info.dSae, problems);
  const dir = existsSync(detected.path) && statSync(detected.path).isDirectory() ? detected.path : dirname(detected.path);
  block.metadata = inspectMetadata(dir, info.dSae, problems);
  return block;
}

/**
 * Inspect a dictionary, or each dictionary in a folder of several. Throws InputError only when
 * `path` is neither; a dictionary that cannot be read gets a block with `error` set.
 */
export function inspectPath(path: string, opts: InspectOptions = {}): InspectReport {
  if (!existsSync(path)) throw new InputError(`${basename(path)}: not found (looked at ${path})`);
  const self = detectDictionary(path);
  if (self) return { path, container: false, blocks: [inspectOne(self, basename(path), opts)] };
  const inside = existsSync(path) && statSync(path).isDirectory() ? listDictionaries(path) : [];
  if (inside.length === 0) {
    readDictionary(path);
    throw new InputError(`${basename(path)}: not a dictionary`);
  }
  return { path, container: true, blocks: inside.map((d) => inspectOne(detectDictionary(d.path)!, d.hookName, opts)) };
}

function num(n: number): string {
  return n.toLocaleString("en-US");
}

function fmt(x: number): string {
  return Math.abs(x) >= 1000 || (x !== 0 && Math.abs(x) < 0.001) ? x.toExponential(3) : x.toPrecision(4);
}

/** The report as the CLI prints it. */
export function formatInspectReport(report: InspectReport): string {
  const lines: string[] = [];
  if (report.container) {
    const formats = [...new Set(report.blocks.map((b) => b.formatName))].join(", ");
    const n = report.blocks.length;
    lines.push(`${report.path}: ${n} ${n === 1 ? "dictionary" : "dictionaries"} (${formats}), one per hook point`);
    lines.push("");
  }
  for (const b of report.blocks) {
    lines.push(`== ${b.name} ==`);
    const row = (k: string, v: string) => lines.push(`  ${k.padEnd(14)} ${v}`);
    row("format", `${b.formatName} (${b.format})`);
    row("path", b.path);
    row("files", b.files.map((f) => `${f.name} (${f.role}, ${formatBytes(f.bytes)})`).join(", ") || "none");
    if (b.tensors.length) {
      lines.push("  tensors");
      const w = Math.max(...b.tensors.map((t) => t.name.length));
      const multi = new Set(b.tensors.map((t) => t.file)).size > 1;
      for (const t of b.tensors) lines.push(`    ${multi ? `${t.file}: ` : ""}${t.name.padEnd(w)}  ${t.dtype.padEnd(5)} [${t.shape.join(", ")}]`);
    }
    if (b.error !== null) {
      lines.push(`  error: ${b.error}`);
      lines.push("");
      continue;
    }
    const d = b.dictionary!;
    row("architecture", `${d.architecture}${d.k === null ? "" : ` (k = ${d.k})`}`);
    row("model", d.model ?? "unknown");
    row("hook point", d.hookName ?? "unknown");
    row("d_in", String(d.dIn));
    row("width", `${num(d.dSae)} features (W_dec stored as ${d.dtype})`);
    if (d.neuronpediaId) row("neuronpedia", d.neuronpediaId);
    const s = b.decoder!;
    row(
      "decoder rows",
      `${num(s.nonFiniteRows)} non-finite, ${num(s.zeroRows)} all-zero` +
        (s.norms ? `; norms min ${fmt(s.norms.min)}, median ${fmt(s.norms.median)}, max ${fmt(s.norms.max)}` : ""),
    );
    if (b.density) row("density", `${b.density.file}: ${num(b.density.values)} log10 frequencies`);
    if (b.metadata.length === 0) row("metadata", `none beside it (looked for ${[...LABEL_FILES, ...ACTIVATION_FILES].join(", ")})`);
    b.metadata.forEach((m, i) =>
      row(i === 0 ? "metadata" : "", m.error !== null ? `${m.file}: unreadable` : `${m.file}: ${m.kind === "labels" ? "labels" : "evidence"} for ${num(m.features)} features`),
    );
    if (b.problems.length === 0) row("problems", "none found");
    for (const p of b.problems) lines.push(`  warning: ${p}`);
    lines.push("");
  }
  return lines.join("\n");
}
