/**
 * The training loop around the kernels in topk-sae.ts: batching, Adam, the unit-norm decoder
 * constraint, dead-latent bookkeeping for AuxK, and a final encoding pass for the statistics.
 *
 * Every batch is cut into SHARDS fixed halves whose gradients are computed separately and summed in
 * a fixed order. Whether the shards run on worker threads or one after the other on the main thread
 * only changes the speed: the weights come out bit-identical, so the seed alone fixes the result.
 */
import { Worker } from "node:worker_threads";
import { rng, shuffle, gaussian } from "../../precompute/random.ts";
import {
  type Sae, type SaeGrads, type ShardStats, type StepOptions, type Alloc, type AdamConfig,
  allocSae, allocGrads, allocScratch, zeroGrads, heapAlloc, sharedAlloc,
  accumulateGradients, encodeRows, projectOutParallel, normalizeRows, adamUpdate, geometricMedian,
} from "./topk-sae.ts";

export const SHARDS = 2;
/** Rows per encoding job in the final pass (a multiple of the tile size). */
const ENCODE_CHUNK = 2048;

export interface TrainConfig {
  dSae: number;
  k: number;
  /** Latents in the AuxK reconstruction of the residual (paper: about d_in / 2). */
  kAux: number;
  /** AuxK loss coefficient (paper: 1/32). */
  auxCoef: number;
  /** A latent that has not fired in this many training samples counts as dead for AuxK. */
  deadAfter: number;
  batchSize: number;
  epochs: number;
  lr: number;
  /** The last fraction of steps decays the learning rate linearly to zero. */
  decayFraction: number;
  beta1: number;
  beta2: number;
  eps: number;
  seed: number;
}

export interface Workspace {
  sae: Sae;
  /** Training inputs, row-major [n, dIn]. */
  x: Float32Array;
  n: number;
  /** Sample order of the current epoch. */
  order: Int32Array;
  /** 1 = dead for the AuxK term of the current step. */
  dead: Uint8Array;
  grads: SaeGrads[];
  /** Per shard, the latents that fired on each of its samples ([batchSize · k], −1 padded). */
  fired: Int32Array[];
  /** Final encoding of every row: [n · k] indices (−1 padded) and activations. */
  encIdx: Int32Array;
  encVal: Float32Array;
  k: number;
  kAux: number;
}

export function allocWorkspace(x: Float32Array, n: number, dIn: number, c: TrainConfig, shared: boolean): Workspace {
  const alloc: Alloc = shared ? sharedAlloc : heapAlloc;
  const i32 = (len: number): Int32Array => (shared ? new Int32Array(new SharedArrayBuffer(len * 4)) : new Int32Array(len));
  let xs = x;
  if (shared && !(x.buffer instanceof SharedArrayBuffer)) {
    xs = alloc(x.length);
    xs.set(x);
  }
  const shardRows = Math.ceil(c.batchSize / SHARDS);
  return {
    sae: allocSae(dIn, c.dSae, alloc),
    x: xs,
    n,
    order: i32(n),
    dead: shared ? new Uint8Array(new SharedArrayBuffer(c.dSae)) : new Uint8Array(c.dSae),
    grads: Array.from({ length: SHARDS }, () => allocGrads(dIn, c.dSae, alloc)),
    fired: Array.from({ length: SHARDS }, () => i32(shardRows * c.k)),
    encIdx: i32(n * c.k),
    encVal: alloc(n * c.k),
    k: c.k,
    kAux: c.kAux,
  };
}

/** Runs the kernels for one shard or one range of rows; inline or on worker threads. */
export interface Backend {
  /** Zero shard `shard`'s gradients, then accumulate those of order[start..end) into them. */
  grad(shard: number, start: number, end: number, o: StepOptions, useDead: boolean): Promise<ShardStats>;
  /** Encode rows start..end into encIdx/encVal; returns Σ‖x̂ − x‖². */
  encode(start: number, end: number): Promise<number>;
  close(): Promise<void>;
}

export function inlineBackend(ws: Workspace): Backend {
  const scratch = allocScratch(ws.sae.dIn, ws.sae.dSae, ws.k, ws.kAux);
  return {
    async grad(shard, start, end, o, useDead) {
      zeroGrads(ws.grads[shard]!);
      return accumulateGradients(ws.sae, ws.x, ws.order, start, end, useDead ? ws.dead : null, o, ws.grads[shard]!, ws.fired[shard]!, scratch);
    },
    async encode(start, end) {
      let sse = 0;
      for (let a = start; a < end; a += ENCODE_CHUNK) sse += encodeRows(ws.sae, ws.x, a, Math.min(end, a + ENCODE_CHUNK), ws.k, ws.encIdx, ws.encVal, scratch);
      return sse;
    },
    async close() {},
  };
}

export type WorkerRequest =
  | { id: number; type: "grad"; shard: number; start: number; end: number; o: StepOptions; useDead: boolean }
  | { id: number; type: "encode"; start: number; end: number };
type DistributiveOmitId<T> = T extends unknown ? Omit<T, "id"> : never;
export type WorkerReply = { id: number; stats?: ShardStats; sse?: number; error?: string };

/**
 * Worker threads that share the workspace's memory. Workers are started through tsx's API because a
 * worker does not inherit the parent's TypeScript loader.
 */
export async function workerBackend(ws: Workspace, threads: number): Promise<Backend> {
  const workerUrl = new URL("./sae-worker.ts", import.meta.url).href;
  // Under vitest import.meta.resolve is missing; the bare specifier then resolves from the working directory.
  const tsxApi = typeof import.meta.resolve === "function" ? import.meta.resolve("tsx/esm/api") : "tsx/esm/api";
  const boot = `import(${JSON.stringify(tsxApi)}).then(({ tsImport }) => tsImport(${JSON.stringify(workerUrl)}, ${JSON.stringify(import.meta.url)}))`;
  const pending = new Map<number, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  const workers: Worker[] = [];
  for (let w = 0; w < threads; w++) {
    const worker = new Worker(boot, { eval: true, workerData: ws });
    worker.on("message", (r: WorkerReply) => {
      const p = pending.get(r.id);
      if (!p) return;
      pending.delete(r.id);
      if (r.error !== undefined) p.reject(new Error(`worker ${w}: ${r.error}`));
      else p.resolve(r);
    });
    worker.on("error", (e) => {
      for (const p of pending.values()) p.reject(e);
      pending.clear();
    });
    // An exit without an error event (e.g. out of memory) would otherwise leave the step waiting forever.
    worker.on("exit", (code) => {
      for (const p of pending.values()) p.reject(new Error(`worker ${w} exited with code ${code}`));
      pending.clear();
    });
    workers.push(worker);
  }
  const call = (w: number, req: DistributiveOmitId<WorkerRequest>): Promise<WorkerReply> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      workers[w]!.postMessage({ ...req, id });
    });
  return {
    async grad(shard, start, end, o, useDead) {
      return (await call(shard % threads, { type: "grad", shard, start, end, o, useDead })).stats!;
    },
    async encode(start, end) {
      // Fixed chunks summed in chunk order, so the total does not depend on the thread count.
      const parts: Promise<WorkerReply>[] = [];
      let c = 0;
      for (let a = start; a < end; a += ENCODE_CHUNK, c++) parts.push(call(c % threads, { type: "encode", start: a, end: Math.min(end, a + ENCODE_CHUNK) }));
      let sse = 0;
      for (const r of await Promise.all(parts)) sse += r.sse!;
      return sse;
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

export interface EpochStats {
  epoch: number;
  /** FVU of the training batches as they were seen (weights changing during the epoch). */
  fvu: number;
  l0: number;
  /** Fraction of latents that fired on no training sample during the epoch. */
  deadInEpoch: number;
  /** Latents counted dead for AuxK at the end of the epoch. */
  auxDead: number;
  /** Mean AuxK fraction of residual explained away, 1 − ‖ê − e‖²/‖e‖² (NaN if AuxK never ran). */
  auxExplained: number;
  seconds: number;
}

export interface FinalStats {
  fvu: number;
  l0: number;
  /** Fraction of latents that fire on no training word with the final weights. */
  deadFraction: number;
  /** Per latent, on how many training words it fires. */
  fireCounts: Uint32Array;
}

/** Mean over rows of ‖x − mean‖²: the denominator of the FVU. */
export function totalVariance(x: Float32Array, n: number, dIn: number): number {
  const mean = new Float64Array(dIn);
  for (let s = 0; s < n; s++) for (let d = 0; d < dIn; d++) mean[d] = mean[d]! + x[s * dIn + d]!;
  for (let d = 0; d < dIn; d++) mean[d] = mean[d]! / n;
  let v = 0;
  for (let s = 0; s < n; s++) {
    for (let d = 0; d < dIn; d++) {
      const u = x[s * dIn + d]! - mean[d]!;
      v += u * u;
    }
  }
  return v / n;
}

/** Paper §A.1: random unit decoder rows, the encoder as their transpose, b_dec at the geometric median. */
export function initialise(ws: Workspace, seed: number): void {
  const { sae } = ws;
  const random = rng(seed, "sae-init");
  for (let i = 0; i < sae.wDec.length; i++) sae.wDec[i] = gaussian(random);
  normalizeRows(sae.wDec, sae.dSae, sae.dIn);
  sae.wEncT.set(sae.wDec);
  sae.bEnc.fill(0);
  sae.bDec.set(geometricMedian(ws.x, ws.n, sae.dIn));
}

export interface TrainResult {
  epochs: EpochStats[];
  final: FinalStats;
  steps: number;
}

export type Log = (line: string) => void;

/** Encode every row with the current weights and measure FVU, L0 and dead latents. */
export async function evaluate(ws: Workspace, backend: Backend, variance: number): Promise<FinalStats> {
  const { n, k, sae } = ws;
  const sse = await backend.encode(0, n);
  const fireCounts = new Uint32Array(sae.dSae);
  let active = 0;
  for (let i = 0; i < n * k; i++) {
    const f = ws.encIdx[i]!;
    if (f >= 0) {
      fireCounts[f] = fireCounts[f]! + 1;
      active++;
    }
  }
  let dead = 0;
  for (let i = 0; i < sae.dSae; i++) if (fireCounts[i] === 0) dead++;
  return { fvu: sse / (n * variance), l0: active / n, deadFraction: dead / sae.dSae, fireCounts };
}

export async function train(ws: Workspace, backend: Backend, c: TrainConfig, log: Log = () => {}): Promise<TrainResult> {
  const { sae, n, k } = ws;
  const { dIn, dSae } = sae;
  const variance = totalVariance(ws.x, n, dIn);
  initialise(ws, c.seed);

  const params: Float32Array[] = [sae.wEncT, sae.bEnc, sae.wDec, sae.bDec];
  const moments = params.map((p) => ({ m: new Float32Array(p.length), v: new Float32Array(p.length) }));
  const g0 = ws.grads[0]!;
  const grads0: Float32Array[] = [g0.wEncT, g0.bEnc, g0.wDec, g0.bDec];

  const orderRandom = rng(c.seed, "sae-order");
  for (let i = 0; i < n; i++) ws.order[i] = i;
  const stepsPerEpoch = Math.ceil(n / c.batchSize);
  const totalSteps = stepsPerEpoch * c.epochs;
  const decayFrom = Math.floor(totalSteps * (1 - c.decayFraction));
  // Sample count at each latent's last firing; starting at 0 gives every latent deadAfter samples of grace.
  const lastFired = new Float64Array(dSae);
  let seen = 0;
  let step = 0;
  // Running residual energy per sample, to scale the AuxK loss relative to what is left to explain.
  let residualEnergy = variance;
  const epochs: EpochStats[] = [];
  const adam: AdamConfig = { lr: c.lr, beta1: c.beta1, beta2: c.beta2, eps: c.eps };

  for (let epoch = 1; epoch <= c.epochs; epoch++) {
    const t0 = performance.now();
    let lastLog = t0;
    shuffle(ws.order, orderRandom);
    const firedInEpoch = new Uint8Array(dSae);
    let sse = 0, active = 0, auxSse = 0, auxBase = 0;
    for (let start = 0; start < n; start += c.batchSize) {
      const end = Math.min(n, start + c.batchSize);
      const b = end - start;
      let anyDead = false;
      for (let i = 0; i < dSae; i++) {
        const d = seen - lastFired[i]! > c.deadAfter ? 1 : 0;
        ws.dead[i] = d;
        if (d) anyDead = true;
      }
      const o: StepOptions = { k, kAux: c.kAux, mainScale: 1 / (b * variance), auxScale: c.auxCoef / (b * residualEnergy) };
      const half = Math.ceil(b / SHARDS);
      const jobs: Promise<ShardStats>[] = [];
      const bounds: [number, number][] = [];
      for (let s = 0; s < SHARDS; s++) {
        const a = start + s * half;
        const e = Math.min(end, a + half);
        bounds.push([a, e]);
        jobs.push(backend.grad(s, a, e, o, anyDead));
      }
      const stats = await Promise.all(jobs);
      let batchSse = 0;
      for (let s = 0; s < SHARDS; s++) {
        const st = stats[s]!;
        batchSse += st.sse;
        active += st.active;
        auxSse += st.auxSse;
        auxBase += st.auxBase;
        if (s > 0) {
          const gs = ws.grads[s]!;
          const from = [gs.wEncT, gs.bEnc, gs.wDec, gs.bDec];
          for (let p = 0; p < 4; p++) {
            const dst = grads0[p]!;
            const src = from[p]!;
            for (let i = 0; i < dst.length; i++) dst[i] = dst[i]! + src[i]!;
          }
        }
        const [a, e] = bounds[s]!;
        const fired = ws.fired[s]!;
        for (let r = 0; r < (e - a) * k; r++) {
          const f = fired[r]!;
          if (f >= 0) {
            lastFired[f] = seen + b;
            firedInEpoch[f] = 1;
          }
        }
      }
      sse += batchSse;
      residualEnergy = Math.max(batchSse / b, 1e-12);

      step++;
      adam.lr = step > decayFrom ? (c.lr * (totalSteps - step + 1)) / (totalSteps - decayFrom + 1) : c.lr;
      projectOutParallel(sae.wDec, g0.wDec, dSae, dIn);
      for (let p = 0; p < 4; p++) adamUpdate(params[p]!, grads0[p]!, moments[p]!.m, moments[p]!.v, adam, step);
      normalizeRows(sae.wDec, dSae, dIn);
      seen += b;

      const now = performance.now();
      if (now - lastLog > 10_000) {
        lastLog = now;
        log(`  epoch ${epoch} step ${step}/${totalSteps}: ${end}/${n} words, running FVU ${(sse / (end * variance)).toFixed(4)}, lr ${adam.lr.toExponential(2)}`);
      }
    }
    let auxDead = 0;
    for (let i = 0; i < dSae; i++) if (seen - lastFired[i]! > c.deadAfter) auxDead++;
    let unfired = 0;
    for (let i = 0; i < dSae; i++) if (!firedInEpoch[i]) unfired++;
    const es: EpochStats = {
      epoch,
      fvu: sse / (n * variance),
      l0: active / n,
      deadInEpoch: unfired / dSae,
      auxDead,
      auxExplained: auxBase > 0 ? 1 - auxSse / auxBase : NaN,
      seconds: (performance.now() - t0) / 1000,
    };
    epochs.push(es);
    log(
      `epoch ${epoch}/${c.epochs}: FVU ${es.fvu.toFixed(4)}  L0 ${es.l0.toFixed(2)}  dead in epoch ${(100 * es.deadInEpoch).toFixed(2)}%  ` +
        `AuxK-dead ${auxDead}${auxBase > 0 ? ` (AuxK explains ${(100 * es.auxExplained).toFixed(1)}% of their residual)` : ""}  ${es.seconds.toFixed(1)} s`,
    );
  }
  const final = await evaluate(ws, backend, variance);
  return { epochs, final, steps: step };
}
