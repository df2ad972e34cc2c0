import { describe, it, expect } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rng, gaussian } from "../../precompute/random.ts";
import { InputError, encodeSafetensors, readSafetensorsHeader, readTensorF32 } from "../../precompute/read/safetensors.ts";
import { readDictionary } from "../../precompute/read/detect.ts";
import {
  allocSae, allocGrads, allocScratch, accumulateGradients, encodeRows, topKPositive,
  projectOutParallel, normalizeRows, type Sae, type StepOptions,
} from "../../scripts/train/topk-sae.ts";
import { allocWorkspace, inlineBackend, workerBackend, train, type TrainConfig } from "../../scripts/train/trainer.ts";
import { readWinkVectors } from "../../scripts/train/wink-vectors.ts";
import { saeWeightTensors } from "../../scripts/train/sae-files.ts";
import { nearDuplicate, nearestWords, topActivations, unitRows } from "../../scripts/train/labels.ts";

function randomSae(dIn: number, dSae: number, seed: number): Sae {
  const r = rng(seed, "test-sae");
  const sae = allocSae(dIn, dSae);
  for (let i = 0; i < sae.wDec.length; i++) sae.wDec[i] = gaussian(r);
  normalizeRows(sae.wDec, dSae, dIn);
  for (let i = 0; i < sae.wEncT.length; i++) sae.wEncT[i] = gaussian(r) * 0.5;
  for (let i = 0; i < dSae; i++) sae.bEnc[i] = gaussian(r) * 0.1;
  for (let i = 0; i < dIn; i++) sae.bDec[i] = gaussian(r) * 0.1;
  return sae;
}

function randomData(n: number, dIn: number, seed: number): Float32Array {
  const r = rng(seed, "test-data");
  return Float32Array.from({ length: n * dIn }, () => gaussian(r));
}

/** n points, each a sparse positive mix of 2 of `atoms` random unit directions plus a little noise. */
function sparseMixtures(n: number, dIn: number, atoms: number, seed: number): Float32Array {
  const r = rng(seed, "test-mix");
  const dirs = Float32Array.from({ length: atoms * dIn }, () => gaussian(r));
  normalizeRows(dirs, atoms, dIn);
  const x = new Float32Array(n * dIn);
  for (let s = 0; s < n; s++) {
    for (let j = 0; j < 2; j++) {
      const a = Math.floor(r() * atoms);
      const c = 1 + r();
      for (let d = 0; d < dIn; d++) x[s * dIn + d] = x[s * dIn + d]! + c * dirs[a * dIn + d]!;
    }
    for (let d = 0; d < dIn; d++) x[s * dIn + d] = x[s * dIn + d]! + 0.02 * gaussian(r);
  }
  return x;
}

const toyConfig = (over: Partial<TrainConfig> = {}): TrainConfig => ({
  dSae: 48, k: 2, kAux: 4, auxCoef: 1 / 32, deadAfter: 400, batchSize: 32, epochs: 8, lr: 3e-3,
  decayFraction: 0.3, beta1: 0.9, beta2: 0.999, eps: 6.25e-10, seed: 7, ...over,
});

describe("topKPositive", () => {
  it("keeps exactly the k largest positive values, in descending order", () => {
    const v = Float32Array.from([0.3, -1, 2, 0.7, 5, 0.1, 2, -3, 0.9]);
    const idx = new Int32Array(4);
    const val = new Float32Array(4);
    expect(topKPositive(v, 0, v.length, 4, idx, val)).toBe(4);
    expect([...idx]).toEqual([4, 2, 6, 8]); // the tie at 2 goes to the lower index first
    expect([...val]).toEqual([5, 2, 2, Math.fround(0.9)]);
  });

  it("applies the ReLU after TopK: fewer than k positives give fewer than k actives", () => {
    const v = Float32Array.from([-0.5, 0.25, 0, -2, 1]);
    const idx = new Int32Array(3);
    const val = new Float32Array(3);
    expect(topKPositive(v, 0, v.length, 3, idx, val)).toBe(2);
    expect([...idx.slice(0, 2)]).toEqual([4, 1]);
  });

  it("respects the mask and the offset", () => {
    const v = Float32Array.from([9, 9, 3, 1, 2, 4]);
    const idx = new Int32Array(2);
    const val = new Float32Array(2);
    const mask = Uint8Array.from([1, 0, 1, 1]);
    expect(topKPositive(v, 2, 4, 2, idx, val, mask)).toBe(2);
    // Candidates are v[2..5] = [3, 1, 2, 4] with local indices 0..3; index 1 is masked out.
    expect([...idx]).toEqual([3, 0]);
    expect([...val]).toEqual([4, 3]);
  });
});

describe("accumulateGradients", () => {
  it("matches finite differences of the reconstruction loss", () => {
    const dIn = 6, dSae = 16, k = 3, n = 10;
    const sae = randomSae(dIn, dSae, 1);
    const x = randomData(n, dIn, 2);
    const order = Int32Array.from({ length: n }, (_, i) => i);
    const o: StepOptions = { k, kAux: 0, mainScale: 1 / n, auxScale: 0 };
    const g = allocGrads(dIn, dSae);
    const s = allocScratch(dIn, dSae, k, 1);
    const fired = new Int32Array(n * k);
    accumulateGradients(sae, x, order, 0, n, null, o, g, fired, s);

    const encIdx = new Int32Array(n * k);
    const encVal = new Float32Array(n * k);
    const loss = (): number => encodeRows(sae, x, 0, n, k, encIdx, encVal, allocScratch(dIn, dSae, k, 1)) / n;
    loss();
    const activeSet = encIdx.slice();
    const sameSet = (): boolean => encIdx.every((v, j) => v === activeSet[j]);
    const checks: [Float32Array, Float32Array, string][] = [
      [sae.wEncT, g.wEncT, "wEncT"], [sae.bEnc, g.bEnc, "bEnc"], [sae.wDec, g.wDec, "wDec"], [sae.bDec, g.bDec, "bDec"],
    ];
    let compared = 0, skipped = 0;
    for (const [p, gp, name] of checks) {
      for (let i = 0; i < p.length; i++) {
        const h = 1e-3;
        const keep = p[i]!;
        p[i] = keep + h;
        const up = loss();
        let same = sameSet();
        p[i] = keep - h;
        const down = loss();
        same &&= sameSet();
        p[i] = keep;
        // A step that changes which latents are in the top k makes the loss jump: not a derivative.
        if (!same) {
          skipped++;
          continue;
        }
        const numeric = (up - down) / (2 * h);
        expect(Math.abs(gp[i]! - numeric), `${name}[${i}]: analytic ${gp[i]} vs numeric ${numeric}`).toBeLessThan(2e-3 * Math.max(1, Math.abs(numeric)));
        compared++;
      }
    }
    expect(skipped).toBeLessThan(compared / 10);
    expect(compared).toBeGreaterThan(100);
  });

  it("records exactly the active latents of every sample", () => {
    const dIn = 5, dSae = 20, k = 4, n = 9;
    const sae = randomSae(dIn, dSae, 3);
    const x = randomData(n, dIn, 4);
    const order = Int32Array.from([8, 1, 4, 0, 2, 7, 3, 5, 6]);
    const fired = new Int32Array(n * k);
    accumulateGradients(sae, x, order, 0, n, null, { k, kAux: 0, mainScale: 1, auxScale: 0 }, allocGrads(dIn, dSae), fired, allocScratch(dIn, dSae, k, 1));
    const encIdx = new Int32Array(n * k);
    encodeRows(sae, x, 0, n, k, encIdx, new Float32Array(n * k), allocScratch(dIn, dSae, k, 1));
    for (let p = 0; p < n; p++) {
      expect([...fired.slice(p * k, p * k + k)]).toEqual([...encIdx.slice(order[p]! * k, order[p]! * k + k)]);
    }
  });

  it("sends AuxK gradient only to latents marked dead", () => {
    const dIn = 5, dSae = 24, k = 2, n = 8;
    const sae = randomSae(dIn, dSae, 5);
    const x = randomData(n, dIn, 6);
    const order = Int32Array.from({ length: n }, (_, i) => i);
    const dead = new Uint8Array(dSae);
    for (let i = 0; i < dSae; i += 3) dead[i] = 1;
    const base = allocGrads(dIn, dSae);
    const withAux = allocGrads(dIn, dSae);
    const s = allocScratch(dIn, dSae, k, 4);
    const fired = new Int32Array(n * k);
    accumulateGradients(sae, x, order, 0, n, null, { k, kAux: 4, mainScale: 1, auxScale: 1 }, base, fired, s);
    const stats = accumulateGradients(sae, x, order, 0, n, dead, { k, kAux: 4, mainScale: 1, auxScale: 1 }, withAux, fired, s);
    expect(stats.auxSse).toBeGreaterThan(0);
    let changedDead = 0;
    for (let i = 0; i < dSae; i++) {
      const diff = Math.abs(withAux.bEnc[i]! - base.bEnc[i]!);
      if (dead[i]) changedDead += diff > 0 ? 1 : 0;
      else expect(diff, `live latent ${i}`).toBe(0);
    }
    expect(changedDead).toBeGreaterThan(0);
  });
});

describe("decoder constraint", () => {
  it("removes the gradient component along each decoder row", () => {
    const dIn = 7, rows = 5;
    const r = rng(9, "proj");
    const w = Float32Array.from({ length: rows * dIn }, () => gaussian(r));
    normalizeRows(w, rows, dIn);
    const g = Float32Array.from({ length: rows * dIn }, () => gaussian(r));
    projectOutParallel(w, g, rows, dIn);
    for (let i = 0; i < rows; i++) {
      let dot = 0, norm = 0;
      for (let d = 0; d < dIn; d++) {
        dot += w[i * dIn + d]! * g[i * dIn + d]!;
        norm += w[i * dIn + d]! ** 2;
      }
      expect(Math.abs(dot)).toBeLessThan(1e-5);
      expect(Math.sqrt(norm)).toBeCloseTo(1, 5);
    }
  });
});

describe("train", () => {
  it("reduces the loss on sparse mixtures, keeps decoder rows unit-norm and L0 ≤ k", async () => {
    const dIn = 12, n = 1500;
    const x = sparseMixtures(n, dIn, 24, 11);
    const c = toyConfig();
    const ws = allocWorkspace(x, n, dIn, c, false);
    const result = await train(ws, inlineBackend(ws), c);
    const first = result.epochs[0]!.fvu;
    expect(result.final.fvu).toBeLessThan(first * 0.6);
    expect(result.final.fvu).toBeLessThan(0.25);
    expect(result.final.l0).toBeLessThanOrEqual(c.k);
    for (let i = 0; i < c.dSae; i++) {
      let n2 = 0;
      for (let d = 0; d < dIn; d++) n2 += ws.sae.wDec[i * dIn + d]! ** 2;
      expect(Math.sqrt(n2)).toBeCloseTo(1, 5);
    }
  });

  it("gives bit-identical weights on worker threads and inline", async () => {
    const dIn = 10, n = 600;
    const x = sparseMixtures(n, dIn, 16, 12);
    const c = toyConfig({ epochs: 3, dSae: 40 });
    const a = allocWorkspace(x, n, dIn, c, false);
    await train(a, inlineBackend(a), c);
    const b = allocWorkspace(x, n, dIn, c, true);
    const backend = await workerBackend(b, 2);
    try {
      await train(b, backend, c);
    } finally {
      await backend.close();
    }
    expect(Buffer.from(b.sae.wDec.buffer).equals(Buffer.from(a.sae.wDec.buffer))).toBe(true);
    expect(Buffer.from(b.sae.wEncT.buffer).equals(Buffer.from(a.sae.wEncT.buffer))).toBe(true);
    expect([...b.encIdx]).toEqual([...a.encIdx]);
    // A different seed must give different weights, or the comparison above proves nothing.
    const d = allocWorkspace(x, n, dIn, { ...c, seed: 8 }, false);
    await train(d, inlineBackend(d), { ...c, seed: 8 });
    expect(Buffer.from(d.sae.wDec.buffer).equals(Buffer.from(a.sae.wDec.buffer))).toBe(false);
  });
});

describe("readWinkVectors", () => {
  const entry = (w: string, v: number[], i: number): string =>
    `${JSON.stringify(w)}:[${[...v, Math.hypot(...v), i].join(",")}]`;
  const file = (entries: string[]): string => {
    const dir = mkdtempSync(join(tmpdir(), "wink-"));
    const p = join(dir, "wink.json");
    writeFileSync(p, `{"precision":8,"l2NormIndex":3,"wordIndex":4,"size":${entries.length},"dimensions":3,"words":[],"vectors":{${entries.join(",")}},"unkVector":[0,0,0,0,-1]}`);
    return p;
  };

  it("reads accepted words in frequency order and stops at the limit", () => {
    const p = file([entry("the", [1, 2, 2], 0), entry(",", [0, 1, 0], 1), entry("\"", [1, 0, 0], 2), entry("cat", [3, 0, 4], 3), entry("dog", [0, 0, 1], 4)]);
    const wv = readWinkVectors(p, 2, (w) => /^[a-z]{2,}$/.test(w));
    expect(wv.words).toEqual(["the", "cat"]);
    expect([...wv.ranks]).toEqual([0, 3]);
    expect([...wv.vectors]).toEqual([1, 2, 2, 3, 0, 4]);
    expect(wv.dim).toBe(3);
  });

  it("refuses a vector whose stored norm disagrees, naming the word and byte offset", () => {
    const p = file([entry("the", [1, 2, 2], 0), `"cat":[3,0,4,7,1]`]);
    expect(() => readWinkVectors(p, 2, () => true)).toThrow(InputError);
    expect(() => readWinkVectors(p, 2, () => true)).toThrow(/byte \d+: vector of "cat" \(entry 1\) has stored norm 7/);
  });

  it("refuses entries out of frequency order and too few words", () => {
    expect(() => readWinkVectors(file([entry("the", [1, 2, 2], 1)]), 1, () => true)).toThrow(/frequency index 1, expected 0/);
    expect(() => readWinkVectors(file([entry("the", [1, 2, 2], 0)]), 2, () => true)).toThrow(/only 1 acceptable words/);
  });
});

describe("labels", () => {
  it("treats inflections as near-duplicates but not unrelated words", () => {
    for (const [a, b] of [["nation", "national"], ["study", "studies"], ["economic", "economy"], ["run", "runs"]]) expect(nearDuplicate(a!, b!), `${a}/${b}`).toBe(true);
    for (const [a, b] of [["men", "mention"], ["france", "french"], ["black", "blank"], ["cat", "dog"]]) expect(nearDuplicate(a!, b!), `${a}/${b}`).toBe(false);
  });

  it("labels a direction with the nearest candidate words, skipping near-duplicates", () => {
    const words = ["cat", "cats", "kitten", "car", "dog"];
    const vecs = unitRows(Float32Array.from([1, 0, 0.1, 0.99, 0, 0.12, 0.9, 0.3, 0, 0, 1, 0, 0.5, 0.5, 0.5]), 5, 3);
    const wDec = Float32Array.from([2, 0, 0]); // not unit: the cosine must not care
    const [label] = nearestWords(wDec, 1, 3, vecs, 5, words, 3);
    expect(label!.map((i) => words[i])).toEqual(["cat", "kitten", "dog"]);
  });

  it("finds each feature's top-activating rows in order", () => {
    // 4 rows, k=2, 3 features
    const encIdx = Int32Array.from([0, 1, 0, -1, 2, 0, 1, 2]);
    const encVal = Float32Array.from([1, 2, 3, 0, 5, 0.5, 4, 1]);
    const t = topActivations(encIdx, encVal, 4, 2, 3, 2);
    expect([...t.rows]).toEqual([1, 0, 3, 0, 2, 3]);
    expect([...t.vals]).toEqual([3, 1, 4, 2, 5, 1]);
  });
});

describe("saeWeightTensors", () => {
  const dIn = 6, dSae = 20;
  const trained = async (seed: number): Promise<Sae> => {
    const x = sparseMixtures(300, dIn, 10, 13);
    const c = toyConfig({ dSae, epochs: 2, seed });
    const ws = allocWorkspace(x, 300, dIn, c, false);
    await train(ws, inlineBackend(ws), c);
    return ws.sae;
  };
  const write = (sae: Sae, dtype: "F32" | "F16" | "BF16", decoderOnly: boolean): string => {
    const dir = mkdtempSync(join(tmpdir(), "sae-files-"));
    writeFileSync(join(dir, "sae_weights.safetensors"), encodeSafetensors(saeWeightTensors(sae, { dtype, decoderOnly })));
    writeFileSync(join(dir, "cfg.json"), JSON.stringify({ d_sae: dSae, d_in: dIn, architecture: "topk", k: 2, metadata: { model_name: "toy", hook_name: "h" } }));
    return dir;
  };

  it("writes the full SAE in F32 exactly, with W_enc in SAELens [d_in, d_sae] orientation", async () => {
    const sae = await trained(7);
    const f = readSafetensorsHeader(join(write(sae, "F32", false), "sae_weights.safetensors"));
    expect([...f.tensors.keys()].sort()).toEqual(["W_dec", "W_enc", "b_dec", "b_enc"]);
    expect(f.tensors.get("W_enc")!.shape).toEqual([dIn, dSae]);
    const wEnc = readTensorF32(f, "W_enc");
    for (let i = 0; i < dSae; i++) for (let d = 0; d < dIn; d++) expect(wEnc[d * dSae + i]).toBe(sae.wEncT[i * dIn + d]);
    expect([...readTensorF32(f, "W_dec")]).toEqual([...sae.wDec]);
    expect([...readTensorF32(f, "b_enc")]).toEqual([...sae.bEnc]);
  });

  it("writes a decoder-only F16 file the atlas reader accepts, within half-precision rounding", async () => {
    const sae = await trained(7);
    const dir = write(sae, "F16", true);
    const f = readSafetensorsHeader(join(dir, "sae_weights.safetensors"));
    expect([...f.tensors.keys()].sort()).toEqual(["W_dec", "b_dec"]);
    expect(f.tensors.get("W_dec")!.dtype).toBe("F16");
    const dict = readDictionary(dir, { warn: () => {} });
    expect(dict.info.dSae).toBe(dSae);
    expect(dict.info.dtype).toBe("F16");
    let maxRel = 0, changed = 0;
    for (let i = 0; i < sae.wDec.length; i++) {
      const a = sae.wDec[i]!, b = dict.decoder[i]!;
      if (a !== b) changed++;
      // Unit-norm rows: entries are in [-1, 1], where binary16 spacing is at most 2^-11 relative (or 2^-24 absolute near 0).
      maxRel = Math.max(maxRel, Math.abs(a - b) / Math.max(Math.abs(a), 2 ** -14));
    }
    expect(maxRel).toBeLessThanOrEqual(2 ** -11);
    expect(changed).toBeGreaterThan(sae.wDec.length / 2); // it really was rounded, not stored as F32
  });

  it("rounds BF16 to 8 significant bits and keeps every tensor's shape", async () => {
    const sae = await trained(7);
    const f = readSafetensorsHeader(join(write(sae, "BF16", false), "sae_weights.safetensors"));
    for (const [name, t] of f.tensors) expect(t.dtype, name).toBe("BF16");
    const wDec = readTensorF32(f, "W_dec");
    for (let i = 0; i < wDec.length; i++) {
      expect(Math.abs(wDec[i]! - sae.wDec[i]!)).toBeLessThanOrEqual(Math.abs(sae.wDec[i]!) * 2 ** -8);
    }
  });

  it("gives byte-identical files for the same seed and options, different ones for another seed", async () => {
    const bytes = (sae: Sae) => encodeSafetensors(saeWeightTensors(sae, { dtype: "F16", decoderOnly: true }));
    const a = bytes(await trained(7));
    expect(a.equals(bytes(await trained(7)))).toBe(true);
    expect(a.equals(bytes(await trained(8)))).toBe(false);
  });
});
