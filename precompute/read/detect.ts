/**
 * Entry points of the read stage: `readDictionary` recognises the on-disk layout of a dictionary
 * and hands it to that format's reader; `listDictionaries` expands a folder of several
 * dictionaries (a sparsify checkpoint, a Gemma Scope tree) into its hook points;
 * `readMetadata` combines label and activation files.
 *
 * Adding a dictionary format means adding one entry to FORMATS: a `detect` that inspects the
 * path without reading weights and returns the reader to use and the files it reads, and a
 * line for the "looked for" message.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { DictionaryInfo, InputFile } from "../../contract/atlas.ts";
import type { ActivationEntry, Dictionary, LabelEntry, Metadata } from "../stages.ts";
import { loadActivations } from "./activations.ts";
import { checkIdCoverage } from "./checks.ts";
import { defaultWarn, type Warn } from "./files.ts";
import { gemmaScopeParams, GEMMA_SCOPE_PARAMS, isGemmaScopeNpz, readGemmaScope } from "./gemma-scope.ts";
import { loadLabels } from "./labels.ts";
import { readNpzIndex } from "./npz.ts";
import { readNpyDictionary } from "./plain-matrix.ts";
import { readSaeLensFolder, SAELENS_CFG, SAELENS_SPARSITY, SAELENS_WEIGHTS } from "./saelens.ts";
import { InputError } from "./safetensors.ts";
import { findCheckpointConfig, isSparsifyFolder, readSparsifyFolder, sparsifyHookName, SPARSIFY_CFG, SPARSIFY_WEIGHTS } from "./sparsify.ts";

export interface ReadOptions {
  warn?: Warn;
  /** Width of the model activations, for formats with no config (bare .npy / .npz matrices). */
  dModel?: number;
  /** Leave SAELens' sparsity.safetensors unread (for `inspect`, which checks it itself). */
  skipSparsity?: boolean;
}

export type DictionaryFormatId = DictionaryInfo["format"];

/** A file a reader will read, for `inspect` to list. */
export interface DictionaryFile {
  role: InputFile["role"];
  path: string;
}

interface Detected {
  read(opts: ReadOptions): Dictionary;
  files: DictionaryFile[];
}

interface DictionaryFormat {
  id: DictionaryFormatId;
  name: string;
  /** What the format looks like on disk, for the error when nothing matches. */
  looksLike: string;
  /** When `path` is in this format, how to read it; else null. Reads at most a config or a zip directory. */
  detect(path: string): Detected | null;
}

function isDir(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory();
}

/** Whether an .npz holds Gemma Scope's arrays; by name when the zip cannot be read (its reader then says why). */
function npzIsGemmaScope(path: string): boolean {
  try {
    return isGemmaScopeNpz(readNpzIndex(path));
  } catch {
    return basename(path) === GEMMA_SCOPE_PARAMS;
  }
}

const FORMATS: DictionaryFormat[] = [
  // Before SAELens: both have a cfg.json, and a sparsify sae.safetensors is not a renamed SAELens weights file.
  {
    id: "sparsify",
    name: "EleutherAI sparsify",
    looksLike: `an EleutherAI sparsify hook-point folder with ${SPARSIFY_CFG} and ${SPARSIFY_WEIGHTS} (or a checkpoint folder holding several)`,
    detect(path) {
      const dir = isDir(path) ? path : basename(path) === SPARSIFY_WEIGHTS ? dirname(path) : null;
      if (dir === null || !isSparsifyFolder(dir)) return null;
      const files: DictionaryFile[] = [
        { role: "config", path: join(dir, SPARSIFY_CFG) },
        { role: "weights", path: join(dir, SPARSIFY_WEIGHTS) },
      ];
      const ckpt = findCheckpointConfig(dir);
      if (ckpt) files.push({ role: "config", path: ckpt.path });
      return { read: (o) => readSparsifyFolder(dir, o), files };
    },
  },
  {
    id: "saelens",
    name: "SAELens",
    looksLike: `a SAELens folder with ${SAELENS_CFG} and ${SAELENS_WEIGHTS} (or the path of that .safetensors file)`,
    detect(path) {
      let dir: string;
      let weights = SAELENS_WEIGHTS;
      if (isDir(path)) {
        if (!existsSync(join(path, SAELENS_CFG)) || !existsSync(join(path, SAELENS_WEIGHTS))) return null;
        dir = path;
      } else {
        // A weights file, possibly renamed, with its cfg.json beside it (not the sparsity file).
        dir = dirname(path);
        if (!path.endsWith(".safetensors") || basename(path) === SAELENS_SPARSITY || !existsSync(join(dir, SAELENS_CFG))) return null;
        weights = basename(path);
      }
      const files: DictionaryFile[] = [
        { role: "config", path: join(dir, SAELENS_CFG) },
        { role: "weights", path: join(dir, weights) },
      ];
      if (existsSync(join(dir, SAELENS_SPARSITY))) files.push({ role: "sparsity", path: join(dir, SAELENS_SPARSITY) });
      return { read: (o) => readSaeLensFolder(dir, { ...o, weights }), files };
    },
  },
  {
    id: "gemma-scope",
    name: "Gemma Scope",
    looksLike: `a Gemma Scope ${GEMMA_SCOPE_PARAMS} (W_enc, W_dec, b_enc, b_dec, threshold), or the average_l0_<N> folder holding it`,
    detect(path) {
      const file = gemmaScopeParams(path);
      if (file === null || !existsSync(file) || isDir(file) || !npzIsGemmaScope(file)) return null;
      return { read: (o) => readGemmaScope(file, o), files: [{ role: "weights", path: file }] };
    },
  },
  {
    id: "npy",
    name: "NumPy matrix",
    looksLike: "a decoder matrix in a .npy file, or in an .npz as W_dec / decoder (either orientation; --d-model <n> settles which side is the model width)",
    detect(path) {
      const lower = path.toLowerCase();
      if (isDir(path) || !(lower.endsWith(".npy") || lower.endsWith(".npz"))) return null;
      return { read: (o) => readNpyDictionary(path, o), files: [{ role: "weights", path }] };
    },
  },
];

export interface DetectedDictionary {
  path: string;
  format: DictionaryFormatId;
  /** Human name of the format, for logs. */
  formatName: string;
  /** The files the reader reads (configs, weights, sparsity). */
  files: DictionaryFile[];
  read(opts?: ReadOptions): Dictionary;
}

/** The format of a single dictionary at `path`, or null (a folder of several dictionaries is null too). */
export function detectDictionary(path: string): DetectedDictionary | null {
  if (!existsSync(path)) return null;
  for (const format of FORMATS) {
    const d = format.detect(path);
    if (d !== null) return { path, format: format.id, formatName: format.name, files: d.files, read: (o = {}) => d.read(o) };
  }
  return null;
}

/** Read a dictionary from a folder or file, whatever its format. */
export function readDictionary(path: string, opts: ReadOptions = {}): Dictionary {
  if (!existsSync(path)) throw new InputError(`${basename(path)}: dictionary not found (looked at ${path})`);
  const detected = detectDictionary(path);
  if (detected) return detected.read(opts);
  if (isDir(path)) {
    const inside = listDictionaries(path);
    if (inside.length === 1) return detectDictionary(inside[0]!.path)!.read(opts);
    if (inside.length > 1) {
      const names = inside.slice(0, 20).map((d) => `${d.hookName} (${d.format})`);
      if (inside.length > 20) names.push(`… and ${inside.length - 20} more`);
      throw new InputError(
        `${basename(path)}: holds ${inside.length} dictionaries, one per hook point: ${names.join(", ")}. ` +
          `Pass one of those folders, or run \`atlas build\` on this folder to build one atlas per hook point.`,
      );
    }
  }
  const lines = [`${basename(path)}: not a dictionary this tool can read. Looked for:`, ...FORMATS.map((f) => `  - ${f.looksLike}`)];
  if (isDir(path)) lines.push(`The folder holds: ${listing(path)}.`);
  throw new InputError(lines.join("\n"));
}

function listing(dir: string): string {
  const names = readdirSync(dir).sort();
  return names.length === 0 ? "nothing" : names.slice(0, 12).join(", ") + (names.length > 12 ? `, … (${names.length} entries)` : "");
}

export interface ListedDictionary {
  path: string;
  /** The name the folder gives it: the path below the listed folder (`layers.10`, `layer_3/width_16k/average_l0_50`). */
  hookName: string;
  format: DictionaryFormatId;
  /** An atlas id (URL slug) made from hookName, unique within the list. */
  id: string;
}

/** Folders below a checkpoint that are searched for dictionaries (sparsify nests `best/<hook>/<hook>`, Gemma Scope `layer/width/l0`). */
const MAX_DEPTH = 4;
const MAX_FOLDERS = 10_000;

/** Natural order, as sparsify's natsort: `layers.2` before `layers.10`. */
export function naturalCompare(a: string, b: string): number {
  const re = /(\d+)|(\D+)/g;
  const pa = a.match(re) ?? [];
  const pb = b.match(re) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!;
    const y = pb[i]!;
    if (x === y) continue;
    const nx = /^\d/.test(x);
    const ny = /^\d/.test(y);
    if (nx && ny) return Number(x) - Number(y) || (x < y ? -1 : 1);
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** A URL slug from a hook-point name: `layers.10` → `layers-10`. */
export function atlasIdFromName(name: string): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 64)
    .replace(/-+$/, "");
  return slug === "" ? "dictionary" : slug;
}

/**
 * The dictionaries at `path`: itself when it is one, else those in the folders below it (in
 * natural order, at most MAX_DEPTH levels down, not looking inside a dictionary's own folder).
 */
export function listDictionaries(path: string): ListedDictionary[] {
  if (!existsSync(path)) throw new InputError(`${basename(path)}: not found (looked at ${path})`);
  const found: { path: string; hookName: string; format: DictionaryFormatId }[] = [];
  const self = detectDictionary(path);
  if (self) {
    const name = self.format === "sparsify" ? sparsifyHookName(isDir(path) ? path : dirname(path)) : basename(path).replace(/\.(npy|npz|safetensors)$/i, "");
    found.push({ path, hookName: name, format: self.format });
  } else if (isDir(path)) {
    let folders = 0;
    const walk = (dir: string, rel: string[], depth: number) => {
      if (++folders > MAX_FOLDERS) return;
      const names = readdirSync(dir).filter((n) => !n.startsWith(".") && n !== "node_modules").sort(naturalCompare);
      for (const n of names) {
        const p = join(dir, n);
        const isFolder = isDir(p);
        // Loose .safetensors files are left out: beside a cfg.json they are a SAELens folder's
        // renamed weights, which readDictionary takes only when pointed at the file itself.
        if (!isFolder && !/\.(npy|npz)$/i.test(n)) continue;
        const d = detectDictionary(p);
        if (d) found.push({ path: p, hookName: [...rel, isFolder ? n : n.replace(/\.(npy|npz)$/i, "")].join("/"), format: d.format });
        else if (isFolder && depth < MAX_DEPTH) walk(p, [...rel, n], depth + 1);
      }
    };
    walk(path, [], 1);
  }
  const used = new Set<string>();
  return found.map((f) => {
    const base = atlasIdFromName(f.hookName);
    let id = base;
    for (let i = 2; used.has(id); i++) id = `${base.slice(0, 60)}-${i}`;
    used.add(id);
    return { ...f, id };
  });
}

export interface MetadataOptions {
  /** Label files or folders, in priority order; `file#group` selects a group (see labels.ts). */
  labels?: string[];
  /** Activation files or folders. */
  activations?: string[];
  nFeatures: number;
  /** Keep at most this many examples per feature. Default: all. */
  maxExamples?: number;
  warn?: Warn;
}

/**
 * Combine label and activation files. Labels from several files never silently replace each
 * other: the first file that labels a feature wins, and labels from later files are appended
 * to that feature's `others` (duplicates dropped). Activation sources merge by the rules in
 * activations.ts (the same field of a feature from two sources is an error).
 */
export function readMetadata(opts: MetadataOptions): Metadata {
  const warn = opts.warn ?? defaultWarn;
  const labels = new Map<number, LabelEntry>();
  const inputs: InputFile[] = [];
  for (const path of opts.labels ?? []) {
    const got = loadLabels(path, opts.nFeatures, { warn });
    checkIdCoverage(got.labels.keys(), opts.nFeatures, basename(path), "labels", warn);
    inputs.push(...got.inputs);
    for (const [id, entry] of got.labels) {
      const prev = labels.get(id);
      if (!prev) {
        labels.set(id, { ...entry, others: [...entry.others] });
        continue;
      }
      for (const text of [entry.label, ...entry.others]) {
        if (text !== prev.label && !prev.others.includes(text)) prev.others.push(text);
      }
    }
  }
  let activations = new Map<number, ActivationEntry>();
  if (opts.activations?.length) {
    const got = loadActivations(opts.activations, opts.nFeatures, { warn, ...(opts.maxExamples === undefined ? {} : { maxExamples: opts.maxExamples }) });
    activations = got.activations;
    checkIdCoverage(activations.keys(), opts.nFeatures, opts.activations.map((p) => basename(p)).join(", "), "activation examples", warn);
    inputs.push(...got.inputs);
  }
  return { labels: new Map([...labels].sort((a, b) => a[0] - b[0])), activations, inputs };
}
