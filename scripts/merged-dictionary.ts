/**
 * A narrower sibling of a dictionary, for testing feature splitting without training a second
 * width: spherical k-means (seeded, fixed rounds) merges the decoder rows into `n` directions, and
 * each merged feature is labelled with the label of its member nearest the centroid. The result
 * is a SAELens folder with the same model and hook point, so `atlas splits` pairs it with the
 * original, whose features then "split" from these much as a wider SAE's features split from a
 * narrower one's. It is NOT a trained SAE (no encoder, no examples): only the decoder geometry
 * and the labels mean something.
 *
 *   npx tsx scripts/merged-dictionary.ts data/demo /tmp/demo-1k 1024
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readDictionary } from "../precompute/read/detect.ts";
import { encodeSafetensors } from "../precompute/read/safetensors.ts";
import { rng, shuffle } from "../precompute/random.ts";

const ROUNDS = 8;

/** Write the merged dictionary of `source` with `n` features into `out`; returns its d_sae. */
export function writeMergedDictionary(source: string, out: string, n: number, seed = 0): number {
  const dict = readDictionary(source);
  const { dSae, dIn: d } = dict.info;
  if (n >= dSae) throw new Error(`merged-dictionary: ${n} features is not narrower than ${dSae}`);
  const unit = new Float64Array(dSae * d);
  for (let i = 0; i < dSae; i++) {
    let norm = 0;
    for (let t = 0; t < d; t++) norm += dict.decoder[i * d + t]! ** 2;
    norm = Math.sqrt(norm) || 1;
    for (let t = 0; t < d; t++) unit[i * d + t] = dict.decoder[i * d + t]! / norm;
  }
  const order = Array.from({ length: dSae }, (_, i) => i);
  shuffle(order, rng(seed, "merged-dictionary"));
  const centres = new Float64Array(n * d);
  for (let c = 0; c < n; c++) centres.set(unit.subarray(order[c]! * d, (order[c]! + 1) * d), c * d);
  const assign = new Int32Array(dSae);
  const best = new Float64Array(dSae);
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < dSae; i++) {
      let bc = 0, bv = -Infinity;
      for (let c = 0; c < n; c++) {
        let dot = 0;
        for (let t = 0; t < d; t++) dot += unit[i * d + t]! * centres[c * d + t]!;
        if (dot > bv) (bv = dot), (bc = c);
      }
      assign[i] = bc;
      best[i] = bv;
    }
    const sums = new Float64Array(n * d);
    const counts = new Int32Array(n);
    for (let i = 0; i < dSae; i++) {
      counts[assign[i]!]!++;
      for (let t = 0; t < d; t++) sums[assign[i]! * d + t]! += unit[i * d + t]!;
    }
    for (let c = 0; c < n; c++) {
      // An empty cluster keeps its centre: a merged feature with no member is still a direction.
      if (counts[c] === 0) continue;
      let norm = 0;
      for (let t = 0; t < d; t++) norm += sums[c * d + t]! ** 2;
      norm = Math.sqrt(norm) || 1;
      for (let t = 0; t < d; t++) centres[c * d + t] = sums[c * d + t]! / norm;
    }
  }
  let labels: Record<string, string> = {};
  try {
    labels = JSON.parse(readFileSync(join(source, "labels.json"), "utf8")) as Record<string, string>;
  } catch {
    /* no labels beside the source: the merged features stay unlabelled */
  }
  const merged: Record<string, string> = {};
  const nearest = new Int32Array(n).fill(-1);
  for (let i = 0; i < dSae; i++) {
    const c = assign[i]!;
    if (nearest[c]! < 0 || best[i]! > best[nearest[c]!]!) nearest[c] = i;
  }
  for (let c = 0; c < n; c++) {
    const label = nearest[c]! >= 0 ? labels[String(nearest[c])] : undefined;
    if (label) merged[String(c)] = label;
  }
  mkdirSync(out, { recursive: true });
  const raw = dict.info.rawConfig as { metadata?: Record<string, unknown> };
  writeFileSync(
    join(out, "cfg.json"),
    JSON.stringify(
      {
        d_in: d,
        d_sae: n,
        architecture: "standard",
        dtype: "float32",
        metadata: { ...(raw.metadata ?? {}), model_name: dict.info.model, hook_name: dict.info.hookName, neuronpedia_id: null },
      },
      null,
      2,
    ),
  );
  writeFileSync(
    join(out, "sae_weights.safetensors"),
    encodeSafetensors({
      W_dec: { dtype: "F32", shape: [n, d], data: Float32Array.from(centres) },
      b_dec: { dtype: "F32", shape: [d], data: new Float32Array(d) },
    }),
  );
  writeFileSync(join(out, "labels.json"), JSON.stringify(merged));
  return n;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [source, out, n] = process.argv.slice(2);
  if (!source || !out || !n) {
    process.stderr.write("usage: npx tsx scripts/merged-dictionary.ts <dictionary> <out folder> <features>\n");
    process.exit(1);
  }
  writeMergedDictionary(source, out, Number(n));
}
