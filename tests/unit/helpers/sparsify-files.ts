/**
 * EleutherAI sparsify checkpoints as the library writes them (sparsify/sparse_coder.py
 * `save_to_disk`, sparsify/trainer.py `_checkpoint`): per hook point a folder with `cfg.json`
 * (`json.dump({**cfg.to_dict(), "d_in": d_in})`) and `sae.safetensors` (`save_model` of the
 * module's state dict), and the run's `config.json` in the checkpoint folder.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeSafetensors, type TensorToWrite } from "../../../precompute/read/safetensors.ts";
import { floats } from "./read-files.ts";

/** Python's json.dumps layout (", " and ": " separators), which is what sparsify's cfg.json looks like. */
export function pyJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(pyJson).join(", ")}]`;
  if (v !== null && typeof v === "object") return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${pyJson(x)}`).join(", ")}}`;
  return JSON.stringify(v);
}

/** SparseCoderConfig.to_dict() field order, then d_in. */
export function sparsifyCfg(dIn: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    activation: "topk",
    expansion_factor: 32,
    normalize_decoder: true,
    num_latents: 0,
    k: 32,
    multi_topk: false,
    skip_connection: false,
    transcode: false,
    ...over,
    d_in: dIn,
  };
}

export interface SparsifyFolderOptions {
  dIn: number;
  numLatents: number;
  /** [numLatents × dIn] decoder; random when omitted. */
  decoder?: Float32Array;
  cfg?: Record<string, unknown>;
  dtype?: TensorToWrite["dtype"];
  /** Store W_dec as [d_in, num_latents], as some conversions do. */
  transposed?: boolean;
  seed?: number;
}

/** One hook-point folder. Returns the decoder written, as [numLatents × dIn]. */
export function writeSparsifyFolder(dir: string, o: SparsifyFolderOptions): Float32Array {
  mkdirSync(dir, { recursive: true });
  const dec = o.decoder ?? floats(o.numLatents * o.dIn, o.seed ?? 5);
  writeFileSync(join(dir, "cfg.json"), pyJson(o.cfg ?? sparsifyCfg(o.dIn, { num_latents: o.numLatents, k: 4 })));
  const dtype = o.dtype ?? "BF16";
  let wDec: TensorToWrite = { dtype, shape: [o.numLatents, o.dIn], data: dec };
  if (o.transposed) {
    const t = new Float32Array(dec.length);
    for (let i = 0; i < o.numLatents; i++) for (let j = 0; j < o.dIn; j++) t[j * o.numLatents + i] = dec[i * o.dIn + j]!;
    wDec = { dtype, shape: [o.dIn, o.numLatents], data: t };
  }
  writeFileSync(
    join(dir, "sae.safetensors"),
    encodeSafetensors({
      "encoder.weight": { dtype, shape: [o.numLatents, o.dIn], data: floats(o.numLatents * o.dIn, 99) },
      "encoder.bias": { dtype, shape: [o.numLatents], data: new Float32Array(o.numLatents) },
      W_dec: wDec,
      b_dec: { dtype, shape: [o.dIn], data: new Float32Array(o.dIn) },
    }),
  );
  return dec;
}

/** The run's config.json (RunConfig: TrainConfig fields, the nested sae config, model and dataset). */
export function writeRunConfig(dir: string, over: Record<string, unknown> = {}): void {
  mkdirSync(dir, { recursive: true });
  // d_in is added to cfg.json only; the run's own copy of the sae config has no d_in.
  const { d_in: _dIn, ...sae } = sparsifyCfg(0, { k: 4 });
  writeFileSync(
    join(dir, "config.json"),
    JSON.stringify(
      {
        sae,
        batch_size: 32,
        grad_acc_steps: 1,
        micro_acc_steps: 1,
        loss_fn: "fvu",
        optimizer: "signum",
        lr: null,
        hookpoints: ["layers.6", "layers.10"],
        init_seeds: [0],
        layers: [],
        layer_stride: 1,
        save_every: 1000,
        log_to_wandb: false,
        run_name: "pythia-run",
        save_dir: "checkpoints",
        model: "EleutherAI/pythia-70m",
        dataset: "EleutherAI/SmolLM2-135M-10B",
        split: "train",
        ctx_len: 2048,
        ...over,
      },
      null,
      4,
    ),
  );
}
