/**
 * Exact nearest features across two dictionaries of the same d_in: for every feature of each, its
 * k nearest features of the other by decoder cosine.
 *
 * Both dictionaries' unit rows go into one shared WebAssembly memory (small rows first, then the
 * large), and each direction is one `exactKnn` call with the other dictionary's alive rows as the
 * candidates. So the cross search is the neighbours stage's own exact search: the float32 tile
 * kernel ranks, the float64 kernel re-scores a pool that provably holds the answer, ties order by
 * id, and the work is shared among worker threads (neighbours/exact.ts). No loop here touches a
 * row. The result does not depend on the thread count.
 *
 * Cost: 2 × n_small × n_large × d multiply-adds (each direction scores every pair once). Measured
 * figures are in the splits CLI's summary and the report; 4,096 × 16,384 × 100 is about 13 G
 * multiply-adds. Memory: (n_small + n_large) × d × 4 bytes of rows in one wasm32 memory, so
 * n · d must stay under about 1.07e9 floats together (simd.ts).
 */
import { exactKnn } from "../neighbours/knn.ts";
import { normaliseRows } from "../neighbours/normalise.ts";
import { allocateRows, rowsFit } from "../neighbours/simd.ts";

export interface MatchSide {
  /** Features (rows). */
  n: number;
  /** 1 where the row has a direction. */
  alive: Uint8Array;
  /** Partners kept per feature: min(k, alive features of the other side); 0 when either side has none. */
  k: number;
  /** [n × k] partner ids in the other dictionary, most similar first (ties by id); −1 for a dead feature. */
  ids: Int32Array;
  /** [n × k] cosine similarities, same order; NaN for a dead feature. */
  cosines: Float64Array;
}

export interface MatchResult {
  small: MatchSide;
  large: MatchSide;
}

export interface MatchOptions {
  /** Partners per feature and direction. */
  k: number;
  /** Threads (main included); default as exactKnn decides (all cores for large work). */
  threads?: number;
}

/** A dictionary's decoder: [n × d] row-major, not normalised (dead rows allowed). */
export interface DecoderInput {
  decoder: Float32Array;
  n: number;
}

/**
 * Match two decoders. `load` functions may be used instead of arrays, so the caller can read the
 * second dictionary only after the first has been copied into the shared memory (peak memory).
 */
export function matchWidths(
  small: DecoderInput | (() => DecoderInput),
  large: DecoderInput | (() => DecoderInput),
  nSmall: number,
  nLarge: number,
  d: number,
  opts: MatchOptions,
): MatchResult {
  if (!Number.isInteger(opts.k) || opts.k < 1) throw new Error(`splits: k must be a positive integer, got ${opts.k}`);
  const n = nSmall + nLarge;
  if (!rowsFit(n, d)) {
    throw new Error(`splits: ${nSmall.toLocaleString("en-US")} + ${nLarge.toLocaleString("en-US")} rows × d_in ${d} do not fit together in a 4 GiB WebAssembly memory`);
  }
  const rows = allocateRows(n, d);
  const alive = new Uint8Array(n);
  const place = (input: DecoderInput | (() => DecoderInput), expected: number, offset: number, which: string): void => {
    const got = typeof input === "function" ? input() : input;
    if (got.n !== expected || got.decoder.length !== expected * d) {
      throw new Error(`splits: the ${which} decoder has ${got.decoder.length} values, expected ${expected} × ${d}`);
    }
    const normed = normaliseRows(got.decoder, expected, d, { into: rows.subarray(offset * d, (offset + expected) * d) });
    alive.set(normed.alive, offset);
  };
  place(small, nSmall, 0, "small");
  place(large, nLarge, nSmall, "large");

  const aliveSmall: number[] = [];
  const aliveLarge: number[] = [];
  for (let i = 0; i < nSmall; i++) if (alive[i]) aliveSmall.push(i);
  for (let j = nSmall; j < n; j++) if (alive[j]) aliveLarge.push(j);

  const side = (queries: number[], candidates: number[], count: number, offset: number, candidateOffset: number): MatchSide => {
    const k = queries.length > 0 && candidates.length > 0 ? Math.min(opts.k, candidates.length) : 0;
    const ids = new Int32Array(count * k).fill(-1);
    const cosines = new Float64Array(count * k).fill(Number.NaN);
    const sideAlive = alive.slice(offset, offset + count);
    if (k > 0) {
      const found = exactKnn(rows, n, d, alive, queries, k, { candidates, ...(opts.threads === undefined ? {} : { threads: opts.threads }) });
      for (let q = 0; q < queries.length; q++) {
        const i = queries[q]! - offset;
        for (let t = 0; t < k; t++) {
          ids[i * k + t] = found.indices[q * k + t]! - candidateOffset;
          // The stored distance is float32(1 − cos); cos is given back to 6 decimals, far below
          // any difference a reader would act on, and stable across machines (the kernel is exact).
          cosines[i * k + t] = Math.round((1 - found.distances[q * k + t]!) * 1e6) / 1e6;
        }
      }
    }
    return { n: count, alive: sideAlive, k, ids, cosines };
  };
  return {
    small: side(aliveSmall, aliveLarge, nSmall, 0, nSmall),
    large: side(aliveLarge, aliveSmall, nLarge, nSmall, 0),
  };
}

/**
 * Whether partner slot t of feature i on `side` is mutual: the partner's own nearest feature on
 * `other` is i.
 */
export function isMutual(side: MatchSide, other: MatchSide, i: number, t: number): boolean {
  const j = side.ids[i * side.k + t]!;
  return j >= 0 && other.k > 0 && other.ids[j * other.k]! === i;
}
