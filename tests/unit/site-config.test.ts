/**
 * "One site, many atlases": the site config schema and its errors, `buildSite` over a config of
 * two small dictionaries (order, site.json, post-build steps, skipping unchanged atlases), the
 * `build --config` CLI, and a Neuronpedia export folder as one input.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { featureShardSchema, parseManifest, type FeatureRecord } from "../../contract/atlas.ts";
import { parseSiteConfig, siteFileSchema } from "../../contract/site.ts";
import { buildSite, type SiteBuildResult } from "../../precompute/site.ts";
import { buildAtlas } from "../../precompute/build.ts";
import { syntheticDictionary, writeSaeLensFolder } from "../../scripts/synthetic-dictionary.ts";
import { jsonl, repoRoot, write } from "./helpers/read-files.ts";

let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "atlas-site-test-"));
  for (const [name, n, seed] of [["small", 300, 3], ["wide", 600, 4]] as const) {
    writeSaeLensFolder(join(work, "data", name), syntheticDictionary({ n, d: 24, clusters: 6, seed }), {
      metadata: { model_name: "toy-model", hook_name: "blocks.1.hook_resid_pre" },
    });
  }
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function writeConfig(name: string, config: unknown): string {
  const path = join(work, name);
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

const twoAtlases = {
  title: "Toy site",
  atlases: [
    { id: "toy-wide", dictionary: "data/wide", title: "Toy, 600 features", build: { seed: 7, k: 8 } },
    { id: "toy-small", dictionary: "data/small", title: "Toy, 300 features", description: "The narrow one.", build: { k: 8 } },
  ],
};

function shardFeature(dir: string, id: number): FeatureRecord {
  const manifest = parseManifest(JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")));
  const info = manifest.shards.find((s) => id >= s.first && id < s.first + s.count)!;
  return featureShardSchema.parse(JSON.parse(readFileSync(join(dir, info.path), "utf8"))).features[id - info.first]!;
}

describe("site config schema", () => {
  it("fills defaults", () => {
    const c = parseSiteConfig({ atlases: [{ id: "a", dictionary: "x", title: "A" }] }, "c.json");
    expect(c.title).toBe("Feature Atlas");
    expect(c.atlasRoot).toBe("atlases");
    expect(c.atlases[0]).toEqual({ id: "a", dictionary: "x", title: "A", description: "", build: {} });
  });

  it("names the file, the entry (index and id) and the field", () => {
    expect(() => parseSiteConfig({ atlases: [{ id: "a", dictionary: "x", title: "A" }, { id: "b", title: "B" }] }, "site/atlas.config.json")).toThrow(
      /^site\/atlas\.config\.json is not a valid site config:\n {2}atlases\.1 \("b"\)\.dictionary: /,
    );
    expect(() => parseSiteConfig({ atlases: [{ id: "Not A Slug", dictionary: "x", title: "A" }] }, "c.json")).toThrow(/atlases\.0 \("Not A Slug"\)\.id: must be lowercase/);
    expect(() => parseSiteConfig({ atlases: [] }, "c.json")).toThrow(/atlases: must list at least one atlas/);
    expect(() => parseSiteConfig({ atlases: [{ id: "a", dictionary: "x", title: "A", build: { sed: 1 } }] }, "c.json")).toThrow(/atlases\.0 \("a"\)\.build: .*sed/);
    expect(() => parseSiteConfig({ atlases: [{ id: "a", dictionary: "x", title: "A", lables: ["l.json"] }] }, "c.json")).toThrow(/atlases\.0 \("a"\): .*lables/);
  });

  it("refuses two atlases with one id", () => {
    const a = { id: "same", dictionary: "x", title: "A" };
    expect(() => parseSiteConfig({ atlases: [a, a] }, "c.json")).toThrow(/atlases\.1 \("same"\)\.id: "same" is also the id of atlases\.0; ids must be unique/);
  });

  it("the repository's own config is valid and names existing dictionaries", () => {
    const path = join(repoRoot, "atlas.config.json");
    const config = parseSiteConfig(JSON.parse(readFileSync(path, "utf8")), path);
    expect(config.atlases.map((a) => a.id)).toContain("demo");
    for (const a of config.atlases) expect(existsSync(join(repoRoot, a.dictionary)), a.dictionary).toBe(true);
  });
});

describe("buildSite", () => {
  let first: SiteBuildResult;
  const steps: string[] = [];

  it("builds every atlas in config order, writes site.json, then runs the post-build steps", async () => {
    const config = writeConfig("site.json.config", twoAtlases);
    first = await buildSite(config, {
      quiet: true,
      postBuild: [{ name: "record", run: (site) => void steps.push(site.atlases.map((a) => `${a.entry.id}:${a.manifest.counts.features}`).join(",")) }],
    });
    expect(first.atlasRoot).toBe(join(work, "atlases"));
    expect(first.atlases.map((a) => [a.entry.id, a.dir, a.skipped])).toEqual([
      ["toy-wide", join(work, "atlases", "toy-wide"), false],
      ["toy-small", join(work, "atlases", "toy-small"), false],
    ]);
    expect(steps).toEqual(["toy-wide:600,toy-small:300"]);
    const wide = parseManifest(JSON.parse(readFileSync(join(work, "atlases", "toy-wide", "manifest.json"), "utf8")));
    expect(wide.title).toBe("Toy, 600 features");
    expect(wide.params.seed).toBe(7);
    expect(wide.params.knn.k).toBe(8);
    const small = parseManifest(JSON.parse(readFileSync(join(work, "atlases", "toy-small", "manifest.json"), "utf8")));
    expect(small.description).toBe("The narrow one.");
    expect(small.params.seed).toBe(42);
    expect(small.activity).toEqual({ meanL0: null, medianDensity: null });
    const site = siteFileSchema.parse(JSON.parse(readFileSync(join(work, "atlases", "site.json"), "utf8")));
    expect(site).toEqual({ title: "Toy site", description: null, atlases: ["toy-wide", "toy-small"] });
  });

  it("gives the same bytes as buildAtlas with the same options", async () => {
    await buildAtlas({ dictionary: join(work, "data", "small"), out: join(work, "direct", "toy-small"), id: "toy-small", title: "Toy, 300 features", description: "The narrow one.", k: 8, quiet: true });
    expect(readFileSync(join(work, "direct", "toy-small", "manifest.json"), "utf8")).toBe(readFileSync(join(work, "atlases", "toy-small", "manifest.json"), "utf8"));
  });

  it("skips an unchanged atlas, and rebuilds one whose title, options or inputs changed", async () => {
    const config = writeConfig("site.json.config", twoAtlases);
    const again = await buildSite(config, { quiet: true, skipUpToDate: true });
    expect(again.atlases.map((a) => a.skipped)).toEqual([true, true]);
    expect(again.atlases[1]!.manifest).toEqual(first.atlases[1]!.manifest);

    const changed = structuredClone(twoAtlases);
    changed.atlases[0]!.title = "Toy, renamed";
    changed.atlases[1]!.build = { k: 9 };
    const second = await buildSite(writeConfig("site.json.config", changed), { quiet: true, skipUpToDate: true });
    expect(second.atlases.map((a) => a.skipped)).toEqual([false, false]);

    writeFileSync(join(work, "data", "small", "labels.json"), JSON.stringify({ "0": "a new label" }));
    const third = await buildSite(writeConfig("site.json.config", changed), { quiet: true, skipUpToDate: true, only: ["toy-small"] });
    expect(third.atlases.map((a) => [a.entry.id, a.skipped])).toEqual([["toy-small", false]]);
    writeFileSync(join(work, "data", "small", "labels.json"), JSON.stringify({ "0": "an edited label" }));
    const fourth = await buildSite(writeConfig("site.json.config", changed), { quiet: true, skipUpToDate: true });
    expect(fourth.atlases.map((a) => a.skipped)).toEqual([true, false]);
    expect(shardFeature(join(work, "atlases", "toy-small"), 0).label).toBe("an edited label");
    rmSync(join(work, "data", "small", "labels.json"));
  });

  it("names the config and the entry when a path is missing, before building anything", async () => {
    const bad = structuredClone(twoAtlases) as typeof twoAtlases & { atlases: { neuronpedia?: string }[] };
    bad.atlases[1]!.neuronpedia = "exports/nowhere";
    const out = join(work, "never");
    const config = writeConfig("bad.config.json", bad);
    await expect(buildSite(config, { quiet: true, out })).rejects.toThrow(
      new RegExp(`^${config.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: atlases\\.1 \\("toy-small"\\)\\.neuronpedia: .*exports/nowhere does not exist`),
    );
    expect(existsSync(join(out, "toy-wide"))).toBe(false);
    await expect(buildSite(config, { quiet: true, out, only: ["toy-tiny"] })).rejects.toThrow(/lists no atlas "toy-tiny"; it has toy-wide, toy-small/);
  });

  it("an error inside a build names the config and the entry", async () => {
    const bad = structuredClone(twoAtlases) as typeof twoAtlases & { atlases: { labels?: string[] }[] };
    write(join(work, "bad-labels.json"), JSON.stringify({ "5000": "past the end" }));
    bad.atlases[1]!.labels = ["bad-labels.json"];
    const config = writeConfig("bad2.config.json", bad);
    await expect(buildSite(config, { quiet: true, out: join(work, "bad2"), only: ["toy-small"] })).rejects.toThrow(/bad2\.config\.json: atlases\.1 \("toy-small"\): .*5000/);
  });

  it("npm run atlas -- build --config: builds, reports per atlas, and refuses per-atlas flags", () => {
    const config = writeConfig("cli.config.json", { ...twoAtlases, atlases: [twoAtlases.atlases[1]] });
    const cli = (args: string[]) => spawnSync(process.execPath, [join(repoRoot, "node_modules", "tsx", "dist", "cli.mjs"), join(repoRoot, "precompute", "cli.ts"), ...args], { encoding: "utf8", cwd: work });
    const ok = cli(["build", "--config", config, "--out", "cli-out"]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/=== 1\/1: toy-small \(data\/small\) ===/);
    expect(ok.stderr).toMatch(/\[Site\] 1 atlas in .*cli-out\n {2}toy-small +300 features {2}built in/);
    expect(statSync(join(work, "cli-out", "toy-small", "manifest.json")).isFile()).toBe(true);
    const flag = cli(["build", "--config", config, "--seed", "3"]);
    expect(flag.status).toBe(1);
    expect(flag.stderr).toBe("error: --seed describes one atlas; with --config put it in the config's entry for that atlas\n");
    const broken = cli(["build", "--config", writeConfig("broken.config.json", { atlases: [{ id: "x", title: "X" }] })]);
    expect(broken.status).toBe(1);
    expect(broken.stderr).toMatch(/^error: \S*broken\.config\.json is not a valid site config:\n {2}atlases\.0 \("x"\)\.dictionary: /);
    expect(broken.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("a Neuronpedia export folder as one input", () => {
  /** An export per the bucket layout (/work/shared/FORMATS.md §7): three explanations for feature 0, one for 1, none for 2. */
  function npExport(root: string): string {
    const row = { modelId: "toy-model", layer: "1-res-toy" };
    write(join(root, "features", "batch-0.jsonl.gz"), jsonl([
      { ...row, index: "0", frac_nonzero: 0.02, pos_str: ["Ġrain"], pos_values: [1.5], neg_str: ["Ġsun"], neg_values: [-1.2], freq_hist_data_bar_heights: [3, 1], freq_hist_data_bar_values: [0.5, 1.5] },
      { ...row, index: "2", frac_nonzero: 0.5, pos_str: [], pos_values: [], neg_str: [], neg_values: [] },
    ]), true);
    write(join(root, "explanations", "batch-0.jsonl.gz"), jsonl([
      { ...row, id: "e1", index: "0", description: "weather words", typeName: "oai_token-act-pair", explanationModelName: "gpt-4o-mini", scores: [{ value: 0.4 }] },
      { ...row, id: "e2", index: "0", description: "rain and storms", typeName: "np_acts-logits-general", explanationModelName: "claude-3-5-haiku", scores: [{ value: 0.9 }] },
      { ...row, id: "e3", index: "0", description: "precipitation", typeName: "oai_token-act-pair", explanationModelName: "gpt-3.5-turbo", embedding: "[0.0, 1.0]" },
      { ...row, id: "e4", index: "1", description: "the letter q", typeName: "oai_token-act-pair", explanationModelName: "gpt-4o-mini" },
    ]), true);
    write(join(root, "activations", "batch-0.jsonl.gz"), jsonl([
      { ...row, id: "a1", index: "0", tokens: ["ĠIt", "Ġrained"], values: [0, 3], maxValue: 3, maxValueTokenIndex: 1, binMin: -1, binMax: 3, binContains: -1, dfaValues: [] },
    ]), true);
    return root;
  }

  it("labels from the best-scored explanation, the others kept, evidence from features/ and activations/", async () => {
    const exportDir = npExport(join(work, "exports", "toy"));
    const config = writeConfig("np.config.json", {
      atlases: [{ id: "toy-np", dictionary: "data/small", title: "Toy with Neuronpedia", neuronpedia: "exports/toy", build: { k: 8 } }],
    });
    const site = await buildSite(config, { quiet: true, out: join(work, "np") });
    const manifest = site.atlases[0]!.manifest;
    expect(manifest.counts.labelled).toBe(2);
    // Densities of 2 of 300 features: a median, but no L0 (a partial sum would understate it).
    expect(manifest.activity).toEqual({ meanL0: null, medianDensity: 0.26 });
    expect(manifest.inputs.filter((f) => f.role !== "config" && f.role !== "weights").map((f) => `${f.role}:${f.name}`)).toEqual([
      "activations:activations/batch-0.jsonl.gz",
      "activations:features/batch-0.jsonl.gz",
      "labels:explanations/batch-0.jsonl.gz",
    ]);
    const dir = join(work, "np", "toy-np");
    const f0 = shardFeature(dir, 0);
    expect(f0.label).toBe("rain and storms");
    expect(f0.labelSource).toBe("claude-3-5-haiku");
    expect(f0.otherLabels).toEqual(["weather words", "precipitation"]);
    expect(f0.density).toBe(0.02);
    expect(f0.logits).toEqual({ positive: [{ token: " rain", value: 1.5 }], negative: [{ token: " sun", value: -1.2 }] });
    expect(f0.histogram).toEqual({ heights: [3, 1], values: [0.5, 1.5] });
    expect(f0.examples.map((e) => e.tokens.join(""))).toEqual([" It rained"]);
    expect(shardFeature(dir, 1)).toMatchObject({ label: "the letter q", otherLabels: [] });
    expect(shardFeature(dir, 2)).toMatchObject({ label: null, density: 0.5 });

    // Unchanged: recognised by the export's files (named relative to the export folder).
    expect((await buildSite(config, { quiet: true, out: join(work, "np"), skipUpToDate: true })).atlases[0]!.skipped).toBe(true);

    // The same through the CLI flag, byte for byte.
    const cli = spawnSync(process.execPath, [join(repoRoot, "node_modules", "tsx", "dist", "cli.mjs"), join(repoRoot, "precompute", "cli.ts"),
      "build", join(work, "data", "small"), "--out", join(work, "np-cli", "toy-np"), "--neuronpedia", exportDir, "--title", "Toy with Neuronpedia", "--k", "8", "--quiet"], { encoding: "utf8" });
    expect(cli.status, cli.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(work, "np-cli", "toy-np", "manifest.json"), "utf8"))).toEqual(JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")));
    expect(readFileSync(join(work, "np-cli", "toy-np", "manifest.json"), "utf8")).toBe(readFileSync(join(dir, "manifest.json"), "utf8"));
  });

  it("a folder that is no export is refused with its name", async () => {
    const config = writeConfig("np-bad.config.json", { atlases: [{ id: "toy-np", dictionary: "data/small", title: "T", neuronpedia: "data/wide" }] });
    await expect(buildSite(config, { quiet: true, out: join(work, "np-bad") })).rejects.toThrow(/np-bad\.config\.json: atlases\.0 \("toy-np"\): wide: has none of features\/, explanations\/, activations\/; is it a Neuronpedia export folder\?/);
  });
});
