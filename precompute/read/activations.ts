/**
 * Evidence per feature — top-activating examples, firing density, top logits — from
 *
 * - SAEDashboard batch JSON (`{model_id, layer, sae_set, features: [{feature_index, frac_nonzero,
 *   pos_str, pos_values, neg_str, neg_values, activations: [{bin_min, bin_max, bin_contains,
 *   tokens, values, …}], freq_hist_data_bar_heights, freq_hist_data_bar_values}]}`), as one or
 *   more files, `.json` or `.json.gz`, or a folder of `batch-<n>.json[.gz]`;
 * - Neuronpedia export rows: `activations/batch-<n>.jsonl.gz` (one example a row: `index` as a
 *   string, `tokens`, `values`, `binMin`, `binMax`, …) and `features/batch-<n>.jsonl.gz`
 *   (`index`, `frac_nonzero`, `pos_str`, `pos_values`, `neg_str`, `neg_values`,
 *   `freq_hist_data_bar_heights`, `freq_hist_data_bar_values`); a file, a folder
 *   of batch files, or the export folder holding `features/` and `activations/`.
 *
 * Conversions: tokens go through `decodeTokens` (GPT-2 `Ġ` → space, `Ċ` → newline, byte-level
 * UTF-8 put back together; see tokens.ts), then `representableText` (lone surrogates and control
 * characters other than tab and newline become U+FFFD, see files.ts). `maxIndex`/`maxValue` are recomputed from `values`
 * (SAEDashboard's `qualifying_token_index` is the token that qualified the example for its
 * quantile bin, not always the maximum). `bin` is null for the "top activations" group
 * (`bin_min == -1`, or no bin given) and [bin_min, bin_max] otherwise. Examples are ordered top
 * group first by maxValue descending, then quantile groups by bin descending (each by maxValue
 * descending, ties in input order).
 *
 * Merging: one feature's examples must come from one source (a file, or one folder of Neuronpedia
 * activation rows), and likewise its density and its logits; the same feature in two sources is
 * an error naming both, rather than a silent override. A Neuronpedia `features/` folder and an
 * `activations/` folder complement each other, since they carry different fields.
 */
import { existsSync } from "node:fs";
import { basename, join, relative, resolve as resolvePath } from "node:path";
import type { Example, Histogram, InputFile } from "../../contract/atlas.ts";
import type { ActivationEntry, LabelEntry } from "../stages.ts";
import {
  at, batchFiles, defaultWarn, featureId, forEachJsonLine, innerName, isDirectory, isRecord, parseJson,
  readMaybeGzip, representableText, sortedById, Tally, type Warn,
} from "./files.ts";
import { describeInput } from "./hash.ts";
import { loadLabels } from "./labels.ts";
import { InputError } from "./safetensors.ts";
import { decodeLoneTokens, decodeTokens } from "./tokens.ts";

export interface ActivationReadOptions {
  warn?: Warn;
  /** Keep at most this many examples per feature (the best, in the order above). Default: all. */
  maxExamples?: number;
}

type Logits = NonNullable<ActivationEntry["logits"]>;

/** Where examples came from: `key` tells sources apart, `name` is for messages. */
interface Source {
  key: string;
  name: string;
}

/** Where a feature's density or logits came from. */
interface Origin {
  where: string;
  /** Absolute path of the file, to tell apart same-named files of different folders. */
  file: string;
}

interface Acc {
  examples: Example[];
  examplesFrom: Source | null;
  density: number | null;
  densityFrom: Origin | null;
  logits: Logits | null;
  logitsFrom: Origin | null;
  histogram: Histogram | null;
  histogramFrom: Origin | null;
}

/** The earlier origin, with its full path when its short name alone would look like the current one. */
function earlier(prev: { name: string; path: string }, current: string): string {
  return prev.name === current || current.startsWith(`${prev.name} `) || prev.name.startsWith(`${current} `) ? `${prev.name} (${prev.path})` : prev.name;
}

/** Accumulates entries across files, enforcing the one-source-per-field rule. */
class Collector {
  readonly byId = new Map<number, Acc>();
  readonly inputs: InputFile[] = [];
  readonly tally = new Tally();
  private touched = new Set<number>();
  constructor(
    readonly nFeatures: number,
    readonly maxExamples: number,
  ) {}

  private get(id: number): Acc {
    let a = this.byId.get(id);
    if (!a) {
      a = { examples: [], examplesFrom: null, density: null, densityFrom: null, logits: null, logitsFrom: null, histogram: null, histogramFrom: null };
      this.byId.set(id, a);
    }
    return a;
  }

  /**
   * `source` is the unit that may hold a feature's examples: a SAEDashboard file lists each
   * feature once (`once`), a folder of Neuronpedia activation rows has one row per example.
   */
  addExamples(id: number, examples: Example[], source: Source, where: string, once: boolean): void {
    const a = this.get(id);
    if (a.examplesFrom !== null && (a.examplesFrom.key !== source.key || once)) {
      const prev = a.examplesFrom.key === source.key ? a.examplesFrom.name : earlier({ name: a.examplesFrom.name, path: a.examplesFrom.key }, source.name);
      throw new InputError(`${where}: feature ${id} already has examples from ${prev}; each feature's examples must come from one source`);
    }
    a.examplesFrom = source;
    a.examples.push(...examples);
    this.touched.add(id);
  }

  setDensity(id: number, density: number, from: Origin): void {
    const a = this.get(id);
    if (a.densityFrom !== null) {
      throw new InputError(`${from.where}: feature ${id} already has a density from ${earlier({ name: a.densityFrom.where, path: a.densityFrom.file }, from.where)}`);
    }
    a.density = density;
    a.densityFrom = from;
  }

  setLogits(id: number, logits: Logits, from: Origin): void {
    const a = this.get(id);
    if (a.logitsFrom !== null) {
      throw new InputError(`${from.where}: feature ${id} already has logits from ${earlier({ name: a.logitsFrom.where, path: a.logitsFrom.file }, from.where)}`);
    }
    a.logits = logits;
    a.logitsFrom = from;
  }

  setHistogram(id: number, histogram: Histogram, from: Origin): void {
    const a = this.get(id);
    if (a.histogramFrom !== null) {
      throw new InputError(`${from.where}: feature ${id} already has an activation histogram from ${earlier({ name: a.histogramFrom.where, path: a.histogramFrom.file }, from.where)}`);
    }
    a.histogram = histogram;
    a.histogramFrom = from;
  }

  /** Sort and cap the examples of the features touched since the last call, to bound memory. */
  settle(): void {
    for (const id of this.touched) {
      const a = this.byId.get(id)!;
      a.examples = capExamples(sortExamples(a.examples), this.maxExamples);
    }
    this.touched.clear();
  }

  result(): Map<number, ActivationEntry> {
    this.settle();
    const out = new Map<number, ActivationEntry>();
    for (const [id, a] of this.byId) out.set(id, { examples: a.examples, density: a.density, logits: a.logits, ...(a.histogram ? { histogram: a.histogram } : {}) });
    return sortedById(out);
  }
}

function groupRank(e: Example): number {
  return e.bin === null ? 1 : 0;
}

/** Top group first by maxValue descending, then quantile bins from high to low. Stable. */
export function sortExamples(examples: Example[]): Example[] {
  return [...examples].sort((a, b) => {
    const g = groupRank(b) - groupRank(a);
    if (g !== 0) return g;
    if (a.bin && b.bin) {
      if (a.bin[0] !== b.bin[0]) return b.bin[0] - a.bin[0];
      if (a.bin[1] !== b.bin[1]) return b.bin[1] - a.bin[1];
    }
    return b.maxValue - a.maxValue;
  });
}

/**
 * At most `max` of `sorted` (sortExamples order), keeping every quantile group represented: a
 * SAEDashboard feature has ~20 top activations and a few examples per interval, and a plain cut
 * would keep the top group only. The top group gets half the slots first, then the groups take
 * turns, high to low, until the slots run out. Order is kept.
 */
export function capExamples(sorted: Example[], max: number): Example[] {
  if (sorted.length <= max) return sorted;
  const groups: Example[][] = [];
  for (const e of sorted) {
    const last = groups.at(-1);
    const prev = last?.[0]?.bin;
    if (last && (prev === e.bin || (prev && e.bin && prev[0] === e.bin[0] && prev[1] === e.bin[1]))) last.push(e);
    else groups.push([e]);
  }
  if (groups.length === 1) return sorted.slice(0, max);
  const take = groups.map(() => 0);
  let left = max;
  if (groups[0]![0]!.bin === null) {
    take[0] = Math.min(groups[0]!.length, Math.ceil(max / 2));
    left -= take[0];
  }
  for (let progressed = true; left > 0 && progressed; ) {
    progressed = false;
    for (let g = 0; g < groups.length && left > 0; g++) {
      if (take[g]! < groups[g]!.length) {
        take[g]!++;
        left--;
        progressed = true;
      }
    }
  }
  return groups.flatMap((g, i) => g.slice(0, take[i]));
}

function finiteNumber(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

/** Build a contract Example from raw tokens and values; null (skipped) when empty. */
export function toExample(tokensRaw: unknown, valuesRaw: unknown, bin: [number, number] | null, where: string, id: number): Example | null {
  if (!Array.isArray(tokensRaw) || !tokensRaw.every((t) => typeof t === "string")) {
    throw new InputError(`${where}: feature ${id}: "tokens" must be a list of strings`);
  }
  if (!Array.isArray(valuesRaw)) throw new InputError(`${where}: feature ${id}: "values" must be a list of numbers`);
  if (tokensRaw.length !== valuesRaw.length) {
    throw new InputError(`${where}: feature ${id}: an example has ${tokensRaw.length} tokens but ${valuesRaw.length} values`);
  }
  if (tokensRaw.length === 0) return null;
  let maxIndex = 0;
  for (let i = 0; i < valuesRaw.length; i++) {
    const v: unknown = valuesRaw[i];
    if (!finiteNumber(v)) throw new InputError(`${where}: feature ${id}: activation value ${JSON.stringify(v)} at token ${i} is not a finite number`);
    if (v > (valuesRaw[maxIndex] as number)) maxIndex = i;
  }
  const values = valuesRaw as number[];
  return { tokens: decodeTokens(tokensRaw as string[]).map(representableText), values, maxIndex, maxValue: values[maxIndex]!, bin };
}

function binOf(min: unknown, max: unknown, where: string, id: number): [number, number] | null {
  if (min === undefined || min === null || min === -1) return null;
  if (!finiteNumber(min) || !finiteNumber(max)) {
    throw new InputError(`${where}: feature ${id}: bin [${JSON.stringify(min)}, ${JSON.stringify(max)}] is not a pair of numbers`);
  }
  return [min, max];
}

function densityOf(raw: unknown, where: string, id: number): number | null {
  if (raw === undefined || raw === null) return null;
  if (!finiteNumber(raw) || raw < 0 || raw > 1) {
    throw new InputError(`${where}: feature ${id}: frac_nonzero ${JSON.stringify(raw)} is not a fraction in [0, 1]`);
  }
  return raw;
}

function logitSide(strs: unknown, values: unknown, side: string, where: string, id: number): { token: string; value: number }[] {
  if ((strs === undefined || strs === null) && (values === undefined || values === null)) return [];
  if (!Array.isArray(strs) || !strs.every((s) => typeof s === "string") || !Array.isArray(values)) {
    throw new InputError(`${where}: feature ${id}: ${side}_str must be a list of strings and ${side}_values a list of numbers`);
  }
  if (strs.length !== values.length) {
    throw new InputError(`${where}: feature ${id}: ${side}_str has ${strs.length} tokens but ${side}_values has ${values.length} values`);
  }
  const tokens = decodeLoneTokens(strs as string[]).map(representableText);
  return tokens.map((token, i) => {
    const value: unknown = values[i];
    if (!finiteNumber(value)) throw new InputError(`${where}: feature ${id}: ${side}_values[${i}] = ${JSON.stringify(value)} is not a finite number`);
    return { token, value };
  });
}

function logitsOf(row: Record<string, unknown>, where: string, id: number): Logits | null {
  const present = ["pos_str", "pos_values", "neg_str", "neg_values"].some((k) => row[k] !== undefined && row[k] !== null);
  if (!present) return null;
  return {
    positive: logitSide(row.pos_str, row.pos_values, "pos", where, id),
    negative: logitSide(row.neg_str, row.neg_values, "neg", where, id),
  };
}

/** `freq_hist_data_bar_heights/values`: counts per bar and bar centres; null when absent or empty. */
function histogramOf(row: Record<string, unknown>, where: string, id: number): Histogram | null {
  const heights = row.freq_hist_data_bar_heights;
  const values = row.freq_hist_data_bar_values;
  if ((heights === undefined || heights === null) && (values === undefined || values === null)) return null;
  if (!Array.isArray(heights) || !Array.isArray(values) || heights.length !== values.length) {
    throw new InputError(`${where}: feature ${id}: freq_hist_data_bar_heights and freq_hist_data_bar_values must be lists of numbers of the same length`);
  }
  if (heights.length === 0) return null;
  heights.forEach((h: unknown, i) => {
    if (!finiteNumber(h) || h < 0) throw new InputError(`${where}: feature ${id}: freq_hist_data_bar_heights[${i}] = ${JSON.stringify(h)} is not a count ≥ 0`);
  });
  values.forEach((v: unknown, i) => {
    if (!finiteNumber(v)) throw new InputError(`${where}: feature ${id}: freq_hist_data_bar_values[${i}] = ${JSON.stringify(v)} is not a finite number`);
  });
  return { heights: heights as number[], values: values as number[] };
}

/** Density, logits and histogram from a feature object (SAEDashboard feature or Neuronpedia features row). */
function takeFeatureFields(c: Collector, id: number, row: Record<string, unknown>, from: Origin): void {
  const density = densityOf(row.frac_nonzero, from.where, id);
  if (density !== null) c.setDensity(id, density, from);
  const histogram = histogramOf(row, from.where, id);
  if (histogram) c.setHistogram(id, histogram, from);
  const logits = logitsOf(row, from.where, id);
  if (logits) c.setLogits(id, logits, from);
}

function readSaeDashboard(c: Collector, doc: unknown, name: string, file: string): void {
  const features = Array.isArray(doc) ? doc : isRecord(doc) ? doc.features : undefined;
  if (!Array.isArray(features)) {
    throw new InputError(`${name}: expected a SAEDashboard batch ({"features": [...]}) — found no "features" list`);
  }
  const seen = new Set<number>();
  features.forEach((f: unknown, i) => {
    const where = `${name} features[${i}]`;
    if (!isRecord(f)) throw new InputError(`${where}: expected a feature object`);
    const id = featureId(f.feature_index, c.nFeatures, where, "activation file");
    if (seen.has(id)) throw new InputError(`${where}: feature ${id} appears twice in this file`);
    seen.add(id);
    takeFeatureFields(c, id, f, { where: `${name} (feature ${id})`, file });
    const acts = f.activations ?? [];
    if (!Array.isArray(acts)) throw new InputError(`${where}: feature ${id}: "activations" must be a list`);
    const examples: Example[] = [];
    acts.forEach((a: unknown, k) => {
      const w = `${name} feature ${id} activations[${k}]`;
      if (!isRecord(a)) throw new InputError(`${w}: expected an object with tokens and values`);
      const ex = toExample(a.tokens, a.values, binOf(a.bin_min, a.bin_max, w, id), w, id);
      if (ex) examples.push(ex);
      else c.tally.add("empty examples skipped");
    });
    c.addExamples(id, examples, { key: file, name }, name, true);
  });
}

type RowKind = "activation" | "feature" | "explanation" | "unknown";

function rowKind(row: Record<string, unknown>): RowKind {
  if ("tokens" in row && "values" in row) return "activation";
  if ("description" in row && "index" in row) return "explanation";
  if ("index" in row && ("frac_nonzero" in row || "pos_str" in row || "neg_str" in row || "maxActApprox" in row || "freq_hist_data_bar_heights" in row)) return "feature";
  return "unknown";
}

/** Neuronpedia rows (activations or features), one JSON object a line. `source` groups activation rows. */
function readNeuronpediaRows(c: Collector, buf: Buffer, name: string, file: string, source: Source): void {
  const featureRows = new Map<number, string>();
  forEachJsonLine(buf, name, (row, line) => {
    const where = at(name, line);
    if (!isRecord(row)) throw new InputError(`${where}: expected a JSON object`);
    const kind = rowKind(row);
    if (kind === "explanation") throw new InputError(`${where}: this is a Neuronpedia explanations file; pass it as labels, not activations`);
    if (kind === "unknown") {
      throw new InputError(`${where}: not a Neuronpedia activation row (index, tokens, values) or features row (index, frac_nonzero, pos_str…); keys: ${Object.keys(row).slice(0, 12).join(", ")}`);
    }
    const id = featureId(row.index, c.nFeatures, where, "activation file");
    if (kind === "activation") {
      const ex = toExample(row.tokens, row.values, binOf(row.binMin, row.binMax, where, id), where, id);
      if (!ex) c.tally.add("empty examples skipped");
      c.addExamples(id, ex ? [ex] : [], source, where, false);
    } else {
      const first = featureRows.get(id);
      if (first) throw new InputError(`${where}: feature ${id} appears twice (first at ${first})`);
      featureRows.set(id, where);
      takeFeatureFields(c, id, row, { where, file });
    }
  });
}

function readOneFile(c: Collector, path: string, name: string, source: Source): void {
  const buf = readMaybeGzip(path, name);
  const inner = innerName(name);
  if (inner.endsWith(".jsonl") || inner.endsWith(".ndjson")) {
    readNeuronpediaRows(c, buf, name, resolvePath(path), source);
  } else {
    readSaeDashboard(c, parseJson(buf.toString("utf8"), name), name, resolvePath(path));
  }
  c.inputs.push(describeInput("activations", path, name));
  c.settle();
}

/** Read a path: a file, a folder of batch files, or a Neuronpedia export folder. */
function readPath(c: Collector, path: string): void {
  if (!existsSync(path)) throw new InputError(`${basename(path)}: activation file not found (looked at ${path})`);
  if (!isDirectory(path)) {
    readOneFile(c, path, basename(path), { key: resolvePath(path), name: basename(path) });
    return;
  }
  const sub = ["features", "activations"].map((s) => join(path, s)).filter(isDirectory);
  const dirs = sub.length ? sub : [path];
  // Name files from the export folder, so that `features/batch-0.jsonl.gz` reads as such even
  // when the features/ folder itself was passed.
  const base = sub.length === 0 && ["features", "activations"].includes(basename(resolvePath(path))) ? join(path, "..") : path;
  let found = 0;
  for (const dir of dirs) {
    const files = batchFiles(dir, ["json", "jsonl"]);
    found += files.length;
    const folder: Source = { key: resolvePath(dir), name: `${relative(base, dir) || basename(resolvePath(dir))}/` };
    for (const file of files) {
      const name = relative(base, file).split("\\").join("/");
      // Neuronpedia activation rows of one folder are one source; SAEDashboard files each are one.
      readOneFile(c, file, name, innerName(file).endsWith(".jsonl") ? folder : { key: resolvePath(file), name });
    }
  }
  if (found === 0) {
    throw new InputError(
      `${basename(path)}: is a folder, but holds no activation batch files; looked for batch-<n>.json[.gz] (SAEDashboard) and ` +
        `features/ or activations/ folders of batch-<n>.jsonl[.gz] (a Neuronpedia export)`,
    );
  }
}

/** Read activation evidence, returning also the input files (with hashes) for the manifest. */
export function loadActivations(
  paths: string | string[],
  nFeatures: number,
  opts: ActivationReadOptions = {},
): { activations: Map<number, ActivationEntry>; inputs: InputFile[] } {
  const c = new Collector(nFeatures, opts.maxExamples ?? Infinity);
  const list = Array.isArray(paths) ? paths : [paths];
  for (const p of list) readPath(c, p);
  c.tally.report(list.map((p) => basename(p)).join(", "), opts.warn ?? defaultWarn);
  return { activations: c.result(), inputs: c.inputs };
}

/** Examples, density and logits per feature, from the formats described at the top of this file. */
export function readActivations(paths: string | string[], nFeatures: number, opts: ActivationReadOptions = {}): Map<number, ActivationEntry> {
  return loadActivations(paths, nFeatures, opts).activations;
}

/**
 * The label and activation paths a Neuronpedia export folder stands for: the folder itself as a
 * label source when it has `explanations/`, and as an activation source when it has `features/`
 * or `activations/` (the readers find the subfolders). Throws when it is none of these.
 */
export function neuronpediaExportPaths(dir: string): { labels: string[]; activations: string[] } {
  if (!isDirectory(dir)) throw new InputError(`${basename(dir)}: not a folder; a Neuronpedia export is a folder with features/, explanations/ and activations/ (looked at ${dir})`);
  const hasExplanations = isDirectory(join(dir, "explanations"));
  const hasEvidence = isDirectory(join(dir, "features")) || isDirectory(join(dir, "activations"));
  if (!hasExplanations && !hasEvidence) {
    throw new InputError(`${basename(dir)}: has none of features/, explanations/, activations/; is it a Neuronpedia export folder?`);
  }
  return { labels: hasExplanations ? [dir] : [], activations: hasEvidence ? [dir] : [] };
}

/**
 * A Neuronpedia export folder (`features/`, `explanations/`, `activations/`, each of
 * `batch-<n>.jsonl.gz`): labels from the explanations, evidence from the rest.
 */
export function readNeuronpediaExport(
  dir: string,
  nFeatures: number,
  opts: ActivationReadOptions = {},
): { labels: Map<number, LabelEntry>; activations: Map<number, ActivationEntry>; inputs: InputFile[] } {
  const paths = neuronpediaExportPaths(dir);
  const labels = paths.labels.length ? loadLabels(dir, nFeatures, opts.warn ? { warn: opts.warn } : {}) : { labels: new Map<number, LabelEntry>(), inputs: [] };
  const acts = paths.activations.length ? loadActivations(dir, nFeatures, opts) : { activations: new Map<number, ActivationEntry>(), inputs: [] };
  return { labels: labels.labels, activations: acts.activations, inputs: [...labels.inputs, ...acts.inputs] };
}
