/**
 * A small gpt2-small atlas whose EVIDENCE is real and whose GEOMETRY is synthetic, for developing
 * and testing the feature pages on GPT-2 token windows (quantile groups, Ġ/Ċ tokens, logits,
 * histograms) without a 24,576 × 768 dictionary in the repo.
 *
 * - Evidence: the SAEDashboard batches in `../shared/fixtures/saedashboard-gpt2-small-0-res-jb/`
 *   (features 0–3 of gpt2-small `0-res-jb`: top activations by quantile, logits, frac_nonzero,
 *   activation histograms), passed to the build as `--activations`.
 * - Geometry: the decoder is NOT the real one. Every row (0–3 included) is a seeded random unit
 *   vector in d_in = 768 from `syntheticDictionary` (clustered, so the map has some shape), and
 *   d_sae is 512 rather than the real 24,576. Neighbours, cosines and map positions therefore mean
 *   nothing about GPT-2; only the examples, logits, density and histogram do.
 *
 *   npx tsx scripts/gpt2-fixture-atlas.ts --out atlases/gpt2-small-0-res-jb
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { buildAtlas } from "../precompute/build.ts";
import { formatNamesFile, NAMES_FILE, type NamesFile } from "../precompute/regions/names-file.ts";
import { syntheticDictionary, writeSaeLensFolder } from "./synthetic-dictionary.ts";

export const GPT2_FIXTURE_ID = "gpt2-small-0-res-jb";
export const GPT2_FIXTURE_FEATURES = 512;
/** The e2e setup renames a continent of this atlas by hand to this, in a second build (an old slug to redirect). */
export const GPT2_RENAMED_REGION = { name: "Renamed in e2e", slug: "renamed-in-e2e" } as const;

const repoRoot = resolve(import.meta.dirname, "..");

/** The two real SAEDashboard batch files (read-only, outside the repo). */
export function gpt2FixtureActivations(root: string = repoRoot): string[] {
  const dir = resolve(root, "../shared/fixtures/saedashboard-gpt2-small-0-res-jb");
  return [join(dir, "batch-0.json"), join(dir, "batch-1.json")];
}

/** Write the synthetic SAELens folder (cfg.json names the real model and hook point). */
export function writeGpt2FixtureDictionary(dir: string, n: number = GPT2_FIXTURE_FEATURES): void {
  const dict = syntheticDictionary({ n, d: 768, clusters: Math.max(1, Math.round(n / 24)), duplicates: 0, seed: 7 });
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let j = 0; j < 768; j++) norm += dict.decoder[i * 768 + j]! ** 2;
    norm = Math.sqrt(norm) || 1;
    for (let j = 0; j < 768; j++) dict.decoder[i * 768 + j]! /= norm;
  }
  writeSaeLensFolder(dir, dict, {
    metadata: {
      model_name: "gpt2-small",
      hook_name: "blocks.0.hook_resid_pre",
      neuronpedia_id: "gpt2-small/0-res-jb",
    },
  });
}

/**
 * Build the atlas into `out` (a temporary dictionary folder is made and removed). `names` is put
 * beside the dictionary as its regions.names.json (hand-written region names and slugs).
 */
export async function buildGpt2FixtureAtlas(out: string, opts: { quiet?: boolean; root?: string; names?: NamesFile } = {}): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "gpt2-fixture-"));
  try {
    const dictionary = join(work, "sae");
    writeGpt2FixtureDictionary(dictionary);
    if (opts.names) writeFileSync(join(dictionary, NAMES_FILE), formatNamesFile(opts.names));
    await buildAtlas({
      dictionary,
      out,
      id: GPT2_FIXTURE_ID,
      title: "GPT-2 small · layer 0 residual (real evidence, synthetic map)",
      description:
        "Top activations, logits and histograms of features 0–3 of gpt2-small 0-res-jb from SAEDashboard; the decoder directions, and so the map and neighbours, are random stand-ins.",
      activations: gpt2FixtureActivations(opts.root),
      labels: [],
      quiet: opts.quiet ?? false,
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const { values } = parseArgs({ options: { out: { type: "string" }, quiet: { type: "boolean" } } });
  await buildGpt2FixtureAtlas(values.out ?? join("atlases", GPT2_FIXTURE_ID), { quiet: values.quiet ?? false });
}
