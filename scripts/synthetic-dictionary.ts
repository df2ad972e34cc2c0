/**
 * Synthetic dictionaries with known structure, for benchmarks and tests: features drawn around
 * cluster centres on the unit sphere, with Zipf-like cluster sizes (a few big families, a long tail
 * of small ones, as real dictionaries show), some near-duplicate features (as feature splitting
 * and dense latents produce) and optionally some dead (all-zero) rows.
 */
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { gaussian, rng } from "../precompute/random.ts";

export interface SyntheticOptions {
  n: number;
  d: number;
  /** Number of planted clusters. Default: n / 64. */
  clusters?: number;
  /** Zipf exponent of cluster sizes. Default 1. */
  zipf?: number;
  /** Angular spread of a cluster: the noise norm relative to the centre's (1). Default 0.6. */
  spread?: number;
  /** Fraction of features that are near-duplicates of another feature. Default 0.01. */
  duplicates?: number;
  /** Fraction of all-zero (dead) rows. Default 0. */
  dead?: number;
  seed?: number;
}

export interface SyntheticDictionary {
  decoder: Float32Array;
  /** Planted cluster of each feature; −1 for dead rows. */
  cluster: Int32Array;
  n: number;
  d: number;
}

export function syntheticDictionary(o: SyntheticOptions): SyntheticDictionary {
  const { n, d } = o;
  const k = Math.max(1, o.clusters ?? Math.round(n / 64));
  const random = rng(o.seed ?? 1, "synthetic");
  const spread = o.spread ?? 0.6;
  // Zipf sizes, then fix the rounding so they sum to n exactly.
  const weights = Array.from({ length: k }, (_, i) => 1 / (i + 1) ** (o.zipf ?? 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const sizes = weights.map((w) => Math.max(1, Math.floor((w / total) * n)));
  let diff = n - sizes.reduce((a, b) => a + b, 0);
  for (let i = 0; diff !== 0; i = (i + 1) % k) {
    if (diff > 0) { sizes[i]!++; diff--; }
    else if (sizes[i]! > 1) { sizes[i]!--; diff++; }
  }
  const centres = new Float32Array(k * d);
  for (let c = 0; c < k; c++) {
    let norm = 0;
    for (let j = 0; j < d; j++) { const v = gaussian(random); centres[c * d + j] = v; norm += v * v; }
    norm = Math.sqrt(norm);
    for (let j = 0; j < d; j++) centres[c * d + j]! /= norm;
  }
  const decoder = new Float32Array(n * d);
  const cluster = new Int32Array(n);
  // Features are shuffled so that ids carry no cluster information, as in a trained dictionary.
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) { const j = Math.floor(random() * (i + 1)); [order[i], order[j]] = [order[j]!, order[i]!]; }
  let pos = 0;
  const noiseScale = spread / Math.sqrt(d);
  for (let c = 0; c < k; c++) {
    for (let s = 0; s < sizes[c]!; s++) {
      const i = order[pos++]!;
      cluster[i] = c;
      for (let j = 0; j < d; j++) decoder[i * d + j] = centres[c * d + j]! + noiseScale * gaussian(random);
    }
  }
  const nDup = Math.floor((o.duplicates ?? 0.01) * n);
  for (let t = 0; t < nDup; t++) {
    const a = Math.floor(random() * n);
    const b = Math.floor(random() * n);
    if (a === b) continue;
    cluster[b] = cluster[a]!;
    for (let j = 0; j < d; j++) decoder[b * d + j] = decoder[a * d + j]! + 0.01 * noiseScale * gaussian(random);
  }
  const nDead = Math.floor((o.dead ?? 0) * n);
  for (let t = 0; t < nDead; t++) {
    const i = Math.floor(random() * n);
    decoder.fill(0, i * d, (i + 1) * d);
    cluster[i] = -1;
  }
  return { decoder, cluster, n, d };
}

export interface WriteOptions {
  /**
   * Stored dtype of the weights. Default "F32". BF16 halves the file (1,048,576 × 2,304 is 4.8 GB
   * instead of 9.7 GB); its 8-bit mantissa moves a unit row's cosines by ~1e-3 at most, far less
   * than the planted structure, so the benchmark data keep their shape.
   */
  dtype?: "F32" | "BF16";
}

/** Rows converted and written per `writeSync`: 16 MB of BF16 at d = 2,304. */
const WRITE_ROWS = 4096;

/**
 * Write a synthetic dictionary as a SAELens folder (cfg.json + sae_weights.safetensors with W_dec
 * and b_dec). The weights file is streamed a block of rows at a time, so writing adds only one
 * block to the decoder's memory, whatever its size.
 */
export function writeSaeLensFolder(dir: string, dict: SyntheticDictionary, extra: Record<string, unknown> = {}, opts: WriteOptions = {}): void {
  const dtype = opts.dtype ?? "F32";
  const width = dtype === "F32" ? 4 : 2;
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "cfg.json"),
    JSON.stringify({ d_in: dict.d, d_sae: dict.n, architecture: "standard", dtype: dtype === "F32" ? "float32" : "bfloat16", metadata: { model_name: "synthetic", hook_name: "synthetic" }, ...extra }, null, 2),
  );
  const { n, d } = dict;
  const wBytes = n * d * width;
  // Tensors in name order, as encodeSafetensors writes them ("W_dec" sorts before "b_dec").
  const header: Record<string, unknown> = {
    W_dec: { dtype, shape: [n, d], data_offsets: [0, wBytes] },
    b_dec: { dtype, shape: [d], data_offsets: [wBytes, wBytes + d * width] },
  };
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += " ";
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const fd = openSync(join(dir, "sae_weights.safetensors"), "w");
  try {
    writeSync(fd, len);
    writeSync(fd, Buffer.from(json, "utf8"));
    const writeRows = (src: Float32Array): void => {
      for (let r = 0; r < src.length; r += WRITE_ROWS * d) {
        const part = src.subarray(r, Math.min(src.length, r + WRITE_ROWS * d));
        if (dtype === "F32") {
          writeSync(fd, new Uint8Array(part.buffer, part.byteOffset, part.byteLength));
          continue;
        }
        // Round to nearest even on the top 16 bits (the values are finite).
        const bits = new Uint32Array(part.buffer, part.byteOffset, part.length);
        const out = new Uint16Array(part.length);
        for (let i = 0; i < part.length; i++) {
          const u = bits[i]!;
          out[i] = (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
        }
        writeSync(fd, new Uint8Array(out.buffer));
      }
    };
    writeRows(dict.decoder);
    writeRows(new Float32Array(d));
  } finally {
    closeSync(fd);
  }
}
