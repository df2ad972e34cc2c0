/**
 * Unit-length decoder directions. Cosine similarity between features is the dot product of these
 * rows, which is what both the kNN index (inner-product space) and the exact checks use.
 */

import { allocateRows, rowsFit } from "./simd.ts";

export interface NormalisedRows {
  /** [n × d] rows scaled to length 1; dead rows are left all zero. */
  unit: Float32Array;
  /** L2 norm of each input row: 0 for an all-zero row, NaN for a row holding a non-finite value. */
  norms: Float32Array;
  /** 1 where the row has a direction, 0 where it is dead (all zero or non-finite). */
  alive: Uint8Array;
}

/**
 * L2-normalise each row of a row-major [n × d] matrix (dead rows come out all zero). A row that is all zero, or holds NaN or
 * ±Infinity anywhere, has no direction: it is marked dead rather than rejected, because SAEs
 * routinely ship a few such features and the atlas should still show the rest.
 */
export function normaliseRows(decoder: Float32Array, n: number, d: number, opts: { inPlace?: boolean; into?: Float32Array } = {}): NormalisedRows {
  if (!Number.isInteger(n) || !Number.isInteger(d) || n < 0 || d <= 0) {
    throw new Error(`normaliseRows: bad shape ${n} × ${d}`);
  }
  if (decoder.length !== n * d) {
    throw new Error(`normaliseRows: expected ${n} × ${d} = ${n * d} values, got ${decoder.length}`);
  }
  // Straight into shared WebAssembly memory when it fits, where the neighbour search's kernels
  // and worker threads read it without a copy (see simd.ts). Rows too big for that (over 4 GiB,
  // e.g. 1M × 2,304 is 9.7 GB) are normalised over the decoder when the caller allows it
  // (`inPlace`): a second copy would take the build past 20 GB there.
  // `into` (zeroed, n × d): splits/ packs two dictionaries into one shared memory this way.
  const into = opts.into;
  if (into && into.length !== n * d) throw new Error(`normaliseRows: target holds ${into.length} values, not ${n} × ${d}`);
  const unit = into ?? (rowsFit(n, d) ? allocateRows(n, d) : opts.inPlace ? decoder : new Float32Array(n * d));
  const norms = new Float32Array(n);
  const alive = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const base = i * d;
    // Float64 accumulation: float32 squares of large weights would overflow or lose the tail.
    let sum = 0;
    for (let j = 0; j < d; j++) {
      const v = decoder[base + j]!;
      sum += v * v;
    }
    // A NaN or ±Infinity anywhere makes `sum` non-finite, so one check covers the whole row.
    if (!Number.isFinite(sum)) {
      norms[i] = Number.NaN;
      if (unit === decoder) unit.fill(0, base, base + d);
      continue;
    }
    const norm = Math.sqrt(sum);
    norms[i] = norm;
    if (norm === 0) continue;
    const inv = 1 / norm;
    for (let j = 0; j < d; j++) unit[base + j] = decoder[base + j]! * inv;
    alive[i] = 1;
  }
  return { unit, norms, alive };
}
