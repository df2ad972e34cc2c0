/**
 * Labels and examples for the trained dictionary: what each feature writes (the words nearest its
 * decoder direction), what it reads (the words it fires on most strongly), and a number for how
 * coherent those word lists are.
 */
import { dotTile, TILE } from "./topk-sae.ts";

/** Copy of x with every row scaled to unit length (zero rows stay zero). */
export function unitRows(x: Float32Array, n: number, dIn: number): Float32Array {
  const out = new Float32Array(n * dIn);
  for (let s = 0; s < n; s++) {
    let n2 = 0;
    for (let d = 0; d < dIn; d++) n2 += x[s * dIn + d]! * x[s * dIn + d]!;
    const inv = n2 > 0 ? 1 / Math.sqrt(n2) : 0;
    for (let d = 0; d < dIn; d++) out[s * dIn + d] = x[s * dIn + d]! * inv;
  }
  return out;
}

/** Indices of the k largest values of v[off .. off+n), descending; ties to the lower index. */
export function topKIndices(v: Float32Array, off: number, n: number, k: number): number[] {
  const idx: number[] = [];
  const val: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = v[off + i]!;
    if (idx.length === k && x <= val[k - 1]!) continue;
    let j = idx.length < k ? idx.length : k - 1;
    if (idx.length < k) {
      idx.push(0);
      val.push(0);
    }
    while (j > 0 && val[j - 1]! < x) {
      val[j] = val[j - 1]!;
      idx[j] = idx[j - 1]!;
      j--;
    }
    val[j] = x;
    idx[j] = i;
  }
  return idx;
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/**
 * Cheap inflection check so a label does not spend its few words on "nation national nations":
 * one word is the other plus a short ending, or they share all but the last few letters.
 */
export function nearDuplicate(a: string, b: string): boolean {
  const [s, l] = a.length <= b.length ? [a, b] : [b, a];
  if (s === l) return true;
  const p = commonPrefix(s, l);
  if (p === s.length && s.length >= 3 && l.length - s.length <= 3) return true;
  return p >= Math.max(4, s.length - 2) && l.length - p <= 4;
}

/**
 * For every decoder row, the `count` candidate words of highest cosine to it (candidates given as
 * unit rows, in frequency order), skipping near-duplicates of words already chosen. Returns word
 * indices into the candidate list.
 */
export function nearestWords(
  wDec: Float32Array, dSae: number, dIn: number,
  candidates: Float32Array, nCand: number, words: readonly string[], count: number, pool = 40,
): number[][] {
  const out: number[][] = [];
  const xt = new Float32Array(TILE * dIn);
  const cos = new Float32Array(TILE * nCand);
  for (let base = 0; base < dSae; base += TILE) {
    const rows = Math.min(TILE, dSae - base);
    xt.fill(0);
    for (let t = 0; t < rows; t++) {
      const o = (base + t) * dIn;
      let n2 = 0;
      for (let d = 0; d < dIn; d++) n2 += wDec[o + d]! * wDec[o + d]!;
      const inv = n2 > 0 ? 1 / Math.sqrt(n2) : 0;
      for (let d = 0; d < dIn; d++) xt[d * TILE + t] = wDec[o + d]! * inv;
    }
    dotTile(candidates, nCand, dIn, xt, cos);
    for (let t = 0; t < rows; t++) {
      const chosen: number[] = [];
      for (const w of topKIndices(cos, t * nCand, nCand, pool)) {
        if (chosen.some((c) => nearDuplicate(words[c]!, words[w]!))) continue;
        chosen.push(w);
        if (chosen.length === count) break;
      }
      out.push(chosen);
    }
  }
  return out;
}

/** Mean pairwise cosine of the given unit rows (NaN for fewer than two). */
export function meanPairwiseCosine(unit: Float32Array, dIn: number, rows: readonly number[]): number {
  let sum = 0, pairs = 0;
  for (let a = 0; a < rows.length; a++) {
    for (let b = a + 1; b < rows.length; b++) {
      let dot = 0;
      const oa = rows[a]! * dIn, ob = rows[b]! * dIn;
      for (let d = 0; d < dIn; d++) dot += unit[oa + d]! * unit[ob + d]!;
      sum += dot;
      pairs++;
    }
  }
  return pairs ? sum / pairs : NaN;
}

/** Average of meanPairwiseCosine over the sets that have at least two members, and how many did. */
export function coherence(unit: Float32Array, dIn: number, sets: readonly (readonly number[])[]): { mean: number; sets: number } {
  let sum = 0, m = 0;
  for (const s of sets) {
    const c = meanPairwiseCosine(unit, dIn, s);
    if (Number.isNaN(c)) continue;
    sum += c;
    m++;
  }
  return { mean: m ? sum / m : NaN, sets: m };
}

/** `count` random sets of `size` distinct indices below `n`. */
export function randomSets(n: number, size: number, count: number, random: () => number): number[][] {
  const sets: number[][] = [];
  for (let c = 0; c < count; c++) {
    const s = new Set<number>();
    while (s.size < size) s.add(Math.floor(random() * n));
    sets.push([...s]);
  }
  return sets;
}

export interface TopActivations {
  /** [dSae · per] row indices, −1 where the feature fired on fewer words. */
  rows: Int32Array;
  vals: Float32Array;
  per: number;
}

/** The `per` rows with the largest activation of each feature, from an encoding of all rows. */
export function topActivations(encIdx: Int32Array, encVal: Float32Array, n: number, k: number, dSae: number, per: number): TopActivations {
  const rows = new Int32Array(dSae * per).fill(-1);
  const vals = new Float32Array(dSae * per);
  const filled = new Int32Array(dSae);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < k; j++) {
      const f = encIdx[r * k + j]!;
      if (f < 0) continue;
      const v = encVal[r * k + j]!;
      const o = f * per;
      const c = filled[f]!;
      if (c === per && v <= vals[o + per - 1]!) continue;
      let p = c < per ? c : per - 1;
      if (c < per) filled[f] = c + 1;
      // Rows arrive in increasing order, so strict < keeps the earlier (more frequent) word first on ties.
      while (p > 0 && vals[o + p - 1]! < v) {
        vals[o + p] = vals[o + p - 1]!;
        rows[o + p] = rows[o + p - 1]!;
        p--;
      }
      vals[o + p] = v;
      rows[o + p] = r;
    }
  }
  return { rows, vals, per };
}

/** Round to 4 significant digits, for compact JSON. */
export function sig4(v: number): number {
  return Number(v.toPrecision(4));
}
