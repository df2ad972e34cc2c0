/**
 * Small helpers shared by the metadata readers: gzip-aware reading, JSON and JSON-lines parsing
 * with errors that name the file and line, batch-file discovery, and feature-id checks.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { gunzipSync } from "node:zlib";
import { InputError } from "./safetensors.ts";

/** Receives non-fatal problems (rows skipped, ambiguities resolved). */
export type Warn = (message: string) => void;

export const defaultWarn: Warn = (message) => console.warn(`warning: ${message}`);

/** Read a file, gunzipping it when it starts with the gzip magic bytes (whatever its extension). */
export function readMaybeGzip(path: string, name = basename(path)): Buffer {
  const raw = readFileSync(path);
  const looksGzip = raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b;
  if (!looksGzip) {
    if (name.endsWith(".gz")) throw new InputError(`${name}: is named .gz but is not gzip data (no gzip magic bytes at byte 0)`);
    return raw;
  }
  try {
    return gunzipSync(raw);
  } catch (e) {
    throw new InputError(`${name}: broken gzip data (${(e as Error).message}); the download may be truncated`);
  }
}

/** File name without a trailing `.gz`, for choosing a parser by extension. */
export function innerName(name: string): string {
  return name.toLowerCase().replace(/\.gz$/, "");
}

export function parseJson(text: string, name: string): unknown {
  try {
    return JSON.parse(stripBom(text));
  } catch (e) {
    throw new InputError(`${name}: malformed JSON: ${(e as Error).message}`);
  }
}

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * Call `each` with every non-blank line of a JSON-lines buffer, parsed, and its 1-based line
 * number. Lines are cut from the Buffer one at a time, so a file larger than V8's maximum string
 * length still reads.
 */
export function forEachJsonLine(buf: Buffer, name: string, each: (value: unknown, line: number) => void): void {
  let start = 0;
  let line = 0;
  if (buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) start = 3;
  while (start < buf.length) {
    let end = buf.indexOf(0x0a, start);
    if (end < 0) end = buf.length;
    line++;
    const text = buf.toString("utf8", start, end).trim();
    start = end + 1;
    if (text === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new InputError(`${name} line ${line}: malformed JSON: ${(e as Error).message}`);
    }
    each(value, line);
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
// C0 controls and DEL, except tab, newline and carriage return, which text legitimately holds.
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g;

/**
 * Untrusted text made representable everywhere it goes: a lone UTF-16 surrogate (JSON allows
 * "\ud800"; UTF-8 cannot encode it, so the map's Arrow tiles and the HTML pages would each turn it
 * into U+FFFD on their own) and control characters (which HTML parsers drop or reject) become
 * U+FFFD here, once, so that every view shows the same string. Everything else is kept verbatim.
 */
export function representableText(text: string): string {
  return text.replace(LONE_SURROGATE, "\uFFFD").replace(CONTROL, "\uFFFD");
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Where in a file something is: `labels.jsonl line 7`, or just the file name. */
export function at(name: string, line?: number): string {
  return line === undefined ? name : `${name} line ${line}`;
}

/**
 * A feature id from a number or a decimal string (Neuronpedia stores `index` as a string).
 * Throws when it is not an integer, or lies outside [0, nFeatures).
 */
export function featureId(raw: unknown, nFeatures: number, where: string, what = "label file"): number {
  let id: number;
  if (typeof raw === "number") id = raw;
  else if (typeof raw === "string" && /^\s*-?\d+\s*$/.test(raw)) id = Number(raw.trim());
  else throw new InputError(`${where}: feature id ${JSON.stringify(raw)} is not an integer`);
  if (!Number.isSafeInteger(id)) throw new InputError(`${where}: feature id ${JSON.stringify(raw)} is not an integer`);
  if (id < 0 || id >= nFeatures) {
    throw new InputError(
      `${where}: feature id ${id} is outside the dictionary (d_sae = ${nFeatures}); is this ${what} for another SAE width?`,
    );
  }
  return id;
}

/** Batch files (`batch-<n>.<ext>[.gz]`) in a folder, in numeric order of n. */
export function batchFiles(dir: string, exts: string[]): string[] {
  const pattern = new RegExp(`^batch-(\\d+)\\.(?:${exts.map((e) => e.replace(".", "\\.")).join("|")})(?:\\.gz)?$`, "i");
  const found: { n: number; name: string }[] = [];
  for (const name of readdirSync(dir)) {
    const m = pattern.exec(name);
    if (m && statSync(join(dir, name)).isFile()) found.push({ n: Number(m[1]), name });
  }
  found.sort((a, b) => a.n - b.n || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return found.map((f) => join(dir, f.name));
}

export function isDirectory(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

export function mustExist(path: string, what: string): void {
  if (!existsSync(path)) throw new InputError(`${basename(path)}: ${what} not found (looked at ${path})`);
}

/** Sort a map by key, so that iteration order does not depend on input order. */
export function sortedById<T>(map: Map<number, T>): Map<number, T> {
  return new Map([...map.entries()].sort((a, b) => a[0] - b[0]));
}

/** Non-fatal counts, reported once per file rather than once per row. */
export class Tally {
  private counts = new Map<string, number>();
  add(what: string): void {
    this.counts.set(what, (this.counts.get(what) ?? 0) + 1);
  }
  report(name: string, warn: Warn): void {
    if (this.counts.size === 0) return;
    warn(`${name}: ${[...this.counts].map(([what, n]) => `${n} ${what}`).join(", ")}`);
  }
}
