import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanTemp, repoRoot, tempDir } from "./helpers/read-files.ts";
import { writeRunConfig, writeSparsifyFolder } from "./helpers/sparsify-files.ts";

afterAll(cleanTemp);

function atlas(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(repoRoot, "node_modules", "tsx", "dist", "cli.mjs"), join(repoRoot, "precompute", "cli.ts"), ...args], { cwd: repoRoot, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function checkpoint(): string {
  const root = join(tempDir(), "run");
  writeRunConfig(root);
  writeSparsifyFolder(join(root, "layers.2"), { dIn: 8, numLatents: 40, seed: 2 });
  writeSparsifyFolder(join(root, "layers.11"), { dIn: 8, numLatents: 48, seed: 11 });
  return root;
}

describe("atlas CLI on a checkpoint folder", () => {
  it("builds one atlas per hook point into <out>/<id>, saying what it found", () => {
    const root = checkpoint();
    const out = join(tempDir(), "atlases");
    const r = atlas("build", root, "--out", out, "--epochs", "20", "--quiet");
    expect(r.stderr).toContain(`${root} holds 2 dictionaries; building one atlas per hook point:\n  layers.2   sparsify    → ${join(out, "layers-2")}\n  layers.11  sparsify    → ${join(out, "layers-11")}\n`);
    expect(r.code).toBe(0);
    const m2 = JSON.parse(readFileSync(join(out, "layers-2", "manifest.json"), "utf8"));
    const m11 = JSON.parse(readFileSync(join(out, "layers-11", "manifest.json"), "utf8"));
    expect([m2.id, m2.dictionary.hookName, m2.dictionary.dSae, m2.dictionary.format]).toEqual(["layers-2", "layers.2", 40, "sparsify"]);
    expect([m11.id, m11.dictionary.hookName, m11.dictionary.dSae]).toEqual(["layers-11", "layers.11", 48]);
  });

  it("refuses options that name a single atlas", () => {
    const root = checkpoint();
    const out = join(tempDir(), "atlases");
    const r = atlas("build", root, "--out", out, "--labels", join(root, "labels.json"));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: --labels names one atlas, but .* holds 2 dictionaries/);
    expect(existsSync(out)).toBe(false);
  });

  it("inspects without building, exiting 1 only when a dictionary cannot be read", () => {
    const root = checkpoint();
    const ok = atlas("inspect", root, "--json");
    expect(ok.code).toBe(0);
    const report = JSON.parse(ok.stdout);
    expect(report.blocks.map((b: { name: string; dictionary: { dSae: number } }) => [b.name, b.dictionary.dSae])).toEqual([["layers.2", 40], ["layers.11", 48]]);
    const missing = atlas("inspect", join(root, "nope"));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`error: nope: not found (looked at ${join(root, "nope")})\n`);
  });
});
