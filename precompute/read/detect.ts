/**
 * Entry points of the read stage: `readDictionary` recognises the on-disk layout of a dictionary
 * and hands it to that format's reader; `readMetadata` combines label and activation files.
 *
 * Adding a dictionary format means adding one entry to FORMATS: a `detect` that inspects the
 * path without reading weights and returns the reader to use, and a line for the "looked for"
 * message.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { InputFile } from "../../contract/atlas.ts";
import type { ActivationEntry, Dictionary, LabelEntry, Metadata } from "../stages.ts";
import { loadActivations } from "./activations.ts";
import { defaultWarn, type Warn } from "./files.ts";
import { loadLabels } from "./labels.ts";
import { readSaeLensFolder, SAELENS_CFG, SAELENS_SPARSITY, SAELENS_WEIGHTS } from "./saelens.ts";
import { InputError } from "./safetensors.ts";

export interface ReadOptions {
  warn?: Warn;
}

interface DictionaryFormat {
  name: string;
  /** What the format looks like on disk, for the error when nothing matches. */
  looksLike: string;
  /** When `path` is in this format, a function that reads it; else null. */
  detect(path: string): ((opts: ReadOptions) => Dictionary) | null;
}

function isDir(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory();
}

const FORMATS: DictionaryFormat[] = [
  {
    name: "SAELens",
    looksLike: `a SAELens folder with ${SAELENS_CFG} and ${SAELENS_WEIGHTS} (or the path of that .safetensors file)`,
    detect(path) {
      if (isDir(path)) {
        return existsSync(join(path, SAELENS_CFG)) && existsSync(join(path, SAELENS_WEIGHTS)) ? (o) => readSaeLensFolder(path, o) : null;
      }
      // A weights file, possibly renamed, with its cfg.json beside it (not the sparsity file).
      const dir = dirname(path);
      if (!path.endsWith(".safetensors") || basename(path) === SAELENS_SPARSITY || !existsSync(join(dir, SAELENS_CFG))) return null;
      return (o) => readSaeLensFolder(dir, { ...o, weights: basename(path) });
    },
  },
];

/** Read a dictionary from a folder or file, whatever its format. */
export function readDictionary(path: string, opts: ReadOptions = {}): Dictionary {
  if (!existsSync(path)) throw new InputError(`${basename(path)}: dictionary not found (looked at ${path})`);
  for (const format of FORMATS) {
    const read = format.detect(path);
    if (read !== null) return read(opts);
  }
  const lines = [`${basename(path)}: not a dictionary this tool can read. Looked for:`, ...FORMATS.map((f) => `  - ${f.looksLike}`)];
  if (isDir(path)) lines.push(`The folder holds: ${listing(path)}.`);
  throw new InputError(lines.join("\n"));
}

function listing(dir: string): string {
  const names = readdirSync(dir).sort();
  return names.length === 0 ? "nothing" : names.slice(0, 12).join(", ") + (names.length > 12 ? `, … (${names.length} entries)` : "");
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
    inputs.push(...got.inputs);
  }
  return { labels: new Map([...labels].sort((a, b) => a[0] - b[0])), activations, inputs };
}
