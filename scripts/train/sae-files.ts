/**
 * The tensors of `sae_weights.safetensors` as the demo trainer writes them (SAELens names and
 * orientation: `W_enc [d_in, d_sae]`, `b_enc [d_sae]`, `W_dec [d_sae, d_in]`, `b_dec [d_in]`).
 *
 * Two size options exist because a wide dictionary must fit in the repository: at 16,384 latents
 * the F32 encoder and decoder are 6.6 MB each. Half precision halves that; the atlas reads only
 * W_dec, so a decoder-only file halves it again, at the price of no longer being an SAE one can
 * encode with (SAELens' strict load_state_dict would refuse it; re-train with the full options).
 */
import type { TensorToWrite } from "../../precompute/read/safetensors.ts";
import type { Sae } from "./topk-sae.ts";

export type WeightsDtype = TensorToWrite["dtype"];
export const WEIGHTS_DTYPES: readonly WeightsDtype[] = ["F32", "F16", "BF16"];

export interface WeightsOptions {
  /** Storage type of every weight tensor (the conversion rounds to nearest even). */
  dtype: WeightsDtype;
  /** Write only W_dec and b_dec: what the atlas reads. */
  decoderOnly: boolean;
}

/** The tensors to encode, by SAELens name. W_enc is transposed from the trainer's [d_sae, d_in] layout. */
export function saeWeightTensors(sae: Sae, o: WeightsOptions): Record<string, TensorToWrite> {
  const { dIn, dSae } = sae;
  const out: Record<string, TensorToWrite> = {
    W_dec: { dtype: o.dtype, shape: [dSae, dIn], data: sae.wDec },
    b_dec: { dtype: o.dtype, shape: [dIn], data: sae.bDec },
  };
  if (!o.decoderOnly) {
    const wEnc = new Float32Array(dIn * dSae);
    for (let i = 0; i < dSae; i++) for (let d = 0; d < dIn; d++) wEnc[d * dSae + i] = sae.wEncT[i * dIn + d]!;
    out.W_enc = { dtype: o.dtype, shape: [dIn, dSae], data: wEnc };
    out.b_enc = { dtype: o.dtype, shape: [dSae], data: sae.bEnc };
  }
  return out;
}

