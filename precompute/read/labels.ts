/**
 * Feature labels from the formats people actually have:
 *
 * - a JSON object `{"<id>": "label"}` (values may also be `{label: …}` objects or null);
 * - a JSON array, or JSON lines, of objects with an id field (`index`, `feature_index`,
 *   `featureIndex`, `feature`, `feature_id`, `latent`, `id`; first present wins, matched without
 *   regard to case) and a label field (`label`, `description`, `explanation`, `annotation`,
 *   `name`, `text`);
 * - CSV/TSV with a header naming an id column and a label column, by the same names;
 * - Neuronpedia explanation exports (`explanations/batch-<n>.jsonl.gz`): rows with `index` (a
 *   string), `description`, `typeName`, `explanationModelName`; a file, a folder of batch files,
 *   or the export folder that holds `explanations/`;
 * - saprmarks/feature-circuits annotation files (`Component`, `Layer`, `Feature`, `Name`,
 *   `Annotation`).
 *
 * Policies (each a deliberate choice):
 * - Labels are untrusted text, kept verbatim (escaping is the site's job) except that
 *   surrounding whitespace is trimmed, lone surrogates and control characters other than tab and
 *   newline become U+FFFD (`representableText`), and a label longer than MAX_LABEL_CHARS code
 *   points is cut to MAX_LABEL_CHARS − 1 and ends in "…". Labels empty after trimming are skipped,
 *   with a warning.
 * - In plain label files a feature id may appear once; a second row for it is an error naming
 *   both lines, because it usually means two files were concatenated.
 * - Neuronpedia has several explanations per feature by design. The best is chosen independently
 *   of row order: highest score first (a `score` number or a `scores` list, max taken), then by
 *   explanation model name, type name and text. The rest go to `others`, best first.
 * - feature-circuits files mix many dictionaries (`resid_5`, `attn_3`, `embed`…): one must be
 *   selected, with `select` or a `#group` suffix on the path (`annotations.jsonl#resid_5`),
 *   unless the file holds only one. The label is `Annotation`: `Name` is only the identifier
 *   `<group>/<feature>` (it is used for the id when `Feature` is missing, as in 67 rows of the
 *   Pythia file). Rows without an annotation, and a stray CSV header row, are skipped and counted
 *   in a warning. The same feature is often annotated in several circuits: the first annotation
 *   in file order wins and differing ones go to `others`.
 */
import { existsSync } from "node:fs";
import { basename, join, relative } from "node:path";
import type { InputFile } from "../../contract/atlas.ts";
import type { LabelEntry } from "../stages.ts";
import { parseCsv } from "./csv.ts";
import {
  at, batchFiles, defaultWarn, featureId, forEachJsonLine, innerName, isDirectory, isRecord, parseJson,
  readMaybeGzip, representableText, sortedById, Tally, type Warn,
} from "./files.ts";
import { describeInput } from "./hash.ts";
import { InputError } from "./safetensors.ts";

export const MAX_LABEL_CHARS = 500;

export interface LabelReadOptions {
  warn?: Warn;
  /** For files that mix several dictionaries (feature-circuits): which group to read, e.g. `resid_5`. */
  select?: string;
}

const ID_KEYS = ["index", "feature_index", "featureindex", "feature", "feature_id", "featureid", "latent", "latent_index", "id"];
const LABEL_KEYS = ["label", "description", "explanation", "annotation", "name", "text"];

/** Trim and cap a label; null when nothing is left. */
export function cleanLabel(raw: string): { text: string; capped: boolean } | null {
  const text = representableText(raw).trim();
  if (text === "") return null;
  const points = Array.from(text);
  if (points.length <= MAX_LABEL_CHARS) return { text, capped: false };
  return { text: points.slice(0, MAX_LABEL_CHARS - 1).join("").trimEnd() + "…", capped: true };
}

type FileKind = "plain" | "neuronpedia" | "circuits";

interface Candidate {
  id: number;
  label: string;
  where: string;
  /** Order of appearance across the files read, for first-wins policies. */
  seq: number;
  score: number | null;
  model: string;
  type: string;
  source: string;
}

function lowerKeys(row: Record<string, unknown>): Map<string, unknown> {
  const m = new Map<string, unknown>();
  for (const [k, v] of Object.entries(row)) if (!m.has(k.toLowerCase())) m.set(k.toLowerCase(), v);
  return m;
}

function firstOf(m: Map<string, unknown>, keys: string[]): { key: string; value: unknown } | null {
  for (const key of keys) {
    const v = m.get(key);
    if (v !== undefined && v !== null) return { key, value: v };
  }
  return null;
}

function scoreOf(m: Map<string, unknown>): number | null {
  const values: number[] = [];
  const take = (v: unknown) => {
    if (typeof v === "number" && Number.isFinite(v)) values.push(v);
    else if (isRecord(v)) take(v.value ?? v.score);
  };
  take(m.get("score"));
  const scores = m.get("scores");
  if (Array.isArray(scores)) scores.forEach(take);
  else take(scores);
  return values.length ? Math.max(...values) : null;
}

function looksLikeCircuits(row: Record<string, unknown>): boolean {
  return "Name" in row && ("Annotation" in row || "Component" in row || "Feature" in row);
}

function looksLikeNeuronpedia(row: Record<string, unknown>): boolean {
  return "description" in row && "index" in row && ("typeName" in row || "explanationModelName" in row || "modelId" in row);
}

/** A parsed input file: either an id → label object, or a list of row objects. */
type Parsed =
  | { shape: "map"; map: Record<string, unknown> }
  | { shape: "rows"; rows: { row: unknown; where: string }[] };

function parseFile(path: string, name: string): Parsed {
  const buf = readMaybeGzip(path, name);
  const inner = innerName(name);
  if (inner.endsWith(".jsonl") || inner.endsWith(".ndjson")) return { shape: "rows", rows: jsonLines(buf, name) };
  if (inner.endsWith(".csv") || inner.endsWith(".tsv")) return { shape: "rows", rows: csvRows(buf.toString("utf8"), name, inner.endsWith(".tsv")) };
  const text = buf.toString("utf8");
  const first = text.replace(/^\uFEFF/, "").trimStart()[0];
  if (!inner.endsWith(".json") && first !== "{" && first !== "[") return { shape: "rows", rows: csvRows(text, name, false) };
  let value: unknown;
  try {
    value = parseJson(text, name);
  } catch (e) {
    // Some tools write JSON lines under a .json name; accept that when every line is an object.
    if (first === "{" && text.trim().includes("\n")) {
      try {
        return { shape: "rows", rows: jsonLines(buf, name) };
      } catch {
        /* not JSON lines either: report the JSON error */
      }
    }
    throw e;
  }
  if (Array.isArray(value)) return { shape: "rows", rows: value.map((row, i) => ({ row, where: `${name} item ${i}` })) };
  if (isRecord(value)) return { shape: "map", map: value };
  throw new InputError(`${name}: expected a JSON object {"<id>": "label"} or an array of label objects, got ${JSON.stringify(value).slice(0, 40)}`);
}

function jsonLines(buf: Buffer, name: string): { row: unknown; where: string }[] {
  const rows: { row: unknown; where: string }[] = [];
  forEachJsonLine(buf, name, (row, line) => rows.push({ row, where: at(name, line) }));
  return rows;
}

function csvRows(text: string, name: string, tsv: boolean): { row: unknown; where: string }[] {
  const firstLine = text.slice(0, text.indexOf("\n") >>> 0);
  const separator = tsv || (firstLine.includes("\t") && !firstLine.includes(",")) ? "\t" : ",";
  const records = parseCsv(text, name, separator);
  if (records.length === 0) return [];
  const header = records[0]!.fields.map((h) => h.trim());
  const lower = header.map((h) => h.toLowerCase());
  const idCol = ID_KEYS.map((k) => lower.indexOf(k)).find((i) => i >= 0);
  const labelCol = LABEL_KEYS.map((k) => lower.indexOf(k)).find((i) => i >= 0);
  if (idCol === undefined || labelCol === undefined) {
    throw new InputError(
      `${name} line ${records[0]!.line}: the header (${header.map((h) => JSON.stringify(h)).join(", ")}) has no ` +
        `${idCol === undefined ? `id column (one of ${ID_KEYS.join(", ")})` : ""}${idCol === undefined && labelCol === undefined ? " and no " : ""}` +
        `${labelCol === undefined ? `label column (one of ${LABEL_KEYS.join(", ")})` : ""}`,
    );
  }
  return records.slice(1).map((r) => ({
    row: { [header[idCol]!]: r.fields[idCol] ?? "", [header[labelCol]!]: r.fields[labelCol] ?? "" },
    where: at(name, r.line),
  }));
}

function circuitsGroup(row: Record<string, unknown>): { group: string; id: unknown } | null {
  const name = typeof row.Name === "string" ? row.Name : "";
  const m = /^(.+)\/(\d+)$/.exec(name.trim());
  if (m) return { group: m[1]!, id: row.Feature ?? m[2]! };
  const comp = typeof row.Component === "string" ? row.Component : null;
  if (comp && row.Feature !== undefined && row.Feature !== "") {
    const layer = row.Layer;
    return { group: comp === "embed" || layer === undefined || layer === "" ? comp : `${comp}_${String(layer)}`, id: row.Feature };
  }
  return null;
}

/** Turn one parsed file into label candidates. */
function candidatesOf(
  parsed: Parsed,
  name: string,
  nFeatures: number,
  select: string | undefined,
  seq: { n: number },
  tally: Tally,
): { kind: FileKind; candidates: Candidate[] } {
  const candidates: Candidate[] = [];
  const push = (id: number, raw: unknown, where: string, extra: Partial<Candidate> = {}) => {
    if (typeof raw !== "string") {
      if (raw === null || raw === undefined) return tally.add("rows without a label skipped");
      throw new InputError(`${where}: the label of feature ${id} is ${JSON.stringify(raw).slice(0, 60)}, not text`);
    }
    const clean = cleanLabel(raw);
    if (!clean) return tally.add("empty labels skipped");
    if (clean.capped) tally.add(`labels longer than ${MAX_LABEL_CHARS} characters cut`);
    candidates.push({ id, label: clean.text, where, seq: seq.n++, score: null, model: "", type: "", source: name, ...extra });
  };

  if (parsed.shape === "map") {
    if (select !== undefined) throw new InputError(`${name}: a group was selected ("${select}"), but this is a plain {"<id>": "label"} file`);
    for (const [key, value] of Object.entries(parsed.map)) {
      if (!/^\s*\d+\s*$/.test(key)) {
        throw new InputError(`${name}: key ${JSON.stringify(key)} is not a feature id; expected an object {"<id>": "label"}`);
      }
      const id = featureId(key, nFeatures, name);
      push(id, isRecord(value) ? (firstOf(lowerKeys(value), LABEL_KEYS)?.value ?? null) : value, `${name} key "${key}"`);
    }
    return { kind: "plain", candidates };
  }

  const firstRow = parsed.rows.find((r) => isRecord(r.row))?.row as Record<string, unknown> | undefined;
  const kind: FileKind = !firstRow ? "plain" : looksLikeCircuits(firstRow) ? "circuits" : looksLikeNeuronpedia(firstRow) ? "neuronpedia" : "plain";
  if (kind !== "circuits" && select !== undefined) {
    throw new InputError(`${name}: a group was selected ("${select}"), but only feature-circuits annotation files have groups`);
  }

  if (kind === "circuits") {
    const groups = new Map<string, { id: unknown; row: Record<string, unknown>; where: string }[]>();
    for (const { row, where } of parsed.rows) {
      if (!isRecord(row)) throw new InputError(`${where}: expected a JSON object, got ${JSON.stringify(row).slice(0, 40)}`);
      if (row.Name === "Name" || row.Annotation === "Annotation") {
        tally.add("header rows skipped");
        continue;
      }
      const g = circuitsGroup(row);
      if (!g) {
        tally.add("rows without a feature id skipped");
        continue;
      }
      let list = groups.get(g.group);
      if (!list) groups.set(g.group, (list = []));
      list.push({ id: g.id, row, where });
    }
    const listing = () => [...groups].map(([g, rows]) => `${g} (${rows.length})`).join(", ");
    let chosen = select;
    if (chosen === undefined) {
      if (groups.size > 1) {
        throw new InputError(
          `${name}: holds labels for ${groups.size} different dictionaries: ${listing()}; choose one, e.g. "${name}#${groups.keys().next().value}"`,
        );
      }
      chosen = groups.keys().next().value;
    } else if (!groups.has(chosen)) {
      throw new InputError(`${name}: has no group "${chosen}"; it has ${listing()}`);
    }
    for (const { id: rawId, row, where } of groups.get(chosen ?? "") ?? []) {
      const id = featureId(rawId, nFeatures, where);
      const ann = row.Annotation;
      if (ann === undefined || ann === null || (typeof ann === "string" && ann.trim() === "")) {
        tally.add("rows without an annotation skipped");
        continue;
      }
      push(id, ann, where);
    }
    return { kind, candidates };
  }

  for (const { row, where } of parsed.rows) {
    if (!isRecord(row)) throw new InputError(`${where}: expected a JSON object with an id and a label, got ${JSON.stringify(row).slice(0, 40)}`);
    const m = lowerKeys(row);
    const idField = firstOf(m, ID_KEYS);
    if (!idField) throw new InputError(`${where}: no feature id field (one of ${ID_KEYS.join(", ")}) in ${JSON.stringify(Object.keys(row))}`);
    const id = featureId(idField.value, nFeatures, where);
    const labelField = firstOf(m, LABEL_KEYS.filter((k) => k !== idField.key));
    if (kind === "neuronpedia") {
      const model = typeof row.explanationModelName === "string" ? row.explanationModelName : "";
      const type = typeof row.typeName === "string" ? row.typeName : "";
      push(id, labelField?.value ?? null, where, { score: scoreOf(m), model, type, source: model || type || name });
    } else {
      push(id, labelField?.value ?? null, where);
    }
  }
  return { kind, candidates };
}

function byScore(a: Candidate, b: Candidate): number {
  const sa = a.score ?? -Infinity;
  const sb = b.score ?? -Infinity;
  if (sa !== sb) return sb - sa;
  for (const k of ["model", "type", "label"] as const) {
    if (a[k] !== b[k]) return a[k] < b[k] ? -1 : 1;
  }
  return a.seq - b.seq;
}

function distinctOthers(best: string, rest: string[]): string[] {
  const seen = new Set([best]);
  const out: string[] = [];
  for (const r of rest) if (!seen.has(r)) (seen.add(r), out.push(r));
  return out;
}

/** Resolve candidates of one file to one entry per id, by the file kind's policy. */
function resolve(kind: FileKind, candidates: Candidate[], tally: Tally): Map<number, LabelEntry> {
  const byId = new Map<number, Candidate[]>();
  for (const c of candidates) {
    const list = byId.get(c.id);
    if (!list) byId.set(c.id, [c]);
    else {
      if (kind === "plain") {
        throw new InputError(`${c.where}: feature id ${c.id} appears twice (first at ${list[0]!.where}); each feature may have one label per file`);
      }
      list.push(c);
    }
  }
  const out = new Map<number, LabelEntry>();
  for (const [id, list] of byId) {
    if (kind === "neuronpedia") list.sort(byScore);
    else if (list.length > 1) tally.add("repeated annotations merged");
    const best = list[0]!;
    out.set(id, { label: best.label, source: best.source, others: distinctOthers(best.label, list.slice(1).map((c) => c.label)) });
  }
  return sortedById(out);
}

/** The files a labels path stands for: itself, or the batch files of an explanations folder. */
function labelFiles(path: string): { files: string[]; base: string } {
  if (!isDirectory(path)) return { files: [path], base: "" };
  const explanations = join(path, "explanations");
  const dir = isDirectory(explanations) ? explanations : path;
  const files = batchFiles(dir, ["jsonl", "json"]);
  if (files.length === 0) {
    throw new InputError(
      `${basename(path)}: is a folder, but holds no label batch files; looked for explanations/batch-<n>.jsonl[.gz] and batch-<n>.jsonl[.gz] (a Neuronpedia export)`,
    );
  }
  return { files, base: path };
}

/** Split `file#group` into the file and the group, unless the whole string is an existing path. */
export function splitSelector(path: string): { path: string; select?: string } {
  const hash = path.lastIndexOf("#");
  if (hash <= 0 || existsSync(path)) return { path };
  return { path: path.slice(0, hash), select: path.slice(hash + 1) };
}

/** Read labels, returning also the input files (with hashes) for the manifest. */
export function loadLabels(
  pathArg: string,
  nFeatures: number,
  opts: LabelReadOptions = {},
): { labels: Map<number, LabelEntry>; inputs: InputFile[] } {
  const warn = opts.warn ?? defaultWarn;
  const split = splitSelector(pathArg);
  const select = opts.select ?? split.select;
  const path = split.path;
  if (!existsSync(path)) throw new InputError(`${basename(path)}: label file not found (looked at ${path})`);
  const { files, base } = labelFiles(path);
  const inputs: InputFile[] = [];
  const seq = { n: 0 };
  let kind: FileKind | null = null;
  const all: Candidate[] = [];
  const tally = new Tally();
  for (const file of files) {
    const name = base ? relative(base, file).split("\\").join("/") : basename(file);
    const got = candidatesOf(parseFile(file, name), name, nFeatures, select, seq, tally);
    // Batch files of one folder are one logical file: ids may not repeat across them either.
    kind = kind ?? got.kind;
    // A loop, not push(...): spreading 341k arguments overflows the call stack.
    for (const c of got.candidates) all.push(c);
    inputs.push(describeInput("labels", file, name));
  }
  const labels = resolve(kind ?? "plain", all, tally);
  tally.report(basename(path), warn);
  return { labels, inputs };
}

/** Labels keyed by feature id, from any of the formats described at the top of this file. */
export function readLabels(path: string, nFeatures: number, opts: LabelReadOptions = {}): Map<number, LabelEntry> {
  return loadLabels(path, nFeatures, opts).labels;
}
