/**
 * The arithmetic of a TopK sparse autoencoder (Gao et al. 2024, "Scaling and evaluating sparse
 * autoencoders"), written as plain loops over Float32Arrays so that it runs at a useful speed in
 * a single JS thread and can be split across worker threads without changing a single bit.
 *
 *   z     = ReLU(TopK_k(W_encᵀ (x − b_dec) + b_enc))
 *   x̂     = W_decᵀ z + b_dec            (rows of W_dec kept at unit norm)
 *   loss  = ‖x̂ − x‖² · mainScale  +  auxCoef · ‖ê − (x − x̂)‖² · auxScale
 *
 * where ê is the reconstruction of the residual from the top k_aux pre-activations among the
 * latents currently considered dead (AuxK, paper §A.2).
 *
 * Nothing here allocates per sample, and nothing depends on timing: the same inputs give the same
 * float results, which is what makes the trainer deterministic.
 */

export interface Sae {
  dIn: number;
  dSae: number;
  /** Encoder weights stored latent-major, [dSae, dIn]: the transpose of SAELens' W_enc, so that each latent's dot product reads contiguous memory. */
  wEncT: Float32Array;
  bEnc: Float32Array;
  /** [dSae, dIn]; row i is feature i's direction. */
  wDec: Float32Array;
  bDec: Float32Array;
}

/** The four gradient buffers, shaped like the parameters. */
export type SaeGrads = Omit<Sae, "dIn" | "dSae">;

export type Alloc = (n: number) => Float32Array;
export const heapAlloc: Alloc = (n) => new Float32Array(n);
/** Memory visible to worker threads without copying. */
export const sharedAlloc: Alloc = (n) => new Float32Array(new SharedArrayBuffer(n * 4));

export function allocSae(dIn: number, dSae: number, alloc: Alloc = heapAlloc): Sae {
  return { dIn, dSae, wEncT: alloc(dSae * dIn), bEnc: alloc(dSae), wDec: alloc(dSae * dIn), bDec: alloc(dIn) };
}

export function allocGrads(dIn: number, dSae: number, alloc: Alloc = heapAlloc): SaeGrads {
  const { wEncT, bEnc, wDec, bDec } = allocSae(dIn, dSae, alloc);
  return { wEncT, bEnc, wDec, bDec };
}

export function zeroGrads(g: SaeGrads): void {
  g.wEncT.fill(0);
  g.bEnc.fill(0);
  g.wDec.fill(0);
  g.bDec.fill(0);
}

/** Samples per encoder tile: each weight row is read once per tile instead of once per sample. */
export const TILE = 8;

/**
 * out[t * nA + i] = a[i, :] · x_t for the TILE samples of a tile. `xt` holds the tile interleaved,
 * xt[d * TILE + t], so the eight loads of one step are adjacent. Unused lanes must be zero-filled.
 */
export function dotTile(a: Float32Array, nA: number, dIn: number, xt: Float32Array, out: Float32Array): void {
  for (let i = 0; i < nA; i++) {
    const wo = i * dIn;
    let a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    for (let d = 0, b = 0; d < dIn; d++, b += TILE) {
      const w = a[wo + d]!;
      a0 += w * xt[b]!;
      a1 += w * xt[b + 1]!;
      a2 += w * xt[b + 2]!;
      a3 += w * xt[b + 3]!;
      a4 += w * xt[b + 4]!;
      a5 += w * xt[b + 5]!;
      a6 += w * xt[b + 6]!;
      a7 += w * xt[b + 7]!;
    }
    out[i] = a0;
    out[nA + i] = a1;
    out[2 * nA + i] = a2;
    out[3 * nA + i] = a3;
    out[4 * nA + i] = a4;
    out[5 * nA + i] = a5;
    out[6 * nA + i] = a6;
    out[7 * nA + i] = a7;
  }
}

/**
 * The k largest of v[off .. off+n) (optionally only where mask[i] is 1), in descending order, then
 * ReLU: only positive values are kept. Writes idx/val from position 0; returns how many were kept.
 * Ties go to the lower index, so the choice never depends on anything but the values.
 */
export function topKPositive(
  v: Float32Array, off: number, n: number, k: number,
  idx: Int32Array, val: Float32Array, mask: Uint8Array | null = null,
): number {
  let count = 0;
  // Only positive values survive the ReLU, so 0 is the entry bar until the list is full.
  let floor = 0;
  for (let i = 0; i < n; i++) {
    const x = v[off + i]!;
    if (x <= floor) continue;
    if (mask !== null && mask[i] === 0) continue;
    let j = count < k ? count++ : k - 1;
    while (j > 0 && val[j - 1]! < x) {
      val[j] = val[j - 1]!;
      idx[j] = idx[j - 1]!;
      j--;
    }
    val[j] = x;
    idx[j] = i;
    if (count === k) floor = val[k - 1]!;
  }
  return count;
}

export interface Scratch {
  xt: Float32Array;
  /** The tile's centred inputs, x − b_dec, row-major. */
  xc: Float32Array;
  pre: Float32Array;
  idx: Int32Array;
  val: Float32Array;
  auxIdx: Int32Array;
  auxVal: Float32Array;
  r: Float64Array;
  go: Float64Array;
}

export function allocScratch(dIn: number, dSae: number, k: number, kAux: number): Scratch {
  return {
    xt: new Float32Array(TILE * dIn),
    xc: new Float32Array(TILE * dIn),
    pre: new Float32Array(TILE * dSae),
    idx: new Int32Array(k),
    val: new Float32Array(k),
    auxIdx: new Int32Array(Math.max(kAux, 1)),
    auxVal: new Float32Array(Math.max(kAux, 1)),
    r: new Float64Array(dIn),
    go: new Float64Array(dIn),
  };
}

/** Fill the scratch tile with x − b_dec for `rows` samples (rows ≤ TILE) and compute all pre-activations. */
function forwardTile(sae: Sae, x: Float32Array, rowOf: (t: number) => number, rows: number, s: Scratch): void {
  const { dIn, dSae, bDec, bEnc } = sae;
  s.xt.fill(0);
  for (let t = 0; t < rows; t++) {
    const xo = rowOf(t) * dIn;
    for (let d = 0; d < dIn; d++) {
      const c = x[xo + d]! - bDec[d]!;
      s.xc[t * dIn + d] = c;
      s.xt[d * TILE + t] = c;
    }
  }
  dotTile(sae.wEncT, dSae, dIn, s.xt, s.pre);
  for (let t = 0; t < rows; t++) {
    const po = t * dSae;
    for (let i = 0; i < dSae; i++) s.pre[po + i] = s.pre[po + i]! + bEnc[i]!;
  }
}

/** Reconstruct one sample from its active latents; writes x̂ − x into r and returns ‖x̂ − x‖². */
function residual(sae: Sae, x: Float32Array, row: number, idx: Int32Array, val: Float32Array, count: number, r: Float64Array): number {
  const { dIn, wDec, bDec } = sae;
  const xo = row * dIn;
  for (let d = 0; d < dIn; d++) r[d] = bDec[d]! - x[xo + d]!;
  for (let j = 0; j < count; j++) {
    const z = val[j]!;
    const wo = idx[j]! * dIn;
    for (let d = 0; d < dIn; d++) r[d] = r[d]! + z * wDec[wo + d]!;
  }
  let e = 0;
  for (let d = 0; d < dIn; d++) e += r[d]! * r[d]!;
  return e;
}

export interface StepOptions {
  k: number;
  kAux: number;
  /** Multiplies ‖x̂ − x‖² in the loss (e.g. 1 / (batch · data variance), so the loss reads as FVU). */
  mainScale: number;
  /** Multiplies ‖ê − e‖² in the loss, AuxK coefficient included. */
  auxScale: number;
}

export interface ShardStats {
  /** Σ‖x̂ − x‖² over the shard. */
  sse: number;
  /** Σ‖ê − e‖² over the shard (0 when no latent is dead). */
  auxSse: number;
  /** Σ‖e‖² over samples where AuxK ran, the denominator that makes auxSse a fraction. */
  auxBase: number;
  /** Total active latents (Σ L0). */
  active: number;
}

/**
 * Add the loss gradients of samples order[start..end) to `g` (which the caller zeroes), and record
 * which latents fired for each sample in `fired[(pos − start) · k + j]` (−1 where fewer than k fired).
 * `dead[i] = 1` marks latents eligible for the AuxK term; pass null to skip it.
 */
export function accumulateGradients(
  sae: Sae, x: Float32Array, order: Int32Array, start: number, end: number,
  dead: Uint8Array | null, o: StepOptions, g: SaeGrads, fired: Int32Array, s: Scratch,
): ShardStats {
  const { dIn, dSae, wEncT, wDec } = sae;
  const { k, kAux } = o;
  const { idx, val, auxIdx, auxVal, r, go } = s;
  let anyDead = false;
  if (dead !== null && kAux > 0) for (let i = 0; i < dSae && !anyDead; i++) anyDead = dead[i] === 1;
  const stats: ShardStats = { sse: 0, auxSse: 0, auxBase: 0, active: 0 };
  for (let base = start; base < end; base += TILE) {
    const rows = Math.min(TILE, end - base);
    forwardTile(sae, x, (t) => order[base + t]!, rows, s);
    for (let t = 0; t < rows; t++) {
      const row = order[base + t]!;
      const xco = t * dIn;
      const count = topKPositive(s.pre, t * dSae, dSae, k, idx, val);
      const fo = (base + t - start) * k;
      for (let j = 0; j < k; j++) fired[fo + j] = j < count ? idx[j]! : -1;
      stats.active += count;
      const e2 = residual(sae, x, row, idx, val, count, r);
      stats.sse += e2;

      // d loss / d x̂ = 2 · mainScale · (x̂ − x). b_dec is added at the output and subtracted at the input.
      const c2 = 2 * o.mainScale;
      for (let d = 0; d < dIn; d++) {
        go[d] = c2 * r[d]!;
        g.bDec[d] = g.bDec[d]! + go[d]!;
      }
      for (let j = 0; j < count; j++) {
        const i = idx[j]!;
        const z = val[j]!;
        const wo = i * dIn;
        let dz = 0;
        for (let d = 0; d < dIn; d++) {
          dz += wDec[wo + d]! * go[d]!;
          g.wDec[wo + d] = g.wDec[wo + d]! + z * go[d]!;
        }
        // The ReLU passes the gradient because z > 0; TopK passes it only for the chosen latents.
        g.bEnc[i] = g.bEnc[i]! + dz;
        for (let d = 0; d < dIn; d++) {
          g.wEncT[wo + d] = g.wEncT[wo + d]! + dz * s.xc[xco + d]!;
          g.bDec[d] = g.bDec[d]! - dz * wEncT[wo + d]!;
        }
      }

      if (!anyDead) continue;
      // AuxK: let the dead latents model what the live ones missed. e = x − x̂ = −r is a constant
      // here (no gradient into the main path), and b_dec is left to the main loss.
      const na = topKPositive(s.pre, t * dSae, dSae, kAux, auxIdx, auxVal, dead);
      if (na === 0) continue;
      for (let d = 0; d < dIn; d++) go[d] = r[d]!; // ê − e = ê + r
      for (let j = 0; j < na; j++) {
        const z = auxVal[j]!;
        const wo = auxIdx[j]! * dIn;
        for (let d = 0; d < dIn; d++) go[d] = go[d]! + z * wDec[wo + d]!;
      }
      let a2 = 0;
      for (let d = 0; d < dIn; d++) a2 += go[d]! * go[d]!;
      stats.auxSse += a2;
      stats.auxBase += e2;
      const ca = 2 * o.auxScale;
      for (let d = 0; d < dIn; d++) go[d] = ca * go[d]!;
      for (let j = 0; j < na; j++) {
        const i = auxIdx[j]!;
        const z = auxVal[j]!;
        const wo = i * dIn;
        let dz = 0;
        for (let d = 0; d < dIn; d++) {
          dz += wDec[wo + d]! * go[d]!;
          g.wDec[wo + d] = g.wDec[wo + d]! + z * go[d]!;
        }
        g.bEnc[i] = g.bEnc[i]! + dz;
        for (let d = 0; d < dIn; d++) g.wEncT[wo + d] = g.wEncT[wo + d]! + dz * s.xc[xco + d]!;
      }
    }
  }
  return stats;
}

/**
 * Encode rows start..end (in data order) with the current weights: the active latents of row n go
 * to outIdx/outVal[n · k ..], −1 / 0 where fewer than k fired. Returns Σ‖x̂ − x‖².
 */
export function encodeRows(
  sae: Sae, x: Float32Array, start: number, end: number, k: number,
  outIdx: Int32Array, outVal: Float32Array, s: Scratch,
): number {
  const { dSae } = sae;
  let sse = 0;
  for (let base = start; base < end; base += TILE) {
    const rows = Math.min(TILE, end - base);
    forwardTile(sae, x, (t) => base + t, rows, s);
    for (let t = 0; t < rows; t++) {
      const row = base + t;
      const count = topKPositive(s.pre, t * dSae, dSae, k, s.idx, s.val);
      for (let j = 0; j < k; j++) {
        outIdx[row * k + j] = j < count ? s.idx[j]! : -1;
        outVal[row * k + j] = j < count ? s.val[j]! : 0;
      }
      sse += residual(sae, x, row, s.idx, s.val, count, s.r);
    }
  }
  return sse;
}

/**
 * Keep decoder rows on the unit sphere (paper §A.1): remove from each row's gradient the component
 * along the row, so that the step moves along the sphere; `normalizeRows` then removes the drift.
 */
export function projectOutParallel(w: Float32Array, g: Float32Array, rows: number, dIn: number): void {
  for (let i = 0; i < rows; i++) {
    const o = i * dIn;
    let dot = 0;
    for (let d = 0; d < dIn; d++) dot += w[o + d]! * g[o + d]!;
    if (dot === 0) continue;
    for (let d = 0; d < dIn; d++) g[o + d] = g[o + d]! - dot * w[o + d]!;
  }
}

export function normalizeRows(w: Float32Array, rows: number, dIn: number): void {
  for (let i = 0; i < rows; i++) {
    const o = i * dIn;
    let n2 = 0;
    for (let d = 0; d < dIn; d++) n2 += w[o + d]! * w[o + d]!;
    if (n2 === 0) continue;
    const inv = 1 / Math.sqrt(n2);
    for (let d = 0; d < dIn; d++) w[o + d] = w[o + d]! * inv;
  }
}

export interface AdamConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
}

/** One Adam step (with bias correction) on a parameter array; `t` counts steps from 1. */
export function adamUpdate(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, c: AdamConfig, t: number): void {
  const { lr, beta1, beta2, eps } = c;
  const bc1 = 1 - beta1 ** t;
  const bc2 = 1 - beta2 ** t;
  const stepSize = lr / bc1;
  const sqrtBc2 = Math.sqrt(bc2);
  for (let i = 0; i < p.length; i++) {
    const gi = g[i]!;
    let mi = beta1 * m[i]! + (1 - beta1) * gi;
    // A latent that stops firing leaves m decaying geometrically into float32 denormals, which
    // are many times slower to load and store; they are far below any meaningful step anyway.
    if (mi < 1e-30 && mi > -1e-30) mi = 0;
    const vi = beta2 * v[i]! + (1 - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i]! - (stepSize * mi) / (Math.sqrt(vi) / sqrtBc2 + eps);
  }
}

/**
 * Geometric median of n points by Weiszfeld's iteration (started from the mean). Paper §A.1 sets
 * the pre-encoder bias to it, so that the encoder starts centred on the bulk of the data.
 */
export function geometricMedian(x: Float32Array, n: number, dIn: number, iterations = 50): Float64Array {
  const m = new Float64Array(dIn);
  for (let s = 0; s < n; s++) for (let d = 0; d < dIn; d++) m[d] = m[d]! + x[s * dIn + d]! / n;
  const next = new Float64Array(dIn);
  for (let it = 0; it < iterations; it++) {
    next.fill(0);
    let wsum = 0;
    for (let s = 0; s < n; s++) {
      let d2 = 0;
      for (let d = 0; d < dIn; d++) {
        const u = x[s * dIn + d]! - m[d]!;
        d2 += u * u;
      }
      const w = 1 / Math.max(Math.sqrt(d2), 1e-9);
      wsum += w;
      for (let d = 0; d < dIn; d++) next[d] = next[d]! + w * x[s * dIn + d]!;
    }
    for (let d = 0; d < dIn; d++) m[d] = next[d]! / wsum;
  }
  return m;
}
