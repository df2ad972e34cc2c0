/**
 * Checks across a whole dictionary or metadata file, made once everything is read: decoder rows
 * holding NaN or ±Infinity, and metadata whose ids look like they belong to a narrower SAE.
 */
import type { Dictionary } from "../stages.ts";
import type { Warn } from "./files.ts";
import { InputError } from "./safetensors.ts";

/** How many ids an error or warning lists before saying "and N more". */
const SHOWN_IDS = 8;

function listIds(ids: number[]): string {
  const shown = ids.slice(0, SHOWN_IDS).join(", ");
  return ids.length > SHOWN_IDS ? `${shown} and ${(ids.length - SHOWN_IDS).toLocaleString("en-US")} more` : shown;
}

/** Rows of a row-major [n × d] matrix that hold a NaN or ±Infinity, ascending. */
export function nonFiniteRows(decoder: Float32Array, n: number, d: number): number[] {
  const bad: number[] = [];
  for (let i = 0; i < n; i++) {
    // Any non-finite value makes the sum non-finite (NaN or ±Infinity): one test per row. Finite
    // float32 values cannot overflow a float64 sum, so nothing else can.
    let sum = 0;
    for (let j = i * d, end = j + d; j < end; j++) sum += decoder[j]!;
    if (!Number.isFinite(sum)) bad.push(i);
  }
  return bad;
}

function describeValue(decoder: Float32Array, row: number, d: number): string {
  for (let j = 0; j < d; j++) {
    const v = decoder[row * d + j]!;
    if (!Number.isFinite(v)) return `${v} at column ${j}`;
  }
  return "a non-finite value";
}

/**
 * Refuse decoder rows holding NaN or ±Infinity, naming the weights file, the rows (the first
 * few ids and the count) and the way out; with `drop`, zero those rows instead, so that they
 * become dead features (kept, flagged, off the kNN graph). Returns the ids of the rows dropped.
 *
 * An error by default, because such rows usually mean a diverged or half-written checkpoint,
 * which the user should know about before publishing a map of it.
 */
export function checkFiniteRows(dict: Dictionary, opts: { drop: boolean; warn: Warn }): number[] {
  const n = dict.info.dSae;
  const d = dict.info.dIn;
  const bad = nonFiniteRows(dict.decoder, n, d);
  if (bad.length === 0) return bad;
  const file = dict.inputs.find((f) => f.role === "weights")?.name ?? "the dictionary";
  const first = `feature ${bad[0]}: ${describeValue(dict.decoder, bad[0]!, d)}`;
  const what = `${bad.length.toLocaleString("en-US")} of ${n.toLocaleString("en-US")} decoder rows hold NaN or ±Infinity (features ${listIds(bad)}; ${first})`;
  if (!opts.drop) {
    throw new InputError(
      `${file}: ${what}. The checkpoint may have diverged or been saved half-written. ` +
        `Pass --drop-nonfinite to keep those features as dead ones (listed, but off the map and out of the neighbour graph).`,
    );
  }
  for (const i of bad) dict.decoder.fill(0, i * d, (i + 1) * d);
  opts.warn(`${file}: ${what}; --drop-nonfinite: they are kept as dead features`);
  return bad;
}

/**
 * Warn when the ids of a label or activation file densely cover 0…m−1 and stop there, while the
 * dictionary is at least twice as wide: the signature of metadata for a narrower SAE of the same
 * release (SAELens issue #549: a 16k-wide label set beside a 65k-wide dictionary). Ids past the
 * dictionary's width are already an error in the readers; this catches the opposite mismatch,
 * which no single id can reveal.
 */
export function checkIdCoverage(ids: Iterable<number>, nFeatures: number, name: string, what: string, warn: Warn): void {
  let count = 0;
  let maxId = -1;
  for (const id of ids) {
    count++;
    if (id > maxId) maxId = id;
  }
  const span = maxId + 1;
  // Small files (a hand-labelled handful) carry no signal.
  if (count < 64 || span * 2 > nFeatures || count < 0.9 * span) return;
  warn(
    `${name}: the ${what} cover ids 0…${maxId} (${Math.round((100 * count) / span)}% of them) and none above, ` +
      `but the dictionary has ${nFeatures.toLocaleString("en-US")} features; is this file for a ${span.toLocaleString("en-US")}-wide SAE?`,
  );
}
